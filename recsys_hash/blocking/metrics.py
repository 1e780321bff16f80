"""Blocking metrics over candidate pairs (a_id, b_id): pair completeness PC (recall of the gold pairs), pair quality
PQ (share of candidates that are gold), reduction ratio RR (share of all |A|x|B| pairs not scored), F1(PC, PQ),
|C|, and the smallest k of a kNN blocker reaching a target PC. Every result says which side queried the other and
which gold set was used, so figures from different protocols are never mixed up."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Optional

import numpy as np

from recsys_hash.errors import DataFormatError


@dataclass(frozen=True)
class BlockingMetrics:
    pc: float
    pq: float
    rr: float
    f1: float
    candidates: int
    true_pairs_found: int
    gold_pairs: int
    total_pairs: int
    query_side: str
    gold: str

    def as_dict(self) -> dict:
        return asdict(self)


def as_pairs(pairs, where: str) -> np.ndarray:
    """Any [n, 2] integer array-like -> int64 [n, 2]; other shapes or non-integers raise naming `where`."""
    arr = np.asarray(pairs)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{where}: expected pairs of shape [n, 2], got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{where}: pair ids must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _check_known(pairs: np.ndarray, ids_a: np.ndarray, ids_b: np.ndarray, where: str) -> None:
    for col, ids, side in ((0, ids_a, "tableA"), (1, ids_b, "tableB")):
        unknown = ~np.isin(pairs[:, col], ids)
        if unknown.any():
            i = int(np.argmax(unknown))
            raise DataFormatError(f"{where}: pair {i} names id {int(pairs[i, col])}, which does not exist in {side} "
                                  f"({int(unknown.sum())} pairs with unknown ids)")


def pair_keys(pairs: np.ndarray, width: int) -> np.ndarray:
    """(a, b) -> a * width + b (int64), width > every b: set operations on pairs as 1-D ints."""
    return pairs[:, 0] * np.int64(width) + pairs[:, 1]


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct pairs, sorted by (a, b)."""
    return np.unique(as_pairs(pairs, "unique_pairs"), axis=0) if len(pairs) else np.zeros((0, 2), np.int64)


def blocking_metrics(candidates, gold, ids_a, ids_b, *, query_side: str = "tableB queries tableA",
                     gold_name: str = "all labelled positives", self_join: bool = False) -> BlockingMetrics:
    """Metrics of candidate pairs against gold pairs; both int [n, 2] of (tableA id, tableB id).

    Duplicate candidates count once. With self_join (deduplicating one table: ids_a is ids_b) a pair and its
    mirror are the same pair, and the total is n(n-1)/2. Raises DataFormatError if a gold or candidate pair
    names an id missing from its table.
    """
    ids_a, ids_b = np.asarray(ids_a, np.int64), np.asarray(ids_b, np.int64)
    cand, gold = as_pairs(candidates, "candidates"), as_pairs(gold, "gold pairs")
    _check_known(gold, ids_a, ids_b, "gold pairs")
    _check_known(cand, ids_a, ids_b, "candidates")
    if self_join:
        cand, gold = np.sort(cand, axis=1), np.sort(gold, axis=1)
        cand, gold = cand[cand[:, 0] != cand[:, 1]], gold[gold[:, 0] != gold[:, 1]]
        total = ids_a.size * (ids_a.size - 1) // 2
    else:
        total = ids_a.size * ids_b.size
    width = int(max(ids_b.max(initial=0), ids_a.max(initial=0))) + 1
    ck, gk = np.unique(pair_keys(cand, width)), np.unique(pair_keys(gold, width))
    found = int(np.isin(gk, ck, assume_unique=True).sum())
    pc = found / gk.size if gk.size else 0.0
    pq = found / ck.size if ck.size else 0.0
    f1 = 2 * pc * pq / (pc + pq) if pc + pq > 0 else 0.0
    rr = 1.0 - ck.size / total if total else 0.0
    return BlockingMetrics(pc=pc, pq=pq, rr=rr, f1=f1, candidates=int(ck.size), true_pairs_found=found,
                           gold_pairs=int(gk.size), total_pairs=int(total), query_side=query_side, gold=gold_name)


def smallest_k(pc_by_k: Mapping[int, float], target: float = 0.97) -> Optional[int]:
    """The smallest k whose PC reaches `target` (None if none does)."""
    hits = sorted(k for k, pc in pc_by_k.items() if pc >= target)
    return hits[0] if hits else None


def knn_pairs(neighbours: np.ndarray, ids_index: np.ndarray, ids_query: np.ndarray, query_is_b: bool = True) -> np.ndarray:
    """Top-k neighbour rows int [n_query, k] (-1 = none) -> (a_id, b_id) pairs int64 [m, 2]."""
    nb = np.asarray(neighbours)
    q = np.repeat(np.arange(nb.shape[0]), nb.shape[1])
    r = nb.reshape(-1)
    keep = r >= 0
    idx, qry = ids_index[r[keep]], ids_query[q[keep]]
    return np.stack([idx, qry] if query_is_b else [qry, idx], axis=1).astype(np.int64)
