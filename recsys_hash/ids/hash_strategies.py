"""Hashing strategies: no learned table, the row is a (seeded) function of the raw key.

    modulo     key % m                                   (the GraphHash paper's "random" baseline; unseeded)
    universal  fmix64((a*key + b) mod (2^61-1)) % m      (seeded Carter-Wegman, exact, no int64 overflow, then
                                                         murmur3's finaliser so consecutive keys spread for every seed)
    xxhash     xxh64(key bytes, seed) % m                (int keys: 8 bytes little-endian; str: utf-8)
    double     k seeded universal hashes into one table  (rows summed; rows_per_id = k)
    qr         [key % r, r + (key // r) % q]             (quotient-remainder; r + q = num_rows)

All map into one table of `num_rows` rows. String keys (except for `xxhash`, which hashes their bytes
directly) are first turned into int64 keys by xxh64 with the strategy's seed.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from recsys_hash.ids.hashing import universal_params, xxh64_strings
from recsys_hash.ids.registry import register
from recsys_hash.ids.remap_spec import Column, RemapSpec, SpecRemapper
from recsys_hash.ids.validate import STR_KEYS, check_int, key_kind


class _HashRemapper(SpecRemapper):
    """Common fit for hashing strategies: the budget `num_rows` is required and nothing is learned."""

    def _fit(self, keys: np.ndarray, *, interactions: Any = None, side: Optional[str] = None) -> None:
        if self.num_rows is None:
            raise ValueError(f"{self.name}: num_rows (the table budget) is required")
        self.num_rows_ = self.num_rows
        self._finish()


@register
class ModuloRemapper(_HashRemapper):
    """row = key % num_rows. `seed` is unused (kept for a uniform interface)."""

    name = "modulo"

    def _build_spec(self, keys, rows) -> RemapSpec:
        return RemapSpec([Column("mod", mod=self.num_rows_)], self.num_rows_, name=self.name)


@register
class UniversalRemapper(_HashRemapper):
    """row = fmix64((a*key + b) mod (2^61 - 1)) % num_rows with (a, b) drawn from `seed` (see `ids.hashing`)."""

    name = "universal"

    def _build_spec(self, keys, rows) -> RemapSpec:
        (a, b), = universal_params(self.seed, 1)
        return RemapSpec([Column("universal", mod=self.num_rows_, a=a, b=b)], self.num_rows_, name=self.name)


@register
class XxHashRemapper(_HashRemapper):
    """row = xxh64(raw key bytes, seed) % num_rows; equals `xxhash.xxh64_intdigest(bytes, seed) % num_rows`."""

    name = "xxhash"

    def _build_spec(self, keys, rows) -> RemapSpec:
        return RemapSpec([Column("xxhash", mod=self.num_rows_, a=self.seed)], self.num_rows_, name=self.name)

    def _transform(self, keys: np.ndarray) -> np.ndarray:
        if key_kind(keys) == STR_KEYS:
            return (xxh64_strings(keys, self.seed) % np.uint64(self.num_rows_)).view(np.int64)
        return super()._transform(keys)


@register
class DoubleHashRemapper(_HashRemapper):
    """`num_hashes` seeded universal hashes into the same table; an ID's embedding is the sum of its rows."""

    name = "double"

    def __init__(self, num_rows: Optional[int] = None, *, num_hashes: int = 2, seed: int = 0,
                 input_hash_size: Optional[int] = None):
        super().__init__(num_rows, seed=seed, input_hash_size=input_hash_size)
        self.num_hashes = check_int(self.name, "num_hashes", num_hashes)

    def _num_columns(self) -> int:
        return self.num_hashes

    def _build_spec(self, keys, rows) -> RemapSpec:
        cols = [Column("universal", mod=self.num_rows_, a=a, b=b) for a, b in universal_params(self.seed, self.num_hashes)]
        return RemapSpec(cols, self.num_rows_, name=self.name)


@register
class QuotientRemainderRemapper(_HashRemapper):
    """Quotient-remainder (Shi et al. 2020): rows [key % r, r + (key // r) % q] in one table of r + q rows.

    r = ceil(num_rows / 2), q = num_rows - r: keys in [0, r*q) get distinct (remainder, quotient) pairs.
    `combiner` says how the two embeddings combine: "sum" (works with EBC SUM pooling) or "product"
    (element-wise; only through `recsys_hash.integrations.lookup.combine_rows`). `seed` is unused.
    """

    name = "qr"

    def __init__(self, num_rows: Optional[int] = None, *, combiner: str = "sum", seed: int = 0,
                 input_hash_size: Optional[int] = None):
        super().__init__(num_rows, seed=seed, input_hash_size=input_hash_size)
        if not isinstance(combiner, str) or combiner not in ("sum", "product"):
            raise ValueError(f"qr: combiner must be 'sum' or 'product', got {combiner!r}")
        if self.num_rows is not None and self.num_rows < 2:
            raise ValueError(f"qr: num_rows must be >= 2 (a remainder and a quotient table), got {num_rows}")
        self.combiner = combiner

    def _num_columns(self) -> int:
        return 2

    @property
    def remainder_rows(self) -> int:
        return -(-self.num_rows_ // 2)

    def _build_spec(self, keys, rows) -> RemapSpec:
        r = self.remainder_rows
        q = self.num_rows_ - r
        cols = [Column("mod", mod=r), Column("quotient", mod=q, a=r, offset=r)]
        return RemapSpec(cols, self.num_rows_, combiner=self.combiner, name=self.name)
