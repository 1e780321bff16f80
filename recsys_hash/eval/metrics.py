"""Top-K ranking metrics: Recall@K and NDCG@K from ranked item lists and per-user relevant sets.

Conventions (the GraphHash / LightGCN protocol):
- Recall@K = |relevant ∩ top K| / min(K, |relevant|), so a user with fewer than K test items can reach 1.0.
- NDCG@K = DCG@K / IDCG@K, DCG = Σ_{r<K} hit_r / log2(r + 2), IDCG = Σ_{r<min(K, |relevant|)} 1 / log2(r + 2).
- Users with no relevant item are excluded from the averages (they are undefined, not zero).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from recsys_hash.data.pairs import pack_pairs, unique_pairs


def parse_ks(ks: Sequence[int] | str | int) -> list[int]:
    """`"10,20,50"`, `20` or `[10, 20]` -> sorted distinct positive ints; names the bad value otherwise."""
    if isinstance(ks, str):
        parts = [p.strip() for p in ks.split(",") if p.strip()]
        try:
            ks = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"k list {ks!r}: expected comma-separated integers like '10,20,50'") from None
    elif isinstance(ks, (int, np.integer)):
        ks = [int(ks)]
    out = sorted({int(k) for k in ks})
    if not out:
        raise ValueError("k list is empty: give at least one cut-off, e.g. 20")
    if out[0] < 1:
        raise ValueError(f"every k must be >= 1, got {out[0]}")
    return out


def csr_from_pairs(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, item) pairs -> CSR (indptr int64 [n_users+1], indices int64 sorted within each user)."""
    users, items = unique_pairs(user, item, n_users, n_items)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return indptr, items


def hits_from_topk(topk: np.ndarray, users: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                   n_items: int) -> np.ndarray:
    """bool [n, K]: topk[j, r] is a relevant item of users[j] (relevant sets given as CSR)."""
    counts = np.diff(indptr)
    rel_users = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    n_users = len(counts)
    rel_keys = pack_pairs(rel_users, indices, n_users, n_items)    # sorted: users ascending, items sorted within
    keys = pack_pairs(users[:, None], topk, n_users, n_items)
    pos = np.searchsorted(rel_keys, keys)
    pos = np.minimum(pos, max(rel_keys.size - 1, 0))
    return rel_keys[pos] == keys if rel_keys.size else np.zeros(topk.shape, dtype=bool)


def per_user_metrics(hits: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """hits bool [n, Kmax] (rank order), n_relevant int [n] (> 0) -> {"recall@k": [n], "ndcg@k": [n]}."""
    hits = np.asarray(hits, dtype=bool)
    n_relevant = np.asarray(n_relevant, dtype=np.int64)
    kmax = hits.shape[1]
    discount = 1.0 / np.log2(np.arange(kmax, dtype=np.float64) + 2.0)       # [Kmax]
    dcg_cum = np.cumsum(hits * discount, axis=1)                             # [n, Kmax]
    hit_cum = np.cumsum(hits, axis=1)                                        # [n, Kmax]
    idcg_table = np.concatenate([[0.0], np.cumsum(discount)])                # idcg of m ideal hits, m <= Kmax
    out: dict[str, np.ndarray] = {}
    for k in ks:
        if k > kmax:
            raise ValueError(f"k={k} exceeds the ranked list length {kmax}")
        denom = np.minimum(n_relevant, k)
        out[f"recall@{k}"] = hit_cum[:, k - 1] / denom
        out[f"ndcg@{k}"] = dcg_cum[:, k - 1] / idcg_table[denom]
    return out


def ranking_metrics(topk: np.ndarray, users: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                    n_items: int, ks: Sequence[int]) -> dict[str, float]:
    """Mean Recall@k / NDCG@k over `users` (each must have >= 1 relevant item); topk int [n, Kmax]."""
    n_rel = np.diff(indptr)[users]
    if users.size == 0:
        raise ValueError("no user with a relevant item: metrics are undefined on an empty test set")
    if (n_rel == 0).any():
        bad = int(users[np.argmax(n_rel == 0)])
        raise ValueError(f"user {bad} has no relevant item; exclude such users before averaging")
    per_user = per_user_metrics(hits_from_topk(topk, users, indptr, indices, n_items), n_rel, ks)
    return {name: float(v.mean()) for name, v in per_user.items()}
