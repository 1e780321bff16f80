"""Sequence-CTR sample files (shared `recsys/seqctr-samples`): PaddleRec DIN / DMR / MIND and torch-rechub logs.

Every loader keeps user histories as jagged int64 arrays (`SequenceCTRFrame.history`), the input of the long-sequence
models (DIN, SDIM, DARE); malformed lines raise DataFormatError naming file and line.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl

from recsys_hash.data._text import _delimiter_hint, check_field_count, read_lines, to_int, tokenize
from recsys_hash.data.ctr import _labels
from recsys_hash.data.history import history_samples
from recsys_hash.data.paths import dataset_dir, dataset_file
from recsys_hash.data.types import CTRFrame, SequenceCTRFrame, Sequences
from recsys_hash.errors import DataFormatError

PathLike = str | os.PathLike
Jagged = tuple[np.ndarray, np.ndarray]

SEQCTR_FILES = (
    "paddlerec_din_amazon_electronics_sample.txt", "paddlerec_dmr_alimama_sampled_train.txt",
    "paddlerec_mind_amazonbook_train_demo.txt", "paddlerec_mind_amazonbook_valid_part-0.txt",
    "torchrechub_amazon_beauty_sample.csv", "torchrechub_amazon_books_sample.csv",
    "torchrechub_amazon_electronics_sample.csv",
)
DIN_FIELDS = ("hist_item", "hist_cate", "target_item", "target_cate", "label")
DMR_HISTORY = ("btag_his", "cate_his", "brand_his")
DMR_USER = ("uid", "cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level", "shopping_level",
            "occupation", "new_user_class_level")
DMR_ITEM = ("mid", "cate_id", "campaign_id", "customer", "brand")
DMR_HIST_LEN = 50
DMR_COLUMNS = tuple(f"{h}[{k}]" for h in (*DMR_HISTORY, "mask", "match_mask") for k in range(DMR_HIST_LEN)) + (
    *DMR_USER, *DMR_ITEM, "price", "pid", "label")  # 267 comma-separated columns


def _empty_dense(n: int) -> np.ndarray:
    return np.zeros((n, 0), np.float32)


def int_lists(frame: pl.DataFrame, col: str, label: str, what: str) -> Jagged:
    """Whitespace-separated id lists in str column `col` of `frame` (with `line`, `text`) -> (offsets [n+1], values).

    An empty field is an empty list; the first token that is not a non-negative integer raises DataFormatError.
    """
    lists = frame.select("line", "text", pl.col(col).str.extract_all(r"\S+").alias("tok"))
    lengths = lists["tok"].list.len().to_numpy().astype(np.int64)
    flat = lists.filter(pl.col("tok").list.len() > 0).explode("tok")
    values = to_int(flat, "tok", label, what, sep=" ") if flat.height else np.zeros(0, np.int64)
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), values


def read_din(path: PathLike, name: str | None = None) -> SequenceCTRFrame:
    """PaddleRec DIN rows `hist_items;hist_cates;target_item;target_cate;label` (lists space-separated).

    categorical: target_item, target_cate [n]; history: hist_item, hist_cate (shared offsets); labels {0, 1}.
    """
    path = Path(path)
    label = name or path.name
    tok = tokenize(read_lines(path, label), ";")
    check_field_count(tok, len(DIN_FIELDS), label, ";")
    cols = tok.with_columns(pl.col("tok").list.to_struct(fields=list(DIN_FIELDS))).unnest("tok")
    items = int_lists(cols, "hist_item", label, "a non-negative integer item id in the history list")
    cates = int_lists(cols, "hist_cate", label, "a non-negative integer category id in the history list")
    ragged = np.flatnonzero(np.diff(items[0]) != np.diff(cates[0]))
    if ragged.size:
        r = int(ragged[0])
        raise DataFormatError(
            f"{label} line {cols['line'][r]}: ragged history, {int(np.diff(items[0])[r])} items but "
            f"{int(np.diff(cates[0])[r])} categories; expected one category per history item")
    cats = {c: to_int(cols, c, label, f"a non-negative integer {c.replace('_', ' ')} id", sep=";")
            for c in ("target_item", "target_cate")}
    labels = _labels(cols, "label", label)
    frame = CTRFrame(categorical=cats, dense=_empty_dense(len(labels)), dense_names=[], labels=labels, name=label)
    return SequenceCTRFrame(frame=frame, history={"hist_item": items, "hist_cate": (items[0].copy(), cates[1])},
                            name=label)


def _bad_cell(label: str, lines: np.ndarray, tokens: np.ndarray, bad: np.ndarray, what: str) -> None:
    """Raise for the first True cell of `bad` [n, n_cols] (row-major), naming line, column number and column name."""
    if not bad.any():
        return
    r, c = np.unravel_index(int(np.argmax(bad)), bad.shape)
    tok = str(tokens[r, c])
    raise DataFormatError(f"{label} line {lines[r]}: expected {what} in column {c + 1} ({DMR_COLUMNS[c]}), "
                          f"got {tok!r}{_delimiter_hint(tok, ',')}")


def read_dmr(path: PathLike, name: str | None = None) -> SequenceCTRFrame:
    """PaddleRec DMR (Alimama) rows: 267 comma-separated columns, see DMR_COLUMNS.

    Histories btag_his, cate_his, brand_his, match_mask (shared offsets [n+1]) keep the positions where mask == 1
    (left padding dropped), oldest first. categorical: DMR_USER + DMR_ITEM + pid [n]; dense: price [n, 1].
    """
    path = Path(path)
    label = name or path.name
    tok = tokenize(read_lines(path, label), ",")
    check_field_count(tok, len(DMR_COLUMNS), label, ",")
    n, width = tok.height, len(DMR_COLUMNS)
    flat = tok.select(pl.col("tok").explode().str.strip_chars())["tok"]
    tokens = flat.to_numpy().reshape(n, width)
    ints = flat.cast(pl.Int64, strict=False)
    bad_int = ints.is_null().to_numpy().reshape(n, width)
    mat = ints.fill_null(-1).to_numpy().reshape(n, width)
    lines = tok["line"].to_numpy()
    price_col = DMR_COLUMNS.index("price")
    is_int = np.ones(width, bool)
    is_int[price_col] = False
    _bad_cell(label, lines, tokens, (bad_int | (mat < 0)) & is_int, "a non-negative integer")
    price = flat.cast(pl.Float64, strict=False).to_numpy().reshape(n, width)[:, price_col]
    bad_price = np.zeros((n, width), bool)
    bad_price[:, price_col] = ~np.isfinite(price)
    _bad_cell(label, lines, tokens, bad_price, "a finite number")
    h = DMR_HIST_LEN
    masks = mat[:, 3 * h : 5 * h]
    bad_mask = np.zeros((n, width), bool)
    bad_mask[:, 3 * h : 5 * h] = (masks != 0) & (masks != 1)
    _bad_cell(label, lines, tokens, bad_mask, "a history mask value 0 or 1")
    bad_label = np.zeros((n, width), bool)
    bad_label[:, -1] = mat[:, -1] > 1
    _bad_cell(label, lines, tokens, bad_label, "a label in {0, 1}")
    valid = mat[:, 3 * h : 4 * h] == 1
    offsets = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).astype(np.int64)
    history = {k: (offsets, mat[:, i * h : (i + 1) * h][valid]) for i, k in enumerate(DMR_HISTORY)}
    history["match_mask"] = (offsets, mat[:, 4 * h : 5 * h][valid])
    cats = {c: mat[:, DMR_COLUMNS.index(c)] for c in (*DMR_USER, *DMR_ITEM, "pid")}
    frame = CTRFrame(categorical=cats, dense=price.astype(np.float32)[:, None], dense_names=["price"],
                     labels=mat[:, -1].astype(np.float32), name=label)
    return SequenceCTRFrame(frame=frame, history=history, name=label)


def read_mind_train(path: PathLike, name: str | None = None) -> Sequences:
    """PaddleRec MIND train log `user,item,step` -> Sequences (users ascending, items ordered by step, timestamps=step).

    Ids are kept as in the file (0-based); n_items = max item id + 1.
    """
    path = Path(path)
    label = name or path.name
    tok = tokenize(read_lines(path, label), ",")
    check_field_count(tok, 3, label, ",")
    cols = tok.with_columns(pl.col("tok").list.to_struct(fields=["user", "item", "step"])).unnest("tok")
    user, item, step = (to_int(cols, c, label, f"a non-negative integer {c}", sep=",") for c in ("user", "item", "step"))
    order = np.lexsort((step, user))
    users, counts = np.unique(user, return_counts=True)
    return Sequences(users=users, offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                     items=item[order], n_items=int(item.max()) + 1, timestamps=step[order], name=label)


_MIND_KEYS = ("user_id", "target_item", "hist_item", "eval_item")


def read_mind_valid(path: PathLike, name: str | None = None) -> SequenceCTRFrame:
    """PaddleRec MIND evaluation rows `user_id:U target_item:T hist_item:I ... eval_item:J ...` -> SequenceCTRFrame.

    categorical: user_id, target_item (0 = placeholder in the files) [n]; history: hist_item (the user's past) and
    eval_item (held-out items to retrieve), each (offsets [n+1], values). Retrieval rows: labels are all 1.
    """
    path = Path(path)
    label = name or path.name
    lines = read_lines(path, label)
    tok = tokenize(lines, None).with_row_index("row").explode("tok")
    parts = tok.with_columns(pl.col("tok").str.count_matches(":").alias("n_colons"),
                             pl.col("tok").str.split_exact(":", 1).struct.rename_fields(["key", "val"]).alias("kv")
                             ).unnest("kv")
    unknown = parts.filter(~pl.col("key").is_in(list(_MIND_KEYS)) | (pl.col("n_colons") != 1))
    if unknown.height:
        row = unknown.row(0, named=True)
        raise DataFormatError(f"{label} line {row['line']}: expected 'key:id' with key in {', '.join(_MIND_KEYS)}, "
                              f"got {row['tok']!r}{_delimiter_hint(row['text'], None)}")
    vals = to_int(parts, "val", label, "a non-negative integer id after 'key:'")
    keys, rows = parts["key"].to_numpy(), parts["row"].to_numpy().astype(np.int64)
    n = lines.height
    out: dict[str, Jagged] = {}
    for key in _MIND_KEYS:
        sel = keys == key
        counts = np.bincount(rows[sel], minlength=n)
        out[key] = (np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), vals[sel])
        if key in ("user_id", "target_item") and (counts != 1).any():
            r = int(np.flatnonzero(counts != 1)[0])
            raise DataFormatError(f"{label} line {lines['line'][r]}: expected exactly one {key}:<id> token, "
                                  f"got {int(counts[r])}")
    cats = {k: out[k][1] for k in ("user_id", "target_item")}
    frame = CTRFrame(categorical=cats, dense=_empty_dense(n), dense_names=[], labels=np.ones(n, np.float32), name=label)
    return SequenceCTRFrame(frame=frame, history={k: out[k] for k in ("hist_item", "eval_item")}, name=label)


def read_event_log(path: PathLike, name: str | None = None, label_values: Sequence[int] = (1, 2)) -> dict[str, np.ndarray]:
    """torch-rechub log CSV with header `user_id,item_id,time[,cate_id][,label]` -> column name -> int64 [n_events].

    A `label` column must hold `label_values` (negative, positive): the samples store LabelEncoder codes + 1, so
    1 = rating below the user's mean, 2 = at or above; it is returned as float32 {0, 1}.
    """
    path = Path(path)
    label = name or path.name
    lines = read_lines(path, label)
    header = [c.strip() for c in lines["text"][0].split(",")]
    missing = [c for c in ("user_id", "item_id", "time") if c not in header]
    if missing or len(set(header)) != len(header):
        raise DataFormatError(f"{label} line 1: expected a comma-separated header with distinct columns user_id, "
                              f"item_id, time (optional cate_id, label), got {lines['text'][0][:80]!r}"
                              f"{_delimiter_hint(lines['text'][0], ',')}")
    body = lines.slice(1)
    if body.height == 0:
        raise DataFormatError(f"{label}: file has a header but no data rows (file: {path})")
    tok = tokenize(body, ",")
    check_field_count(tok, len(header), label, ",")
    cols = tok.with_columns(pl.col("tok").list.to_struct(fields=header)).unnest("tok")
    out = {c: to_int(cols, c, label, f"a non-negative integer {c}", sep=",") for c in header if c != "label"}
    if "label" in header:
        out["label"] = _coded_labels(cols, label, tuple(label_values))
    return out


def _coded_labels(cols: pl.DataFrame, label: str, values: tuple[int, ...]) -> np.ndarray:
    """Label codes (negative, positive) -> float32 {0, 1}; any other code raises naming the line."""
    if len(values) != 2 or values[0] == values[1]:
        raise ValueError(f"read_event_log: label_values must be two distinct codes (negative, positive), got {values}")
    raw = to_int(cols, "label", label, f"a label code in {set(values)}", non_negative=False)
    bad = np.flatnonzero(~np.isin(raw, values))
    if bad.size:
        row = cols.row(int(bad[0]), named=True)
        raise DataFormatError(f"{label} line {row['line']}: expected a label code in {{{values[0]}, {values[1]}}} "
                              f"(negative, positive), got {row['label']!r}")
    return (raw == values[1]).astype(np.float32)


def rechub_samples(events: dict[str, np.ndarray], max_len: int | None = 50, neg_per_pos: int | None = None,
                   seed: int = 0, name: str = "") -> SequenceCTRFrame:
    """A `read_event_log` result -> `history_samples` rows (attributes: every column but user/item/time/label).

    neg_per_pos defaults to 0 when the log has labels and to 1 otherwise (torch-rechub's DIN example).
    """
    attrs = {k: v for k, v in events.items() if k not in ("user_id", "item_id", "time", "label")}
    labels = events.get("label")
    k = (0 if labels is not None else 1) if neg_per_pos is None else neg_per_pos
    return history_samples(events["user_id"], events["item_id"], events["time"], attrs, labels, max_len=max_len,
                           neg_per_pos=k, seed=seed, name=name)


def load_seqctr_sample(file: str, dataset_path: PathLike | None = None, name: str = "seqctr-samples",
                       max_len: int | None = 50, neg_per_pos: int | None = None,
                       seed: int = 0) -> SequenceCTRFrame | Sequences:
    """One file of SEQCTR_FILES, parsed by its format (read_din / read_dmr / read_mind_* / event log + history).

    `max_len`, `neg_per_pos`, `seed` apply to the torch-rechub logs only (see `rechub_samples`).
    """
    if file not in SEQCTR_FILES:
        raise DataFormatError(f"{name}: unknown sample file {file!r}; expected one of {', '.join(SEQCTR_FILES)}")
    path = dataset_file(name, dataset_dir(name, dataset_path), file)
    label = f"{name}/{file}"
    if file.startswith("paddlerec_din"):
        return read_din(path, label)
    if file.startswith("paddlerec_dmr"):
        return read_dmr(path, label)
    if file.startswith("paddlerec_mind"):
        return read_mind_train(path, label) if "train" in file else read_mind_valid(path, label)
    return rechub_samples(read_event_log(path, label), max_len=max_len, neg_per_pos=neg_per_pos, seed=seed, name=label)


def seqctr_rows(file: str, dataset_path: PathLike | None = None, name: str = "seqctr-samples") -> int:
    """Data rows of one sample file as parsed: samples (DIN/DMR/MIND valid) or events (MIND train, torch-rechub logs)."""
    if file.startswith("torchrechub"):
        path = dataset_file(name, dataset_dir(name, dataset_path), file)
        return int(read_event_log(path, f"{name}/{file}")["user_id"].shape[0])
    loaded = load_seqctr_sample(file, dataset_path, name)
    return int(loaded.offsets[-1]) if isinstance(loaded, Sequences) else len(loaded)
