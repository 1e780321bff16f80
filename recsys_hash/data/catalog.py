"""Registry-driven operations: counts of a named dataset (`datasets info`) and sha256 checks (`datasets verify`)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from recsys_hash.data.paths import dataset_dir, registry_entry
from recsys_hash.errors import ChecksumError, DatasetNotFoundError

PathLike = str | os.PathLike


def file_sha256(path: PathLike, block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_dataset(name: str, dataset_path: PathLike | None = None) -> list[dict[str, Any]]:
    """sha256 of every registered file of `name`: [{file, required, expected, actual, status}] with status
    "ok" | "mismatch" | "missing". Never raises on a mismatch; see `check_dataset`."""
    entry = registry_entry(name)
    folder = dataset_dir(name, dataset_path)
    out = []
    for fname, meta in entry["files"].items():
        path = folder / fname
        actual = file_sha256(path) if path.is_file() else None
        status = "missing" if actual is None else ("ok" if actual == meta["sha256"] else "mismatch")
        out.append({"file": fname, "path": str(path), "required": meta["required"], "expected": meta["sha256"],
                    "actual": actual, "status": status})
    return out


def check_dataset(name: str, dataset_path: PathLike | None = None) -> list[dict[str, Any]]:
    """Like `verify_dataset`, but a mismatch raises ChecksumError (file, expected, actual) and a missing required
    file raises DatasetNotFoundError; missing optional files are allowed."""
    checks = verify_dataset(name, dataset_path)
    for c in checks:
        if c["status"] == "mismatch":
            raise ChecksumError(f"{name}/{c['file']}: sha256 mismatch, expected {c['expected']}, actual {c['actual']} "
                                f"(file: {c['path']})")
        if c["status"] == "missing" and c["required"]:
            raise DatasetNotFoundError(f"dataset {name!r}: expected file {c['path']} is missing; set RECSYS_HASH_DATA "
                                       "or pass --dataset-path DIR")
    return checks


def _er_stats(name: str, dataset_path: PathLike | None) -> dict[str, Any]:
    from recsys_hash.data.er import load_er

    er = load_er(name, dataset_path)
    labelled = sum(s.height for s in (er.train, er.valid, er.test))
    positives = int(sum(s["label"].sum() for s in (er.train, er.valid, er.test))) if labelled else len(er.gold)
    out = {"name": name, "n_a": er.table_a.height, "n_b": er.table_b.height, "n_labelled": labelled,
           "n_positives": positives, "n_gold": len(er.gold)}
    if (dataset_dir(name, dataset_path) / "matches_full_gold.csv").is_file():
        out["n_full_gold"] = len(load_er(name, dataset_path, gold="full").gold)
    return out


def dataset_stats(name: str, dataset_path: PathLike | None = None) -> dict[str, Any]:
    """Counts of a named dataset, loaded with its loader. Interaction sets: {name, n_users, n_items, n_train, n_test}
    (ml-100k adds n_ratings from u.data); ctr: rows per split and fields; sequences: users, items, events;
    er: table sizes, labelled pairs, positives; sample: rows per file."""
    entry = registry_entry(name)
    kind = entry["kind"]
    if kind == "interactions":
        from recsys_hash.data.interactions import load_interactions, load_ml100k

        ds = load_interactions(name, dataset_path)
        out = {"name": name, "n_users": ds.n_users, "n_items": ds.n_items, "n_train": len(ds.train), "n_test": len(ds.test)}
        if entry["format"] == "movielens-100k":
            out["n_ratings"] = len(load_ml100k(dataset_path, fold=None, name=name).train)
        return out
    if kind == "ctr":
        from recsys_hash.data.ctr import load_frappe

        frames = load_frappe(dataset_path, name=name)
        first = next(iter(frames.values()))
        out = {"name": name, "n_fields": len(first.categorical) + len(first.dense_names),
               "positive_rate": float(np.mean(np.concatenate([f.labels for f in frames.values()])))}
        out.update({f"n_{split}": len(f) for split, f in frames.items()})
        return out
    if kind == "sequences":
        from recsys_hash.data.sequences import load_beauty

        s = load_beauty(dataset_path, name=name)
        return {"name": name, "n_users": len(s), "n_items": s.n_items, "n_events": int(s.offsets[-1])}
    if kind == "er":
        return _er_stats(name, dataset_path)
    folder = dataset_dir(name, dataset_path)
    if entry["loader"] in ("read_criteo", "load_avazu_sample"):
        from recsys_hash.data.ctr import read_avazu, read_criteo
        from recsys_hash.data.ffm import XLEARN_CRITEO_BAGS, read_libffm

        def reader(path: Path, name: str) -> Any:
            if path.suffix == ".ffm":
                return read_libffm(path, name=name, multi_valued=XLEARN_CRITEO_BAGS)
            return (read_criteo if entry["loader"] == "read_criteo" else read_avazu)(path, name=name)

        rows = {f: len(reader(folder / f, name=f"{name}/{f}")) for f in sorted(entry["expected"].get("rows", {}))
                if (folder / f).is_file()}
        return {"name": name, "rows": rows}
    if entry["loader"] == "load_seqctr_sample":
        from recsys_hash.data.seqctr import seqctr_rows

        rows = {f: seqctr_rows(f, folder, name) for f in sorted(entry["expected"].get("rows", {}))
                if (folder / f).is_file()}
        return {"name": name, "rows": rows}
    return {"name": name, "files": {f: (folder / f).stat().st_size for f in entry["files"] if (folder / f).is_file()}}
