"""Registry of the named datasets: canonical source, expected files + sha256, format, licence, expected counts.

The data itself is never committed; `registry.json` is metadata read by `recsys-hash datasets list|info|verify`
and by `recsys_hash.data.paths.dataset_dir`. Each entry: name, kind (interactions|ctr|sequences|er|sample),
folder (relative to RECSYS_HASH_DATA), format, loader, source, licence, note, expected (counts), files
(name -> {sha256, bytes, required, source}).
`python -m recsys_hash.data.registry_refresh --data-dir DIR` rebuilds sha256/bytes from a data folder.
The file lives at the top-level `datasets/registry.json`; `recsys_hash/data/registry.json` links to it so that
it ships inside the package (this module is not called `datasets`, which would shadow Hugging Face's package).
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

REGISTRY_PATH = Path(__file__).with_name("registry.json").resolve()   # the link resolved: datasets/registry.json
KINDS = ("interactions", "ctr", "sequences", "er", "sample")


@lru_cache(maxsize=1)
def _load() -> dict[str, dict[str, Any]]:
    doc = json.loads(REGISTRY_PATH.read_text())
    if doc.get("format_version") != 1:
        raise ValueError(f"{REGISTRY_PATH}: unsupported registry format_version {doc.get('format_version')!r}")
    return doc["datasets"]


def names() -> list[str]:
    """Registered dataset names, in registry order."""
    return list(_load())


def get(name: str) -> dict[str, Any]:
    """A copy of the registry entry for `name`; KeyError naming the known datasets otherwise."""
    entries = _load()
    if name not in entries:
        raise KeyError(f"unknown dataset {name!r}; registered datasets: {', '.join(entries)}")
    return copy.deepcopy(entries[name])
