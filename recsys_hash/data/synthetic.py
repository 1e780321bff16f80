"""Seeded synthetic data with planted, known structure: CTR rows with planted field crosses, long behaviour sequences
with planted interests (ER record pairs with typos live in `synthetic_er`). Each returns (container, ground truth)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys_hash.data.synthetic_er import PlantedER, planted_er_pairs  # noqa: F401  (re-exported)
from recsys_hash.data.types import CTRFrame, Sequences


def _zipf_probs(n: int, alpha: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** alpha
    return p / p.sum()


@dataclass(frozen=True)
class PlantedCTR:
    """Ground truth of `planted_ctr`: logit = bias + Σ main[f][x_f] + Σ cross[(a,b)][x_a, x_b] + dense @ dense_w.

    cross tables are double-centred (zero row and column means): no first-order model can express them.
    """

    bias: float
    main: list[np.ndarray]
    pairs: tuple[tuple[int, int], ...]
    cross: dict[tuple[int, int], np.ndarray]
    dense_weights: np.ndarray
    logits: np.ndarray


def planted_ctr(n_rows: int = 50_000, cardinalities: tuple[int, ...] = (20, 20, 50, 50), pairs=((0, 1),),
                cross_scale: float = 1.5, main_scale: float = 0.3, n_dense: int = 0, alpha: float = 0.8,
                bias: float = -1.0, seed: int = 0) -> tuple[CTRFrame, PlantedCTR]:
    """CTR rows whose labels depend on planted field crosses `pairs` (field index pairs).

    Field f takes values 0..cardinalities[f]-1 with Zipf(alpha) popularity; categorical names are "f0", "f1", ...
    Returns (CTRFrame with n_rows rows, PlantedCTR). Same seed -> identical output.
    """
    if n_rows <= 0 or not cardinalities or min(cardinalities) < 2:
        raise ValueError(f"planted_ctr: need n_rows > 0 and cardinalities >= 2, got {n_rows}, {cardinalities}")
    pairs = tuple((int(a), int(b)) for a, b in pairs)
    for a, b in pairs:
        if not (0 <= a < len(cardinalities) and 0 <= b < len(cardinalities)) or a == b:
            raise ValueError(f"planted_ctr: pair {(a, b)} must name two distinct fields in 0..{len(cardinalities) - 1}")
    rng = np.random.default_rng(seed)
    cols = [rng.choice(c, size=n_rows, p=_zipf_probs(c, alpha)).astype(np.int64) for c in cardinalities]
    main = [rng.normal(0.0, main_scale, c) for c in cardinalities]
    cross = {}
    for a, b in pairs:
        w = rng.normal(0.0, cross_scale, (cardinalities[a], cardinalities[b]))
        cross[(a, b)] = w - w.mean(0, keepdims=True) - w.mean(1, keepdims=True) + w.mean()
    dense = rng.normal(size=(n_rows, n_dense)).astype(np.float32)
    dense_w = rng.normal(0.0, 0.5, n_dense)
    logits = bias + sum(m[c] for m, c in zip(main, cols)) + dense @ dense_w
    for (a, b), w in cross.items():
        logits = logits + w[cols[a], cols[b]]
    labels = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    frame = CTRFrame(categorical={f"f{i}": c for i, c in enumerate(cols)}, dense=dense,
                     dense_names=[f"d{i}" for i in range(n_dense)], labels=labels, name=f"planted_ctr(seed={seed})")
    return frame, PlantedCTR(bias=bias, main=main, pairs=pairs, cross=cross, dense_weights=dense_w, logits=logits)


@dataclass(frozen=True)
class PlantedSequences:
    """Ground truth of `planted_sequences`: item -> interest, user -> its interests, and the purity used."""

    item_interest: np.ndarray  # int64 [n_items]
    user_interests: np.ndarray  # int64 [n_users, interests_per_user]
    purity: float


def planted_sequences(n_users: int = 200, max_len: int = 10_000, n_interests: int = 16, n_items: int = 10_000,
                      interests_per_user: int = 2, purity: float = 0.8, min_len: int = 10, seed: int = 0
                      ) -> tuple[Sequences, PlantedSequences]:
    """Per-user behaviour sequences (lengths log-uniform in [min_len, max_len], up to 10,000) with planted interests.

    Items are split into `n_interests` equal groups; each user owns `interests_per_user` distinct groups; each event
    is, with probability `purity`, a uniform item of one of the user's interests, else a uniform item of the catalogue.
    Timestamps increase within a user. item_attributes["interest"] holds each item's group.
    """
    if not (1 <= min_len <= max_len) or not (0.0 <= purity <= 1.0) or not (1 <= interests_per_user <= n_interests):
        raise ValueError(f"planted_sequences: need 1 <= min_len <= max_len, 0 <= purity <= 1, 1 <= interests_per_user <= "
                         f"n_interests; got {min_len}, {max_len}, {purity}, {interests_per_user}, {n_interests}")
    if n_items < n_interests:
        raise ValueError(f"planted_sequences: n_items ({n_items}) must be >= n_interests ({n_interests})")
    rng = np.random.default_rng(seed)
    item_interest = rng.permutation(np.arange(n_items) % n_interests).astype(np.int64)
    by_interest = np.argsort(item_interest, kind="stable")
    group_size = np.bincount(item_interest, minlength=n_interests)
    group_start = np.concatenate([[0], np.cumsum(group_size)[:-1]])
    user_interests = np.argsort(rng.random((n_users, n_interests)), axis=1)[:, :interests_per_user].astype(np.int64)
    lengths = np.floor(np.exp(rng.uniform(np.log(min_len), np.log(max_len + 1), n_users))).astype(np.int64)
    lengths = np.clip(lengths, min_len, max_len)
    total = int(lengths.sum())
    owner = np.repeat(np.arange(n_users), lengths)
    interest = user_interests[owner, rng.integers(interests_per_user, size=total)]
    planted = by_interest[group_start[interest] + np.floor(rng.random(total) * group_size[interest]).astype(np.int64)]
    noise = rng.integers(n_items, size=total)
    items = np.where(rng.random(total) < purity, planted, noise).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    gaps = rng.integers(1, 3600, size=total)
    csum = np.cumsum(gaps)
    timestamps = (1_600_000_000 + csum - np.repeat(csum[offsets[:-1]] - gaps[offsets[:-1]], lengths)).astype(np.int64)
    seqs = Sequences(users=np.arange(n_users, dtype=np.int64), offsets=offsets, items=items, n_items=n_items,
                     timestamps=timestamps,
                     item_attributes={"interest": (np.arange(n_items + 1, dtype=np.int64), item_interest)},
                     attribute_vocab={"interest": [f"interest_{c}" for c in range(n_interests)]},
                     name=f"planted_sequences(seed={seed})")
    return seqs, PlantedSequences(item_interest=item_interest, user_interests=user_interests, purity=purity)


def planted_sequence_targets(truth: PlantedSequences, n_per_user: int = 2, seed: int = 0
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate targets for sequence CTR: per user, half items of its interests (label 1), half of other
    interests (label 0). Returns (row int64 [n], target item int64 [n], label float32 [n])."""
    rng = np.random.default_rng(seed)
    n_users, k = truth.user_interests.shape
    n_interests = int(truth.item_interest.max()) + 1
    if k == n_interests:
        raise ValueError("planted_sequence_targets: every interest is owned by every user; no negatives exist")
    rows = np.repeat(np.arange(n_users, dtype=np.int64), n_per_user)
    labels = (np.arange(rows.size) % 2 == 0).astype(np.float32)
    own = truth.user_interests[rows, rng.integers(k, size=rows.size)]
    owned = np.zeros((n_users, n_interests), bool)
    owned[np.arange(n_users)[:, None], truth.user_interests] = True
    # Other interests: rank a random permutation with owned ones pushed last, take the first.
    keys = rng.random((rows.size, n_interests)) + owned[rows]
    other = np.argmin(keys, axis=1)
    interest = np.where(labels == 1, own, other)
    by_interest = np.argsort(truth.item_interest, kind="stable")
    size = np.bincount(truth.item_interest, minlength=n_interests)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    target = by_interest[start[interest] + np.floor(rng.random(rows.size) * size[interest]).astype(np.int64)]
    return rows, target.astype(np.int64), labels
