"""Suite-wide rules: `realdata` tests run only when RECSYS_HASH_DATA is set, and then never skip."""
from __future__ import annotations

import os
from pathlib import Path

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
