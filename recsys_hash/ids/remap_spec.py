"""A strategy's mapping as data: one exact key table plus per-output-column hash rules.

Every built-in strategy compiles to a `RemapSpec`; `apply_spec` evaluates it in numpy and
`recsys_hash.integrations.torch_ops.apply_spec_torch` evaluates the *same* spec with torch ops inside the
TorchRec module, so both paths agree exactly. Column j of the output ([n, k] rows) is:

    row_j = table[key]                      if column.lookup and key is in the table
          = hash_j(key) + column.offset     otherwise (family below; "error" raises for a miss)

Families (a, b, mod are ints; keys are non-negative int64):
    error     a miss is an InvalidIdError (lookup columns only)
    const     offset
    mod       key % mod
    universal ((a*key + b) mod (2^61-1)) % mod
    xxhash    xxh64(8-byte little-endian key, seed=a) % mod
    quotient  (key // a) % mod
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

import numpy as np

from recsys_hash.errors import InvalidIdError
from recsys_hash.ids.base import IdRemapper
from recsys_hash.ids.hashing import string_keys_to_int, universal_hash, xxh64_int
from recsys_hash.ids.keytable import KeyTable
from recsys_hash.ids.validate import STR_KEYS, key_kind

FAMILIES = ("error", "const", "mod", "universal", "xxhash", "quotient")


class Column(NamedTuple):
    """One output column: exact lookup first (if `lookup`), else the hash family (a, b, mod) + offset."""

    family: str
    mod: int = 1
    offset: int = 0
    a: int = 0
    b: int = 0
    lookup: bool = False

    def as_ints(self) -> list[int]:
        """[lookup, family_code, a, b, mod, offset] as int64-safe ints (for torch buffers)."""
        a = self.a - (1 << 64) if self.a >= (1 << 63) else self.a
        return [int(self.lookup), FAMILIES.index(self.family), a, self.b, self.mod, self.offset]


@dataclass
class RemapSpec:
    """columns: one per row an ID maps to; table: exact key -> row map shared by lookup columns (or None)."""

    columns: list[Column]
    num_rows: int
    table: Optional[KeyTable] = None
    combiner: str = "sum"
    name: str = ""
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for c in self.columns:
            if c.family not in FAMILIES:
                raise ValueError(f"RemapSpec {self.name}: unknown hash family {c.family!r}; known: {FAMILIES}")
            if c.mod < 1:
                raise ValueError(f"RemapSpec {self.name}: column modulus must be >= 1, got {c.mod}")
            if c.lookup and self.table is None:
                raise ValueError(f"RemapSpec {self.name}: a lookup column needs a key table")

    @property
    def rows_per_id(self) -> int:
        return len(self.columns)


def hash_column(keys: np.ndarray, col: Column) -> np.ndarray:
    """Rows of one hash rule for non-negative int64 keys [n] -> int64 [n] (before the lookup)."""
    fam = col.family
    if fam == "const":
        out = np.zeros(keys.shape, dtype=np.int64)
    elif fam == "mod":
        out = keys % col.mod
    elif fam == "universal":
        out = universal_hash(keys, col.a, col.b, col.mod)
    elif fam == "xxhash":
        out = (xxh64_int(keys, col.a) % np.uint64(col.mod)).view(np.int64)
    elif fam == "quotient":
        out = (keys // col.a) % col.mod
    else:  # "error": filled only where the lookup hits
        out = np.zeros(keys.shape, dtype=np.int64)
    if col.offset:
        out += col.offset
    return out


def apply_spec(spec: RemapSpec, keys: np.ndarray, where: str = "transform") -> np.ndarray:
    """Non-negative int64 keys [n] -> int64 rows [n] (one column) or [n, k]."""
    found = spec.table.lookup(keys) if any(c.lookup for c in spec.columns) else None
    cols = []
    for col in spec.columns:
        if not col.lookup:
            cols.append(hash_column(keys, col))
            continue
        miss = found < 0
        if not miss.any():
            cols.append(found)
            continue
        if col.family == "error":
            pos = int(np.argmax(miss))
            raise InvalidIdError(
                f"{spec.name}.{where}: unseen ID {int(keys[pos])} at position {pos} (oov='error'); "
                f"fit on it or choose another OOV policy"
            )
        rows = found.copy()
        idx = np.flatnonzero(miss)
        rows[idx] = hash_column(keys[idx], col)
        cols.append(rows)
    return cols[0] if len(cols) == 1 else np.stack(cols, axis=1)


class SpecRemapper(IdRemapper):
    """Base of strategies whose fitted mapping is a `RemapSpec` (so the TorchRec module can run it).

    String keys are first turned into int64 keys (top 63 bits of xxh64(utf-8, seed)); subclasses implement
    `_build_spec(keys, rows)` from the fitted exact table (None for pure hashing) and `num_rows_`.
    """

    spec_: Optional[RemapSpec] = None

    @property
    def rows_per_id(self) -> int:
        return self._num_columns()

    def _num_columns(self) -> int:
        return 1

    def remap_spec(self) -> RemapSpec:
        """The fitted mapping as data (what `RemapperMCModule` compiles to torch)."""
        self._check_fitted("remap_spec")
        return self.spec_

    def _int_keys(self, keys: np.ndarray) -> np.ndarray:
        return string_keys_to_int(keys, self.seed) if key_kind(keys) == STR_KEYS else keys

    def _distinct(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distinct int64 keys (sorted) and their counts; string keys whose hashes collide are an error."""
        if key_kind(keys) == STR_KEYS:
            strings, counts = np.unique(keys.astype(str), return_counts=True)
            ints = string_keys_to_int(strings, self.seed)
            order = np.argsort(ints, kind="stable")
            ints, counts, strings = ints[order], counts[order], strings[order]
            dup = np.flatnonzero(ints[1:] == ints[:-1])
            if dup.size:
                i = int(dup[0])
                raise InvalidIdError(
                    f"{self.name}.fit: string keys {str(strings[i])!r} and {str(strings[i + 1])!r} hash to the same "
                    f"64-bit key with seed={self.seed}; choose another seed"
                )
            return ints, counts
        return np.unique(keys, return_counts=True)

    def _transform(self, keys: np.ndarray) -> np.ndarray:
        return apply_spec(self.spec_, self._int_keys(keys), "transform")

    def _build_spec(self, keys: Optional[np.ndarray], rows: Optional[np.ndarray]) -> RemapSpec:
        raise NotImplementedError

    def _get_state(self) -> dict[str, np.ndarray]:
        keys, rows = self._table_keys_rows()
        return {} if keys is None else {"keys": keys, "rows": rows}

    def _table_keys_rows(self) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        return getattr(self, "table_keys_", None), getattr(self, "table_rows_", None)

    def _set_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        keys, rows = arrays.get("keys"), arrays.get("rows")
        if (keys is None) != (rows is None) or (keys is not None and keys.shape != rows.shape):
            raise ValueError("keys and rows arrays must both be present with equal shapes")
        if keys is not None and rows.size and (rows.min() < 0 or rows.max() >= self.num_rows_):
            raise ValueError(f"table rows fall outside [0, {self.num_rows_})")
        self.table_keys_, self.table_rows_ = keys, rows
        self.spec_ = self._build_spec(keys, rows)

    def _finish(self, keys: Optional[np.ndarray] = None, rows: Optional[np.ndarray] = None) -> None:
        """Record the exact table (if any) and compile the spec; called at the end of `_fit`."""
        self.table_keys_ = None if keys is None else np.ascontiguousarray(keys, dtype=np.int64)
        self.table_rows_ = None if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
        self.spec_ = self._build_spec(self.table_keys_, self.table_rows_)
