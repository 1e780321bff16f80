"""Suite-wide rules: `realdata` tests run only when RECSYS_HASH_DATA is set, and then never skip."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RECSYS_HASH_DATA"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("realdata") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The RECSYS_HASH_DATA folder; realdata tests fail (not skip) when a file under it is missing."""
    root = os.environ.get("RECSYS_HASH_DATA")
    if not root:  # only reachable if a realdata test is selected explicitly
        pytest.fail("RECSYS_HASH_DATA is not set; realdata tests need it")
    path = Path(root)
    if not path.is_dir():
        pytest.fail(f"RECSYS_HASH_DATA={root} is not a folder")
    return path


def _write_criteo(path, n=3000, seed=0, bad_line=None):
    """A seeded headerless Criteo TSV: Zipf-popular hex keys (repeats across splits), blanks, negative dense."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    dense = (rng.geometric(0.1, (n, 13)) - 3).astype(str)
    dense[rng.random((n, 13)) < 0.2] = ""
    keys = np.char.mod("%x", np.minimum(rng.zipf(1.3, (n, 26)), 400 * np.arange(1, 27)) * 2654435761 % (1 << 32))
    keys[rng.random((n, 26)) < 0.1] = ""
    lines = ["\t".join([str(y), *d, *k]) for y, d, k in zip(labels, dense, keys)]
    if bad_line is not None:
        lines[bad_line - 1] = lines[bad_line - 1].rsplit("\t", 1)[0]    # one field short
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def write_criteo():
    """write(path, n=3000, seed=0, bad_line=None) -> path: a seeded Criteo-format TSV of n rows."""
    return _write_criteo
