"""Artifact files: safetensors tensors + JSON metadata (kind, format version, sha256), written atomically.

Loading never unpickles anything. One sha256 covers the kind, the format version, the metadata and every array,
so an edited header (a strategy's seed or row count), a corrupted or a truncated file raises `ArtifactError`
naming the file instead of yielding a wrong mapping or a wrong resumed run.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from recsys_hash.errors import ArtifactError

#: 2: the sha256 covers kind, format version and metadata as well as the arrays (1 covered the arrays only).
FORMAT_VERSION = 2
_META_KEY = "recsys_hash"


def canonical_json(obj: Any) -> str:
    """One byte-exact JSON text per value (sorted keys, no spaces): what the checksum hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def content_digest(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray],
                   format_version: Any = FORMAT_VERSION) -> str:
    """sha256 over (kind, format version, canonical JSON of meta) and each array's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(canonical_json({"format_version": format_version, "kind": kind, "meta": meta}).encode())
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(b"\0" + name.encode() + b"\0" + str(arr.dtype).encode() + b"\0" + str(arr.shape).encode() + b"\0")
        h.update(arr.tobytes())
    return h.hexdigest()


def check_target(path: str | os.PathLike, what: str = "artifact") -> Path:
    """The path an artifact will be written to, or `ArtifactError` naming it: empty, a folder, no parent folder."""
    if str(path) == "":
        raise ArtifactError(f"cannot write {what} '': empty path")
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"cannot write {what} {path}: it is a folder; give a file path")
    parent = path.parent
    if not parent.exists():
        bad = next((p for p in parent.parents if p.exists() and not p.is_dir()), None)
        if bad is not None:
            raise ArtifactError(f"cannot write {what} {path}: {bad} is not a folder")
        raise ArtifactError(f"cannot write {what} {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise ArtifactError(f"cannot write {what} {path}: {parent} is not a folder")
    return path


def save_artifact(path: str | os.PathLike, kind: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write `arrays` and JSON-serialisable `meta` to `path` atomically and durably: a temp file in the same folder,
    fsync, rename over `path`, fsync of the folder. A failure (or an interrupt) midway leaves the old file intact
    and removes the temp file."""
    from safetensors.numpy import save

    path = check_target(path)
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    meta = json.loads(canonical_json(meta))          # what a load will read back (tuples -> lists, ...)
    header = {"kind": kind, "format_version": FORMAT_VERSION, "sha256": content_digest(kind, meta, arrays),
              "meta": meta}
    blob = save(arrays, metadata={_META_KEY: canonical_json(header)})
    tmp: Optional[str] = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ArtifactError(f"cannot write artifact {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    fsync_folder(path.parent)
    return path


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX); where folders cannot be opened or synced, nothing more to do."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _parse_header(path: Path, head: bytes) -> dict[str, Any]:
    """The recsys_hash header of a safetensors file from its first bytes (8-byte length + JSON)."""
    try:
        header_len = int.from_bytes(head[:8], "little")
        if len(head) < 8 + header_len:
            raise ValueError("header is cut short")
        header = json.loads(json.loads(head[8: 8 + header_len])["__metadata__"][_META_KEY])
        if not isinstance(header, dict) or not isinstance(header.get("meta"), dict):
            raise ValueError("header has no metadata object")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"artifact {path} is corrupted or not a recsys_hash artifact: {exc}") from exc
    return header


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The header (kind, format_version, sha256, meta) without reading the arrays; nothing is checked but its form."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            head += f.read(min(int.from_bytes(head, "little"), 100 << 20)) if len(head) == 8 else b""
    except OSError as exc:
        raise ArtifactError(f"artifact {path} cannot be read: {exc.strerror or exc}") from exc
    return _parse_header(path, head)


def load_artifact(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read an artifact; check version, checksum (metadata and arrays), then kind. Returns (arrays, meta)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"artifact {path} does not exist")
    data = path.read_bytes()
    try:
        arrays = load(data)
    except (SafetensorError, ValueError) as exc:
        raise ArtifactError(f"artifact {path} is corrupted or not a recsys_hash artifact: {exc}") from exc
    header = _parse_header(path, data)
    version = header.get("format_version")
    if isinstance(version, bool) or version != FORMAT_VERSION:     # 2.0 passes here; the checksum catches it
        raise ArtifactError(
            f"artifact {path} has format version {version!r}; this library reads version {FORMAT_VERSION} only"
            + (" (version 1 checksums did not cover the metadata): re-create it (fit and save again, or retrain)"
               if type(version) is int and version == 1 else "")
        )
    actual = content_digest(header.get("kind"), header["meta"], arrays, version)
    if actual != header.get("sha256"):
        raise ArtifactError(
            f"artifact {path} failed its checksum: its metadata or arrays differ from what was saved "
            f"(expected sha256 {header.get('sha256')}, got {actual})"
        )
    if kind is not None and header.get("kind") != kind:
        raise ArtifactError(f"artifact {path} holds a {header.get('kind')!r}, expected a {kind!r}")
    return arrays, dict(header["meta"], kind=header["kind"])


def encode_strings(values: np.ndarray | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (utf-8 bytes uint8 [total], offsets int64 [n+1]) so they fit in a tensor file."""
    encoded = [str(v).encode("utf-8") for v in values]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def decode_strings(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    raw = data.tobytes()
    return np.array([raw[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)], dtype=object)
