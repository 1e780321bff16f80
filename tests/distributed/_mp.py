"""Shared harness of the distributed tests: spawn gloo CPU ranks, move full weights into DMP's shards and back.

    results = run_ranks(_check, tmp_path)          # _check(rank, world) -> dict of tensors, run on every rank
    assert torch.equal(results[0]["got"], results[0]["expected"])

Each rank saves its result with `torch.save`; the parent loads it with `weights_only=True` (no pickle).
"""
from __future__ import annotations

import os
import socket
from typing import Any, Callable, Dict, List, Mapping

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

WORLD = 2
#: SGD learning rate of every one-step check: a power of two, so lr * gradient adds no rounding
LR = 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, fn: Callable[[int, int], Dict[str, Any]], port: int, out_dir: str, world: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = fn(rank, world)
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run_ranks(fn: Callable[[int, int], Dict[str, Any]], tmp_path, world: int = WORLD) -> List[Dict[str, Any]]:
    """Run `fn(rank, world)` on `world` gloo processes; returns each rank's result dict (rank order)."""
    mp.spawn(_entry, args=(fn, _free_port(), str(tmp_path), world), nprocs=world, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world)]


def dyadic_(module: nn.Module, seed: int, scale: float = 1 / 16) -> nn.Module:
    """Every parameter <- integers in [-64, 64) times `scale` (a power of two): sums and SGD steps stay exact."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randint(-64, 64, p.shape, generator=gen) * scale)
    return module


def _plain_name(key: str) -> str:
    """A DMP state_dict key without the wrappers' prefixes (as in the unsharded model's state_dict)."""
    for prefix in ("module.", "_dmp_wrapped_module."):
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key


def load_full_weights(dmp: nn.Module, full: Mapping[str, torch.Tensor]) -> int:
    """Copy the unsharded model's parameters into DMP (each rank its local shards: sharding re-initialises them).
    Returns the number of sharded tensors written (the caller checks it is not zero)."""
    sharded = 0
    with torch.no_grad():
        for key, value in dmp.state_dict().items():
            name = _plain_name(key)
            if name not in full:
                continue
            if hasattr(value, "local_shards"):
                for shard in value.local_shards():
                    r0, c0 = shard.metadata.shard_offsets
                    rows, cols = shard.metadata.shard_sizes
                    shard.tensor.copy_(full[name][r0:r0 + rows, c0:c0 + cols])
                sharded += 1
            else:
                value.copy_(full[name])
    return sharded


def gathered_weights(dmp: nn.Module, names: Mapping[str, torch.Size]) -> Dict[str, torch.Tensor]:
    """name -> the full tensor reassembled from every rank's shards (all_reduce of disjoint pieces: exact)."""
    state = {_plain_name(k): v for k, v in dmp.state_dict().items()}
    out: Dict[str, torch.Tensor] = {}
    for name, shape in names.items():
        value = state[name]
        if not hasattr(value, "local_shards"):
            out[name] = value.detach().clone()
            continue
        full = torch.zeros(shape, dtype=torch.float32)
        for shard in value.local_shards():
            r0, c0 = shard.metadata.shard_offsets
            rows, cols = shard.metadata.shard_sizes
            full[r0:r0 + rows, c0:c0 + cols] = shard.tensor
        dist.all_reduce(full)
        out[name] = full
    return out


def full_parameters(model: nn.Module) -> Dict[str, torch.Tensor]:
    """name -> a copy of every parameter of the unsharded model (state_dict names)."""
    params = {id(p) for p in model.parameters()}
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items() if id(v) in params}
