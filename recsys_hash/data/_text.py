"""Vectorised text parsing shared by the loaders: lines -> tokens -> typed columns, with errors naming file and line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys_hash.errors import DataFormatError

#: a UTF-8 byte-order mark some editors write at the start of a file; loaders drop it
UTF8_BOM = b"\xef\xbb\xbf"

_SEP_NAMES = {"\t": "tab", " ": "space", ",": "comma", "|": "pipe", ";": "semicolon", None: "whitespace"}


def read_lines(path: Path, label: str, encoding: str = "utf-8") -> pl.DataFrame:
    """Non-blank lines of a text file as a frame `line` (1-based int64), `text` (str, no trailing CR/LF).

    A leading UTF-8 byte-order mark is dropped (whatever `encoding`). Raises DataFormatError naming `label` when
    the file holds no non-blank line.
    """
    raw = Path(path).read_bytes()
    raw = raw[len(UTF8_BOM):] if raw.startswith(UTF8_BOM) else raw
    text = raw.decode(encoding, errors="replace")
    frame = (
        pl.DataFrame({"text": text.split("\n")})
        .with_row_index("line", offset=1)
        .with_columns(pl.col("line").cast(pl.Int64), pl.col("text").str.strip_chars_end("\r"))
        .filter(pl.col("text").str.strip_chars() != "")
    )
    if frame.height == 0:
        raise DataFormatError(f"{label}: file is empty, expected at least one data line (file: {path})")
    return frame


def tokenize(lines: pl.DataFrame, sep: str | None) -> pl.DataFrame:
    """Add `tok` (list[str]): split on `sep`, or on runs of whitespace when `sep` is None."""
    if sep is None:
        expr = pl.col("text").str.extract_all(r"\S+")
    else:
        expr = pl.col("text").str.split(sep)
    return lines.with_columns(expr.alias("tok"))


def _delimiter_hint(text: str, sep: str | None) -> str:
    for cand in ("\t", ",", ";", "|", " "):
        if cand != sep and cand in text.strip() and not (sep is None and cand in " \t"):
            return f" (wrong delimiter? the line contains {_SEP_NAMES[cand]}s; expected {_SEP_NAMES[sep]}-separated fields)"
    return ""


def check_field_count(tokens: pl.DataFrame, n_fields: int | tuple[int, ...], label: str, sep: str | None) -> None:
    """Every line must have `n_fields` tokens (one of them when a tuple): ragged rows raise DataFormatError."""
    allowed = (n_fields,) if isinstance(n_fields, int) else tuple(n_fields)
    bad = tokens.filter(~pl.col("tok").list.len().is_in(list(allowed)))
    if bad.height:
        row = bad.row(0, named=True)
        want = " or ".join(str(a) for a in allowed)
        raise DataFormatError(
            f"{label} line {row['line']}: expected {want} {_SEP_NAMES[sep]}-separated fields, "
            f"got {len(row['tok'])} in {row['text'][:80]!r}{_delimiter_hint(row['text'], sep)}"
        )


def to_int(frame: pl.DataFrame, col: str, label: str, what: str, sep: str | None = None,
           non_negative: bool = True) -> np.ndarray:
    """Column `col` (str tokens) of `frame` (with `line`, `text`) -> int64 numpy; the first bad token raises.

    Message: "<label> line N: expected <what>, got '<token>'".
    """
    parsed = frame.select(
        pl.col("line"), pl.col("text"), pl.col(col).alias("raw"),
        pl.col(col).str.strip_chars().cast(pl.Int64, strict=False).alias("val"),
    )
    bad_mask = parsed["val"].is_null()
    if non_negative:
        bad_mask = bad_mask | (parsed["val"] < 0).fill_null(True)
    if bad_mask.any():
        row = parsed.filter(bad_mask).row(0, named=True)
        raise DataFormatError(
            f"{label} line {row['line']}: expected {what}, got {row['raw']!r}{_delimiter_hint(row['raw'] or '', sep)}"
        )
    return parsed["val"].to_numpy().astype(np.int64, copy=False)


def to_float(frame: pl.DataFrame, col: str, label: str, what: str, non_negative: bool = False) -> np.ndarray:
    """Like `to_int` for finite floating-point tokens -> float64 numpy (negative ones raise when `non_negative`)."""
    parsed = frame.select(
        pl.col("line"), pl.col(col).alias("raw"), pl.col(col).str.strip_chars().cast(pl.Float64, strict=False).alias("val")
    )
    bad_expr = pl.col("val").is_null() | ~pl.col("val").is_finite()
    bad = parsed.filter(bad_expr | (pl.col("val") < 0) if non_negative else bad_expr)
    if bad.height:
        row = bad.row(0, named=True)
        raise DataFormatError(f"{label} line {row['line']}: expected {what}, got {row['raw']!r}")
    return parsed["val"].to_numpy()


def split_columns(path: Path, label: str, sep: str, names: list[str], encoding: str = "utf-8") -> pl.DataFrame:
    """A fixed-width delimited file without header -> frame of str columns `names` plus `line`, `text`."""
    tok = tokenize(read_lines(path, label, encoding), sep)
    check_field_count(tok, len(names), label, sep)
    return tok.with_columns(pl.col("tok").list.to_struct(fields=names)).unnest("tok")
