"""User-item biadjacency matrix (scipy CSR [n_users, n_items]) built from interactions, vectorised."""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import scipy.sparse as sp

from recsys_hash.errors import InvalidIdError

#: A side's vocabulary may exceed its interactions' count by this factor (or this floor): beyond it the IDs are
#: not compact indices but raw (e.g. hashed 64-bit) keys, and the per-ID arrays would not fit in memory.
VOCAB_PER_INTERACTION = 64
VOCAB_FLOOR = 1 << 24


def _check_index(col: Any, name: str, size: int, where: str) -> np.ndarray:
    """A column of indices -> int64 [n]; every value must be an integer in [0, size)."""
    arr = np.asarray(col)
    if arr.ndim != 1:
        raise InvalidIdError(f"{where}: {name} must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise InvalidIdError(f"{where}: {name} IDs must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        bad = np.flatnonzero((arr < 0) | (arr >= size))
        if bad.size:
            pos = int(bad[0])
            raise InvalidIdError(
                f"{where}: {name} ID {int(arr[pos])} at position {pos} is outside [0, {size}) "
                f"(IDs must be non-negative indices below n_{name}s)"
            )
    return arr


def edge_weights(weights: Optional[np.ndarray], n: int, where: str) -> np.ndarray:
    """Per-interaction weights -> float64 [n]; None -> ones. NaN, inf and negative weights are rejected."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(weights)
    if w.shape != (n,):
        raise ValueError(f"{where}: weights must have shape ({n},) like the interactions, got {w.shape}")
    if w.dtype.kind not in "iuf":
        raise ValueError(f"{where}: weights must be numeric, got dtype {w.dtype}")
    w = w.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        pos = int(bad[0])
        raise ValueError(f"{where}: weight {w[pos]} at interaction {pos} is not a finite non-negative number")
    return w


def build_biadjacency(
    interactions: Any,
    *,
    weights: Union[None, str, np.ndarray] = None,
    binarize: bool = False,
    where: str = "build_biadjacency",
) -> sp.csr_matrix:
    """Interactions -> CSR float64 [n_users, n_items]; duplicate pairs sum their weights (or count 1 if binarize).

    weights: None (each interaction weighs 1), "rating" (use `interactions.rating`) or float [n].
    Zero-weight interactions add no edge. Empty interactions or empty vocabularies raise ValueError, and so does a
    vocabulary far beyond the interactions (> max(VOCAB_FLOOR, VOCAB_PER_INTERACTION x interactions)): IDs must be
    compact indices, not raw 64-bit keys.
    """
    n_users, n_items = int(interactions.n_users), int(interactions.n_items)
    if n_users < 1 or n_items < 1:
        raise ValueError(
            f"{where}: both sides need a vocabulary, got n_users={n_users}, n_items={n_items} (a side with no IDs)"
        )
    user = _check_index(interactions.user, "user", n_users, where)
    item = _check_index(interactions.item, "item", n_items, where)
    if user.size == 0:
        raise ValueError(f"{where}: the interaction graph is empty (0 interactions); there is nothing to cluster")
    limit = max(VOCAB_FLOOR, VOCAB_PER_INTERACTION * user.size)
    for name, n in (("n_users", n_users), ("n_items", n_items)):
        if n > limit:
            raise ValueError(
                f"{where}: {name}={n} is far beyond the {user.size} interactions (at most {VOCAB_FLOOR} or "
                f"{VOCAB_PER_INTERACTION} per interaction); the graph needs compact ID indices: map raw IDs to "
                f"0..n-1 first (np.unique(ids, return_inverse=True))"
            )
    if isinstance(weights, str):
        if weights != "rating":
            raise ValueError(f"{where}: weights must be None, 'rating' or an array, got {weights!r}")
        if interactions.rating is None:
            raise ValueError(f"{where}: weights='rating' but the interactions {interactions.name!r} have no ratings")
        weights = interactions.rating
    w = edge_weights(weights, user.size, where)
    mat = sp.csr_matrix((w, (user, item)), shape=(n_users, n_items), dtype=np.float64)
    mat.sum_duplicates()
    mat.eliminate_zeros()
    if mat.nnz == 0:
        raise ValueError(f"{where}: every interaction has weight 0; the interaction graph is empty")
    if binarize:
        mat.data[:] = 1.0
    return mat


def degrees(biadjacency: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Weighted degrees: (users float64 [n_users], items float64 [n_items])."""
    return np.asarray(biadjacency.sum(axis=1)).ravel(), np.asarray(biadjacency.sum(axis=0)).ravel()
