"""The user-item graph straight from a parquet/CSV file: polars' streaming engine deduplicates the (user, item)
pairs, so a graph of tens of millions of interactions builds without holding the raw interaction frame.

    >>> g = graph_from_file("train.parquet", user="user_id", item="item_id")
    >>> sides = GraphHash.fit_sides(g, {"user": 0.25, "item": 0.25})

The file's user/item columns hold compact integer indices (0..n-1), as for `build_biadjacency`; the result equals
`build_biadjacency` on the same interactions exactly (duplicate pairs sum their weights, or count 1 if binarize).
Two streaming passes: one for ID ranges and checks, one that groups by the packed key user * n_items + item and
sorts it; the CSR arrays come from the sorted distinct keys (8 bytes per distinct pair, plus the counts).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_hash.errors import DataFormatError, InvalidIdError
from recsys_hash.graph.biadjacency import VOCAB_FLOOR, VOCAB_PER_INTERACTION

WHERE = "graph_from_file"
_CSV = {".csv": ",", ".tsv": "\t", ".txt": ","}
_PARQUET = (".parquet", ".pq")
_CHUNK = 1 << 22                       # keys decoded per step (bounds the temporary arrays to ~32 MB)


@dataclass(frozen=True)
class FileGraph:
    """A user-item graph built from a file: what GraphHash needs, without the raw interactions.

    biadjacency: CSR float64 [n_users, n_items]; user_counts / item_counts: int64 interactions per ID (duplicates
    counted, as `np.bincount` of the raw column would); path: the source file.
    """

    biadjacency: sp.csr_matrix
    n_users: int
    n_items: int
    user_counts: np.ndarray
    item_counts: np.ndarray
    path: str
    weighted: bool = False

    @property
    def name(self) -> str:
        return Path(self.path).name

    def __len__(self) -> int:
        return int(self.user_counts.sum())


def _scan(path: Path, separator: Optional[str]) -> pl.LazyFrame:
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return pl.scan_parquet(path)
    if suffix in _CSV:
        return pl.scan_csv(path, separator=separator or _CSV[suffix], infer_schema_length=10_000)
    raise ValueError(f"{WHERE}: {path}: unknown file type {suffix!r}; give a .parquet/.pq or .csv/.tsv/.txt file")


def _collect(lf: pl.LazyFrame, path: Path) -> pl.DataFrame:
    try:
        return lf.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFormatError(f"{WHERE}: {path}: cannot read the interactions: {first}") from exc


def _vocab(given: Optional[int], top: int, col: str, name: str, path: Path) -> int:
    if given is None:
        return top + 1
    if not isinstance(given, (int, np.integer)) or isinstance(given, bool) or given < 1:
        raise ValueError(f"{WHERE}: {name} must be a positive integer or None, got {given!r}")
    if top >= given:
        raise InvalidIdError(f"{WHERE}: {path}: column {col!r} holds ID {top}, outside [0, {given}) ({name}={given})")
    return int(given)


def graph_from_file(
    path: Union[str, Path],
    user: str = "user",
    item: str = "item",
    *,
    weight: Optional[str] = None,
    n_users: Optional[int] = None,
    n_items: Optional[int] = None,
    binarize: bool = False,
    separator: Optional[str] = None,
) -> FileGraph:
    """Stream `path` (parquet, or CSV/TSV with a header) into a `FileGraph`.

    user / item: integer columns of ID indices; weight: optional numeric column (None: each interaction weighs 1);
    n_users / n_items: vocabulary sizes (None: largest ID + 1); binarize: a pair counts 1 however often it occurs.
    Errors name the file and the column: missing file (FileNotFoundError), unreadable or malformed file, missing
    column, non-integer IDs, nulls (DataFormatError); negative or out-of-vocabulary IDs (InvalidIdError).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{WHERE}: interactions file {path} does not exist")
    lf = _scan(path, separator)
    try:
        schema = lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataFormatError(f"{WHERE}: {path}: cannot read the interactions: {str(exc).splitlines()[0]}") from exc
    cols = [user, item] + ([weight] if weight is not None else [])
    for col in cols:
        if col not in schema:
            raise DataFormatError(f"{WHERE}: {path}: no column {col!r} (columns: {', '.join(schema.names())})")
    for col in (user, item):
        if not schema[col].is_integer():
            if _collect(lf.select(pl.len()), path).item() == 0:       # a header-only CSV types its columns String
                raise ValueError(f"{WHERE}: {path}: the interaction graph is empty (0 interactions); nothing to "
                                 f"cluster")
            raise DataFormatError(f"{WHERE}: {path}: column {col!r} must hold integer ID indices, got {schema[col]}")
    if weight is not None and not schema[weight].is_numeric():
        raise DataFormatError(f"{WHERE}: {path}: weight column {weight!r} must be numeric, got {schema[weight]}")
    checks = [pl.len().alias("rows")]
    for col in cols:
        checks += [pl.col(col).null_count().alias(f"{col}:nulls"), pl.col(col).min().alias(f"{col}:min"),
                   pl.col(col).max().alias(f"{col}:max")]
    if weight is not None:
        w = pl.col(weight).cast(pl.Float64)
        checks.append((w.is_nan() | w.is_infinite()).any().alias("w:bad"))
    stats = _collect(lf.select(checks), path).row(0, named=True)
    rows = int(stats["rows"])
    if rows == 0:
        raise ValueError(f"{WHERE}: {path}: the interaction graph is empty (0 interactions); nothing to cluster")
    for col in cols:
        if stats[f"{col}:nulls"]:
            raise DataFormatError(f"{WHERE}: {path}: column {col!r} has {stats[f'{col}:nulls']} missing values")
    for col in (user, item):
        if stats[f"{col}:min"] < 0:
            raise InvalidIdError(f"{WHERE}: {path}: column {col!r} holds negative ID {stats[f'{col}:min']} "
                                 f"(IDs must be indices 0..n-1)")
    if weight is not None and (stats["w:bad"] or stats[f"{weight}:min"] < 0):
        raise ValueError(f"{WHERE}: {path}: weight column {weight!r} holds NaN, inf or negative values")
    nu = _vocab(n_users, int(stats[f"{user}:max"]), user, "n_users", path)
    ni = _vocab(n_items, int(stats[f"{item}:max"]), item, "n_items", path)
    limit = max(VOCAB_FLOOR, VOCAB_PER_INTERACTION * rows)
    for name, n in (("n_users", nu), ("n_items", ni)):
        if n > limit:
            raise ValueError(f"{WHERE}: {path}: {name}={n} is far beyond the {rows} interactions; the graph needs "
                             f"compact ID indices: map raw IDs to 0..n-1 first")
    key = (pl.col(user).cast(pl.UInt64) * ni + pl.col(item).cast(pl.UInt64)).alias("key")
    aggs = [pl.len().alias("n")] + ([pl.col(weight).cast(pl.Float64).sum().alias("w")] if weight else [])
    pairs = _collect(lf.select(key, *([pl.col(weight)] if weight else [])).group_by("key").agg(aggs).sort("key"),
                     path)
    return _to_graph(pairs, nu, ni, binarize, weight is not None, str(path))


def _to_graph(pairs: pl.DataFrame, nu: int, ni: int, binarize: bool, weighted: bool, path: str) -> FileGraph:
    """Sorted distinct keys (+ counts, weight sums) -> CSR and per-ID interaction counts."""
    keys = pairs["key"].to_numpy()
    counts = pairs["n"].to_numpy().astype(np.int64)
    data = pairs["w"].to_numpy().astype(np.float64) if weighted else counts.astype(np.float64)
    del pairs
    item_counts = np.zeros(ni, dtype=np.int64)
    indices = np.empty(keys.size, dtype=np.int32 if ni < 2**31 else np.int64)
    for lo in range(0, keys.size, _CHUNK):                      # decode in chunks: no full-size temporaries
        col = keys[lo:lo + _CHUNK] % np.uint64(ni)
        indices[lo:lo + _CHUNK] = col
        item_counts += np.bincount(col.astype(np.int64), counts[lo:lo + _CHUNK], minlength=ni).astype(np.int64)
    indptr = np.searchsorted(keys, np.arange(nu + 1, dtype=np.uint64) * np.uint64(ni)).astype(np.int64)
    rows = np.diff(indptr) > 0                                  # users with a pair; their segments tile the keys
    user_counts = np.zeros(nu, dtype=np.int64)
    user_counts[rows] = np.add.reduceat(counts, indptr[:-1][rows])
    del keys, counts
    keep = data != 0
    if not keep.all():                                          # zero-weight pairs add no edge
        row_nnz = np.zeros(nu, dtype=np.int64)
        row_nnz[rows] = np.add.reduceat(keep.astype(np.int64), indptr[:-1][rows])
        indptr = np.concatenate([[0], np.cumsum(row_nnz)]).astype(np.int64)
        data, indices = data[keep], indices[keep]
    if data.size == 0:
        raise ValueError(f"{WHERE}: {path}: every interaction has weight 0; the interaction graph is empty")
    if binarize:
        data[:] = 1.0
    if indptr[-1] < 2**31:
        indptr = indptr.astype(np.int32)
    mat = sp.csr_matrix((data, indices, indptr), shape=(nu, ni))
    mat.has_sorted_indices = True
    return FileGraph(mat, nu, ni, user_counts, item_counts, path, weighted)
