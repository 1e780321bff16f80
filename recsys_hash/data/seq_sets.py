"""Long-sequence CTR datasets: time-ordered behaviour logs -> rows (target item, label, the user's EARLIER items).

    amazon-beauty  S3Rec sequences (order only): every event after the first is a positive row, followed by
                   `neg_per_pos` (default 1) sampled items the user never touched; category = the last code of the
                   item's attribute list (codes + 1; 0 = no attribute). Leave-one-out in time: each user's last
                   event is test, the one before valid, the rest train.
    ml-100k        every rating after the user's first, in time order; label = rating >= 4; category = the item's
                   first genre. Per user, the first 80% of its rows (in time) train, the next 10% valid, the last
                   10% test.
    synthetic      planted-interest sequences (`planted_sequences`, up to 10,000 behaviours; 1,000 by default): per
                   user, targets of its own interests (label 1) and of others (label 0); users split 80/10/10
                   (seeded). The interests are stationary, so the most recent 50 behaviours carry the signal too.

A row's history holds only events strictly before its own (`history_samples`), so no later behaviour leaks into an
earlier sample. Histories longer than `max_len` keep the most recent `max_len` behaviours (the cap applies when
samples are built and again, if smaller, when batches are cut).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys_hash.data.history import history_samples, take_seqctr
from recsys_hash.data.jagged import gather_jagged
from recsys_hash.data.types import CTRFrame, SequenceCTRFrame

PathLike = str | os.PathLike
SEQ_DATASETS = ("amazon-beauty", "ml-100k", "synthetic")
#: history cap by dataset when none is given (Beauty: the usual 50 of SASRec/S3Rec; ML-100K keeps every rating)
DEFAULT_MAX_LEN = {"amazon-beauty": 50, "ml-100k": 1000, "synthetic": 1000}
#: longest generated synthetic sequence (the set is the same whatever history cap reads it)
SYNTHETIC_SEQ_MAX = 1000


@dataclass(frozen=True)
class SeqCTRDataset:
    """Train / valid / test sequence-CTR rows. categorical: user_id, item_id (+ cate); history: hist_item_id
    (+ hist_cate), oldest first. vocab: "item" (+ "cate", "user") sizes. `splits()` gives the CTR frames the CTR
    trainer's evaluation reads; `batch` gives its (dense [B, 0], KJT, labels) with the sequence keys."""

    name: str
    train: SequenceCTRFrame
    valid: SequenceCTRFrame
    test: SequenceCTRFrame
    vocab: dict[str, int]
    max_len: int
    split_note: str
    user_field: str = "user_id"
    item_field: str = "item_id"
    has_cate: bool = field(default=False)

    def splits(self) -> dict[str, CTRFrame]:
        return {"train": self.train.frame, "valid": self.valid.frame, "test": self.test.frame}

    def seq_splits(self) -> dict[str, SequenceCTRFrame]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    @property
    def keys(self) -> list[str]:
        """KJT keys in order: target_item, hist_item (+ target_cate, hist_cate)."""
        return ["target_item", "hist_item"] + (["target_cate", "hist_cate"] if self.has_cate else [])

    def batch(self, split: str, index, max_len: Optional[int] = None) -> tuple[torch.Tensor, KeyedJaggedTensor,
                                                                                torch.Tensor]:
        """Rows `index` -> (dense float32 [B, 0], KJT of `keys` (one target per row, jagged histories of the last
        min(max_len, self.max_len) behaviours), labels float32 [B])."""
        sf = self.seq_splits()[split]
        idx = np.asarray(index, dtype=np.int64)
        cap = self.max_len if max_len is None else min(max_len, self.max_len)
        cols = [("item_id", "hist_item_id")] + ([("cate", "hist_cate")] if self.has_cate else [])
        lengths, values = [], []
        for target, hist in cols:
            lengths.append(np.ones(idx.size, np.int64))
            values.append(sf.frame.categorical[target][idx])
            ln, v = gather_jagged(*sf.history[hist], idx, cap)
            lengths.append(ln)
            values.append(v)
        kjt = KeyedJaggedTensor(keys=self.keys, values=torch.from_numpy(np.concatenate(values).astype(np.int64)),
                                lengths=torch.from_numpy(np.concatenate(lengths)))
        labels = torch.from_numpy(np.ascontiguousarray(sf.frame.labels[idx], dtype=np.float32))
        return torch.zeros(idx.size, 0), kjt, labels


def _check_max_len(max_len: int) -> int:
    if int(max_len) < 1:
        raise ValueError(f"max_len (history cap) must be >= 1, got {max_len}")
    return int(max_len)


def event_ranks(user: np.ndarray, rows_per_event: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by user (each event followed by its negatives) -> (position of each row's event among its
    user's events [n], that user's number of events [n])."""
    event_user = user[::rows_per_event]
    idx = np.arange(event_user.size)
    new = np.ones(event_user.size, bool)
    new[1:] = event_user[1:] != event_user[:-1]
    start = np.maximum.accumulate(np.where(new, idx, 0))
    counts = np.diff(np.append(np.flatnonzero(new), event_user.size))
    count = np.repeat(counts, counts)
    return np.repeat(idx - start, rows_per_event), np.repeat(count, rows_per_event)


def _split(sf: SequenceCTRFrame, which: np.ndarray, name: str) -> tuple[SequenceCTRFrame, ...]:
    """`which` int [n] in {0 train, 1 valid, 2 test} -> the three row subsets (each non-empty)."""
    out = []
    for k, split in enumerate(("train", "valid", "test")):
        if not (which == k).any():
            raise ValueError(f"{name}: the {split} split is empty; the data has too few events per user")
        out.append(take_seqctr(sf, which == k, f"{name}/{split}"))
    return tuple(out)


def beauty_seq_ctr(dataset_path: PathLike | None = None, max_len: int = 50, neg_per_pos: int = 1,
                   seed: int = 0) -> SeqCTRDataset:
    """Amazon Beauty -> leave-one-out sequence CTR (see module docstring)."""
    from recsys_hash.data.sequences import load_beauty

    seqs = load_beauty(dataset_path)
    lengths = np.diff(seqs.offsets)
    user = np.repeat(seqs.users, lengths)
    time = np.arange(seqs.items.size) - np.repeat(seqs.offsets[:-1], lengths)
    a_off, a_val = seqs.item_attributes["attribute"]
    has = np.diff(a_off) > 0
    cate_of_item = np.zeros(seqs.n_items, np.int64)
    cate_of_item[has] = a_val[a_off[1:][has] - 1] + 1
    sf = history_samples(user, seqs.items, time, {"cate": cate_of_item[seqs.items]}, max_len=_check_max_len(max_len),
                         neg_per_pos=neg_per_pos, seed=seed, name="amazon-beauty")
    pos, count = event_ranks(sf.frame.categorical["user_id"], neg_per_pos + 1)
    back = count - 1 - pos                       # 0 = the user's last sampled event
    which = np.where(back == 0, 2, np.where(back == 1, 1, 0))
    train, valid, test = _split(sf, which, "amazon-beauty")
    return SeqCTRDataset("amazon-beauty", train, valid, test, max_len=int(max_len), has_cate=True,
                         vocab={"item": seqs.n_items, "cate": int(cate_of_item.max()) + 1,
                                "user": int(seqs.users.max()) + 1},
                         split_note=f"leave-one-out in time (last event test, previous valid), {neg_per_pos} sampled "
                                    f"negative(s) per positive (seed {seed}), history cap {max_len} most recent")


def ml100k_seq_ctr(dataset_path: PathLike | None = None, max_len: int = 1000, seed: int = 0) -> SeqCTRDataset:
    """ML-100K ratings in time order -> sequence CTR, label rating >= 4, per-user 80/10/10 in time."""
    from recsys_hash.data.interactions import load_ml100k

    ds = load_ml100k(dataset_path, fold=None)
    inter = ds.train
    g_off, g_val = ds.item_multi["genre"]
    cate_of_item = g_val[g_off[:-1]]             # every ML-100K item has a genre (possibly "unknown")
    sf = history_samples(inter.user, inter.item, inter.timestamp, {"cate": cate_of_item[inter.item]},
                         labels=(inter.rating >= 4).astype(np.float32), max_len=_check_max_len(max_len),
                         name="ml-100k")
    pos, count = event_ranks(sf.frame.categorical["user_id"], 1)
    frac = pos / count
    which = np.where(frac < 0.8, 0, np.where(frac < 0.9, 1, 2))
    train, valid, test = _split(sf, which, "ml-100k")
    return SeqCTRDataset("ml-100k", train, valid, test, max_len=int(max_len), has_cate=True,
                         vocab={"item": ds.n_items, "cate": int(g_val.max()) + 1, "user": ds.n_users},
                         split_note=f"u.data in time order, label rating >= 4, per user first 80% of rows train, "
                                    f"next 10% valid, last 10% test; history cap {max_len} most recent")


def synthetic_seq_ctr(seed: int = 0, n_users: int = 3000, max_len: int = 1000, n_items: int = 2000,
                      n_interests: int = 16, targets_per_user: int = 8, seq_max: int | None = None) -> SeqCTRDataset:
    """Planted-interest sequences (lengths log-uniform in [10, seq_max], default SYNTHETIC_SEQ_MAX) with targets from
    `planted_sequence_targets`; users split 80/10/10 at random (seeded). `max_len` is the history cap only (the
    most recent behaviours), as for the other sets: the generated sequences, targets and labels do not depend on it."""
    from recsys_hash.data.synthetic import planted_sequence_targets, planted_sequences

    cap = _check_max_len(max_len)
    seq_max = SYNTHETIC_SEQ_MAX if seq_max is None else _check_max_len(seq_max)
    seqs, truth = planted_sequences(n_users=n_users, max_len=seq_max, n_interests=n_interests, n_items=n_items,
                                    seed=seed)
    rows, target, labels = planted_sequence_targets(truth, n_per_user=targets_per_user, seed=seed + 1)
    lengths, hist = gather_jagged(seqs.offsets, seqs.items, rows, cap)
    frame = CTRFrame(categorical={"user_id": rows, "item_id": target}, dense=np.zeros((rows.size, 0), np.float32),
                     dense_names=[], labels=labels, name="synthetic")
    sf = SequenceCTRFrame(frame=frame, name="synthetic",
                          history={"hist_item_id": (np.concatenate([[0], np.cumsum(lengths)]), hist)})
    part = np.random.default_rng(seed).permutation(n_users) % 10
    which = np.where(part[rows] < 8, 0, np.where(part[rows] < 9, 1, 2))
    train, valid, test = _split(sf, which, "synthetic")
    return SeqCTRDataset("synthetic", train, valid, test, max_len=cap,
                         vocab={"item": n_items, "user": n_users},
                         split_note=f"planted_sequences({n_users} users, {n_items} items, {n_interests} interests, "
                                    f"lengths 10-{seq_max}, seed {seed}), history cap {cap} most recent, "
                                    f"{targets_per_user} targets per user, users split 80/10/10")


def load_seq_dataset(name: str, dataset_path: PathLike | None = None, max_len: Optional[int] = None,
                     seed: int = 0) -> SeqCTRDataset:
    """By name (SEQ_DATASETS); `max_len` None -> DEFAULT_MAX_LEN[name]."""
    if name not in SEQ_DATASETS:
        raise ValueError(f"unknown sequence dataset {name!r}; choose one of {', '.join(SEQ_DATASETS)}")
    cap = DEFAULT_MAX_LEN[name] if max_len is None else _check_max_len(max_len)
    if name == "amazon-beauty":
        return beauty_seq_ctr(dataset_path, max_len=cap, seed=seed)
    if name == "ml-100k":
        return ml100k_seq_ctr(dataset_path, max_len=cap, seed=seed)
    if dataset_path is not None:
        raise ValueError("synthetic: --dataset-path does not apply (the set is generated)")
    return synthetic_seq_ctr(seed=seed, max_len=cap)
