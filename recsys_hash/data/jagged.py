"""The one vectorised jagged gather (numpy only) that batching, histories, attribute tables and ranking share."""
from __future__ import annotations

import numpy as np


def gather_jagged(offsets: np.ndarray, values: np.ndarray, rows: np.ndarray,
                  max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Segments `rows` of a jagged array -> (lengths int64 [len(rows)], values concatenated in row order).

    With `max_len`, keeps the last `max_len` values of each segment (the most recent, for time-ordered rows).
    """
    ends = offsets[rows + 1]
    lengths = ends - offsets[rows]
    if max_len is not None:
        lengths = np.minimum(lengths, max_len)
    starts = ends - lengths
    out_starts = np.cumsum(lengths) - lengths
    src = np.repeat(starts - out_starts, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)
    return lengths.astype(np.int64), values[src]


def gather_offsets(offsets: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments `rows` of (offsets, values) -> a new jagged array (offsets int64 [len(rows)+1], values)."""
    lengths, out = gather_jagged(offsets, values, rows)
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), out
