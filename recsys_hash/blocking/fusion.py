"""Lexical + neural fusion for the hybrid blocker: the fused score (lexical cosine + weight x neural cosine) and the
rank merge that bounds how far either ranking's best records can fall.

    >>> rows, scores = fuse_topk(tfidf_cos, nlsh_cos, weight=1.0, k=5)     # float32 [n, m] each -> [n, 5] each

Rank merge ("min-rank" fusion): a record's place is set by min(its rank in the fused-score list, its rank in the
lexical list), ties going to the fused list; i.e. the two top-k lists read in turn (fused 1st, lexical 1st, fused
2nd, lexical 2nd, ...) with records already listed skipped. Every prefix of the result holds the fused top-ceil(k/2)
and the lexical top-floor(k/2), and it is still one ranking (the top-j of a top-k search is the top-j search).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from recsys_hash.blocking.index import topk_dense

FUSIONS = ("rank", "score")
#: weights weight="auto" tries on the validation slice (0 = TF-IDF alone)
WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
#: weight="auto" scores each weight by the mean PC@k over these k on the validation slice
VALIDATION_KS = tuple(range(1, 11))


def check_weight(weight, where: str = "hybrid"):
    """The neural part's weight: a finite number >= 0, or "auto" (ValueError naming `where` and the value otherwise)."""
    if isinstance(weight, str) and weight == "auto":
        return weight
    ok = isinstance(weight, (int, float, np.integer, np.floating)) and not isinstance(weight, bool)
    if not ok or not math.isfinite(float(weight)) or float(weight) < 0:
        raise ValueError(f"{where}: weight must be a finite number >= 0 (or 'auto'), got {weight!r}")
    return float(weight)


def check_fusion(fusion: str, where: str = "hybrid") -> str:
    if fusion not in FUSIONS:
        raise ValueError(f"{where}: fusion must be one of {FUSIONS}, got {fusion!r}")
    return fusion


def rank_merge(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two ranked lists of columns int64 [n, k] (best first) -> one int64 [n, k]: read in turn (first[:, 0],
    second[:, 0], first[:, 1], ...), each column kept at its first appearance. `first` alone must hold k distinct
    columns per row (a top-k), so k always survive."""
    n, k = first.shape
    both = np.stack([first, second], axis=2).reshape(n, 2 * k)
    order = np.argsort(both, axis=1, kind="stable")                  # equal columns: earlier place first
    by_col = np.take_along_axis(both, order, axis=1)
    repeat = np.zeros_like(by_col, dtype=bool)
    repeat[:, 1:] = by_col[:, 1:] == by_col[:, :-1]
    dup = np.empty_like(repeat)
    np.put_along_axis(dup, order, repeat, axis=1)
    keep = np.argsort(dup, axis=1, kind="stable")[:, :k]             # first k places not repeating a column
    return np.take_along_axis(both, keep, axis=1)


def fuse_topk(lexical: torch.Tensor, neural: torch.Tensor, weight: float, k: int,
              fusion: str = "rank") -> tuple[np.ndarray, np.ndarray]:
    """Scores float32 [n, m] of both parts -> (columns int64 [n, k'], fused scores float32 [n, k']), k' = min(k, m).

    fusion "score": top-k of lexical + weight x neural. "rank": that list rank-merged with the lexical top-k (see
    the module doc); scores are then each record's fused score (not monotone along the row)."""
    fused = lexical + weight * neural
    cols, vals = topk_dense(fused, k)
    if fusion == "score":
        return cols, vals
    lex_cols, _ = topk_dense(lexical, k)
    cols = rank_merge(cols, lex_cols)
    return cols, torch.gather(fused, 1, torch.from_numpy(cols)).numpy().astype(np.float32)


def mean_pc(rows: np.ndarray, query: np.ndarray, truth: np.ndarray, ks=VALIDATION_KS) -> float:
    """Mean over `ks` of the share of (query row, true column) pairs whose column is in the query's top-k.
    rows: int64 [n_q, >= max(ks)] ranked columns; query, truth: int64 [p] (query row into `rows`, true column)."""
    hit = rows[query] == truth[:, None]
    place = np.where(hit.any(axis=1), hit.argmax(axis=1), rows.shape[1])
    return float(np.mean([(place < k).mean() for k in ks]))


def choose_weight(lexical: torch.Tensor, neural: torch.Tensor, query: np.ndarray, truth: np.ndarray,
                  fusion: str = "rank", grid=WEIGHT_GRID) -> tuple[float, dict[float, float]]:
    """The grid weight with the best mean PC@1..10 on validation pairs (ties: the smaller weight) and every
    weight's score. lexical / neural: float32 [n_q, m] scores of the validation queries; query, truth: int64 [p]."""
    k = max(VALIDATION_KS)
    scores = {float(w): mean_pc(fuse_topk(lexical, neural, float(w), k, fusion)[0], query, truth) for w in grid}
    best = max(scores.values())
    return min(w for w, v in scores.items() if v == best), scores
