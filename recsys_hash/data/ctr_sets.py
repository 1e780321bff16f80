"""CTR datasets ready for training: train/valid/test frames whose sparse fields are contiguous codes 0..vocab-1.

    frappe     the shared validation + test files (86,582 rows, 10 fields) pooled and re-split 80/10/10 (seeded)
    ml-100k    every rating as a row, label = rating >= 4; user, age bucket, gender, occupation, zip prefix,
               item, and the item's genres as a multi-valued field; re-split 80/10/10 (seeded)
    synthetic  the planted-cross generator (`planted_ctr`) with user/item/context/device fields (embedded default)
    criteo     a Criteo-format file or folder given by path: dense log1p(max(x, 0)), 26 categorical fields; with a
               cache_dir, parsed once into an on-disk columnar cache and memory-mapped (`recsys_hash.data.ctr_cache`):
               splits are index arrays and batches are read from the maps, so memory does not grow with the rows

Codes are assigned over all rows of the dataset (every split), so every strategy sees one vocabulary and a `full`
table owns a row for every value; -1 (missing) stays -1 and becomes an empty bag.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from recsys_hash.data.ctr import concat_ctr, criteo_log1p, load_frappe, read_criteo, split_ctr, split_indices
from recsys_hash.data.ctr_mapped import MappedCTRFrame
from recsys_hash.data.jagged import gather_jagged
from recsys_hash.data.types import CTRFrame

PathLike = str | os.PathLike
CTR_DATASETS = ("synthetic", "frappe", "ml-100k", "criteo", "avazu")
#: Avazu's user and item fields for GAUC and GraphHash's graph: the device IP (Avazu has no user ID; most device_id
#: values are one placeholder) and the ad creative (C14)
AVAZU_USER, AVAZU_ITEM = "device_ip", "C14"
#: ML-100K ages -> buckets at the MovieLens-1M cut points (under 18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+).
AGE_CUTS = (18, 25, 35, 45, 50, 56)


@dataclass(frozen=True)
class CTRDataset:
    """Split CTR rows with one vocabulary per sparse field.

    multi: key -> (source field, offsets int64 [vocab(source)+1], values int64): a multi-valued feature whose bag
    for a row is the jagged row of that row's source code (ML-100K: "genre" from "item").
    vocab: sparse feature (categorical field or multi key) -> number of codes.
    Splits are CTRFrames in memory or, for a cached Criteo file, MappedCTRFrames (same attributes, read on access).
    """

    name: str
    train: CTRFrame | MappedCTRFrame
    valid: CTRFrame | MappedCTRFrame
    test: CTRFrame | MappedCTRFrame
    vocab: dict[str, int]
    user_field: str
    item_field: str
    split_note: str
    multi: dict[str, tuple[str, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        """Sparse features in KJT order: categorical fields, then multi-valued keys."""
        return [*self.train.categorical, *self.multi]

    @property
    def n_dense(self) -> int:
        return int(self.train.dense.shape[1])

    def splits(self) -> dict[str, CTRFrame | MappedCTRFrame]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def column(self, split: str, feature: str) -> np.ndarray:
        """All codes of `feature` in a split (a multi-valued feature: its bags concatenated), -1 dropped."""
        frame = self.splits()[split]
        if feature in self.multi:
            source, offsets, values = self.multi[feature]
            keys = frame.categorical[source]
            return gather_jagged(offsets, values, keys[keys >= 0])[1]
        col = frame.categorical[feature]
        return col[col >= 0]

    def batch(self, split: str, index) -> tuple:
        """Rows `index` of a split -> (dense float32 [B, n_dense], KJT of codes in `features` order, labels [B])."""
        from recsys_hash.data.batching import ctr_batch_to_kjt

        frame = self.splits()[split]
        if isinstance(frame, MappedCTRFrame):          # read just these rows from the maps
            frame = frame.take(index)
            index = np.arange(len(frame))
        return ctr_batch_to_kjt(frame, index, list(frame.categorical), self.multi or None)

    def __post_init__(self) -> None:
        validate_ctr_dataset(self)


def validate_ctr_dataset(data: CTRDataset) -> None:
    """Raise ValueError on an empty split, labels outside {0, 1}, non-finite dense values or codes beyond vocab.
    A memory-mapped split is only checked for rows: its cache checked labels and dense values chunk by chunk when it
    was built (and checksums them on every load), and its codes are ranks in its vocabulary."""
    for split, frame in data.splits().items():
        where = f"{data.name}/{split}"
        if len(frame) == 0:
            raise ValueError(f"{where}: the split is empty (no rows to train or evaluate on)")
        if isinstance(frame, MappedCTRFrame):
            continue
        bad = np.flatnonzero((frame.labels != 0) & (frame.labels != 1))
        if bad.size:
            raise ValueError(f"{where}: labels must be 0 or 1, got {float(frame.labels[bad[0]])!r} at row {int(bad[0])}")
        if frame.dense.size and not np.isfinite(frame.dense).all():
            row, col = np.argwhere(~np.isfinite(frame.dense))[0]
            raise ValueError(f"{where}: dense feature {frame.dense_names[col]!r} is {float(frame.dense[row, col])!r} "
                             f"at row {int(row)} (NaN and inf are not allowed)")
        for f, codes in frame.categorical.items():
            if codes.size and (codes.min() < -1 or codes.max() >= data.vocab[f]):
                raise ValueError(f"{where}: field {f!r} has codes outside [-1, {data.vocab[f]})")


def encode_fields(frames: Sequence[CTRFrame]) -> tuple[list[CTRFrame], dict[str, int]]:
    """Raw keys -> contiguous codes per field (rank among the field's distinct keys over all frames); -1 kept."""
    keys = list(frames[0].categorical)
    sizes = np.cumsum([0] + [len(f) for f in frames])
    cats: list[dict[str, np.ndarray]] = [{} for _ in frames]
    vocab = {}
    for k in keys:
        col = np.concatenate([f.categorical[k] for f in frames])
        present = col >= 0
        uniq, inv = np.unique(col[present], return_inverse=True)
        codes = np.full(col.shape, -1, dtype=np.int64)
        codes[present] = inv.reshape(-1)
        vocab[k] = int(uniq.size)
        for i in range(len(frames)):
            cats[i][k] = codes[sizes[i]:sizes[i + 1]]
    out = [CTRFrame(categorical=c, dense=f.dense, dense_names=list(f.dense_names), labels=f.labels, name=f.name)
           for c, f in zip(cats, frames)]
    return out, vocab


def _resplit(name: str, frame: CTRFrame, seed: int, user: str, item: str, note: str,
             multi: Optional[dict] = None, extra_vocab: Optional[dict] = None) -> CTRDataset:
    (coded,), vocab = encode_fields([frame])
    if multi:   # the source field of a multi-valued feature must keep its original index (it indexes offsets)
        for source in {s for s, _, _ in multi.values()}:
            coded.categorical[source] = frame.categorical[source]
    vocab.update(extra_vocab or {})
    parts = split_ctr(coded, (0.8, 0.1, 0.1), seed=seed)
    return CTRDataset(name=name, train=parts["train"], valid=parts["valid"], test=parts["test"], vocab=vocab,
                      user_field=user, item_field=item, multi=dict(multi or {}), split_note=_split_note(note, seed))


def _split_note(note: str, seed: int) -> str:
    return f"{note}; re-split 80/10/10 at random with seed {seed}"


def load_frappe_ctr(seed: int = 0, dataset_path: PathLike | None = None) -> CTRDataset:
    """Frappe: every libFM file present pooled (the shared copy: validation + test) and re-split 80/10/10."""
    parts = load_frappe(dataset_path)
    pooled = concat_ctr([parts[s] for s in ("train", "validation", "test") if s in parts], name="frappe")
    return _resplit("frappe", pooled, seed, "user", "item", f"pooled {'+'.join(parts)} ({len(pooled):,} rows)")


def load_ml100k_ctr(seed: int = 0, dataset_path: PathLike | None = None) -> CTRDataset:
    """ML-100K as CTR: u.data rows, label rating >= 4; user side fields and item genres (multi-valued)."""
    from recsys_hash.data._text import split_columns
    from recsys_hash.data.interactions import load_ml100k
    from recsys_hash.data.paths import dataset_dir, dataset_file

    ds = load_ml100k(dataset_path, fold=None)
    inter = ds.train
    uf = ds.user_features
    users = split_columns(dataset_file("ml-100k", dataset_dir("ml-100k", dataset_path), "u.user"), "ml-100k/u.user",
                          "|", ["id", "age", "gender", "occupation", "zip"])
    order = np.argsort(users["id"].cast(int).to_numpy(), kind="stable")
    zip_prefix = np.unique(users["zip"].str.slice(0, 2).to_numpy()[order].astype(str), return_inverse=True)[1]
    per_user = {"age": np.searchsorted(np.asarray(AGE_CUTS), uf["age"], side="right"), "gender": uf["gender"],
                "occupation": uf["occupation"], "zip2": zip_prefix.reshape(-1)}
    u = inter.user
    cats = {"user": u, **{k: np.asarray(v, dtype=np.int64)[u] for k, v in per_user.items()}, "item": inter.item}
    frame = CTRFrame(categorical=cats, dense=np.zeros((len(inter), 0), np.float32), dense_names=[],
                     labels=(inter.rating >= 4).astype(np.float32), name="ml-100k")
    offsets, genres = ds.item_multi["genre"]
    multi = {"genre": ("item", offsets, genres)}
    data = _resplit("ml-100k", frame, seed, "user", "item", f"u.data ({len(frame):,} ratings), label rating >= 4",
                    multi=multi, extra_vocab={"genre": int(genres.max()) + 1})
    data.vocab["item"] = ds.n_items
    return data


def synthetic_ctr(seed: int = 0, n_rows: int = 40_000) -> CTRDataset:
    """The embedded default: planted user x context and item x context crosses, Zipf-popular IDs, split 80/10/10."""
    from recsys_hash.data.synthetic import planted_ctr

    frame, _ = planted_ctr(n_rows=n_rows, cardinalities=(100, 150, 8, 4), pairs=((0, 2), (1, 2)),
                           cross_scale=1.0, main_scale=1.5, seed=seed)
    names = dict(zip(("f0", "f1", "f2", "f3"), ("user", "item", "context", "device")))
    frame = CTRFrame(categorical={names[k]: v for k, v in frame.categorical.items()}, dense=frame.dense,
                     dense_names=frame.dense_names, labels=frame.labels, name="synthetic-ctr")
    return _resplit("synthetic-ctr", frame, seed, "user", "item", f"planted_ctr({n_rows:,} rows, seed {seed})")


def _file_in(path: PathLike, suffixes: tuple[str, ...], name: str) -> Path:
    """`path` itself, or for a folder its first file (sorted by name) with one of `suffixes`."""
    path = Path(path)
    if not path.is_dir():
        return path
    files = sorted(p for p in path.iterdir() if p.suffix in suffixes)
    if not files:
        raise FileNotFoundError(f"{name}: folder {path} holds no {'/'.join(suffixes)} file")
    return files[0]


def load_criteo_ctr(path: PathLike, seed: int = 0, max_rows: Optional[int] = None,
                    cache_dir: PathLike | None = None, chunk_rows: int = 1 << 16) -> CTRDataset:
    """A Criteo-format file (or the first .txt/.tsv/.csv in a folder): dense log1p(max(x, 0)), re-split 80/10/10;
    with `max_rows`, its first `max_rows` rows only (lines past them are never read).

    cache_dir None: every row in memory (a peak near 1 KB a row while coding and splitting: for samples and small
    files).
    A folder: the file is parsed once, `chunk_rows` rows at a time, into an on-disk columnar cache there (reused
    while the file is unchanged, see `recsys_hash.data.ctr_cache`) and memory-mapped; the splits are index arrays
    and each batch or column is read from the maps. Same rows, codes, splits and batches as in memory.
    """
    path = _file_in(path, (".txt", ".tsv", ".csv"), "criteo")
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"criteo: max_rows must be >= 1, got {max_rows}")
    if cache_dir is not None:
        return _criteo_from_cache(path, seed, max_rows, cache_dir, chunk_rows)
    parts = list(read_criteo(path, chunk_rows=chunk_rows, max_rows=max_rows))
    frame = concat_ctr(parts, name="criteo") if len(parts) > 1 else parts[0]
    frame = CTRFrame(categorical=frame.categorical, dense=criteo_log1p(frame.dense), dense_names=frame.dense_names,
                     labels=frame.labels, name="criteo")
    return _resplit("criteo", frame, seed, "C1", "C2", f"{path.name} ({len(frame):,} rows)")


def _criteo_from_cache(path: Path, seed: int, max_rows: Optional[int], cache_dir: PathLike,
                       chunk_rows: int) -> CTRDataset:
    from recsys_hash.data.ctr_cache import open_criteo_cache

    cache = open_criteo_cache(path, cache_dir, max_rows, chunk_rows)
    n = cache.n_rows if max_rows is None else min(max_rows, cache.n_rows)
    vocab = cache.vocab(n)
    keys = {c: cache.keys(c) for c in cache.categorical}
    dense, labels = cache.dense(), cache.labels()
    frames = {split: MappedCTRFrame(keys, vocab, dense, cache.dense_names, labels, rows, f"criteo/{split}")
              for split, rows in split_indices(n, (0.8, 0.1, 0.1), seed).items()}
    built = f", {cache.build_s:.1f} s" if cache.build_s else ""
    note = f"{path.name} ({n:,} rows; cache {cache.status}{built}: {cache.folder})"
    return CTRDataset(name="criteo", **frames, vocab={c: int(v.size) for c, v in vocab.items()}, user_field="C1",
                      item_field="C2", split_note=_split_note(note, seed))


def load_avazu_ctr(path: PathLike | None = None, seed: int = 0) -> CTRDataset:
    """An Avazu-format CSV (header with `click`; `id` dropped; every other column categorical, `hour` included), a
    folder holding one (the first .csv/.txt), or with no path the registry's avazu-sample; re-split 80/10/10.
    User field `device_ip`, item field `C14` (see AVAZU_USER)."""
    from recsys_hash.data.ctr import load_avazu_sample, read_avazu

    if path is None:
        frame, note = load_avazu_sample(), "avazu-sample/deepctr_avazu_sample.txt (schema sample)"
    else:
        path = _file_in(path, (".csv", ".txt"), "avazu")
        frame, note = read_avazu(path), path.name
    missing = [f for f in (AVAZU_USER, AVAZU_ITEM) if f not in frame.categorical]
    if missing:
        raise ValueError(f"avazu: {note} lacks the column(s) {missing} (user = {AVAZU_USER}, item = {AVAZU_ITEM}); "
                         f"it has {sorted(frame.categorical)}")
    return _resplit("avazu", frame, seed, AVAZU_USER, AVAZU_ITEM, f"{note} ({len(frame):,} rows)")


def load_ctr_dataset(name: Optional[str] = None, dataset_path: PathLike | None = None, seed: int = 0,
                     cache_dir: PathLike | None = None, max_rows: Optional[int] = None) -> CTRDataset:
    """By name (see CTR_DATASETS; None -> synthetic); `dataset_path` reads a user's own folder in that format.
    criteo only: `cache_dir` (memory-mapped on-disk cache, see `load_criteo_ctr`; ignored by the other datasets)
    and `max_rows` (the file's first rows)."""
    name = name or ("criteo" if dataset_path is not None else "synthetic")
    if max_rows is not None and name != "criteo":
        raise ValueError(f"max_rows applies to the criteo dataset only, not {name!r}")
    if name == "synthetic":
        return synthetic_ctr(seed)
    if name == "frappe":
        return load_frappe_ctr(seed, dataset_path)
    if name == "ml-100k":
        return load_ml100k_ctr(seed, dataset_path)
    if name == "criteo":
        if dataset_path is None:
            raise ValueError("criteo: give --dataset-path FILE_OR_DIR (a Criteo-format TSV/CSV)")
        return load_criteo_ctr(dataset_path, seed, max_rows=max_rows, cache_dir=cache_dir)
    if name == "avazu":
        return load_avazu_ctr(dataset_path, seed)
    raise ValueError(f"unknown CTR dataset {name!r}; choose one of {', '.join(CTR_DATASETS)}")
