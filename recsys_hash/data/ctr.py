"""CTR loaders: libFM (Frappe), Criteo-format TSV/CSV (streamed in chunks for full-size files), Avazu CSV samples."""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import polars as pl

from recsys_hash.data._text import check_field_count, read_lines, to_float, to_int, tokenize
from recsys_hash.data.paths import dataset_dir, dataset_file
from recsys_hash.data.types import CTRFrame
from recsys_hash.errors import DataFormatError, DatasetNotFoundError

PathLike = str | os.PathLike

FRAPPE_FIELDS = ("user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city")
CRITEO_DENSE = tuple(f"I{k}" for k in range(1, 14))
CRITEO_CATEGORICAL = tuple(f"C{k}" for k in range(1, 27))


def _labels(frame: pl.DataFrame, col: str, label: str, allowed: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Label tokens -> float32 {0, 1}; with allowed (-1, 1) the -1 rows become 0."""
    raw = to_int(frame, col, label, f"a label in {set(allowed)}", non_negative=False)
    bad = np.flatnonzero(~np.isin(raw, allowed))
    if bad.size:
        row = frame.row(int(bad[0]), named=True)
        raise DataFormatError(f"{label} line {row['line']}: expected a label in {set(allowed)}, got {row[col]!r}")
    return (raw > 0).astype(np.float32)


def read_libfm(path: PathLike, label: str, field_names: Sequence[str]) -> CTRFrame:
    """libFM one-hot rows `label idx:val ...` with one feature per field, in field order -> CTRFrame.

    categorical[field] = the libFM feature index (a raw key, global across fields); labels -1/1 -> 0/1.
    """
    tok = tokenize(read_lines(Path(path), label), None)
    check_field_count(tok, 1 + len(field_names), label, None)
    tok = tok.with_columns(pl.col("tok").list.to_struct(fields=["label", *field_names])).unnest("tok")
    labels = _labels(tok, "label", label, allowed=(-1, 0, 1))
    cats = {}
    for name in field_names:
        parts = tok.select("line", "text", pl.col(name).str.split_exact(":", 1).struct.rename_fields(["idx", "val"])).unnest(name)
        cats[name] = to_int(parts, "idx", label, f"'index:value' for field {name!r}")
        to_float(parts.with_columns(pl.col("val").fill_null("")), "val", label, f"'index:value' for field {name!r}")
    return CTRFrame(categorical=cats, dense=np.zeros((len(labels), 0), np.float32), dense_names=[],
                    labels=labels, name=label)


def load_frappe(dataset_path: PathLike | None = None, name: str = "frappe") -> dict[str, CTRFrame]:
    """Frappe (NFM split, libFM, 10 fields) -> {"validation": 57,722 rows, "test": 28,860 rows}.

    The shared copy has no `frappe.train.libfm` (202,027 rows); when a folder has it, "train" is added.
    Use `split_ctr(concat_ctr(...))` for the 80/10/10 re-split of the rows that are present.
    """
    folder = dataset_dir(name, dataset_path)
    out = {}
    if (folder / "frappe.train.libfm").is_file():
        out["train"] = read_libfm(folder / "frappe.train.libfm", f"{name}/frappe.train.libfm", FRAPPE_FIELDS)
    for split in ("validation", "test"):
        fname = f"frappe.{split}.libfm"
        out[split] = read_libfm(dataset_file(name, folder, fname), f"{name}/{fname}", FRAPPE_FIELDS)
    return out


def concat_ctr(frames: Sequence[CTRFrame], name: str = "") -> CTRFrame:
    """Rows of several frames with the same fields, in order."""
    keys = list(frames[0].categorical)
    for f in frames[1:]:
        if list(f.categorical) != keys or f.dense_names != frames[0].dense_names:
            raise ValueError(f"concat_ctr: frame {f.name!r} has fields {list(f.categorical)}, expected {keys}")
    return CTRFrame(categorical={k: np.concatenate([f.categorical[k] for f in frames]) for k in keys},
                    dense=np.concatenate([f.dense for f in frames]), dense_names=list(frames[0].dense_names),
                    labels=np.concatenate([f.labels for f in frames]), name=name or frames[0].name)


def take_ctr(frame: CTRFrame, index: np.ndarray, name: str | None = None) -> CTRFrame:
    """Rows `index` (int array or bool mask) of `frame`."""
    return CTRFrame(categorical={k: v[index] for k, v in frame.categorical.items()}, dense=frame.dense[index],
                    dense_names=list(frame.dense_names), labels=frame.labels[index],
                    name=frame.name if name is None else name)


def split_ctr(frame: CTRFrame, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
              names: Sequence[str] = ("train", "valid", "test")) -> dict[str, CTRFrame]:
    """Seeded random partition of the rows by `fractions` (summing to 1)."""
    parts = split_indices(len(frame), fractions, seed, names)
    return {n: take_ctr(frame, p, f"{frame.name}/{n}") for n, p in parts.items()}


def split_indices(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                  names: Sequence[str] = ("train", "valid", "test")) -> dict[str, np.ndarray]:
    """`split_ctr`'s partition of rows 0..n-1: name -> sorted int64 row indices (a seeded permutation cut by
    `fractions`), so a split of memory-mapped rows can be index arrays rather than copies."""
    if len(fractions) != len(names) or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"split_ctr: fractions must be {len(names)} non-negative numbers summing to 1, got {tuple(fractions)}")
    perm = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(fractions)[:-1] * n).astype(np.int64)
    return {name: np.sort(p) for name, p in zip(names, np.split(perm, cuts))}


_HEX = r"^[0-9a-fA-F]{1,15}$"   # at most 15 hex digits: the value is below 2^60
HASHED_BIT = 1 << 62            # set on hashed keys, so they never equal a hex key (< 2^60)


def _categorical_keys(frame: pl.DataFrame, col: str, label: str, hex_only: bool) -> np.ndarray:
    """Categorical strings of one column -> int64 raw keys [n], by a per-value rule (never per chunk or file).

    A value of 1..15 hex digits -> its base-16 value (< 2^60); missing/blank -> -1. Any other value is an error
    when `hex_only` (headerless Kaggle Criteo: categoricals are hex), else -> `string_keys_to_int(value, seed=0)`
    | 2^62 (xxh64, stable across versions and disjoint from hex keys). So a value maps to one key in every
    chunk and file.
    """
    vals = frame[col].str.strip_chars()
    present = (vals.is_not_null() & (vals != "")).to_numpy()
    is_hex = vals.str.contains(_HEX).fill_null(False).to_numpy()
    keys = vals.str.to_integer(base=16, strict=False).fill_null(-1).to_numpy().astype(np.int64)
    keys[~is_hex] = -1
    other = np.flatnonzero(present & ~is_hex)
    if other.size and hex_only:
        row = frame.row(int(other[0]), named=True)
        raise DataFormatError(f"{label} line {row['line']}: expected a hex categorical value in column {col!r}, "
                              f"got {row[col]!r}")
    if other.size:
        from recsys_hash.ids.hashing import string_keys_to_int  # leaf module of numpy hash functions

        strings = vals.gather(other).to_numpy().astype(object)
        keys[other] = string_keys_to_int(strings, seed=0) | HASHED_BIT
    return keys


def _ctr_from_tokens(tok: pl.DataFrame, names: list[str], label_col: str, dense: Sequence[str],
                     categorical: Sequence[str], label: str, sep: str, name: str, hex_only: bool = False) -> CTRFrame:
    check_field_count(tok, len(names), label, sep)
    cols = tok.with_columns(pl.col("tok").list.to_struct(fields=names)).unnest("tok")
    labels = _labels(cols, label_col, label)
    dense_cols = []
    for c in dense:  # missing dense values -> 0.0 (TorchRec's Criteo convention)
        filled = cols.select("line", "text", pl.when(pl.col(c).str.strip_chars() == "").then(pl.lit("0")).otherwise(pl.col(c)).alias(c))
        dense_cols.append(to_float(filled, c, label, f"a numeric value in dense column {c!r}"))
    with np.errstate(over="ignore"):
        dense_arr = (np.stack(dense_cols, axis=1) if dense_cols else np.zeros((cols.height, 0))).astype(np.float32)
    if not np.isfinite(dense_arr).all():    # finite as float64, past float32's range (log1p would make it inf)
        row, c = np.argwhere(~np.isfinite(dense_arr))[0]
        line = cols.row(int(row), named=True)
        raise DataFormatError(f"{label} line {line['line']}: expected a numeric value within float32 range in dense "
                              f"column {dense[c]!r}, got {line[dense[c]]!r}")
    cats = {c: _categorical_keys(cols, c, label, hex_only) for c in categorical}
    return CTRFrame(categorical=cats, dense=dense_arr, dense_names=list(dense), labels=labels, name=name)


def _line_chunks(path: Path, chunk_rows: int, skip: int, max_rows: int | None = None) -> Iterator[pl.DataFrame]:
    """(line, text) frames of at most `chunk_rows` non-blank lines, streamed; `skip` header lines dropped; no line
    past the `max_rows`-th non-blank one is read."""
    left = max_rows if max_rows is not None else -1
    with open(path, "r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        first = 1
        for _ in range(skip):
            fh.readline()
            first += 1
        while left != 0:
            block = list(itertools.islice(fh, chunk_rows if left < 0 else min(chunk_rows, left)))
            if not block:
                return
            frame = (pl.DataFrame({"text": block}).with_row_index("line", offset=first)
                     .with_columns(pl.col("line").cast(pl.Int64), pl.col("text").str.strip_chars_end("\r\n"))
                     .filter(pl.col("text").str.strip_chars() != ""))
            first += len(block)
            left = left - frame.height if left > 0 else left
            if frame.height:
                yield frame


def _criteo_layout(path: Path, label: str, sep: str | None) -> tuple[str, list[str], bool]:
    with open(path, "r", encoding="utf-8-sig", errors="replace") as fh:
        head = fh.readline().rstrip("\r\n")
    if not head.strip():
        raise DataFormatError(f"{label}: file is empty, expected Criteo rows (label, I1..I13, C1..C26) (file: {path})")
    sep = sep or ("\t" if "\t" in head else ",")
    first = head.split(sep)
    has_header = first[0].strip().lower() in ("label", "click", "y")
    names = [c.strip() for c in first] if has_header else ["label", *CRITEO_DENSE, *CRITEO_CATEGORICAL]
    return sep, names, has_header


def read_criteo(path: PathLike, chunk_rows: int | None = None, sep: str | None = None,
                dense: Sequence[str] | None = None, categorical: Sequence[str] | None = None,
                name: str | None = None, max_rows: int | None = None) -> CTRFrame | Iterator[CTRFrame]:
    """Criteo-format rows -> CTRFrame (or, with `chunk_rows`, an iterator of CTRFrames streamed from disk); with
    `max_rows`, only the first `max_rows` data rows (lines past them are never read).

    Accepts the original headerless TSV (label, 13 integer, 26 hex categorical columns) and CSV/TSV samples with
    a `label,I1..I13,C1..C26` header. Missing dense -> 0.0. Categorical keys follow one per-value rule, whatever
    the chunk or file: hex strings (<= 15 digits) -> their base-16 value; other strings -> a stable xxh64 key
    (`string_keys_to_int(value, seed=0) | 2^62`; in a headerless file they are a DataFormatError); missing -> -1.
    """
    path = Path(path)
    label = name or path.name
    if path.is_dir():
        raise DataFormatError(f"{label}: {path} is a folder; expected a Criteo file")
    if not path.is_file():
        raise DatasetNotFoundError(f"{label}: Criteo file {path} does not exist")
    sep, names, has_header = _criteo_layout(path, label, sep)
    dense = list(dense) if dense is not None else [c for c in names if c in CRITEO_DENSE]
    categorical = list(categorical) if categorical is not None else [c for c in names if c in CRITEO_CATEGORICAL]
    label_col = names[0]

    if max_rows is not None and max_rows < 1:
        raise ValueError(f"read_criteo: max_rows must be >= 1, got {max_rows}")

    def frames(rows: int) -> Iterator[CTRFrame]:
        empty = True
        for lines in _line_chunks(path, rows, int(has_header), max_rows):
            empty = False
            yield _ctr_from_tokens(tokenize(lines, sep), names, label_col, dense, categorical, label, sep, label,
                                   hex_only=not has_header)
        if empty:
            raise DataFormatError(f"{label}: file has a header but no data rows (file: {path})")

    if chunk_rows is not None:
        if chunk_rows <= 0:
            raise ValueError(f"read_criteo: chunk_rows must be positive, got {chunk_rows}")
        return frames(chunk_rows)
    parts = list(frames(1 << 20))
    return parts[0] if len(parts) == 1 else concat_ctr(parts, name=label)


def criteo_log1p(dense: np.ndarray) -> np.ndarray:
    """Criteo's dense transform: log1p(max(x, 0)) as float32 (TorchRec's convention; negatives count as 0)."""
    return np.log1p(np.maximum(dense, 0)).astype(np.float32)


AVAZU_FILES = ("deepctr_avazu_sample.txt", "torchrechub_avazu_train_sample.csv",
               "torchrechub_avazu_valid_sample.csv", "torchrechub_avazu_test_sample.csv")


def read_avazu(path: PathLike, name: str | None = None) -> CTRFrame:
    """Avazu CSV with header: label column `click` or `label`, an optional row `id` (dropped), all else categorical.

    Categorical keys follow `read_criteo`'s per-value rule: hex-looking strings (decimal ones included) -> base 16,
    other strings -> stable xxh64 keys with bit 62 set, missing -> -1.
    """
    path = Path(path)
    label = name or path.name
    lines = read_lines(path, label)
    names = [c.strip() for c in lines["text"][0].split(",")]
    label_col = next((c for c in ("click", "label") if c in names), None)
    if label_col is None:
        raise DataFormatError(f"{label} line 1: expected a header with a 'click' or 'label' column, got {names[:5]}...")
    tok = tokenize(lines.slice(1), ",")
    if tok.height == 0:
        raise DataFormatError(f"{label}: file has a header but no data rows (file: {path})")
    cats = [c for c in names if c not in (label_col, "id")]
    return _ctr_from_tokens(tok, names, label_col, [], cats, label, ",", label)


def load_avazu_sample(file: str = "deepctr_avazu_sample.txt", dataset_path: PathLike | None = None,
                      name: str = "avazu-sample") -> CTRFrame:
    """One of the Avazu sample files (see AVAZU_FILES) -> CTRFrame of categorical fields and click labels."""
    folder = dataset_dir(name, dataset_path)
    return read_avazu(dataset_file(name, folder, file), f"{name}/{file}")
