"""Lookup strategies: an exact table of seen (or frequent) keys, with a declared rule for the others.

    full              every fitted key owns a row (rank in sorted order); unseen keys follow `oov`:
                      "error" (InvalidIdError naming the ID and position), "shared_row" (one extra row),
                      "hash" (`oov_buckets` extra rows, seeded universal hash).
    frequency         the top floor(num_rows * frequent_share) keys by count own rows [0, K); every other
                      key (seen or not) is universal-hashed into [K, num_rows).
    double_frequency  Zhang et al. 2020: frequent keys own rows; the others get two seeded universal
                      hashes into [K, num_rows), embeddings summed (rows_per_id = 2). Convention: a frequent
                      key returns [own, own], i.e. its embedding is 2 * w[own] under SUM pooling -- the same
                      function class as one own row (no row is wasted; with plain SGD that row's effective
                      step is 4x, which Adam-style optimisers cancel).
Ties in counts are broken by the smaller key (deterministic). Keys are looked up through `KeyTable`
(dense direct table for dense keys, vectorised open addressing for sparse 64-bit keys).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from recsys_hash.ids.hashing import universal_params
from recsys_hash.ids.keytable import KeyTable
from recsys_hash.ids.registry import register
from recsys_hash.ids.remap_spec import Column, RemapSpec, SpecRemapper
from recsys_hash.ids.validate import check_int, check_number

OOV_POLICIES = ("error", "shared_row", "hash")


@register
class FullRemapper(SpecRemapper):
    """One row per distinct fitted key (row = rank of the key in sorted order) plus the OOV rows.

    Args:
        num_rows: optional check: fitting fails if the vocabulary plus OOV rows need more rows.
        oov: "error" | "shared_row" | "hash".
        oov_buckets: extra hashed rows for oov="hash".
    """

    name = "full"

    def __init__(self, num_rows: Optional[int] = None, *, oov: str = "error", oov_buckets: int = 1, seed: int = 0,
                 input_hash_size: Optional[int] = None):
        super().__init__(num_rows, seed=seed, input_hash_size=input_hash_size)
        if not isinstance(oov, str) or oov not in OOV_POLICIES:
            raise ValueError(f"full: oov must be one of {OOV_POLICIES}, got {oov!r}")
        self.oov = oov
        self.oov_buckets = check_int(self.name, "oov_buckets", oov_buckets)

    def _extra_rows(self) -> int:
        return {"error": 0, "shared_row": 1, "hash": self.oov_buckets}[self.oov]

    def _fit(self, keys: np.ndarray, *, interactions: Any = None, side: Optional[str] = None) -> None:
        vocab, _ = self._distinct()
        need = vocab.size + self._extra_rows()
        if self.num_rows is not None and self.num_rows < need:
            raise ValueError(
                f"full: {vocab.size} distinct IDs plus {self._extra_rows()} OOV rows need {need} rows, "
                f"but num_rows={self.num_rows}"
            )
        self.num_rows_ = need
        self._finish(vocab, np.arange(vocab.size, dtype=np.int64))

    def _build_spec(self, keys, rows) -> RemapSpec:
        v = int(keys.size)
        if self.oov == "error":
            col = Column("error", lookup=True)
        elif self.oov == "shared_row":
            col = Column("const", offset=v, lookup=True)
        else:
            (a, b), = universal_params(self.seed, 1)
            col = Column("universal", mod=self.oov_buckets, offset=v, a=a, b=b, lookup=True)
        return RemapSpec([col], self.num_rows_, table=KeyTable.build(keys, rows), name=self.name)

    @property
    def vocabulary_size(self) -> int:
        self._check_fitted("vocabulary_size")
        return int(self.table_keys_.size)


class _FrequencyBase(SpecRemapper):
    """Shared fit: the top-K keys by count (ties: smaller key first) own rows [0, K); K = floor(B * share)."""

    def __init__(self, num_rows: Optional[int] = None, *, frequent_share: float = 0.5, seed: int = 0,
                 input_hash_size: Optional[int] = None):
        super().__init__(num_rows, seed=seed, input_hash_size=input_hash_size)
        self.frequent_share = check_number(self.name, "frequent_share", frequent_share, 0.0, 1.0, hi_open=True)

    def _fit(self, keys: np.ndarray, *, interactions: Any = None, side: Optional[str] = None) -> None:
        if self.num_rows is None:
            raise ValueError(f"{self.name}: num_rows (the table budget) is required")
        if self.num_rows < 2:
            raise ValueError(f"{self.name}: num_rows must be >= 2 (own rows + hashed rows), got {self.num_rows}")
        uniq, counts = self._distinct()
        k = min(int(np.floor(self.num_rows * self.frequent_share)), uniq.size, self.num_rows - 1)
        order = np.lexsort((uniq, -counts))[:k]          # count desc, then key asc
        self.num_rows_ = self.num_rows
        self._finish(uniq[order], np.arange(k, dtype=np.int64))

    @property
    def num_frequent(self) -> int:
        self._check_fitted("num_frequent")
        return int(self.table_keys_.size)


@register
class FrequencyRemapper(_FrequencyBase):
    """Frequent keys own rows; all others are universal-hashed into the remaining rows."""

    name = "frequency"

    def _build_spec(self, keys, rows) -> RemapSpec:
        k = int(keys.size)
        (a, b), = universal_params(self.seed, 1)
        col = Column("universal", mod=self.num_rows_ - k, offset=k, a=a, b=b, lookup=True)
        return RemapSpec([col], self.num_rows_, table=KeyTable.build(keys, rows), name=self.name)


@register
class DoubleFrequencyRemapper(_FrequencyBase):
    """Frequent keys -> [own, own]; others -> two seeded universal hashes into the remaining rows (summed)."""

    name = "double_frequency"

    def _num_columns(self) -> int:
        return 2

    def _build_spec(self, keys, rows) -> RemapSpec:
        k = int(keys.size)
        cols = [Column("universal", mod=self.num_rows_ - k, offset=k, a=a, b=b, lookup=True)
                for a, b in universal_params(self.seed, 2)]
        return RemapSpec(cols, self.num_rows_, table=KeyTable.build(keys, rows), name=self.name)
