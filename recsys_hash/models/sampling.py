"""BPR training data: per-epoch shuffled positives with uniform negatives, and a seeded validation carve."""
from __future__ import annotations

import numpy as np

from recsys_hash.data.pairs import pack_pairs, unique_pairs
from recsys_hash.data.types import Interactions

#: rounds of re-sampling before giving up on rejecting sampled positives (the rest stay as drawn)
MAX_REJECT_ROUNDS = 50


def dedup_pairs(inter: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, item) pairs sorted by user then item: int64 [m], int64 [m] (exact for any vocabulary size)."""
    return unique_pairs(inter.user, inter.item, inter.n_users, inter.n_items)


def sample_negatives(users: np.ndarray, n_items: int, rng: np.random.Generator,
                     positive_keys: np.ndarray | None = None) -> np.ndarray:
    """Uniform item per user, int64 [b]; with sorted `positive_keys` redraw positives.

    positive_keys: `pack_pairs(users, items, n_users, n_items)` of the positive pairs, sorted (ValueError, never a
    wrapped key, when n_users × n_items exceeds int64).
    """
    neg = rng.integers(0, n_items, size=users.size, dtype=np.int64)
    if positive_keys is None or positive_keys.size == 0:
        return neg
    n_users = int(users.max()) + 1 if users.size else 0
    todo = np.arange(users.size)
    for _ in range(MAX_REJECT_ROUNDS):
        keys = pack_pairs(users[todo], neg[todo], n_users, n_items)
        pos = np.minimum(np.searchsorted(positive_keys, keys), positive_keys.size - 1)
        todo = todo[positive_keys[pos] == keys]
        if todo.size == 0:
            break
        neg[todo] = rng.integers(0, n_items, size=todo.size, dtype=np.int64)
    return neg


def epoch_batches(users: np.ndarray, items: np.ndarray, n_items: int, batch_size: int, seed: int, epoch: int,
                  positive_keys: np.ndarray | None = None):
    """Yield (users, pos, neg) int64 [b] batches covering every positive once, shuffled by (seed, epoch)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), 0xB9]))
    perm = rng.permutation(users.size)
    neg = sample_negatives(users[perm], n_items, rng, positive_keys)
    for start in range(0, perm.size, batch_size):
        sl = perm[start : start + batch_size]
        yield users[sl], items[sl], neg[start : start + batch_size]


def carve_validation(train: Interactions, fraction: float = 0.1, seed: int = 0) -> tuple[Interactions, Interactions]:
    """Move floor(fraction * n_u + U) random training items of each user u (seeded) to a validation split.

    Users keep at least one training item (users with a single item give none). Returns (train', valid).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction!r}")
    users, items = dedup_pairs(train)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xCA4E]))
    order = np.lexsort((rng.random(users.size), users))                  # shuffled within each user
    users, items = users[order], items[order]
    counts = np.bincount(users, minlength=train.n_users)
    first = np.cumsum(counts) - counts
    rank = np.arange(users.size) - first[users]
    # stochastic rounding: floor(fraction * n + U[0, 1)) items, so small users contribute in expectation too
    n_valid = np.floor(fraction * counts + rng.random(train.n_users)).astype(np.int64)
    n_valid = np.minimum(n_valid, np.maximum(counts - 1, 0))
    is_valid = rank < n_valid[users]
    make = lambda m, name: Interactions(users[m], items[m], train.n_users, train.n_items, name=name)  # noqa: E731
    return make(~is_valid, f"{train.name}:train-minus-valid"), make(is_valid, f"{train.name}:valid")
