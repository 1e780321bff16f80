"""On-disk columnar cache of a Criteo-format file: parsed once, chunk by chunk, into raw column files that later loads
memory-map, so a full-size day trains with memory bounded by the vocabularies and the chunk, not by the rows.

One folder per source file, `<cache_dir>/<file name>-<sha256 of its resolved path, 12 hex>-all` (or `...-rows<N>`
for the first N rows only):

    labels.float32     [n]       click labels 0/1
    dense.float32      [n, d]    log1p(max(x, 0)) of the dense columns (missing -> 0), row-major
    <C>.int64          [n]       raw keys of categorical column C (`read_criteo`'s per-value rule; -1 = missing)
    vocab_<C>.int64    [v_C]     sorted distinct keys >= 0 of C over the n rows (a row's code = its key's rank)
    meta.json          format version, source identity (resolved path, size, mtime_ns, sha256 of its first and last
                       MiB), rows, columns, and every file's dtype, shape, bytes and sha256; written last

A load checks the format version, the source identity, every file's size and sha256 (one sequential read of the
cache); on any mismatch the folder is rebuilt and `CriteoCache.status` says why. A build writes a temp folder beside
it (fsynced) and renames it into place: an interrupted or failed build leaves the old cache or none, never a part.

The default location is `default_cache_dir()`: $RECSYS_HASH_CACHE, else $XDG_CACHE_HOME/recsys_hash, else
~/.cache/recsys_hash (never inside the package). A cache takes about 264 bytes per row (26 keys + 13 dense + label).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from recsys_hash.artifacts import fsync_folder
from recsys_hash.data.ctr import criteo_log1p, read_criteo
from recsys_hash.errors import ArtifactError, DataFormatError, DatasetNotFoundError

#: 1: raw little-endian column files + meta.json (this layout)
CACHE_VERSION = 1
ENV_CACHE = "RECSYS_HASH_CACHE"
#: bytes hashed at each end of the source file for its identity (with size and mtime_ns)
EDGE_BYTES = 1 << 20
#: rows per slice when a vocabulary is computed from the key files (a prefix of a cache)
SLICE_ROWS = 1 << 20
#: distinct values a SortedUnion keeps pending (unmerged) beyond the size of its union
PENDING_MIN = 1 << 16


def default_cache_dir() -> Path:
    """$RECSYS_HASH_CACHE, else $XDG_CACHE_HOME/recsys_hash, else ~/.cache/recsys_hash."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "recsys_hash"


class SortedUnion:
    """Sorted distinct values of int64 chunks, merged lazily: pending chunks are folded in once they outweigh the
    union, so memory stays about twice the union plus a chunk and the work O(total log total)."""

    def __init__(self) -> None:
        self._union = np.zeros(0, np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0

    def add(self, values: np.ndarray) -> None:
        part = np.unique(values)
        self._pending.append(part)
        self._pending_size += part.size
        if self._pending_size > max(self._union.size, PENDING_MIN):
            self._fold()

    def _fold(self) -> None:
        if self._pending:
            self._union = np.unique(np.concatenate([self._union, *self._pending]))
            self._pending, self._pending_size = [], 0

    def result(self) -> np.ndarray:
        self._fold()
        return self._union


@dataclass(frozen=True)
class CriteoCache:
    """An opened cache folder; arrays come back memory-mapped (read-only) or, for vocabularies, in memory.

    status: "built", "reused" or "rebuilt: <why the old folder was not used>". build_s: seconds spent building.
    """

    folder: Path
    n_rows: int
    dense_names: list[str]
    categorical: list[str]
    status: str
    build_s: float

    def _map(self, name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        if 0 in shape:                     # mmap cannot map an empty file
            return np.zeros(shape, dtype)
        return np.memmap(self.folder / name, dtype=np.dtype(dtype).newbyteorder("<"), mode="r", shape=shape)

    def labels(self) -> np.ndarray:
        """float32 [n_rows] memory-mapped."""
        return self._map("labels.float32", "float32", (self.n_rows,))

    def dense(self) -> np.ndarray:
        """float32 [n_rows, n_dense] memory-mapped, log1p already applied."""
        return self._map("dense.float32", "float32", (self.n_rows, len(self.dense_names)))

    def keys(self, column: str) -> np.ndarray:
        """int64 [n_rows] raw keys of a categorical column, memory-mapped."""
        return self._map(f"{column}.int64", "int64", (self.n_rows,))

    def vocab(self, n_rows: Optional[int] = None) -> dict[str, np.ndarray]:
        """column -> sorted distinct keys >= 0 over the first `n_rows` rows (all: the stored vocabularies; fewer:
        computed slice by slice from the key files)."""
        n = self.n_rows if n_rows is None else min(int(n_rows), self.n_rows)
        out = {}
        for c in self.categorical:
            if n == self.n_rows:
                out[c] = np.fromfile(self.folder / f"vocab_{c}.int64", dtype="<i8").astype(np.int64, copy=False)
                continue
            union, keys = SortedUnion(), self.keys(c)
            for lo in range(0, n, SLICE_ROWS):
                part = np.asarray(keys[lo:min(n, lo + SLICE_ROWS)])
                union.add(part[part >= 0])
            out[c] = union.result()
        return out


def source_identity(path: Path) -> dict[str, Any]:
    """What a cache was built from: resolved path, size, mtime_ns and sha256 of the first and last EDGE_BYTES (an
    edit within one mtime tick that keeps the size still changes it, unless it lies wholly in the middle)."""
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(EDGE_BYTES))
        if st.st_size > EDGE_BYTES:
            f.seek(max(st.st_size - EDGE_BYTES, EDGE_BYTES))
            h.update(f.read(EDGE_BYTES))
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "edges_sha256": h.hexdigest()}


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def _problem(folder: Path, identity: dict[str, Any]) -> Optional[str]:
    """Why `folder` cannot serve `identity` (None: it can): meta, version, source, sizes, then checksums."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return "meta.json is missing"
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError, OSError):
        return "meta.json is not valid JSON"
    try:
        if meta["format_version"] != CACHE_VERSION:
            return f"format version {meta['format_version']!r}, expected {CACHE_VERSION}"
        if meta["source"] != identity:
            return "the source file changed"
        files = {str(name): int(info["bytes"]) for name, info in meta["files"].items()}
        digests = {str(name): str(info["sha256"]) for name, info in meta["files"].items()}
        int(meta["n_rows"]), list(meta["dense_names"]), list(meta["categorical"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return "meta.json is malformed"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, expected {size}"
    for name, digest in digests.items():
        if _file_sha256(folder / name) != digest:
            return f"{name} failed its sha256 check"
    return None


class _ColumnFile:
    """A raw little-endian column written chunk by chunk, hashed as it goes."""

    def __init__(self, folder: Path, name: str, dtype: str, width: Optional[int] = None) -> None:
        self.name, self.dtype, self.width = name, np.dtype(dtype).newbyteorder("<"), width
        self.fh = open(folder / name, "wb")
        self.sha, self.rows = hashlib.sha256(), 0

    def write(self, values: np.ndarray) -> None:
        arr = np.ascontiguousarray(values, dtype=self.dtype)
        raw = arr.reshape(-1).view(np.uint8)
        self.fh.write(raw)
        self.sha.update(raw)
        self.rows += arr.shape[0]

    def close(self) -> dict[str, Any]:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        shape = [self.rows] if self.width is None else [self.rows, self.width]
        return {"dtype": self.dtype.str, "shape": shape, "bytes": int(np.prod(shape)) * self.dtype.itemsize,
                "sha256": self.sha.hexdigest()}


def _write_columns(source: Path, tmp: Path, identity: dict[str, Any], max_rows: Optional[int],
                   chunk_rows: int) -> None:
    """Parse `source` chunk by chunk into column files in `tmp`; meta.json last."""
    cols: dict[str, _ColumnFile] = {}
    unions: dict[str, SortedUnion] = {}
    dense_names: list[str] = []
    try:
        for chunk in read_criteo(source, chunk_rows=chunk_rows, max_rows=max_rows):
            if not cols:
                dense_names = list(chunk.dense_names)
                cols = {"labels": _ColumnFile(tmp, "labels.float32", "float32"),
                        "dense": _ColumnFile(tmp, "dense.float32", "float32", len(dense_names)),
                        **{c: _ColumnFile(tmp, f"{c}.int64", "int64") for c in chunk.categorical}}
                unions = {c: SortedUnion() for c in chunk.categorical}
            cols["labels"].write(chunk.labels)
            cols["dense"].write(criteo_log1p(chunk.dense))
            for c, keys in chunk.categorical.items():
                cols[c].write(keys)
                unions[c].add(keys[keys >= 0])
        files = {f.name: f.close() for f in cols.values()}
    finally:
        for f in cols.values():
            f.fh.close()
    for c, union in unions.items():
        vocab = _ColumnFile(tmp, f"vocab_{c}.int64", "int64")
        vocab.write(union.result())
        files[vocab.name] = vocab.close()
    meta = {"format_version": CACHE_VERSION, "source": identity, "max_rows": max_rows,
            "n_rows": cols["labels"].rows, "dense_names": dense_names, "categorical": list(unions), "files": files}
    with open(tmp / "meta.json", "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_folder(tmp)


def _build(source: Path, root: Path, folder: Path, identity: dict[str, Any], max_rows: Optional[int],
           chunk_rows: int) -> None:
    """Build into a temp folder in `root`, then swap it in for `folder` (the old one, if any, is removed after)."""
    tmp: Optional[Path] = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
        _write_columns(source, tmp, identity, max_rows, chunk_rows)
        if folder.is_dir() and _problem(folder, identity) is None:
            return                       # another process built the same cache meanwhile (e.g. another rank): keep it
        old = None
        if folder.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=root))
            os.replace(folder, old)
        elif folder.exists() or folder.is_symlink():
            folder.unlink()
        os.replace(tmp, folder)
        tmp = None
        fsync_folder(root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise ArtifactError(f"cannot write the Criteo cache in {root}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _open(folder: Path, status: str, build_s: float) -> CriteoCache:
    meta = json.loads((folder / "meta.json").read_text())
    return CriteoCache(folder=folder, n_rows=int(meta["n_rows"]), dense_names=list(meta["dense_names"]),
                       categorical=list(meta["categorical"]), status=status, build_s=build_s)


def open_criteo_cache(path: str | os.PathLike, cache_dir: str | os.PathLike, max_rows: Optional[int] = None,
                      chunk_rows: int = 1 << 16) -> CriteoCache:
    """The cache of a Criteo-format file under `cache_dir`, built (streaming `chunk_rows` rows at a time) unless a
    valid one is there. With `max_rows`, a valid cache of the whole file serves as is (use its first rows); else a
    cache of the first `max_rows` rows is built. Raises what `read_criteo` raises for bad rows (file and line
    named), and ArtifactError when the cache cannot be written."""
    source = Path(path)
    if source.is_dir():
        raise DataFormatError(f"{source.name}: {source} is a folder; expected a Criteo file")
    if not source.is_file():
        raise DatasetNotFoundError(f"{source.name}: Criteo file {source} does not exist")
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"criteo: max_rows must be >= 1, got {max_rows}")
    root = Path(cache_dir)
    if root.exists() and not root.is_dir():
        raise ArtifactError(f"cannot write the Criteo cache in {root}: it is not a folder")
    identity = source_identity(source)
    base = f"{source.name}-{hashlib.sha256(identity['path'].encode()).hexdigest()[:12]}"
    full = root / f"{base}-all"
    if max_rows is not None and full.is_dir() and _problem(full, identity) is None:
        return _open(full, "reused", 0.0)
    folder = full if max_rows is None else root / f"{base}-rows{max_rows}"
    problem = _problem(folder, identity) if folder.exists() else None
    if folder.exists() and problem is None:
        return _open(folder, "reused", 0.0)
    t0 = time.perf_counter()
    try:
        _build(source, root, folder, identity, max_rows, chunk_rows)
    except ArtifactError as exc:
        if problem is not None:
            raise ArtifactError(f"Criteo cache {folder}: {problem}; rebuilding it failed: {exc}") from exc
        raise
    return _open(folder, "built" if problem is None else f"rebuilt: {problem}", time.perf_counter() - t0)
