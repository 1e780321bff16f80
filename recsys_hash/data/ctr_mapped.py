"""A split of memory-mapped CTR columns that looks like a CTRFrame: rows are an index array into the columns (no
copy), and a column or a batch is read from the maps only when asked for.

    frame = MappedCTRFrame(keys, vocab, dense, dense_names, labels, index, "criteo/train")
    frame.categorical["C1"]     # int64 codes of the split's rows (read one column at a time)
    frame.take(batch_rows)      # an in-memory CTRFrame of those rows: what a training batch is built from
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np

from recsys_hash.data.types import CTRFrame


class _RowView:
    """Rows `index` of a (memory-mapped) array: `[rows]` reads only those rows; np.asarray reads them all."""

    def __init__(self, array: np.ndarray, index: np.ndarray) -> None:
        self._array, self._index = array, index

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._index.size, *self._array.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return int(self._index.size)

    def __getitem__(self, rows) -> np.ndarray:
        return np.asarray(self._array[self._index[rows]])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.asarray(self._array[self._index])
        return out if dtype is None else out.astype(dtype)


class _CodedColumns(Mapping[str, np.ndarray]):
    """field -> int64 codes of the frame's rows, computed from the mapped keys on each access."""

    def __init__(self, frame: "MappedCTRFrame") -> None:
        self._frame = frame

    def __getitem__(self, field: str) -> np.ndarray:
        return self._frame.codes(field, self._frame.index)

    def __iter__(self) -> Iterator[str]:
        return iter(self._frame.fields)

    def __len__(self) -> int:
        return len(self._frame.fields)


class MappedCTRFrame:
    """Rows `index` of memory-mapped CTR columns.

    keys: field -> raw int64 keys [N] (-1 = missing); vocab: field -> sorted distinct keys >= 0, which hold every key
    of the rows used (a row's code is its key's rank, as `encode_fields` gives); dense: float32 [N, d];
    labels: float32 [N]; index: sorted int64 rows of this split (positions in 0..N-1).
    Content checks (labels in {0, 1}, finite dense) belong to whoever wrote the columns.
    """

    def __init__(self, keys: Mapping[str, np.ndarray], vocab: Mapping[str, np.ndarray], dense: np.ndarray,
                 dense_names: Sequence[str], labels: np.ndarray, index: np.ndarray, name: str = "") -> None:
        self._keys, self._vocab = dict(keys), dict(vocab)
        self._dense, self._labels = dense, labels
        self.dense_names = list(dense_names)
        self.index = np.asarray(index, dtype=np.int64)
        self.name = name
        self.fields = list(self._keys)

    def __len__(self) -> int:
        return int(self.index.size)

    def codes(self, field: str, rows: np.ndarray) -> np.ndarray:
        """int64 codes of `field` at absolute rows `rows`; -1 where the key is missing."""
        keys = np.asarray(self._keys[field][rows])
        codes = np.searchsorted(self._vocab[field], keys).astype(np.int64, copy=False)
        codes[keys < 0] = -1
        return codes

    @property
    def categorical(self) -> Mapping[str, np.ndarray]:
        return _CodedColumns(self)

    @property
    def dense(self) -> _RowView:
        return _RowView(self._dense, self.index)

    @property
    def labels(self) -> np.ndarray:
        """float32 [len(self)], read from the map on each access."""
        return np.asarray(self._labels[self.index], dtype=np.float32)

    def take(self, rows) -> CTRFrame:
        """Rows `rows` (positions in this split: int array or boolean mask) as an in-memory CTRFrame of codes."""
        at = self.index[rows]
        return CTRFrame(categorical={f: self.codes(f, at) for f in self.fields}, dense=np.asarray(self._dense[at]),
                        dense_names=list(self.dense_names), labels=np.asarray(self._labels[at], dtype=np.float32),
                        name=self.name)
