"""libffm reader (xLearn / LIBFFM `label field:feature:value ...` rows): one column per field, bags for multi-valued
fields."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl

from recsys_hash.data._text import _delimiter_hint, read_lines, to_float, to_int, tokenize
from recsys_hash.data.ctr import _labels
from recsys_hash.data.types import CTRFrame, SequenceCTRFrame
from recsys_hash.errors import DataFormatError

PathLike = str | os.PathLike


XLEARN_CRITEO_BAGS = (16, 17)  # fields holding several features in some rows of xLearn's criteo_ctr demo files


def read_libffm(path: PathLike, name: str | None = None, n_fields: int | None = None,
                multi_valued: Sequence[int] = (), with_values: bool = False) -> SequenceCTRFrame:
    """libffm rows -> SequenceCTRFrame: frame.categorical `f<k>` = feature index of field k (int64 [n], -1 when the
    row has none) for every field in [0, n_fields) not in `multi_valued`; labels 0/1 (or -1/1 -> 0/1).

    Fields of `multi_valued` become bags: history `f<k>` = (offsets [n+1], feature indices in file order).
    A single-valued field given twice in a row raises. `n_fields` defaults to the largest field index (or bag field) + 1.
    With `with_values`, frame.dense = the single-valued fields' values [n, n_single] (0.0 where absent), named
    `value_f<k>`; otherwise values are only validated and dense has 0 columns.
    """
    path = Path(path)
    label = name or path.name
    tok = tokenize(read_lines(path, label), None).with_row_index("row")
    heads = tok.select("line", "text", pl.col("tok").list.first().alias("label"))
    labels = _labels(heads, "label", label, allowed=(-1, 0, 1))
    n = tok.height
    feats = (tok.select("row", "line", "text", pl.col("tok").list.slice(1).alias("tok"))
             .filter(pl.col("tok").list.len() > 0).explode("tok"))
    parts = feats.with_columns(pl.col("tok").str.split(":").alias("p")).with_columns(
        pl.col("p").list.len().alias("n_parts"), pl.col("p").list.get(0, null_on_oob=True).alias("field"),
        pl.col("p").list.get(1, null_on_oob=True).alias("feature"),
        pl.col("p").list.get(2, null_on_oob=True).alias("value"))
    wrong = parts.filter(pl.col("n_parts") != 3)
    if wrong.height:
        row = wrong.row(0, named=True)
        raise DataFormatError(f"{label} line {row['line']}: expected 'field:feature:value', got {row['tok']!r}"
                              f"{_delimiter_hint(row['text'], None)}")
    what = "'field:feature:value' with non-negative integer field and feature"
    field = to_int(parts, "field", label, what)
    feature = to_int(parts, "feature", label, what)
    value = to_float(parts, "value", label, "'field:feature:value' with a finite numeric value")
    rows = parts["row"].to_numpy().astype(np.int64)
    width = int(field.max()) + 1 if field.size else 0
    if n_fields is not None:
        if n_fields < 0:
            raise ValueError(f"read_libffm: n_fields must be >= 0, got {n_fields}")
        if field.size and field.max() >= n_fields:
            i = int(np.argmax(field >= n_fields))
            raise DataFormatError(f"{label} line {parts['line'][i]}: field {int(field[i])} out of range for "
                                  f"n_fields={n_fields}, got {parts['tok'][i]!r}")
        width = n_fields
    bags = sorted({int(k) for k in multi_valued})
    if n_fields is None and bags:
        width = max(width, bags[-1] + 1)  # a bag field absent from this file is still a (empty) column
    if any(k < 0 or k >= width for k in bags):
        raise ValueError(f"read_libffm: multi_valued fields {bags} must lie in [0, {width}) (n_fields)")
    in_bag = np.isin(field, bags)
    single = [k for k in range(width) if k not in bags]
    r, f, v = rows[~in_bag], field[~in_bag], value[~in_bag]
    cell = r * max(width, 1) + f
    uniq, counts = np.unique(cell, return_counts=True)
    if (counts > 1).any():
        dup = np.flatnonzero(~in_bag)[np.flatnonzero(cell == uniq[np.argmax(counts > 1)])[1]]
        raise DataFormatError(f"{label} line {parts['line'][int(dup)]}: field {int(field[dup])} appears more than once; "
                              f"expected at most one feature per field in a row (pass multi_valued=[{int(field[dup])}] "
                              "to read it as a bag)")
    keys = np.full((n, width), -1, np.int64)
    keys[r, f] = feature[~in_bag]
    cats = {f"f{k}": keys[:, k].copy() for k in single}
    if with_values:
        vals = np.zeros((n, width), np.float32)
        vals[r, f] = v
        dense, names = vals[:, single], [f"value_f{k}" for k in single]
    else:
        dense, names = np.zeros((n, 0), np.float32), []
    history = {}
    for k in bags:
        sel = field == k  # rows are non-decreasing in file order, so values stay grouped by row
        counts_k = np.bincount(rows[sel], minlength=n)
        history[f"f{k}"] = (np.concatenate([[0], np.cumsum(counts_k)]).astype(np.int64), feature[sel])
    frame = CTRFrame(categorical=cats, dense=dense, dense_names=names, labels=labels, name=label)
    return SequenceCTRFrame(frame=frame, history=history, name=label)
