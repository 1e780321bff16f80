"""Per-ID embeddings from multi-row mappings with any combiner (what pooled EBCs cannot express, e.g. QR product)."""
from __future__ import annotations

from typing import Callable, Union

import torch
from torch import nn

Lookup = Union[Callable[[torch.Tensor], torch.Tensor], nn.Embedding, torch.Tensor]


def combine_rows(lookup: Lookup, rows: torch.Tensor, combiner: str = "sum") -> torch.Tensor:
    """rows int64 [n] or [n, k] -> embeddings [n, d]: the k row embeddings summed ("sum") or multiplied ("product").

    `lookup` is a weight tensor [num_rows, d], an nn.Embedding, or any callable rows -> [..., d].
    """
    if combiner not in ("sum", "product"):
        raise ValueError(f"combine_rows: combiner must be 'sum' or 'product', got {combiner!r}")
    if rows.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"combine_rows: rows must be an integer tensor, got {rows.dtype}")
    if rows.dim() not in (1, 2):
        raise ValueError(f"combine_rows: rows must be [n] or [n, k], got shape {tuple(rows.shape)}")
    if isinstance(lookup, torch.Tensor):
        if lookup.dim() != 2:
            raise ValueError(f"combine_rows: a weight tensor must be [num_rows, d], got {tuple(lookup.shape)}")
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= lookup.shape[0]):
            raise ValueError(f"combine_rows: rows must lie in [0, {lookup.shape[0]}), got [{int(rows.min())}, {int(rows.max())}]")
        weight = lookup
        emb = torch.nn.functional.embedding(rows, weight)
    else:
        emb = lookup(rows)
    if rows.dim() == 1:
        return emb
    return emb.sum(dim=1) if combiner == "sum" else emb.prod(dim=1)
