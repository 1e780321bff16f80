"""Batching into TorchRec: KeyedJaggedTensor batches for CTR rows and multi-valued fields, jagged sequences,
and a DataLoader-friendly CTR dataset yielding `torchrec.datasets.utils.Batch`."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from torchrec.datasets.utils import Batch
from torchrec.sparse.jagged_tensor import JaggedTensor, KeyedJaggedTensor

from recsys_hash._quiet import quiet_fx_tracing_notice
from recsys_hash.data.jagged import gather_jagged  # noqa: F401 (public here too)
from recsys_hash.data.types import CTRFrame, Sequences
from recsys_hash.errors import InvalidIdError

quiet_fx_tracing_notice()   # KJT construction logs a torch.fx notice once per process

Jagged = tuple[np.ndarray, np.ndarray]  # (offsets int64 [n+1], values)


def _as_index(index, n: int, where: str) -> np.ndarray:
    idx = np.atleast_1d(np.asarray(index))
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"{where}: boolean mask has shape {idx.shape}, expected ({n},)")
        return np.flatnonzero(idx)
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        raise IndexError(f"{where}: index must be a 1-D integer array or a boolean mask, got dtype {idx.dtype}")
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{where}: row index out of range for {n} rows (min {idx.min()}, max {idx.max()})")
    return idx.astype(np.int64) % max(n, 1)


def _bags_for_keys(field: str, keys: np.ndarray, offsets: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bag of each row's entity key (e.g. an item's genres); key -1 (missing) -> an empty bag."""
    n = offsets.shape[0] - 1
    bad = (keys < -1) | (keys >= n)
    if bad.any():
        pos = int(np.argmax(bad))
        raise InvalidIdError(f"multi-valued field {field!r}: key {int(keys[pos])} at batch row {pos} outside [0, {n})")
    present = keys >= 0
    lengths = np.zeros(keys.shape[0], np.int64)
    sub_len, vals = gather_jagged(offsets, values, keys[present])
    lengths[present] = sub_len
    return lengths, vals


def multi_valued_kjt(fields: Mapping[str, Jagged], rows: Mapping[str, np.ndarray] | np.ndarray) -> KeyedJaggedTensor:
    """KJT of multi-valued fields: for field f, batch row b holds the bag `fields[f]` of entity `rows[f][b]`.

    fields: name -> (offsets int64 [n_entities+1], values int64); rows: one entity-index array [B] for all fields,
    or name -> [B]; -1 gives an empty bag. Example: genres of the items in a batch.
    """
    keys = list(fields)
    lengths, values = [], []
    batch = None
    for f in keys:
        r = np.asarray(rows[f] if isinstance(rows, Mapping) else rows, dtype=np.int64)
        batch = r.shape[0] if batch is None else batch
        if r.ndim != 1 or r.shape[0] != batch:
            raise ValueError(f"multi_valued_kjt: field {f!r} has {r.shape[0]} rows, expected {batch} (one batch size for all keys)")
        ln, v = _bags_for_keys(f, r, *fields[f])
        lengths.append(ln)
        values.append(v)
    return KeyedJaggedTensor(keys=keys, values=torch.from_numpy(np.concatenate(values).astype(np.int64)),
                             lengths=torch.from_numpy(np.concatenate(lengths)))


def ctr_batch_to_kjt(frame: CTRFrame, index, keys: Sequence[str] | None = None,
                     multi: Mapping[str, tuple[str, np.ndarray, np.ndarray]] | None = None
                     ) -> tuple[torch.Tensor, KeyedJaggedTensor, torch.Tensor]:
    """Rows `index` of a CTR frame -> (dense float32 [B, n_dense], KJT of raw keys, labels float32 [B]).

    Each categorical field is one KJT key with one value per row; a missing value (-1) becomes an empty bag.
    multi: name -> (source field, offsets, values) adds a multi-valued key whose bag for row b is the jagged row
    `frame.categorical[source][b]` (e.g. ("item", genre offsets, genre codes)).
    """
    idx = _as_index(index, len(frame), "ctr_batch_to_kjt")
    keys = list(frame.categorical) if keys is None else list(keys)
    missing = [k for k in keys if k not in frame.categorical]
    if missing:
        raise KeyError(f"ctr_batch_to_kjt: fields {missing} not in frame {frame.name!r} (fields: {list(frame.categorical)})")
    cols = np.stack([frame.categorical[k][idx] for k in keys]) if keys else np.zeros((0, idx.size), np.int64)
    present = cols >= 0
    lengths = [present.reshape(-1).astype(np.int64)]
    values = [cols[present]]
    for name, (source, offsets, vals) in (multi or {}).items():
        ln, v = _bags_for_keys(name, frame.categorical[source][idx], offsets, vals)
        lengths.append(ln)
        values.append(v)
        keys.append(name)
    kjt = KeyedJaggedTensor(keys=keys, values=torch.from_numpy(np.concatenate(values).astype(np.int64)),
                            lengths=torch.from_numpy(np.concatenate(lengths)))
    dense = torch.from_numpy(np.ascontiguousarray(frame.dense[idx], dtype=np.float32))
    labels = torch.from_numpy(np.ascontiguousarray(frame.labels[idx], dtype=np.float32))
    return dense, kjt, labels


def jagged_sequences(seqs: Sequences, index, max_len: int | None = None) -> JaggedTensor:
    """Behaviour sequences of rows `index` (positions in `seqs`, not user ids) -> JaggedTensor of item ids;
    with `max_len`, the most recent `max_len` items of each. `.lengths()` [B], `.values()` [sum lengths]."""
    idx = _as_index(index, len(seqs), "jagged_sequences")
    lengths, values = gather_jagged(seqs.offsets, seqs.items, idx, max_len)
    return JaggedTensor(values=torch.from_numpy(values.astype(np.int64)), lengths=torch.from_numpy(lengths))


def sequence_kjt(seqs: Sequences, index, key: str = "history", max_len: int | None = None) -> KeyedJaggedTensor:
    """Like `jagged_sequences`, as a one-key KJT ready for an EmbeddingCollection."""
    jt = jagged_sequences(seqs, index, max_len)
    return KeyedJaggedTensor(keys=[key], values=jt.values(), lengths=jt.lengths())


class CTRDataset(Dataset):
    """A CTR frame served in batches: `ds[list_of_rows]` -> torchrec `Batch(dense, sparse KJT, labels)`.

    Use with `ctr_loader` (a BatchSampler feeds whole index lists, so one vectorised gather per batch).
    """

    def __init__(self, frame: CTRFrame, keys: Sequence[str] | None = None,
                 multi: Mapping[str, tuple[str, np.ndarray, np.ndarray]] | None = None) -> None:
        self.frame, self.keys, self.multi = frame, keys, multi

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index) -> Batch:
        dense, kjt, labels = ctr_batch_to_kjt(self.frame, index, self.keys, self.multi)
        return Batch(dense_features=dense, sparse_features=kjt, labels=labels)

    __getitems__ = __getitem__


def _identity(batch: Batch) -> Batch:
    return batch


def ctr_loader(frame: CTRFrame | CTRDataset, batch_size: int, shuffle: bool = False, seed: int = 0,
               drop_last: bool = False, num_workers: int = 0) -> DataLoader:
    """DataLoader of torchrec `Batch`es of `batch_size` rows; shuffling is seeded (same seed -> same batches)."""
    ds = frame if isinstance(frame, CTRDataset) else CTRDataset(frame)
    if batch_size <= 0:
        raise ValueError(f"ctr_loader: batch_size must be positive, got {batch_size}")
    base = RandomSampler(ds, generator=torch.Generator().manual_seed(seed)) if shuffle else SequentialSampler(ds)
    return DataLoader(ds, sampler=BatchSampler(base, batch_size, drop_last), batch_size=None,
                      collate_fn=_identity, num_workers=num_workers)
