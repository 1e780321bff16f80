"""Artifact files: safetensors tensors + JSON metadata (kind, format version, sha256), written atomically.

Loading never unpickles anything. Every array is checked against the sha256 recorded at save time, so a
corrupted or truncated file raises `ArtifactError` naming the file instead of yielding a wrong mapping.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from recsys_hash.errors import ArtifactError

FORMAT_VERSION = 1
_META_KEY = "recsys_hash"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def save_artifact(path: str | os.PathLike, kind: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write `arrays` and JSON-serialisable `meta` to `path` atomically (temp file + rename)."""
    from safetensors.numpy import save

    path = Path(path)
    if not path.parent.exists():
        raise ArtifactError(f"cannot write artifact {path}: folder {path.parent} does not exist")
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    header = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "sha256": _digest(arrays),
        "meta": meta,
    }
    blob = save(arrays, metadata={_META_KEY: json.dumps(header, sort_keys=True)})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_artifact(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read an artifact; check kind, version and checksum. Returns (arrays, meta)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"artifact {path} does not exist")
    data = path.read_bytes()
    try:
        arrays = load(data)
        header_len = int.from_bytes(data[:8], "little")
        st_header = json.loads(data[8 : 8 + header_len])
        header = json.loads(st_header["__metadata__"][_META_KEY])
    except (SafetensorError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"artifact {path} is corrupted or not a recsys_hash artifact: {exc}") from exc
    if header.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"artifact {path} has format version {header.get('format_version')}, this library reads {FORMAT_VERSION}"
        )
    if kind is not None and header.get("kind") != kind:
        raise ArtifactError(f"artifact {path} holds a {header.get('kind')!r}, expected a {kind!r}")
    actual = _digest(arrays)
    if actual != header.get("sha256"):
        raise ArtifactError(f"artifact {path} failed its checksum: expected {header.get('sha256')}, got {actual}")
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
