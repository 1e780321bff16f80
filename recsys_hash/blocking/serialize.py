"""Records -> text: `[COL] attr [VAL] value ...` (the NLSH paper's serialisation) or plain values joined by spaces.

Missing values (null or blank) are skipped; a record with no value left is an error naming its id, because an
empty string would collide with every other empty record.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import polars as pl

from recsys_hash.errors import DataFormatError

STYLES = ("tagged", "plain")
#: record keys, never attributes: `id`, and Febrl's `rec_id` ("rec-12-org" / "rec-12-dup-0" names the entity)
KEY_COLUMNS = ("id", "rec_id")


def record_ids(table: pl.DataFrame, where: str) -> np.ndarray:
    """The table's `id` column as int64 [n]; missing, non-integer or duplicate ids raise naming the table."""
    if not isinstance(table, pl.DataFrame):
        raise ValueError(f"{where}: expected a polars DataFrame with an 'id' column, got {type(table).__name__}")
    if "id" not in table.columns:
        raise DataFormatError(f"{where}: no 'id' column (columns: {table.columns})")
    try:
        ids = table["id"].cast(pl.Int64, strict=True)
    except pl.exceptions.PolarsError:
        raise DataFormatError(f"{where}: record ids in column 'id' must be integers, got dtype {table['id'].dtype}") from None
    if ids.null_count():
        raise DataFormatError(f"{where}: column 'id' has {ids.null_count()} missing ids")
    arr = ids.to_numpy().astype(np.int64)
    uniq, counts = np.unique(arr, return_counts=True)
    if uniq.size != arr.size:
        dup = uniq[counts > 1]
        raise DataFormatError(f"{where}: record ids must be unique; id {int(dup[0])} appears {int(counts[counts > 1][0])} "
                              f"times ({dup.size} duplicated ids)")
    return arr


def attribute_columns(table: pl.DataFrame, attributes: Optional[Sequence[str]], where: str) -> list[str]:
    """The attributes to serialise (default: every column but the keys `id` and `rec_id`); unknown names raise."""
    cols = [c for c in table.columns if c not in KEY_COLUMNS] if attributes is None else list(attributes)
    if not cols:
        raise ValueError(f"{where}: no attribute to serialise (columns: {table.columns})")
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise DataFormatError(f"{where}: attribute(s) {missing} not in the table (columns: {table.columns})")
    return cols


def _check_utf8(values: pl.Series, ids: np.ndarray, col: str, where: str) -> None:
    """A bytes column must decode as UTF-8; the first bad value is located only on the error path."""
    try:
        values.cast(pl.Utf8)
    except pl.exceptions.PolarsError:
        for i, v in enumerate(values.to_list()):
            try:
                v is None or v.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(f"{where}: record id {int(ids[i])}, attribute {col!r}: value is not valid UTF-8 "
                                      f"text ({exc.reason} at byte {exc.start})") from None


def serialize_records(table: pl.DataFrame, attributes: Optional[Sequence[str]] = None, style: str = "tagged",
                      where: str = "table") -> list[str]:
    """One string per row, in row order: `[COL] a [VAL] v [COL] b [VAL] w` ("tagged") or `v w` ("plain").

    Values are cast to text and stripped; null/blank ones are skipped. Raises DataFormatError for unknown
    attributes, a record with no non-blank value, or bytes that are not valid UTF-8.
    """
    if style not in STYLES:
        raise ValueError(f"serialize_records: style must be one of {STYLES}, got {style!r}")
    ids = record_ids(table, where)
    cols = attribute_columns(table, attributes, where)
    for c in cols:
        if table[c].dtype == pl.Binary:
            _check_utf8(table[c], ids, c, where)
    frame = table.select([pl.col(c).cast(pl.Utf8).str.strip_chars().alias(c) for c in cols])
    parts = []
    for c in cols:
        val = pl.col(c)
        piece = pl.concat_str([pl.lit(f"[COL] {c} [VAL] "), val]) if style == "tagged" else val
        parts.append(pl.when(val.is_null() | (val == "")).then(None).otherwise(piece))
    text = frame.select(pl.concat_str(parts, separator=" ", ignore_nulls=True).alias("t"))["t"]
    empty = np.flatnonzero((text.is_null() | (text == "")).to_numpy())
    if empty.size:
        raise DataFormatError(f"{where}: record id {int(ids[empty[0]])} has no non-empty value among attributes {cols} "
                              f"({empty.size} such records)")
    return text.to_list()
