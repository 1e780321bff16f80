"""Collision statistics of a mapping: how many distinct IDs share rows, weighted by frequency."""
from __future__ import annotations

import numpy as np


def collision_stats(rows: np.ndarray, counts: np.ndarray, num_rows: int) -> dict[str, float]:
    """Statistics for distinct IDs mapped to `rows` ([n] or [n, k]) occurring `counts` [n] times.

    Returns rows_used, ids_per_row_mean (over used rows), ids_per_row_max, collision_rate (share of
    distinct IDs that share their row with another ID) and weighted_collision_rate (share of
    occurrences whose ID shares a row). For multi-row strategies an ID collides only if *all* its
    rows are shared with one same other ID is not tracked; the first row is used as its primary row.
    """
    rows = np.asarray(rows)
    primary = rows if rows.ndim == 1 else rows[:, 0]
    counts = np.asarray(counts, dtype=np.float64)
    ids_per_row = np.bincount(primary, minlength=num_rows)
    used = ids_per_row > 0
    shared = ids_per_row[primary] > 1
    total = counts.sum()
    return {
        "rows_used": int(used.sum()),
        "ids_per_row_mean": float(ids_per_row[used].mean()) if used.any() else 0.0,
        "ids_per_row_max": int(ids_per_row.max()) if ids_per_row.size else 0,
        "collision_rate": float(shared.mean()) if shared.size else 0.0,
        "weighted_collision_rate": float(counts[shared].sum() / total) if total > 0 else 0.0,
    }
