"""Target attention over a jagged behaviour sequence: DIN's attention MLP (the reference baseline) and plain
dot-product attention. Both: forward(seq: JaggedSeq of e_i [N, d], target [B, d]) -> [B, d]; padding never
contributes; a row with no behaviours gives a zero vector.

    >>> din = DINAttention(dim=16)
    >>> h = din(JaggedSeq.of(values, lengths), target)      # [B, 16]
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from recsys_hash.sequence.jagged import JaggedSeq


def _check_target(seq: JaggedSeq, target: torch.Tensor, where: str) -> None:
    if target.dim() != 2 or target.shape[0] != seq.batch or target.shape[1] != seq.values.shape[1]:
        raise ValueError(f"{where}: target must be [B={seq.batch}, d={seq.values.shape[1]}], "
                         f"got shape {tuple(target.shape)}")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to `mask`; a row with no True entry gets all-zero weights (no NaN)."""
    scores = scores.masked_fill(~mask, float("-inf"))
    top = scores.amax(-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).min)
    w = torch.exp(scores - top) * mask
    return w / w.sum(-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)


def softmax_attention(seq: JaggedSeq, query: torch.Tensor, d: int, values: Optional[torch.Tensor] = None
                      ) -> torch.Tensor:
    """Σ_i softmax_i(⟨e_i, q⟩ / √d) v_i over every valid behaviour of `seq` (values v [N, d_v], default seq.values):
    [B, d_v], zeros for a row (or a batch) without behaviours."""
    if seq.max_len == 0:
        v = seq.values if values is None else values
        return v.new_zeros(seq.batch, v.shape[1])
    e = seq.pad()                                                     # [B, L, d]
    scores = torch.bmm(e, query[:, :, None]).squeeze(-1) / math.sqrt(d)
    w = masked_softmax(scores, seq.mask())
    # without separate values the keys are the values: reuse their padding instead of padding them a second time
    return torch.bmm(w[:, None, :], e if values is None else seq.pad(values)).squeeze(1)


class DotTargetAttention(nn.Module):
    """h = Σ_i softmax_i(⟨e_i, t⟩ / √d) e_i over the valid behaviours (no parameters)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, seq: JaggedSeq, target: torch.Tensor) -> torch.Tensor:
        _check_target(seq, target, "DotTargetAttention")
        return softmax_attention(seq, target, self.dim)

    @torch.no_grad()
    def serve(self, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """One user's behaviours [L, d] against C candidates [C, d] -> [C, d]."""
        if history.shape[0] == 0:
            return candidates.new_zeros(candidates.shape)
        w = torch.softmax(candidates @ history.T / math.sqrt(self.dim), dim=-1)
        return w @ history


class DINAttention(nn.Module):
    """DIN's activation unit: weight_i = MLP([e_i, t, e_i - t, e_i ⊙ t]); h = Σ_i weight_i e_i (the paper keeps the
    raw weights, no softmax; `softmax=True` normalises them over the valid behaviours).

    Two exact evaluations of the same parameters: `fold=False` builds the [B, L, 4d] input (the straightforward
    DIN-MLP); `fold=True` (default) folds the first layer algebraically, W·[e, t, e-t, e⊙t] =
    e·((W1+W3) + W4 diag t)ᵀ + t·(W2-W3)ᵀ, one batched product per row instead of a 4d-wide input; on a ragged batch the folded path runs on the
    N real behaviours only (flat, no padding to the batch's longest row).
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (80, 40), softmax: bool = False, fold: bool = True) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("DINAttention: hidden must name at least one layer width")
        self.dim, self.softmax, self.fold = int(dim), bool(softmax), bool(fold)
        self.first = nn.Linear(4 * dim, hidden[0])
        layers: list[nn.Module] = [nn.PReLU()]
        for a, b in zip(hidden[:-1], hidden[1:]):
            layers += [nn.Linear(a, b), nn.PReLU()]
        layers.append(nn.Linear(hidden[-1], 1))
        self.rest = nn.Sequential(*layers)

    def _first_layer(self, e: torch.Tensor, target: torch.Tensor, fold: bool) -> torch.Tensor:
        """e [B, L, d] (or [L, d] shared by every target), target [B, d] -> first-layer pre-activations [B, L, h]."""
        if not fold:
            t = target[:, None, :].expand(-1, e.shape[-2], -1)
            e = e.expand(target.shape[0], -1, -1) if e.dim() == 2 else e
            return self.first(torch.cat([e, t, e - t, e * t], dim=-1))
        w1, w2, w3, w4 = self.first.weight.split(self.dim, dim=1)        # each [h, d]
        per_row = (w1 + w3).T[None] + w4.T[None] * target[:, :, None]   # [B, d, h]
        bias = target @ (w2 - w3).T + self.first.bias                    # [B, h]
        return torch.matmul(e, per_row) + bias[:, None, :]

    def forward(self, seq: JaggedSeq, target: torch.Tensor) -> torch.Tensor:
        _check_target(seq, target, "DINAttention")
        if seq.max_len == 0:
            return target.new_zeros(target.shape)
        if self.fold and not seq.uniform:
            return self._jagged(seq, target)
        e = seq.pad()
        scores = self.rest(self._first_layer(e, target, self.fold)).squeeze(-1)    # [B, L]
        mask = seq.mask()
        w = masked_softmax(scores, mask) if self.softmax else scores * mask
        return torch.bmm(w[:, None, :], e).squeeze(1)

    def _jagged(self, seq: JaggedSeq, target: torch.Tensor) -> torch.Tensor:
        """The folded first layer on the N real behaviours only (no [B, L_max] padding: on ragged batches such as
        ML-100K's the padded work is several times the real one). Same parameters, same values as the padded path."""
        rows, _ = seq._index()
        e = seq.values
        w1, w2, w3, w4 = self.first.weight.split(self.dim, dim=1)
        bias = target @ (w2 - w3).T + self.first.bias                    # [B, h]
        pre = e @ (w1 + w3).T + (e * target[rows]) @ w4.T + bias[rows]   # [N, h]
        scores = self.rest(pre).squeeze(-1)                              # [N]
        if self.softmax:
            top = torch.full((seq.batch,), float("-inf"), dtype=scores.dtype).scatter_reduce(
                0, rows, scores.detach(), "amax")
            ex = torch.exp(scores - top[rows])
            scores = ex / torch.zeros(seq.batch, dtype=ex.dtype).index_add(0, rows, ex)[rows]
        return target.new_zeros(target.shape).index_add(0, rows, scores[:, None] * e)

    @torch.no_grad()
    def serve(self, history: torch.Tensor, candidates: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """One user's behaviours [L, d] against C candidates [C, d] -> [C, d] (candidates in chunks of `chunk`)."""
        if history.shape[0] == 0:
            return candidates.new_zeros(candidates.shape)
        out = []
        for c in candidates.split(chunk):
            scores = self.rest(self._first_layer(history, c, self.fold)).squeeze(-1)  # [c, L]
            w = torch.softmax(scores, -1) if self.softmax else scores
            out.append(w @ history)
        return torch.cat(out)
