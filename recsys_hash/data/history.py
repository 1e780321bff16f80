"""Event logs -> sequence-CTR samples: each event becomes a row whose history is the user's earlier events.

Vectorised version of the usual DIN/SDIM preprocessing (e.g. torch-rechub's `generate_seq_feature`): sort by
(user, time), keep the last `max_len` earlier events as the history, optionally add seeded sampled negatives.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from recsys_hash.data.jagged import gather_offsets
from recsys_hash.data.types import CTRFrame, SequenceCTRFrame


def _check_events(user: np.ndarray, item: np.ndarray, time: np.ndarray, attributes: Mapping[str, np.ndarray],
                  labels: np.ndarray | None) -> int:
    n = user.shape[0]
    cols = {"user": user, "item": item, "time": time, **{f"attribute {k!r}": v for k, v in attributes.items()}}
    if labels is not None:
        cols["labels"] = labels
    for what, arr in cols.items():
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValueError(f"history_samples: {what} must be a 1-D array of {n} events (like user), got shape {arr.shape}")
    for what in ("user", "item"):
        if cols[what].dtype.kind not in "iu":
            raise ValueError(f"history_samples: {what} ids must be integers, got dtype {cols[what].dtype}")
    if n and (user.min() < 0 or item.min() < 0):
        raise ValueError(f"history_samples: user and item ids must be non-negative, got min user {user.min()}, "
                         f"min item {item.min()}")
    return n


def _sample_negatives(user: np.ndarray, pos_item: np.ndarray, all_user: np.ndarray, all_item: np.ndarray,
                      neg_per_pos: int, rng: np.random.Generator, max_tries: int = 100) -> np.ndarray:
    """Items [len(user) * neg_per_pos] drawn uniformly from the log's distinct items, never one the user touched."""
    pool = np.unique(all_item)
    width = np.int64(pool[-1]) + 1
    seen = np.unique(all_user.astype(np.int64) * width + all_item)
    users = np.repeat(user, neg_per_pos).astype(np.int64)
    out = pool[rng.integers(0, pool.size, users.size)]
    bad = np.isin(users * width + out, seen)
    for _ in range(max_tries):
        if not bad.any():
            return out
        out[bad] = pool[rng.integers(0, pool.size, int(bad.sum()))]
        bad = np.isin(users * width + out, seen)
    worst = int(users[bad][0])
    raise ValueError(f"history_samples: could not sample a negative item for user {worst} in {max_tries} tries; "
                     f"the user has interacted with (almost) all {pool.size} items of the log")


def history_samples(user: np.ndarray, item: np.ndarray, time: np.ndarray,
                    attributes: Mapping[str, np.ndarray] | None = None, labels: np.ndarray | None = None,
                    max_len: int | None = 50, min_history: int = 1, neg_per_pos: int = 0, seed: int = 0,
                    name: str = "") -> SequenceCTRFrame:
    """Events (user, item, time [n], per-event attributes [n]) -> one row per event with >= `min_history` earlier
    events of its user.

    Row order: users ascending, then time (ties keep input order). categorical: user_id, item_id, each attribute;
    history: hist_item_id and hist_<attribute> (offsets [rows+1], the last `max_len` earlier events, oldest first).
    labels: `labels` of the event (float {0,1}) or 1.0. With `neg_per_pos` = k, each row is followed by k copies
    labelled 0 whose item is drawn (seeded) from the log's items the user never touched; a negative's attributes are
    those of that item's first event.
    """
    attributes = dict(attributes or {})
    user, item, time = (np.asarray(a) for a in (user, item, time))
    attributes = {k: np.asarray(v) for k, v in attributes.items()}
    n = _check_events(user, item, time, attributes, None if labels is None else np.asarray(labels))
    if max_len is not None and max_len < 1:
        raise ValueError(f"history_samples: max_len must be >= 1 or None, got {max_len}")
    if min_history < 0 or neg_per_pos < 0:
        raise ValueError(f"history_samples: min_history and neg_per_pos must be >= 0, got {min_history}, {neg_per_pos}")
    order = np.lexsort((time, user))  # stable: equal (user, time) keep input order
    u, it = user[order].astype(np.int64), item[order].astype(np.int64)
    attr = {k: v[order].astype(np.int64) for k, v in attributes.items()}
    idx = np.arange(n, dtype=np.int64)
    new_user = np.ones(n, bool)
    new_user[1:] = u[1:] != u[:-1]
    group_start = np.maximum.accumulate(np.where(new_user, idx, 0))
    position = idx - group_start  # number of earlier events of the same user
    keep = np.flatnonzero(position >= min_history)
    lengths = position[keep] if max_len is None else np.minimum(position[keep], max_len)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    src = np.repeat(keep - lengths - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    history = {"hist_item_id": it[src], **{f"hist_{k}": v[src] for k, v in attr.items()}}
    categorical = {"user_id": u[keep], "item_id": it[keep], **{k: v[keep] for k, v in attr.items()}}
    y = np.ones(keep.size, np.float32) if labels is None else np.asarray(labels)[order][keep].astype(np.float32)

    if neg_per_pos:
        rng = np.random.default_rng(seed)
        neg_item = _sample_negatives(categorical["user_id"], categorical["item_id"], u, it, neg_per_pos, rng)
        uniq, first = np.unique(it, return_index=True)
        src_row = np.concatenate([np.arange(keep.size), np.repeat(np.arange(keep.size), neg_per_pos)])
        row_order = np.argsort(src_row, kind="stable")  # each positive followed by its negatives
        neg_cat = {"item_id": neg_item, **{k: v[first[np.searchsorted(uniq, neg_item)]] for k, v in attr.items()}}
        categorical = {k: np.concatenate([v, neg_cat.get(k, np.repeat(v, neg_per_pos))])[row_order]
                       for k, v in categorical.items()}
        y = np.concatenate([y, np.zeros(neg_item.size, np.float32)])[row_order]
        rows = src_row[row_order]
        history = {k: gather_offsets(offsets, v, rows) for k, v in history.items()}
        lengths = lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    else:
        history = {k: (offsets, v) for k, v in history.items()}
    frame = CTRFrame(categorical=categorical, dense=np.zeros((y.size, 0), np.float32), dense_names=[], labels=y,
                     name=name)
    return SequenceCTRFrame(frame=frame, history=history, name=name)


def take_seqctr(sf: SequenceCTRFrame, index: np.ndarray, name: str | None = None) -> SequenceCTRFrame:
    """Rows `index` (int array or bool mask) of `sf`, histories gathered jagged (for splits and batches)."""
    from recsys_hash.data.ctr import take_ctr

    rows = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index, dtype=np.int64)
    name = sf.name if name is None else name
    return SequenceCTRFrame(frame=take_ctr(sf.frame, rows, name), name=name,
                            history={k: gather_offsets(o, v, rows) for k, (o, v) in sf.history.items()})
