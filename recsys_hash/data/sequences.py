"""Behaviour-sequence loaders: S3Rec-style `user item item ...` files (Amazon Beauty) + item2attributes JSON."""
from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np

from recsys_hash.data.interactions import check_compact_ids, id_list_columns, read_id_lists
from recsys_hash.data.jagged import gather_jagged
from recsys_hash.data.paths import dataset_dir, dataset_file
from recsys_hash.data.types import Sequences
from recsys_hash.errors import DataFormatError

PathLike = str | os.PathLike


def read_item_attributes(path: PathLike, label: str, n_items: int, one_based: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """JSON `{"item": [attr, ...], ...}` -> (offsets int64 [n_items+1], values int64); items absent get no values.

    Keys must be integer item ids and values lists of non-negative int64 attribute ids (no floats, bools, nulls,
    nested lists); anything else is a DataFormatError naming the file and the first offending item."""
    raw = Path(path).read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        doc = json.loads(raw[3:] if bom else raw)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{label} line {exc.lineno}: expected a JSON object item -> [attribute ids], {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{label}: expected UTF-8 JSON, got byte {exc.object[exc.start:exc.start + 1]!r} at "
                              f"byte offset {exc.start + 3 * bom}") from None
    if not isinstance(doc, dict):
        raise DataFormatError(f"{label}: expected a JSON object item -> [attribute ids], got {type(doc).__name__}")
    keys = np.array(list(doc.keys()), dtype=object)
    try:
        items = np.fromiter(map(int, keys), dtype=np.int64, count=keys.size)
    except (ValueError, OverflowError):
        bad = next(k for k in keys if not k.strip().lstrip("-").isdigit() or abs(int(k)) >= 2**63)
        raise DataFormatError(f"{label}: expected integer item id keys, got {bad!r}") from None
    lists = list(doc.values())
    if not set(map(type, lists)) <= {list}:
        bad = next(k for k, v in doc.items() if not isinstance(v, list))
        raise DataFormatError(f"{label}: item {bad!r}: expected a list of attribute ids, got {_short(doc[bad])}")
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    flat = list(itertools.chain.from_iterable(lists))
    try:
        if not set(map(type, flat)) <= {int}:               # bools, floats, None, lists: not attribute ids
            raise TypeError
        values = np.array(flat, dtype=np.int64)
        if values.size and values.min() < 0:
            raise TypeError
    except (TypeError, OverflowError):
        pos = next(i for i, v in enumerate(flat) if type(v) is not int or not 0 <= v < 2**63)
        item = keys[int(np.searchsorted(np.cumsum(lengths), pos, side="right"))]
        raise DataFormatError(f"{label}: item {item!r}: expected non-negative integer attribute ids, got "
                              f"{_short(flat[pos])}") from None
    items = items - 1 if one_based else items
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise DataFormatError(f"{label}: item id {int(items.max() + one_based)} outside the sequences' {n_items} items")
    order = np.argsort(items, kind="stable")
    counts = np.zeros(n_items, np.int64)
    counts[items] = lengths
    # Each item's segment, in item order.
    _, ordered = gather_jagged(np.concatenate([[0], np.cumsum(lengths)]), values, order)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return offsets, ordered


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_sequences(path: PathLike, label: str, name: str, one_based: bool = True) -> Sequences:
    """`user item item ...` lines in time order -> Sequences (ids shifted to 0-based when `one_based`)."""
    users, counts, items, lines = read_id_lists(path, label)
    users_col, items_col = id_list_columns(label, users, counts, items, lines)
    check_compact_ids("user", [users_col])
    check_compact_ids("item", [items_col])
    if one_based and ((users == 0).any() or (items == 0).any()):
        raise DataFormatError(f"{label}: expected 1-based user and item ids, found id 0")
    shift = 1 if one_based else 0
    if np.unique(users).size != users.size:
        dup = np.flatnonzero(np.bincount(users) > 1)[0]
        raise DataFormatError(f"{label}: user {int(dup)} has more than one line; expected one sequence per user")
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n_items = int(items.max()) + 1 - shift if items.size else 0
    return Sequences(users=users - shift, offsets=offsets, items=items - shift, n_items=n_items, name=name)


def load_beauty(dataset_path: PathLike | None = None, name: str = "amazon-beauty") -> Sequences:
    """Amazon Beauty (S3Rec): 22,363 user sequences over 12,101 items (198,502 events), 0-based ids.

    item_attributes["attribute"] = (offsets [n_items+1], attribute codes as in the JSON; categories and brand share
    one code space). The files carry no attribute strings, so attribute_vocab is empty. No timestamps (order only).
    """
    folder = dataset_dir(name, dataset_path)
    seqs = read_sequences(dataset_file(name, folder, "Beauty.txt"), f"{name}/Beauty.txt", name)
    attrs = read_item_attributes(dataset_file(name, folder, "Beauty_item2attributes.json"),
                                 f"{name}/Beauty_item2attributes.json", seqs.n_items)
    return Sequences(users=seqs.users, offsets=seqs.offsets, items=seqs.items, n_items=seqs.n_items,
                     item_attributes={"attribute": attrs}, name=name)
