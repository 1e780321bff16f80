"""Where datasets live: RECSYS_HASH_DATA (a folder laid out like ../shared/datasets) or a user's own folder."""
from __future__ import annotations

import os
from pathlib import Path

from recsys_hash.errors import DatasetNotFoundError

ENV_VAR = "RECSYS_HASH_DATA"
_HOW = (
    f"set {ENV_VAR} to a folder laid out like the project's shared datasets "
    f"(e.g. `export {ENV_VAR}=/path/to/datasets`, holding recsys/<name>/ and er/<name>/), "
    "or pass --dataset-path DIR / dataset_path= pointing at the dataset's own folder"
)


def data_root() -> Path:
    """The folder named by RECSYS_HASH_DATA; DatasetNotFoundError explaining how to set it otherwise."""
    value = os.environ.get(ENV_VAR)
    if not value:
        raise DatasetNotFoundError(f"{ENV_VAR} is not set: {_HOW}")
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"{ENV_VAR}={value} is not a folder: {_HOW}")
    return root


def registry_entry(name: str) -> dict:
    """The registry entry of `name`; DatasetNotFoundError listing the registered names otherwise."""
    from recsys_hash.data import registry

    try:
        return registry.get(name)
    except KeyError as exc:
        raise DatasetNotFoundError(exc.args[0]) from None


def dataset_dir(name: str, dataset_path: str | os.PathLike | None = None) -> Path:
    """Folder of dataset `name`: `dataset_path` when given, else $RECSYS_HASH_DATA/<registry folder>."""
    if dataset_path is not None:
        path = Path(dataset_path).expanduser()
        if not path.is_dir():
            raise DatasetNotFoundError(f"dataset {name!r}: folder {path} (from dataset_path / --dataset-path) does not exist")
        return path
    folder = registry_entry(name)["folder"]
    value = os.environ.get(ENV_VAR)
    if not value:
        raise DatasetNotFoundError(f"dataset {name!r} expected at $RECSYS_HASH_DATA/{folder}, but {ENV_VAR} is not set: {_HOW}")
    path = Path(value).expanduser() / folder
    if not path.is_dir():
        raise DatasetNotFoundError(f"dataset {name!r}: expected folder {path} does not exist ({ENV_VAR}={value}); {_HOW}")
    return path


def dataset_file(name: str, folder: Path, filename: str) -> Path:
    """`folder/filename`, or DatasetNotFoundError naming the dataset, the expected path and RECSYS_HASH_DATA."""
    path = folder / filename
    if not path.is_file():
        raise DatasetNotFoundError(f"dataset {name!r}: expected file {path} is missing; {_HOW}")
    return path
