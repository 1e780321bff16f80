"""Collision statistics of a mapping: how many distinct IDs share rows, weighted by how often they occur."""
from __future__ import annotations

import numpy as np


def collision_stats(rows: np.ndarray, counts: np.ndarray, num_rows: int) -> dict[str, float]:
    """Statistics for distinct IDs mapped to `rows` ([n] or [n, k] for multi-row strategies), occurring `counts` [n] times.

    - rows_used: table rows referenced by at least one ID.
    - ids_per_row_mean / ids_per_row_max: distinct IDs referencing a row, over used rows (every one of an ID's k rows counts).
    - collision_rate: share of distinct IDs whose embedding is indistinguishable from another ID's (same row, or same
      k-tuple of rows for multi-row strategies).
    - weighted_collision_rate: share of occurrences (interactions) whose ID is in that situation.
    - shared_row_rate / weighted_shared_row_rate: share of distinct IDs / of occurrences whose ID has at least one row
      that another ID also uses (for multi-row strategies such as qr this is high even when no two IDs are identical).
    - popularity_weighted_collision_rate: for an occurrence, the share of its row's traffic that belongs to *other* IDs,
      averaged over occurrences (0 = private rows, close to 1 = a rare ID drowned by a popular one). Uses the first row.
    """
    rows = np.asarray(rows, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows[:, None]
    n = rows.shape[0]
    if n == 0:
        return {"rows_used": 0, "ids_per_row_mean": 0.0, "ids_per_row_max": 0, "collision_rate": 0.0,
                "weighted_collision_rate": 0.0, "popularity_weighted_collision_rate": 0.0, "shared_row_rate": 0.0,
                "weighted_shared_row_rate": 0.0}
    flat = rows.reshape(-1)
    # An ID referencing the same row twice counts once for that row.
    pair = np.unique(np.stack([np.repeat(np.arange(n), rows.shape[1]), flat], axis=1), axis=0)
    ids_per_row = np.bincount(pair[:, 1], minlength=num_rows)
    used = ids_per_row > 0
    _, inverse, tuple_count = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    shared = tuple_count[inverse.reshape(-1)] > 1
    on_shared = np.bincount(pair[:, 0], weights=ids_per_row[pair[:, 1]] > 1, minlength=n) > 0
    total = counts.sum()
    primary = rows[:, 0]
    row_traffic = np.bincount(primary, weights=counts, minlength=num_rows)
    others = 1.0 - counts / np.maximum(row_traffic[primary], 1e-300)
    return {
        "rows_used": int(used.sum()),
        "ids_per_row_mean": float(ids_per_row[used].mean()),
        "ids_per_row_max": int(ids_per_row.max()),
        "collision_rate": float(shared.mean()),
        "weighted_collision_rate": float(counts[shared].sum() / total) if total > 0 else 0.0,
        "popularity_weighted_collision_rate": float((counts * others).sum() / total) if total > 0 else 0.0,
        "shared_row_rate": float(on_shared.mean()),
        "weighted_shared_row_rate": float(counts[on_shared].sum() / total) if total > 0 else 0.0,
    }
