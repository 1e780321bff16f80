"""Retrieval models over compressed tables: MF (dot product) and LightGCN, both trained with BPR.

Both expose `batch_embeddings(users, pos, neg)` (final and ego embeddings of a training batch, one table
lookup per step) and `final_embeddings()` (every user and item, for full-ranking evaluation).
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn

from recsys_hash.data.types import Interactions
from recsys_hash.models.sampling import dedup_pairs
from recsys_hash.models.tables import CompressedEmbeddings


class MF(nn.Module):
    """Matrix factorisation: score(u, i) = <e_u, e_i>, e_* from the (compressed) tables."""

    kind = "mf"

    def __init__(self, emb: CompressedEmbeddings):
        super().__init__()
        self.emb = emb

    def batch_embeddings(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """users/pos/neg int64 [b] -> ((u, p, n) final [b, d] each, (u, p, n) ego [b, d] each)."""
        out = self.emb({"user": users, "item": torch.cat([pos, neg])})
        u, (p, n) = out["user"], out["item"].chunk(2)
        return (u, p, n), (u, p, n)

    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(users [n_users, d], items [n_items, d])."""
        n_u, n_i = self.emb.n_ids["user"], self.emb.n_ids["item"]
        out = self.emb({"user": torch.arange(n_u), "item": torch.arange(n_i)})
        return out["user"], out["item"]


def normalized_adjacency(train: Interactions) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the user-item graph as a sparse CSR float tensor [n_u + n_i, n_u + n_i].

    Nodes 0..n_u-1 are users, n_u.. are items; duplicate edges count once; isolated nodes get empty rows.
    """
    n_u, n_i = train.n_users, train.n_items
    u, i = dedup_pairs(train)
    i = i + n_u
    rows = np.concatenate([u, i])
    cols = np.concatenate([i, u])
    deg = np.bincount(rows, minlength=n_u + n_i).astype(np.float64)
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    vals = (inv_sqrt[rows] * inv_sqrt[cols]).astype(np.float32)
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    crow = np.zeros(n_u + n_i + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_u + n_i), out=crow[1:])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(cols), torch.from_numpy(vals),
                                       size=(n_u + n_i, n_u + n_i), check_invariants=False)


class _SymmetricSpmm(torch.autograd.Function):
    """y = A @ x for a symmetric sparse A; the backward reuses A (A^T = A) instead of transposing the CSR."""

    @staticmethod
    def forward(ctx, adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.adjacency = adjacency
        return torch.sparse.mm(adjacency, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, torch.sparse.mm(ctx.adjacency, grad)


class LightGCN(nn.Module):
    """LightGCN: E = mean_{l=0..L} Â^l E0, E0 = per-ID embeddings from the compressed tables.

    The propagation runs once per training step over the whole graph (not per batch row).
    """

    kind = "lightgcn"

    def __init__(self, emb: CompressedEmbeddings, adjacency: torch.Tensor, layers: int = 3):
        super().__init__()
        if layers < 1:
            raise ValueError(f"LightGCN needs layers >= 1, got {layers}")
        n = emb.n_ids["user"] + emb.n_ids["item"]
        if tuple(adjacency.shape) != (n, n):
            raise ValueError(f"adjacency has shape {tuple(adjacency.shape)}, expected ({n}, {n}) for users+items")
        self.emb = emb
        self.layers = layers
        self.adjacency = adjacency  # not a buffer: rebuilt from the training graph, never checkpointed

    def _ego(self) -> torch.Tensor:
        n_u, n_i = self.emb.n_ids["user"], self.emb.n_ids["item"]
        out = self.emb({"user": torch.arange(n_u), "item": torch.arange(n_i)})
        return torch.cat([out["user"], out["item"]])

    def _propagate(self, ego: torch.Tensor) -> torch.Tensor:
        acc, cur = ego, ego
        for _ in range(self.layers):
            cur = _SymmetricSpmm.apply(self.adjacency, cur)
            acc = acc + cur
        return acc / (self.layers + 1)

    def batch_embeddings(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """users/pos/neg int64 [b] -> ((u, p, n) propagated [b, d], (u, p, n) ego [b, d])."""
        n_u = self.emb.n_ids["user"]
        ego = self._ego()
        final = self._propagate(ego)
        idx = (users, pos + n_u, neg + n_u)
        return tuple(final[i] for i in idx), tuple(ego[i] for i in idx)

    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        final = self._propagate(self._ego())
        n_u = self.emb.n_ids["user"]
        return final[:n_u], final[n_u:]


def bpr_loss(final: tuple[torch.Tensor, ...], ego: tuple[torch.Tensor, ...], reg: float) -> torch.Tensor:
    """mean softplus(s_neg - s_pos) + reg * (|u0|² + |p0|² + |n0|²) / (2 b) on ego embeddings [b, d]."""
    u, p, n = final
    loss = nn.functional.softplus((u * n).sum(1) - (u * p).sum(1)).mean()
    if reg:
        loss = loss + reg * sum(e.pow(2).sum() for e in ego) / (2 * u.shape[0])
    return loss


def build_model(kind: str, remappers: Mapping[str, Any], train: Interactions, dim: int = 64, layers: int = 3,
                seed: int = 0, device: Optional[torch.device] = None) -> nn.Module:
    """MF or LightGCN over tables fed by fitted remappers (side -> remapper); weights seeded by `seed`."""
    if kind not in ("mf", "lightgcn"):
        raise ValueError(f"model must be 'mf' or 'lightgcn', got {kind!r}")
    torch.manual_seed(seed)
    emb = CompressedEmbeddings.from_remappers(remappers, {"user": train.n_users, "item": train.n_items}, dim, device)
    if kind == "mf":
        return MF(emb)
    return LightGCN(emb, normalized_adjacency(train), layers)
