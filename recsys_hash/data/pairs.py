"""(user, item) pair keys that never wrap: int64 packing where n_users × n_items fits, column sorting where not."""
from __future__ import annotations

import numpy as np

INT64_MAX = int(np.iinfo(np.int64).max)


def packable(n_users: int, n_items: int) -> bool:
    """True when every key user * n_items + item (user < n_users, item < n_items) fits in int64."""
    return int(n_users) * int(n_items) - 1 <= INT64_MAX


def pack_pairs(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int) -> np.ndarray:
    """(user, item) int [n] -> int64 keys user * n_items + item [n], ordered like the pairs (user, then item).

    Raises ValueError when n_users × n_items exceeds int64: the keys would wrap and merge distinct pairs.
    """
    if not packable(n_users, n_items):
        raise ValueError(f"cannot pack (user, item) pairs: {int(n_users)} users × {int(n_items)} items do not fit "
                         f"in int64 (IDs must be compact indices 0..n-1)")
    return np.asarray(user, dtype=np.int64) * np.int64(n_items) + np.asarray(item, dtype=np.int64)


def unique_pairs(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, item) pairs sorted by user then item: int64 [m], int64 [m].

    Sorts packed int64 keys when they fit (np.sort + a neighbour test: several times faster than np.unique on
    numpy 2.4); otherwise lexsorts the two columns (about 2x slower, exact for any vocabulary size).
    """
    user = np.asarray(user, dtype=np.int64)
    item = np.asarray(item, dtype=np.int64)
    if packable(n_users, n_items):
        width = max(int(n_items), 1)
        keys = np.sort(pack_pairs(user, item, n_users, width))
        keys = keys[_first_of_runs(keys)]
        return keys // width, keys % width
    order = np.lexsort((item, user))
    user, item = user[order], item[order]
    first = _first_of_runs(user) | _first_of_runs(item)
    return user[first], item[first]


def _first_of_runs(sorted_values: np.ndarray) -> np.ndarray:
    """bool [n]: True where a value differs from its predecessor (and at index 0)."""
    first = np.ones(sorted_values.size, dtype=bool)
    first[1:] = sorted_values[1:] != sorted_values[:-1]
    return first
