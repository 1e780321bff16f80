"""Two-stage long-sequence attention: TWIN (one embedding table) and DARE (Feng et al., ICLR'25: decoupled
attention and representation tables).

Stage 1 (search) scores every behaviour against the target, ⟨e_att_i, t_att⟩, and keeps the top K; stage 2
aggregates the K with softmax(score / √d_att) weights. TWIN: h = Σ w_i e_i. DARE: h = Σ w_i e_repr_i, where e_repr
comes from a second table whose dimension is independent of d_att; its target-aware representation
Σ w_i (e_repr_i ⊙ t_repr) = t_repr ⊙ h is the product feature the CTR model builds for every module.

`full_attention` (both modules) skips the search: softmax over every valid behaviour, the path of the CTR model's
auxiliary loss (`recsys_hash.models.seq_ctr`).

Padding never enters: scores at padding are -inf before the top-K, and when a row has fewer than K behaviours the
picks that fall on padding get weight 0 (a row with no behaviours gives h = 0). K larger than the longest sequence
of the batch is allowed: every valid behaviour of a row is then kept.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from recsys_hash.sequence.attention import _check_target, masked_softmax, softmax_attention
from recsys_hash.sequence.jagged import JaggedSeq


def topk_search(seq: JaggedSeq, target: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stage 1: (scores [B, k'], flat indices into seq.values [B, k'], valid bool [B, k']), k' = min(k, longest row).

    Indices of invalid picks point at value 0 (or are meaningless when the batch has no values); mask with `valid`.
    """
    e = seq.pad()                                                                # [B, L, d_att]
    scores = torch.bmm(e, target[:, :, None]).squeeze(-1).masked_fill(~seq.mask(), float("-inf"))
    kk = min(int(k), seq.max_len)
    top, pos = scores.topk(kk, dim=1)
    valid = pos < seq.lengths[:, None]
    flat = torch.where(valid, seq.offsets[:-1, None] + pos, torch.zeros_like(pos))
    return top, flat, valid


class _TopK(nn.Module):
    def __init__(self, k: int, where: str) -> None:
        super().__init__()
        if int(k) < 1:
            raise ValueError(f"{where}: k (behaviours kept by the search) must be >= 1, got {k}")
        self.k = int(k)

    def _pool(self, seq: JaggedSeq, target: torch.Tensor, d_att: int, values: torch.Tensor) -> torch.Tensor:
        """Search `seq` for `target`, then Σ_topK softmax(score / √d_att) values_i: [B, values.shape[1]] (zeros for a
        batch without behaviours). `values` [N, d] holds one row per behaviour of `seq`."""
        if seq.max_len == 0:
            return values.new_zeros(seq.batch, values.shape[1])
        top, flat, valid = topk_search(seq, target, self.k)
        w = masked_softmax(top / math.sqrt(d_att), valid)
        return torch.bmm(w[:, None, :], values[flat]).squeeze(1)


class TWIN(_TopK):
    """TWIN-style two-stage attention on one table: forward(seq [N, d], target [B, d]) -> [B, d]."""

    def __init__(self, dim: int, k: int = 20) -> None:
        super().__init__(k, "TWIN")
        self.dim = int(dim)

    def forward(self, seq: JaggedSeq, target: torch.Tensor) -> torch.Tensor:
        _check_target(seq, target, "TWIN")
        return self._pool(seq, target, self.dim, seq.values)

    def full_attention(self, seq: JaggedSeq, target: torch.Tensor) -> torch.Tensor:
        """Softmax attention over all valid behaviours (no top-K): the auxiliary path's h, [B, d]."""
        _check_target(seq, target, "TWIN")
        return softmax_attention(seq, target, self.dim)


class DARE(_TopK):
    """DARE: search on the attention table, aggregate the representation table.

    forward(seq_att [N, d_att], target_att [B, d_att], repr_values [N, d_repr]) -> h [B, d_repr],
    h = Σ_topK softmax(⟨a_i, a_t⟩ / √d_att) r_i. The paper's target-aware representation Σ w_i (r_i ⊙ v_t) equals
    v_t ⊙ h: the model builds it from h and the target's representation v_t (`LongSeqCTR` feeds [v_t, h, v_t ⊙ h],
    as the DARE code's cross feature and as for TWIN), so it enters the MLP once.
    Gradients reach the attention rows only through the weights and the representation rows only through h.
    """

    def __init__(self, att_dim: int, repr_dim: int, k: int = 20) -> None:
        super().__init__(k, "DARE")
        self.att_dim, self.repr_dim = int(att_dim), int(repr_dim)

    @staticmethod
    def _check_repr(seq_att: JaggedSeq, repr_values: torch.Tensor) -> None:
        if repr_values.dim() != 2 or repr_values.shape[0] != seq_att.values.shape[0]:
            raise ValueError(f"DARE: representation values {tuple(repr_values.shape)} must be "
                             f"[{seq_att.values.shape[0]}, d_repr], one row per behaviour of the attention sequence")

    def forward(self, seq_att: JaggedSeq, target_att: torch.Tensor, repr_values: torch.Tensor) -> torch.Tensor:
        _check_target(seq_att, target_att, "DARE (attention)")
        self._check_repr(seq_att, repr_values)
        return self._pool(seq_att, target_att, self.att_dim, repr_values)

    def full_attention(self, seq_att: JaggedSeq, target_att: torch.Tensor, repr_values: torch.Tensor) -> torch.Tensor:
        """Attention-table softmax over all valid behaviours (no top-K) on the representation rows, [B, d_repr]."""
        _check_target(seq_att, target_att, "DARE (attention)")
        self._check_repr(seq_att, repr_values)
        return softmax_attention(seq_att, target_att, self.att_dim, repr_values)
