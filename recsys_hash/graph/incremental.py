"""New IDs and refits: majority votes over neighbours, and old-row/new-row matching by maximum overlap."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def majority_vote(owner: np.ndarray, candidate: np.ndarray, weight: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per owner, the candidate with the largest summed weight (ties -> smallest candidate); -1 votes ignored.

    owner, candidate: int64 [e]; weight: float [e] or None (1 each). Returns (owners int64 [o], winners int64 [o]),
    owners sorted ascending; owners with no valid vote are absent.
    """
    owner = np.asarray(owner, dtype=np.int64)
    candidate = np.asarray(candidate, dtype=np.int64)
    w = np.ones(owner.size) if weight is None else np.asarray(weight, dtype=np.float64)
    ok = candidate >= 0
    owner, candidate, w = owner[ok], candidate[ok], w[ok]
    if owner.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    width = np.int64(candidate.max()) + 1                      # owner * width + candidate: one int64 key per pair
    keys, inverse = np.unique(owner * width + candidate, return_inverse=True)
    total = np.bincount(inverse.ravel(), w, minlength=keys.size)
    own, cand = keys // width, keys % width
    order = np.lexsort((cand, -total, own))
    first = order[np.r_[True, own[order][1:] != own[order][:-1]]]
    return own[first], cand[first]


def match_rows(old_rows: np.ndarray, new_rows: np.ndarray, n_new: int) -> tuple[np.ndarray, int]:
    """Renumber new rows so that each takes the old row it overlaps most (greedy maximum-overlap matching).

    old_rows, new_rows: int64 [n] for the same IDs (-1 = absent on that side); rows in [0, n_new) are the only
    old numbers a new row may take. Greedy by decreasing overlap (ties: lower new row, then lower old row),
    computed as rounds of mutually-best pairs, which is exactly the sequential greedy result and at least half
    the optimal total overlap. Unmatched new rows take the free numbers in increasing order.
    Returns (perm int64 [n_new]: new row -> final row, kept: IDs whose row number is unchanged).
    """
    both = (old_rows >= 0) & (new_rows >= 0) & (old_rows < n_new)
    cont = sp.coo_matrix((np.ones(int(both.sum())), (new_rows[both], old_rows[both])), shape=(n_new, n_new)).tocsr()
    cont.sum_duplicates()
    coo = cont.tocoo()
    r, c, v = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    perm = np.full(n_new, -1, dtype=np.int64)
    taken = np.zeros(n_new, dtype=bool)
    while r.size:
        # Each entry's rank in a strict total order: larger overlap first, then lower new row, then lower old row.
        order = np.lexsort((c, r, -v))
        rank = np.empty(r.size, dtype=np.int64)
        rank[order] = np.arange(r.size)
        best_r = np.full(n_new, np.iinfo(np.int64).max)
        best_c = np.full(n_new, np.iinfo(np.int64).max)
        np.minimum.at(best_r, r, rank)
        np.minimum.at(best_c, c, rank)
        mutual = (rank == best_r[r]) & (rank == best_c[c])
        perm[r[mutual]] = c[mutual]
        taken[c[mutual]] = True
        live = (perm[r] < 0) & ~taken[c]
        r, c, v = r[live], c[live], v[live]
    free = np.flatnonzero(~taken)
    unmatched = np.flatnonzero(perm < 0)
    perm[unmatched] = free[: unmatched.size]
    kept = int(np.count_nonzero(perm[new_rows[both]] == old_rows[both]))
    return perm, kept
