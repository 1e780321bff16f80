"""Jagged behaviour sequences as the sequence modules see them: flat embeddings [N, d] + lengths [B].

`JaggedSeq` checks the pair once at the boundary and derives what the modules need: offsets, the row of every value,
and the batch padded to its own longest row (never to a global maximum). Padding to the batch maximum is what ran
fastest on CPU for the batched products (`torch.bmm`) that DIN, dot attention and SDIM use; when every row has the
same length the padded view is free (a reshape, no copy). TWIN/DARE pad only their scores [B, L_max], and gather
the selected behaviours straight from the flat values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


def check_jagged(values: torch.Tensor, lengths: torch.Tensor, where: str,
                 offsets: Optional[torch.Tensor] = None) -> None:
    """Raise ValueError unless values [N, d] and lengths [B] (and offsets [B+1] if given) describe one jagged batch."""
    if values.dim() != 2:
        raise ValueError(f"{where}: sequence values must be [N, d] embeddings, got shape {tuple(values.shape)}")
    if lengths.dim() != 1:
        raise ValueError(f"{where}: lengths must be 1-D [B], got shape {tuple(lengths.shape)}")
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"{where}: negative sequence length {int(lengths.min())} at row "
                         f"{int(torch.nonzero(lengths < 0)[0, 0])}")
    total = int(lengths.sum())
    if total != values.shape[0]:
        raise ValueError(f"{where}: lengths sum to {total} but there are {values.shape[0]} sequence values")
    if offsets is not None:
        expect = torch.zeros(lengths.numel() + 1, dtype=torch.int64)
        expect[1:] = torch.cumsum(lengths.to(torch.int64), 0)
        if offsets.shape != expect.shape or not torch.equal(offsets.to(torch.int64), expect):
            raise ValueError(f"{where}: offsets {offsets.tolist()[:8]} do not match lengths {lengths.tolist()[:8]} "
                             f"(expected offsets[0] = 0 and offsets[i+1] - offsets[i] = lengths[i])")


@dataclass
class JaggedSeq:
    """A checked jagged batch. values [N, d]; lengths int64 [B]; offsets int64 [B+1]; max_len = longest row."""

    values: torch.Tensor
    lengths: torch.Tensor
    offsets: torch.Tensor
    max_len: int
    uniform: bool

    @classmethod
    def of(cls, values: torch.Tensor, lengths: torch.Tensor, where: str = "sequence",
           offsets: Optional[torch.Tensor] = None) -> "JaggedSeq":
        check_jagged(values, lengths, where, offsets)
        lengths = lengths.to(torch.int64)
        off = torch.zeros(lengths.numel() + 1, dtype=torch.int64)
        off[1:] = torch.cumsum(lengths, 0)
        max_len = int(lengths.max()) if lengths.numel() else 0
        uniform = bool(lengths.numel() == 0 or int(lengths.min()) == max_len)
        return cls(values, lengths, off, max_len, uniform)

    @property
    def batch(self) -> int:
        return int(self.lengths.numel())

    def with_values(self, values: torch.Tensor) -> "JaggedSeq":
        """Same layout, other per-behaviour values (e.g. the representation table's rows in DARE)."""
        if values.shape[0] != self.values.shape[0]:
            raise ValueError(f"with_values: {values.shape[0]} values for a layout of {self.values.shape[0]}")
        return JaggedSeq(values, self.lengths, self.offsets, self.max_len, self.uniform)

    def _index(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.repeat_interleave(torch.arange(self.batch), self.lengths)
        pos = torch.arange(self.values.shape[0]) - self.offsets[:-1][rows]
        return rows, pos

    def mask(self) -> torch.Tensor:
        """bool [B, max_len]: True at real behaviours (left-aligned, padding on the right)."""
        return torch.arange(self.max_len)[None, :] < self.lengths[:, None]

    def pad(self, x: Optional[torch.Tensor] = None, fill: float = 0.0) -> torch.Tensor:
        """Per-behaviour tensor x [N, ...] (default: values) -> [B, max_len, ...], `fill` at padding."""
        x = self.values if x is None else x
        if self.uniform:
            return x.reshape(self.batch, self.max_len, *x.shape[1:])
        rows, pos = self._index()
        out = x.new_full((self.batch, self.max_len, *x.shape[1:]), fill)
        out[rows, pos] = x
        return out
