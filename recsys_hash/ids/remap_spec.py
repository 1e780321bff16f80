"""A strategy's mapping as data: one exact key table plus per-output-column hash rules.

Every built-in strategy compiles to a `RemapSpec`; `apply_spec` evaluates it in numpy and
`recsys_hash.integrations.torch_ops.apply_spec_torch` evaluates the *same* spec with torch ops inside the
TorchRec module when scripted or on GPU (in eager CPU mode the module calls `apply_columns` itself), so
both paths agree exactly. A lookup column over a dense key range is precomputed into `fused_dense()`
(one `take` per ID, see there). An optional pre-map first replaces keys found in it (e.g. `dedup`: a duplicate
ID -> its entity's ID) before every column; errors still name the key given. Column j of the output ([n, k] rows) is:

    key   = premap[key]                     if a pre-map is set and holds key (else key unchanged)
    row_j = table[key]                      if column.lookup and key is in the table
          = hash_j(key) + column.offset     otherwise (family below; "error" raises for a miss)

Families (a, b, mod are ints; keys are non-negative int64):
    error     a miss is an InvalidIdError (lookup columns only)
    const     offset
    mod       key % mod
    universal fmix64((a*key + b) mod (2^61-1)) % mod   (murmur3's finaliser; see `ids.hashing.universal_hash`)
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
from recsys_hash.ids.keytable import DENSE_FACTOR, EMPTY, KeyTable
from recsys_hash.ids.validate import STR_KEYS, key_kind

FAMILIES = ("error", "const", "mod", "universal", "xxhash", "quotient")
FUSE_MAX = 1 << 26   # largest key range whose final rows are precomputed (512 MiB per lookup column)


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

    @classmethod
    def from_ints(cls, ints: list[int]) -> "Column":
        """Inverse of `as_ints`."""
        lookup, family, a, b, mod, offset = (int(v) for v in ints)
        return cls(FAMILIES[family], mod=mod, offset=offset, a=a + (1 << 64) if a < 0 else a, b=b, lookup=bool(lookup))


@dataclass
class RemapSpec:
    """columns: one per row an ID maps to; table: exact key -> row map shared by lookup columns (or None);
    premap: key -> key applied before every column (or None; keys it does not hold pass unchanged)."""

    columns: list[Column]
    num_rows: int
    table: Optional[KeyTable] = None
    combiner: str = "sum"
    name: str = ""
    notes: dict = field(default_factory=dict)
    dense_keys: int = 0
    premap: Optional[KeyTable] = None
    _fused: Optional[np.ndarray] = field(default=None, init=False, repr=False, compare=False)

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

    def fused_dense(self) -> Optional[np.ndarray]:
        """Final rows int64 [num_lookup_columns, R + 1] of every key below R, per lookup column (cached).

        R covers the table's keys and `dense_keys` (the fitted key range, set by `SpecRemapper`). Row j holds,
        for key x < R, the table row if x is in the table, else column j's hash rule, precomputed, so a lookup
        column costs one `take(mode="clip")`; -1 remains only at index R (keys >= R, which are never in the
        table: their rule is applied on the fly) and for misses of "error" columns. None without a lookup
        column or when neither the table nor `dense_keys` is dense.
        """
        lookups = [c for c in self.columns if c.lookup]
        if self._fused is not None or not lookups:
            return self._fused
        table_dense = self.table.dense if self.table.dense is not None else None
        if table_dense is not None:
            top = table_dense.size - 1
        elif self.dense_keys > 0 and self.table.slots is not None:
            stored = self.table.slots[:, 0]
            top = max(int(stored.max()) + 1, self.dense_keys)
        else:
            return None
        top = max(top, self.dense_keys)
        if top > FUSE_MAX:
            return None
        if table_dense is not None and top == table_dense.size - 1 and [c.family for c in lookups] == ["error"]:
            self._fused = table_dense[None, :]          # the dense table already is the answer: no copy
            return self._fused
        inner = np.arange(top, dtype=np.int64)
        base = table_dense[:top] if table_dense is not None and top <= table_dense.size - 1 else self.table.lookup(inner)
        fused = np.empty((len(lookups), top + 1), dtype=np.int64)
        fused[:, -1] = EMPTY
        for j, col in enumerate(lookups):
            if col.family == "error":
                fused[j, :-1] = base
            else:
                np.copyto(fused[j, :-1], np.where(base >= 0, base, hash_column(inner, col)))
        self._fused = fused
        return self._fused


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


def apply_spec(spec: RemapSpec, keys: np.ndarray, where: str = "transform",
               raw: Optional[np.ndarray] = None) -> np.ndarray:
    """Non-negative int64 keys [n] -> int64 rows [n] (one column) or [n, k]; `raw`: the keys as given (str [n])
    when `keys` are their hashes, so errors name the key the caller passed."""
    return apply_columns(keys, spec.columns, spec.table, spec.fused_dense(), f"{spec.name}.{where}", raw,
                         spec.premap)


def premap_keys(premap: KeyTable, keys: np.ndarray) -> np.ndarray:
    """Keys int64 [n] -> the pre-map's value for keys it holds, the key itself for the others (int64 [n])."""
    mapped = premap.lookup(keys)
    return np.where(mapped >= 0, mapped, keys)


def apply_columns(
    keys: np.ndarray, columns: list[Column], table: Optional[KeyTable], fused: Optional[np.ndarray], where: str,
    raw: Optional[np.ndarray] = None, premap: Optional[KeyTable] = None,
) -> np.ndarray:
    """`apply_spec` on a spec's parts: keys int64 [n] -> rows [n] or [n, k]; `fused` = `RemapSpec.fused_dense()`.

    With `fused`, lookup column j is one `take` from fused[j]; otherwise the key table is probed once for all
    lookup columns. Shared by `transform` and the TorchRec module's eager CPU path (zero-copy views of its buffers).
    """
    if keys.size == 0:
        return np.zeros((0,) if len(columns) == 1 else (0, len(columns)), dtype=np.int64)
    given = keys
    if premap is not None:
        keys = premap_keys(premap, keys)
    found = None
    if fused is None and any(c.lookup for c in columns):
        found = table.lookup(keys)
    cols = []
    j = 0
    for col in columns:
        if not col.lookup:
            cols.append(hash_column(keys, col))
            continue
        if fused is not None:
            rows = np.take(fused[j], keys, mode="clip")
            j += 1
        else:
            rows = found
        if rows.min() >= 0:                                   # one pass, no mask: the usual case
            cols.append(rows)
            continue
        miss = rows < 0
        if col.family == "error":
            pos = int(np.argmax(miss))
            key = int(given[pos]) if raw is None else repr(raw[pos])
            raise InvalidIdError(
                f"{where}: unseen ID {key} at position {pos} (oov='error'); "
                f"fit on it or choose another OOV policy"
            )
        rows = rows.copy() if rows is found else rows
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

    def _distinct(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct int64 keys (sorted) and their counts, from the distinct keys `fit` already counted
        (`fit_keys_` / `fit_counts_`); string keys whose hashes collide are an error."""
        keys, counts = self.fit_keys_, self.fit_counts_
        if key_kind(keys) == STR_KEYS:
            strings = keys.astype(str)
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
        return keys, counts

    def _transform(self, keys: np.ndarray) -> np.ndarray:
        raw = keys if key_kind(keys) == STR_KEYS else None
        return apply_spec(self.spec_, self._int_keys(keys), "transform", raw)

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
        self.spec_ = self._compile_spec(keys, rows)

    def _finish(self, keys: Optional[np.ndarray] = None, rows: Optional[np.ndarray] = None) -> None:
        """Record the exact table (if any) and compile the spec; called at the end of `_fit`."""
        self.table_keys_ = None if keys is None else np.ascontiguousarray(keys, dtype=np.int64)
        self.table_rows_ = None if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
        self.spec_ = self._compile_spec(self.table_keys_, self.table_rows_)

    def _compile_spec(self, keys: Optional[np.ndarray], rows: Optional[np.ndarray]) -> RemapSpec:
        """`_build_spec`, plus the fitted key range when it is dense (lookups then cost one `take`, see fused_dense)."""
        spec = self._build_spec(keys, rows)
        fit = getattr(self, "fit_keys_", None)
        if spec is not None and fit is not None and fit.size and fit.dtype.kind in "iu":
            top = int(fit.max()) + 1
            if top <= DENSE_FACTOR * fit.size:
                spec.dense_keys = top
        return spec
