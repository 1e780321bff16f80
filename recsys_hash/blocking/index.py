"""Nearest-neighbour search over record embeddings: exact top-k (torch matmul, or faiss-cpu when installed) and a
multi-table SimHash index (L tables x b random-hyperplane bits, multi-probe at Hamming distance <= 1) that scores
only the records sharing a probed bucket with the query. Rows are L2-normalised: scores are cosines.

    >>> idx = SimHashIndex(tables="auto", bits="auto", seed=0).fit(x_a)   # float32 [n_a, d]; picks L x b from x_a
    >>> rows, scores = idx.search(x_b, k=5)                               # int64 / float32 [n_b, 5], -1 = none
    >>> idx.tables_, idx.bits_, idx.estimated_fraction_, idx.scored_fraction()
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import torch

from recsys_hash.errors import NotFittedError


def check_k(k, where: str) -> int:
    """k must be a positive integer (ValueError naming `where` otherwise)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"{where}: k must be a positive integer, got {k!r}")
    return int(k)


def normalise(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    return torch.nn.functional.normalize(x, dim=1)


def topk_dense(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of a score matrix [n, m] -> (cols int64 [n, k'], values float32 [n, k']), k' = min(k, m);
    ties go to the smaller column (deterministic)."""
    k = min(k, scores.shape[1])
    vals, cols = torch.sort(scores, dim=1, descending=True, stable=True)
    return cols[:, :k].numpy().astype(np.int64), vals[:, :k].numpy().astype(np.float32)


def exact_topk(x_index, x_query, k: int, chunk: int = 4096, use_faiss: Optional[bool] = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k of each query row among the index rows; faiss (IndexFlatIP) when installed and allowed."""
    k = check_k(k, "exact_topk")
    xi, xq = normalise(x_index), normalise(x_query)
    if use_faiss is None or use_faiss:
        try:
            import faiss  # type: ignore

            index = faiss.IndexFlatIP(xi.shape[1])
            index.add(xi.numpy())
            vals, cols = index.search(xq.numpy(), min(k, xi.shape[0]))
            return cols.astype(np.int64), vals.astype(np.float32)
        except ImportError:
            if use_faiss:
                raise ValueError("exact_topk: use_faiss=True but faiss-cpu is not installed (pip install faiss-cpu)") from None
    out = [topk_dense(xq[s:s + chunk] @ xi.T, k) for s in range(0, xq.shape[0], chunk)]
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


AUTO = "auto"
MAX_TABLES, MAX_BITS = 1024, 62


def collision_probability(bits: int, cosine: float, multiprobe: bool = True) -> float:
    """Chance that one b-bit table puts a pair at `cosine` into a bucket the query probes: its codes differ in no bit
    (or, with multiprobe, in at most one); each bit differs with probability angle / pi."""
    p = float(np.arccos(np.clip(cosine, -1.0, 1.0)) / np.pi)
    same = (1.0 - p) ** bits
    return same + (bits * p * (1.0 - p) ** (bits - 1) if multiprobe else 0.0)


def tables_for_recall(bits: int, cosine: float, recall: float, multiprobe: bool = True) -> int:
    """Smallest L such that a pair at `cosine` shares a probed bucket in at least one of L tables with probability
    >= recall (capped at MAX_TABLES)."""
    hit = collision_probability(bits, cosine, multiprobe)
    if hit >= 1.0:
        return 1
    if hit <= 0.0:
        return MAX_TABLES
    return int(min(MAX_TABLES, max(1, np.ceil(np.log1p(-recall) / np.log1p(-hit) - 1e-9))))


def _check_choice(name: str, v, hi: int):
    if v == AUTO:
        return v
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= hi:
        raise ValueError(f"SimHashIndex: {name} must be an integer in [1, {hi}] or 'auto', got {v!r}")
    return int(v)


def _check_open(name: str, v, lo: float, hi: float, closed_hi: bool = False) -> float:
    ok = isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and lo < v and (v <= hi if closed_hi else v < hi)
    if not ok:
        raise ValueError(f"SimHashIndex: {name} must be in ({lo:g}, {hi:g}{']' if closed_hi else ')'}, got {v!r}")
    return float(v)


class SimHashIndex:
    """L tables of b-bit SimHash codes; a query probes its own bucket and (multiprobe) the b buckets one bit away
    in every table, scores the union of what it finds exactly, and keeps the top k.

    A fixed b scores a share of the pairs that depends on how clustered the indexed rows are (48 x 12 scores 17% of
    the pairs on Abt-Buy but 35% on Febrl4), so b (and L) can be chosen from the indexed rows at fit time:
    bits="auto" probes a seeded sample of the index's own rows and takes the smallest b whose estimated scored
    fraction (pairs scored / all pairs, self-pairs left out) is <= target_fraction; tables="auto" gives each b the
    fewest tables with which a pair at cosine `recall_cosine` is found with probability >= `recall`. With explicit
    integers the index is the same as before (same hyperplanes for the same seed, L and b). On the four ER
    benchmarks (learned char-n-gram embeddings, k = 1..10) auto x auto picks 42x12 to 88x15, scores 11-15% of the
    pairs (the estimate is within 10% of what tableB's queries score) and keeps >= 0.994 of exact top-k's PC.

    Args:
        tables: L (int), or "auto" (from bits, recall, recall_cosine).
        bits: b (int), or "auto" (smallest b meeting target_fraction on the self-probe).
        multiprobe: also probe the buckets at Hamming distance 1.
        seed: seeds the hyperplanes and the self-probe sample.
        target_fraction: in (0, 1], the scored fraction bits="auto" aims at.
        recall, recall_cosine: tables="auto" keeps P(a pair at this cosine collides somewhere) >= recall.
        sample: rows probed (and at most 8 x sample rows indexed) for the estimate.
    Attributes (after fit): tables_, bits_ (chosen), estimated_fraction_ (self-probe estimate; None when both were
        given), codes_ int64 [L, n] sorted per table, order_ int64 [L, n] rows in that order, pairs_scored_ (last
        search), query_count_.
    """

    #: candidate_pairs deduplicates with a bitmap while n_query x n_index stays under this many entries.
    DENSE_DEDUP = 1 << 26

    def __init__(self, tables=48, bits=12, multiprobe: bool = True, seed: int = 0, target_fraction: float = 0.15,
                 recall: float = 0.999, recall_cosine: float = 0.7, sample: int = 512):
        self.tables, self.bits = _check_choice("tables", tables, MAX_TABLES), _check_choice("bits", bits, MAX_BITS)
        self.target_fraction = _check_open("target_fraction", target_fraction, 0.0, 1.0, closed_hi=True)
        self.recall = _check_open("recall", recall, 0.0, 1.0)
        self.recall_cosine = _check_open("recall_cosine", recall_cosine, -1.0, 1.0)
        if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1:
            raise ValueError(f"SimHashIndex: sample must be a positive integer, got {sample!r}")
        self.multiprobe, self.seed, self.sample = bool(multiprobe), seed, int(sample)
        self.x_: Optional[torch.Tensor] = None

    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        """x [n, d] -> codes int64 [L, n]."""
        bits = (torch.einsum("lbd,nd->lnb", self.planes_, x) > 0).long()
        return (bits << torch.arange(self.bits_)).sum(dim=2)

    def _tables_for(self, bits: int) -> int:
        return self.tables if self.tables != AUTO else tables_for_recall(bits, self.recall_cosine, self.recall,
                                                                         self.multiprobe)

    def fit(self, x) -> "SimHashIndex":
        x = normalise(x)
        self.estimated_fraction_: Optional[float] = None
        if self.bits == AUTO:
            self.bits_, self.estimated_fraction_ = self._choose_bits(x)
        else:
            self.bits_ = self.bits
            if self.tables == AUTO:
                self.estimated_fraction_ = self._estimate(x, self.bits_)
        self._build(x, self._tables_for(self.bits_), self.bits_)
        return self

    def _build(self, x: torch.Tensor, tables: int, bits: int) -> None:
        self.tables_, self.bits_ = tables, bits
        gen = torch.Generator().manual_seed(int(self.seed))
        self.planes_ = torch.randn(tables, bits, x.shape[1], generator=gen)
        codes = self._codes(x)
        order = torch.argsort(codes, dim=1, stable=True)
        self.codes_ = torch.gather(codes, 1, order).numpy()
        self.order_ = order.numpy()
        self.x_ = x
        self.pairs_scored_, self.query_count_ = 0, 0

    def _estimate(self, x: torch.Tensor, bits: int) -> float:
        """Self-probe: share of the other indexed rows that `sample` seeded rows would score with L(b) x b."""
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"SimHashIndex: tables/bits='auto' estimate the scored fraction from the indexed rows and "
                             f"need at least 2 of them, got {n}")
        rows = np.random.default_rng(int(self.seed)).permutation(n)[:min(n, 8 * self.sample)]
        m = min(self.sample, rows.size)
        probe = SimHashIndex(self._tables_for(bits), bits, self.multiprobe, self.seed)
        probe._build(x[torch.from_numpy(rows)], probe.tables, probe.bits)
        q, _ = probe.candidate_pairs(probe.x_[:m])
        return (q.size - m) / (m * (rows.size - 1))          # each sampled row always finds itself: left out

    def _choose_bits(self, x: torch.Tensor) -> tuple[int, float]:
        """Smallest b whose estimate is <= target_fraction: from b = 12, down while the next one still meets it, or
        up until one does (stopping where L(b) would pass MAX_TABLES)."""
        b, est = 12, self._estimate(x, 12)
        if est <= self.target_fraction:
            while b > 1 and (lower := self._estimate(x, b - 1)) <= self.target_fraction:
                b, est = b - 1, lower
        else:
            while est > self.target_fraction and b < MAX_BITS and self._tables_for(b + 1) < MAX_TABLES:
                b, est = b + 1, self._estimate(x, b + 1)
        if est > self.target_fraction:
            warnings.warn(f"SimHashIndex: no bit count reaches target_fraction={self.target_fraction:g} on these rows "
                          f"(many near-identical rows?); using b={b}, estimated fraction {est:.3f}", stacklevel=3)
        return b, est

    def probe_codes(self, x_query) -> np.ndarray:
        """Codes each query probes: int64 [L, n_query, P], P = b + 1 with multiprobe else 1."""
        codes = self._codes(normalise(x_query)).numpy()
        if not self.multiprobe:
            return codes[:, :, None]
        flips = np.concatenate([[0], np.int64(1) << np.arange(self.bits_, dtype=np.int64)])
        return codes[:, :, None] ^ flips[None, None, :]

    def candidate_pairs(self, x_query) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (query row, index row) pairs that share a probed bucket: two int64 [m] arrays."""
        if self.x_ is None:
            raise NotFittedError("SimHashIndex: call fit first")
        probes = self.probe_codes(x_query)
        n_idx = self.codes_.shape[1]
        keys = []
        for t in range(self.tables_):                      # L is small; everything inside is vectorised
            p = probes[t].reshape(-1)
            lo = np.searchsorted(self.codes_[t], p, side="left")
            hi = np.searchsorted(self.codes_[t], p, side="right")
            size = hi - lo
            q = np.repeat(np.arange(p.size) // probes.shape[2], size)
            starts = np.repeat(lo - np.concatenate([[0], np.cumsum(size)[:-1]]), size)
            rows = self.order_[t][starts + np.arange(size.sum())]
            keys.append(q * n_idx + rows)
        keys = np.concatenate(keys)
        span = probes.shape[1] * n_idx
        if span <= self.DENSE_DEDUP:                       # a bitmap over the block: linear, where sorting is not
            seen = np.zeros(span, dtype=bool)
            seen[keys] = True
            keys = np.flatnonzero(seen)
        else:
            keys = np.unique(keys)
        return keys // n_idx, keys % n_idx

    def search(self, x_query, k: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Top-k among the probed records: (rows int64 [n, k], cosines float32 [n, k]); -1 / -inf pad short lists.
        Queries go `chunk` at a time, so memory is bounded by the chunk's probed buckets (dense clusters of similar
        records make buckets large)."""
        k = check_k(k, "SimHashIndex.search")
        xq = normalise(x_query)
        n = xq.shape[0]
        rows = np.full((n, k), -1, np.int64)
        vals = np.full((n, k), -np.inf, np.float32)
        self.pairs_scored_, self.query_count_ = 0, n
        for s in range(0, n, chunk):
            self._search_chunk(xq[s:s + chunk], k, rows[s:s + chunk], vals[s:s + chunk])
        return rows, vals

    def _search_chunk(self, xq: torch.Tensor, k: int, rows: np.ndarray, vals: np.ndarray) -> None:
        q, r = self.candidate_pairs(xq)
        self.pairs_scored_ += int(q.size)
        if not q.size:
            return
        scores = torch.einsum("nd,nd->n", xq[torch.from_numpy(q)], self.x_[torch.from_numpy(r)]).numpy()
        order = np.lexsort((r, -scores, q))                 # per query: best score first, ties to the smaller row
        q, r, scores = q[order], r[order], scores[order]
        rank = np.arange(q.size) - np.searchsorted(q, q)
        keep = rank < k
        rows[q[keep], rank[keep]] = r[keep]
        vals[q[keep], rank[keep]] = scores[keep]

    def scored_fraction(self) -> float:
        """Share of all (query, index) pairs the last search scored."""
        return self.pairs_scored_ / max(1, self.query_count_ * self.codes_.shape[1])

    def describe(self) -> dict:
        """JSON-ready: the chosen L and b, the fit-time estimate and the last search's scored fraction."""
        return {"tables": self.tables_, "bits": self.bits_, "estimated_fraction": self.estimated_fraction_,
                "scored_fraction": self.scored_fraction(), "target_fraction":
                self.target_fraction if self.bits == AUTO else None}
