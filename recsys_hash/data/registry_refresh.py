"""Rebuild the registry's sha256 / bytes from a data folder laid out like RECSYS_HASH_DATA.

    python -m recsys_hash.data.registry_refresh --data-dir DIR [--dataset NAME ...] [--add-new] [--check] [--output PATH] [--json]

Output is canonical, so the same registry and files always give the same bytes: datasets keep their registry
order (the `datasets list` order), entry fields follow the schema order (ENTRY_KEYS), `files` and every other
mapping are sorted by key, indent 1, UTF-8, trailing newline; written atomically (temp file + rename).
Files absent from DIR keep their registry values and are reported "missing"; with --add-new, files present in a
dataset folder but not registered are added (required: false, source from the folder's PROVENANCE.json if listed).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from recsys_hash.data.registry import REGISTRY_PATH
from recsys_hash.data.catalog import file_sha256

ENTRY_KEYS = ("name", "kind", "folder", "format", "loader", "source", "licence", "note", "expected", "files")
FILE_KEYS = ("sha256", "bytes", "required", "source")
IGNORED = frozenset({"PROVENANCE.json", "NOTES.md"})  # notes of the shared copy, not dataset files


def _sorted(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [_sorted(v) for v in obj]
    return obj


def _ordered(d: dict[str, Any], first: Sequence[str]) -> dict[str, Any]:
    out = {k: d[k] for k in first if k in d}
    out.update({k: d[k] for k in sorted(d) if k not in out})
    return out


def canonical(doc: dict[str, Any]) -> dict[str, Any]:
    """The registry document in canonical order (see module docstring)."""
    datasets = {}
    for name, entry in doc["datasets"].items():
        e = {k: (v if k in ("files",) else _sorted(v)) for k, v in entry.items()}
        e["files"] = {f: _ordered(_sorted(meta), FILE_KEYS) for f, meta in sorted(entry.get("files", {}).items())}
        datasets[name] = _ordered(e, ENTRY_KEYS)
    rest = {k: _sorted(v) for k, v in doc.items() if k not in ("format_version", "datasets")}
    return {"format_version": doc["format_version"], "datasets": datasets, **dict(sorted(rest.items()))}


def dumps(doc: dict[str, Any]) -> str:
    """Canonical JSON text of a registry document."""
    return json.dumps(canonical(doc), indent=1, ensure_ascii=False) + "\n"


def _provenance_sources(folder: Path) -> dict[str, str]:
    """file -> GitHub blob URL from a PROVENANCE.json list of {file, repo, commit, path}; {} otherwise."""
    try:
        prov = json.loads((folder / "PROVENANCE.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(prov, list):
        return {}
    return {p["file"]: f"https://github.com/{p['repo']}/blob/{p['commit']}/{p['path']}" for p in prov
            if isinstance(p, dict) and {"file", "repo", "commit", "path"} <= set(p)}


def refresh(doc: dict[str, Any], data_dir: Path, names: Sequence[str] | None = None,
            add_new: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """New registry document with sha256/bytes recomputed from `data_dir`/<folder>/<file>, and one change record
    per file: {dataset, file, status: unchanged|updated|added|missing, old_sha256, new_sha256, bytes}."""
    if doc.get("format_version") != 1 or not isinstance(doc.get("datasets"), dict):
        raise ValueError(f"registry: unsupported format_version {doc.get('format_version')!r} or no 'datasets' object")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data-dir {data_dir} is not a folder")
    unknown = sorted(set(names or ()) - set(doc["datasets"]))
    if unknown:
        raise KeyError(f"unknown dataset(s) {', '.join(unknown)}; registered datasets: {', '.join(doc['datasets'])}")
    out = copy.deepcopy(doc)
    changes: list[dict[str, Any]] = []
    for name, entry in out["datasets"].items():
        if names and name not in names:
            continue
        folder = data_dir / entry["folder"]
        files = entry.setdefault("files", {})
        if add_new and folder.is_dir():
            sources = _provenance_sources(folder)
            for p in sorted(folder.iterdir()):
                if p.is_file() and p.name not in files and p.name not in IGNORED and not p.name.startswith("."):
                    files[p.name] = {"sha256": "", "bytes": 0, "required": False, "source": sources.get(p.name, "")}
        for fname in sorted(files):
            meta, path = files[fname], folder / fname
            rec = {"dataset": name, "file": fname, "old_sha256": meta.get("sha256") or None}
            if not path.is_file():
                changes.append({**rec, "status": "missing", "new_sha256": None, "bytes": meta.get("bytes")})
                continue
            digest, size = file_sha256(path), path.stat().st_size
            status = ("added" if not meta.get("sha256") else
                      "unchanged" if (meta["sha256"], meta.get("bytes")) == (digest, size) else "updated")
            meta["sha256"], meta["bytes"] = digest, size
            changes.append({**rec, "status": status, "new_sha256": digest, "bytes": size})
    return out, changes


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` via a temp file in the same folder + rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recsys_hash.data.registry_refresh", description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path, help="folder laid out like RECSYS_HASH_DATA")
    ap.add_argument("--registry", type=Path, default=REGISTRY_PATH, help="registry to read (default: the package's)")
    ap.add_argument("--output", type=Path, default=None, help="where to write (default: --registry, in place)")
    ap.add_argument("--dataset", action="append", default=None, help="only this dataset (repeatable)")
    ap.add_argument("--add-new", action="store_true", help="register unlisted files found in dataset folders")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if the output would differ")
    ap.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
    args = ap.parse_args(argv)
    try:
        doc = json.loads(Path(args.registry).read_text(encoding="utf-8"))
        new, changes = refresh(doc, args.data_dir, args.dataset, args.add_new)
    except (OSError, ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"error: {msg}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": msg, "ok": False}, sort_keys=True))
        return 2
    text = dumps(new)
    target = args.output or args.registry
    current = Path(target).read_text(encoding="utf-8") if Path(target).is_file() else None
    differs = text != current
    for c in changes:
        if c["status"] != "unchanged":
            print(f"{c['status']:>9}  {c['dataset']}/{c['file']}", file=sys.stderr)
    if not args.check and differs:
        write_atomic(target, text)
    counts = {s: sum(c["status"] == s for c in changes) for s in ("unchanged", "updated", "added", "missing")}
    summary = {"registry": str(target), "written": bool(differs and not args.check), "differs": differs, **counts,
               "changes": [c for c in changes if c["status"] != "unchanged"]}
    print(f"{counts} -> {target} ({'would change' if args.check and differs else 'written' if summary['written'] else 'unchanged'})",
          file=sys.stderr)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 1 if args.check and differs else 0


if __name__ == "__main__":
    sys.exit(main())
