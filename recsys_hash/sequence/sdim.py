"""SDIM (Cao et al., CIKM'22): target attention replaced by SimHash collision sampling, and its BSE serving split.

m fixed Gaussian projections r_j (a seeded buffer, saved with the model, never trained) give bits sign(r_jᵀx);
consecutive groups of τ bits form m/τ signatures. A behaviour collides with the target in a group when all τ bits
match; the output averages, over groups, the L2-normalised sum of the colliding behaviours' embeddings:

    h = (τ/m) Σ_g normalise(Σ_{i: sig_g(e_i) = sig_g(t)} e_i)

so a behaviour's expected weight is ≈ (1 - θ/π)^τ for the angle θ between it and the target. A group with no
collision adds zero (a user with no behaviours gets h = 0; with one, h = e/|e| times the fraction of groups whose
signature matches). A zero vector hashes to all-zero bits (sign(0) counts as 0).

BSE: the sequence's signatures do not depend on the candidate, so `build_tables` sums each group's behaviours per
signature once ([m/τ, 2^τ, d], normalised), after which `serve` costs each candidate m·d for its own hash plus m/τ
row reads, whatever the sequence length. Training (`forward`) and serving give the same output.

Decoupled SDIM: pass `sum_values` to hash one table's embeddings (DARE's attention table) while the collision sums
read another's (the representation table). Hashing is not differentiable, so on its own the attention table would
never train; in training its gradient comes from a straight-through term (value zero): the normalised sum weighted by
each behaviour's expected collision weight (1 - θ/π)^τ, differentiable in the attention embeddings. The forward
value is exactly SDIM's.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from recsys_hash.sequence.attention import _check_target
from recsys_hash.sequence.jagged import JaggedSeq

#: L2 normalisation floor: an empty bucket (zero sum) stays zero.
NORM_EPS = 1e-12
#: rows hashed per block (the signatures are not differentiable; blocks only bound the working set)
HASH_CHUNK = 4096


class SimHash(nn.Module):
    """m seeded Gaussian hyperplanes in `dim` dimensions, read as m/τ signatures of τ bits each.

    Args:
        dim: input dimension d.
        m: number of hash functions (bits).
        tau: bits per signature; must divide m.
        seed: seeds the projections (same seed -> same hash functions).
    """

    def __init__(self, dim: int, m: int = 48, tau: int = 3, seed: int = 0) -> None:
        super().__init__()
        if dim < 1 or m < 1 or tau < 1:
            raise ValueError(f"SimHash: dim, m and tau must be >= 1, got dim={dim}, m={m}, tau={tau}")
        if m % tau:
            raise ValueError(f"SimHash: tau={tau} must divide m={m} (m hash functions form m/tau groups of tau bits)")
        if tau > 20:
            raise ValueError(f"SimHash: tau={tau} gives 2^tau buckets per group; use tau <= 20")
        self.dim, self.m, self.tau, self.seed = int(dim), int(m), int(tau), int(seed)
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("projections", torch.randn(dim, m, generator=gen))      # persistent: saved
        # block-diagonal [m, m/τ] of bit weights 2^j: one small product turns the m bits into m/τ signatures
        weights = torch.zeros(m, m // tau)
        weights[torch.arange(m), torch.arange(m) // tau] = (2.0 ** torch.arange(tau)).repeat(m // tau)
        self.register_buffer("bit_weights", weights, persistent=False)

    @property
    def groups(self) -> int:
        return self.m // self.tau

    @property
    def buckets(self) -> int:
        return 2 ** self.tau

    def signatures(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., d] -> [..., m/τ] in x's dtype: each group's signature, an exact integer in [0, 2^τ)."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"SimHash: inputs must have dim {self.dim} in the last axis, got shape {tuple(x.shape)}")
        proj, weights = self.projections.to(x.dtype), self.bit_weights.to(x.dtype)
        flat = x.detach().reshape(-1, self.dim)
        out = flat.new_empty(flat.shape[0], self.groups)
        for start in range(0, flat.shape[0], HASH_CHUNK):      # chunks keep the bits in cache: ~2x faster on CPU
            part = flat[start:start + HASH_CHUNK]
            torch.mm(((part @ proj) > 0).to(x.dtype), weights, out=out[start:start + HASH_CHUNK])
        return out.reshape(*x.shape[:-1], self.groups)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., d] -> int64 [..., m/τ] signatures (for indexing bucket tables)."""
        return self.signatures(x).to(torch.int64)


class SDIM(nn.Module):
    """SDIM over a jagged sequence: forward(seq [N, d_hash], target [B, d_hash], sum_values=None) -> [B, d_out].

    Args:
        dim: dimension of the hashed embeddings (behaviours and target).
        m, tau, seed: SimHash settings (paper: m=48, τ=3).
    Example:
        >>> sdim = SDIM(16)
        >>> h = sdim(JaggedSeq.of(values, lengths), target)                    # training: [B, 16]
        >>> tables = sdim.build_tables(history)                                # one user's [L, 16], once
        >>> h = sdim.serve(tables, candidates)                                 # [C, 16], cost free of L
    """

    def __init__(self, dim: int, m: int = 48, tau: int = 3, seed: int = 0) -> None:
        super().__init__()
        self.hash = SimHash(dim, m, tau, seed)

    def forward(self, seq: JaggedSeq, target: torch.Tensor, sum_values: Optional[JaggedSeq] = None) -> torch.Tensor:
        _check_target(seq, target, "SDIM")
        src = seq if sum_values is None else sum_values
        if src.values.shape[0] != seq.values.shape[0] or not torch.equal(src.lengths, seq.lengths):
            raise ValueError("SDIM: sum_values must have the same jagged layout as the hashed sequence")
        if seq.max_len == 0:
            return src.values.new_zeros(seq.batch, src.values.shape[1])
        sigs = seq.pad(self.hash.signatures(seq.values), fill=-1.0)            # [B, L, G]; padding never collides
        hit = (sigs == self.hash.signatures(target)[:, None, :]).to(src.values.dtype)
        sums = torch.bmm(hit.transpose(1, 2), src.pad())                        # [B, G, d]
        out = F.normalize(sums, dim=-1, eps=NORM_EPS).mean(1)
        if sum_values is not None and torch.is_grad_enabled() and (seq.values.requires_grad or target.requires_grad):
            soft = self._expected(seq, target, src)           # same value added and taken away: only its gradient
            out = out + (soft - soft.detach())
        return out

    def _expected(self, seq: JaggedSeq, target: torch.Tensor, src: JaggedSeq) -> torch.Tensor:
        """Decoupled SDIM's route for gradients into the hashed (attention) table, whose signatures are not
        differentiable: the sum weighted by each behaviour's expected weight (1 - θ/π)^τ, normalised; the summed
        values are detached (they get their gradient from the hard output)."""
        e = seq.pad()
        cos = torch.bmm(F.normalize(e, dim=-1), F.normalize(target, dim=-1)[:, :, None]).squeeze(-1)
        p = (1 - torch.arccos(cos.clamp(-1 + 1e-6, 1 - 1e-6)) / torch.pi) ** self.hash.tau * seq.mask()
        return F.normalize(torch.bmm(p[:, None, :], src.pad().detach()).squeeze(1), dim=-1, eps=NORM_EPS)

    def build_tables(self, history: torch.Tensor, sum_values: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One user's behaviours [L, d_hash] (+ rows to sum [L, d_out]) -> normalised bucket tables [m/τ, 2^τ, d_out]."""
        src = history if sum_values is None else sum_values
        if history.dim() != 2 or src.dim() != 2 or src.shape[0] != history.shape[0]:
            raise ValueError(f"SDIM.build_tables: need history [L, d] and sum_values [L, d_out] with the same L, got "
                             f"{tuple(history.shape)} and {tuple(src.shape)}")
        g, k = self.hash.groups, self.hash.buckets
        slot = self.hash.codes(history) + torch.arange(g) * k                  # [L, G] flat bucket of each group
        onehot = src.new_zeros(g * k, history.shape[0])
        onehot.scatter_(0, slot.T, 1.0)                                         # [G*2^τ, L]
        return F.normalize(onehot @ src, dim=-1, eps=NORM_EPS).reshape(g, k, src.shape[1])

    def serve(self, tables: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Bucket tables [m/τ, 2^τ, d_out] of one user, candidates [C, d_hash] -> [C, d_out]."""
        g = self.hash.groups
        if tables.dim() != 3 or tables.shape[:2] != (g, self.hash.buckets):
            raise ValueError(f"SDIM.serve: tables must be [{g}, {self.hash.buckets}, d], got {tuple(tables.shape)}")
        return tables[torch.arange(g), self.hash.codes(candidates)].mean(1)     # [C, G, d] -> [C, d]
