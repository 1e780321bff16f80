"""Whole weights of a sharded model: gather every shard into full tensors on every rank, and write full tensors back
into the shards. Used for the initial weights (TorchRec re-initialises sharded tables), the best-epoch snapshots of
early stopping and the trained model handed back unsharded.

Each table row lives on exactly one rank, so `full_state_dict` fills zeros with the local shards and sums over ranks:
an exact copy whatever the sharding (row-, table- or column-wise). Memory: one full copy of every table per rank — meant
for models whose tables fit one host's memory (the datasets here); a larger model would save shards instead.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
import torch.distributed as dist
from torch import nn


@contextmanager
def _quiet_sharded_tensor() -> Iterator[None]:
    """TorchRec's sharded state dicts hold ShardedTensors, whose every use warns that torch prefers DTensor."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ShardedTensor.*", category=FutureWarning)
        yield


def _shards(value) -> list | None:
    """[(offsets, tensor)] of a sharded state-dict entry; None for a plain (replicated) tensor."""
    if hasattr(value, "local_shards"):                           # ShardedTensor
        return [(list(s.metadata.shard_offsets), s.tensor) for s in value.local_shards()]
    return None


def _slices(offsets: list, tensor: torch.Tensor) -> tuple[slice, ...]:
    return tuple(slice(o, o + n) for o, n in zip(offsets, tensor.shape))


def gather_full(value) -> torch.Tensor:
    """One state-dict entry as a full CPU tensor: a sharded one gathered from every rank (collective), a plain one
    copied."""
    shards = _shards(value)
    if shards is None:
        return value.detach().cpu().clone()
    with _quiet_sharded_tensor():
        size, dtype = tuple(value.size()), value.dtype
    full = torch.zeros(size, dtype=dtype, device=shards[0][1].device if shards else "cpu")
    for offsets, tensor in shards:
        full[_slices(offsets, tensor)] = tensor.detach()
    dist.all_reduce(full)                                      # each element is non-zero on at most one rank
    return full.cpu()


def scatter_full(value, src: torch.Tensor, what: str) -> None:
    """Copy the full tensor `src` into a state-dict entry: its shards' slices, or the whole plain tensor."""
    with _quiet_sharded_tensor():
        size = tuple(value.size())
    if tuple(src.shape) != size:
        raise ValueError(f"{what} has shape {tuple(src.shape)}, the model {size}")
    shards = _shards(value)
    with torch.no_grad():
        if shards is None:
            value.copy_(src.to(value.device))
        else:
            for offsets, tensor in shards:
                tensor.copy_(src[_slices(offsets, tensor)].to(tensor.device))


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with every sharded entry gathered into one full CPU tensor (collective: every rank calls
    it, in the same order; every rank gets the full dict)."""
    with _quiet_sharded_tensor():
        state = model.state_dict()
    return {key: gather_full(value) for key, value in state.items()}


def load_full_state_dict(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Copy full tensors into the model: each sharded entry takes its shards' slices, plain entries are copied.
    Keys must match the model's state dict exactly (an error names the differences)."""
    with _quiet_sharded_tensor():
        state = model.state_dict()
    missing, extra = sorted(set(state) - set(weights)), sorted(set(weights) - set(state))
    if missing or extra:
        raise ValueError(f"weights do not match the sharded model: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, value in state.items():
        scatter_full(value, weights[key], f"weights[{key!r}]")
