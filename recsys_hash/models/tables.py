"""User/item embedding tables behind any ID strategy, as one TorchRec EmbeddingBagCollection.

Each side holds a precomputed row index `rows` int64 [n_ids, k] (k = the strategy's rows per ID); an ID's
embedding is SUM-pooled over its k rows (a KJT with lengths k), or their elementwise product for
`combiner == "product"` (QR), done with an unpooled EmbeddingCollection. One lookup serves every side.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn
from torchrec import (
    EmbeddingBagCollection, EmbeddingBagConfig, EmbeddingCollection, EmbeddingConfig, KeyedJaggedTensor, PoolingType,
)

from recsys_hash.artifacts import content_digest
from recsys_hash._quiet import quiet_fx_tracing_notice
from recsys_hash.data.types import Interactions
from recsys_hash.budget import resolve_budget

quiet_fx_tracing_notice()   # KJT construction logs a torch.fx notice once per process

SIDES = ("user", "item")
#: std of an ID's embedding at initialisation (LightGCN's normal(0, 0.1)), whatever the strategy.
INIT_STD = 0.1


def side_rows(remapper: Any, n_ids: int) -> tuple[np.ndarray, int, str]:
    """Rows of IDs 0..n_ids-1 through a fitted remapper: (int64 [n_ids, k], table rows, combiner)."""
    rows = np.asarray(remapper.transform(np.arange(n_ids, dtype=np.int64)), dtype=np.int64)
    if rows.ndim == 1:
        rows = rows[:, None]
    table_rows = int(remapper.table_rows)
    if rows.shape[0] != n_ids or (rows.size and (rows.min() < 0 or rows.max() >= table_rows)):
        raise ValueError(f"{remapper.name}: transform returned rows outside [0, {table_rows}) or of shape {rows.shape}")
    return rows, table_rows, str(getattr(remapper, "combiner", "sum"))


def remapper_fingerprint(remapper: Any) -> str:
    """sha256 of what defines a fitted remapper's mapping: strategy, parameters, rows and serving arrays."""
    meta = {"params": remapper.get_params(), "num_rows": int(remapper.table_rows),
            "rows_per_id": int(remapper.rows_per_id), "key_kind": getattr(remapper, "key_kind_", None)}
    return content_digest(remapper.name, json.loads(json.dumps(meta, default=str)), remapper.serving_arrays())


def fit_remappers(strategy: str, train: Interactions, budget: float | int, seed: int = 0,
                  **params: Any) -> dict[str, Any]:
    """Fit one remapper per side for `budget` (fraction of each side's IDs or a row count) on the train graph."""
    from recsys_hash.ids import get_strategy
    from recsys_hash.ids.registry import check_params

    check_params(strategy, params)
    rows = {
        "user": resolve_budget(budget, train.n_users, "user"),
        "item": resolve_budget(budget, train.n_items, "item"),
    }
    return get_strategy(strategy).fit_sides(train, rows=rows, seed=seed, **params)


class CompressedEmbeddings(nn.Module):
    """Per-ID embeddings [b, dim] for every side, computed from the shared rows of a TorchRec collection.

    Args:
        rows: side -> int64 [n_ids, k] row index per ID (k may differ per side).
        table_rows: side -> rows of that side's table.
        dim: embedding dimension.
        combiner: side -> "sum" (default) or "product".
    Example:
        >>> emb = CompressedEmbeddings({"user": u_rows, "item": i_rows}, {"user": 100, "item": 50}, dim=64)
        >>> out = emb({"user": torch.tensor([0, 3]), "item": torch.tensor([1, 2, 5])})  # [2, 64], [3, 64]
    """

    def __init__(self, rows: Mapping[str, np.ndarray], table_rows: Mapping[str, int], dim: int,
                 combiner: Optional[Mapping[str, str]] = None, device: Optional[torch.device] = None):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        combiner = {s: (combiner or {}).get(s, "sum") for s in rows}
        for side, comb in combiner.items():
            if comb not in ("sum", "product"):
                raise ValueError(f"side {side!r}: combiner must be 'sum' or 'product', got {comb!r}")
        self.sides = list(rows)
        self.dim = dim
        self.combiner = combiner
        self.table_rows = {s: int(table_rows[s]) for s in self.sides}
        self.rows_per_id = {s: int(np.asarray(rows[s]).reshape(len(rows[s]), -1).shape[1]) for s in self.sides}
        self.n_ids = {s: int(len(rows[s])) for s in self.sides}
        for s in self.sides:
            self.register_buffer(f"rows_{s}", torch.as_tensor(np.asarray(rows[s]).reshape(self.n_ids[s], -1)))
        device = device or torch.device("cpu")
        pooled = [s for s in self.sides if combiner[s] == "sum"]
        product = [s for s in self.sides if combiner[s] == "product"]
        self.ebc = EmbeddingBagCollection(tables=[
            EmbeddingBagConfig(name=s, embedding_dim=dim, num_embeddings=self.table_rows[s], feature_names=[s],
                               pooling=PoolingType.SUM, init_fn=self._init_fn(s)) for s in pooled
        ], device=device) if pooled else None
        self.ec = EmbeddingCollection(tables=[
            EmbeddingConfig(name=s, embedding_dim=dim, num_embeddings=self.table_rows[s], feature_names=[s],
                            init_fn=self._init_fn(s)) for s in product
        ], device=device) if product else None

    def _init_fn(self, side: str):
        k = max(self.rows_per_id[side], 1)
        # keep an ID's embedding std at INIT_STD: sum of k rows -> std/sqrt(k); product of k rows -> std^(1/k)
        std = INIT_STD / np.sqrt(k) if self.combiner[side] == "sum" else INIT_STD ** (1.0 / k)
        return lambda w: nn.init.normal_(w, mean=0.0, std=float(std))

    def rows_of(self, side: str) -> torch.Tensor:
        return getattr(self, f"rows_{side}")

    def forward(self, ids: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """side -> int64 [b_side] IDs  =>  side -> float [b_side, dim] embeddings (one KJT per collection).

        Sides with different batch sizes share one KJT: shorter sides are padded with zero-length bags.
        """
        out: dict[str, torch.Tensor] = {}
        for coll, comb in ((self.ebc, "sum"), (self.ec, "product")):
            keys = [s for s in self.sides if self.combiner[s] == comb]
            if coll is None or not any(s in ids for s in keys):
                continue
            stride = max(int(ids[s].numel()) for s in keys if s in ids)
            values, lengths = [], []
            for s in keys:
                b = int(ids[s].numel()) if s in ids else 0
                if b:
                    values.append(self.rows_of(s)[ids[s].reshape(-1)].reshape(-1))
                length = torch.zeros(stride, dtype=torch.int64)
                length[:b] = self.rows_per_id[s]
                lengths.append(length)
            kjt = KeyedJaggedTensor.from_lengths_sync(
                keys=keys, values=torch.cat(values) if values else torch.zeros(0, dtype=torch.int64),
                lengths=torch.cat(lengths),
            )
            if comb == "sum":
                res = coll(kjt).to_dict()
                out.update({s: res[s][: ids[s].numel()] for s in keys if s in ids})
            else:
                res = coll(kjt)
                out.update({
                    s: res[s].values().view(-1, self.rows_per_id[s], self.dim).prod(dim=1) for s in keys if s in ids
                })
        return out

    def all_embeddings(self, side: str) -> torch.Tensor:
        """float [n_ids, dim]: the embedding of every ID of `side`."""
        return self.forward({side: torch.arange(self.n_ids[side])})[side]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def from_remappers(cls, remappers: Mapping[str, Any], n_ids: Mapping[str, int], dim: int,
                       device: Optional[torch.device] = None) -> "CompressedEmbeddings":
        """Build from fitted remappers (side -> remapper) and vocabulary sizes (side -> n_ids)."""
        rows, table_rows, comb = {}, {}, {}
        for side in remappers:
            rows[side], table_rows[side], comb[side] = side_rows(remappers[side], n_ids[side])
        return cls(rows, table_rows, dim, comb, device)
