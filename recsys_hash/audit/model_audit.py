"""Audit an existing model's embedding tables: rows, dim, dtype, bytes, the strategy in front, its collisions.

Accepts a checkpoint (a `.safetensors` file — a recsys_hash training checkpoint is checksum-checked and its model
weights read —, a `.pt`/`.pth` state dict loaded with `weights_only=True`, or a folder holding one plus `<table>.remapper.safetensors` artifacts) or a module factory `package.module:function` that
returns an `nn.Module` (its EmbeddingBagCollection / EmbeddingCollection tables and any remapper MC modules are read).
A table with a fitted remapper carries `collisions`: the remapper's `stats()` over the IDs it was fitted on.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from recsys_hash.audit.memory import table_bytes
from recsys_hash.errors import ArtifactError
from recsys_hash.ids.base import IdRemapper

# TorchRec names: "<prefix>embedding_bags.<table>.weight" (EBC) and "<prefix>embeddings.<table>.weight" (EC).
_TABLE_KEY = re.compile(r"(?:^|\.)(?:embedding_bags|embeddings)\.(?P<table>[^.]+)\.weight$")
REMAPPER_SUFFIX = ".remapper.safetensors"


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _table_row(table: str, shape: tuple[int, ...], dtype: Any, remapper: IdRemapper | None) -> dict[str, Any]:
    rows, dim = int(shape[0]), int(shape[1])
    row: dict[str, Any] = {"table": table, "rows": rows, "dim": dim, "dtype": _dtype_name(dtype),
                           "bytes": table_bytes(rows, dim, _dtype_name(dtype)), "strategy": None}
    if remapper is not None:
        row["strategy"] = remapper.name
        row["strategy_params"] = remapper.get_params()
        if remapper.table_rows != rows:
            row["warning"] = f"remapper maps to {remapper.table_rows} rows but the table has {rows}"
        if remapper.fit_keys_ is not None:
            row["collisions"] = remapper.stats()
    return row


def _load_state(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        from recsys_hash.artifacts import load_artifact, read_header

        try:
            read_header(path)                   # a recsys_hash training checkpoint: checksum-checked, model weights
        except ArtifactError:
            pass
        else:
            import torch

            arrays, _ = load_artifact(path)
            return {k[len("model."):]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("model.")}

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises several types for bad files
            raise ArtifactError(f"checkpoint {path} is not a readable safetensors file: {exc}") from exc
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(f"checkpoint {path} could not be loaded as a weights-only state dict: {exc}") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ArtifactError(f"checkpoint {path} does not hold a state dict (got {type(obj).__name__})")
    return obj


def audit_checkpoint(path: str | Path) -> list[dict[str, Any]]:
    """One row per embedding table found in a checkpoint file or folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audit-model: {path} does not exist")
    remappers: dict[str, IdRemapper] = {}
    if path.is_dir():
        for art in sorted(path.glob(f"*{REMAPPER_SUFFIX}")):
            remappers[art.name[: -len(REMAPPER_SUFFIX)]] = IdRemapper.load(art)
        states = [p for p in sorted(path.iterdir()) if p.suffix in (".safetensors", ".pt", ".pth")
                  and not p.name.endswith(REMAPPER_SUFFIX)]
        if not states:
            raise ArtifactError(f"audit-model: folder {path} holds no .safetensors/.pt checkpoint")
        state: dict[str, Any] = {}
        for p in states:
            state.update(_load_state(p))
    else:
        state = _load_state(path)
    rows = []
    for key, tensor in state.items():
        match = _TABLE_KEY.search(key)
        if match and hasattr(tensor, "shape") and len(tensor.shape) == 2:
            table = match.group("table")
            rows.append(dict(_table_row(table, tuple(tensor.shape), tensor.dtype, remappers.get(table)), key=key))
    if not rows:
        raise ArtifactError(
            f"audit-model: {path} has no embedding tables (no 2-D '...embedding_bags.<table>.weight' or "
            f"'...embeddings.<table>.weight' entries among {len(state)} keys)"
        )
    return rows


def audit_module(spec: str) -> list[dict[str, Any]]:
    """One row per table of the EBC/EC modules inside the module built by `package.module:factory`."""
    if ":" not in spec:
        raise ValueError(f"audit-model: {spec!r} is neither an existing checkpoint path nor 'package.module:factory'")
    mod_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"audit-model: cannot import {spec!r}: {exc}") from exc
    try:
        module = factory() if callable(factory) else factory
    except Exception as exc:  # a user's factory may raise anything: name it and the target
        raise ValueError(f"audit-model: factory {spec!r} failed: {type(exc).__name__}: {exc}") from exc
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"audit-model: {spec!r} returned {type(module).__name__}, not a torch.nn.Module")
    return audit_nn_module(module, spec)


def audit_nn_module(module: Any, what: str = "module") -> list[dict[str, Any]]:
    from torchrec.modules.embedding_modules import EmbeddingBagCollection, EmbeddingCollection

    remappers: dict[str, IdRemapper] = {}
    for _, sub in module.named_modules():
        remapper = getattr(sub, "remapper", None)
        table = getattr(sub, "table_name", None)
        if isinstance(remapper, IdRemapper) and table:
            remappers[table] = remapper
    rows = []
    for name, sub in module.named_modules():
        if isinstance(sub, EmbeddingBagCollection):
            configs, weights = sub.embedding_bag_configs(), sub.embedding_bags
        elif isinstance(sub, EmbeddingCollection):
            configs, weights = sub.embedding_configs(), sub.embeddings
        else:
            continue
        for cfg in configs:
            w = weights[cfg.name].weight
            rows.append(dict(_table_row(cfg.name, tuple(w.shape), w.dtype, remappers.get(cfg.name)),
                             key=f"{name}.{cfg.name}", features=list(cfg.feature_names)))
    if not rows:
        raise ValueError(f"audit-model: {what} contains no EmbeddingBagCollection/EmbeddingCollection tables")
    return rows


def total_bytes(rows: list[dict[str, Any]]) -> int:
    return int(np.sum([r["bytes"] for r in rows]))
