"""The process group of a distributed run: who this rank is, how a global batch is split, how per-rank results meet.

A distributed run is started by `torchrun` (or anything that sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT): `init_from_env()` joins the group — NCCL with one GPU per process where CUDA is present, gloo on CPU.
Every rank reads the same data and draws the same seeded shuffle; each global step of `batch_size x world` rows is
cut into `world` contiguous parts (`step_bounds`, `rank_part`), so the set of rows a step trains on does not depend
on the number of ranks.

    >>> ctx = init_from_env()                      # under torchrun --nproc-per-node 2
    >>> for lo, hi in step_bounds(n_rows, per_rank=1024, world=ctx.world):
    ...     mine, weight = rank_part(perm[lo:hi], ctx.rank, ctx.world)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """rank, world size, the device this rank computes on and the collective backend ("gloo" | "nccl")."""

    rank: int
    world: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints, saves and shows progress."""
        return self.rank == 0


def init_from_env(backend: Optional[str] = None, timeout_s: float = 600.0) -> DistContext:
    """Join the process group torchrun describes in the environment (reuses one that is already initialised).

    backend None: "nccl" when CUDA is available (device cuda:LOCAL_RANK), else "gloo" (CPU)."""
    if dist.is_available() and dist.is_initialized():
        backend = dist.get_backend()
    else:
        missing = [v for v in ENV_VARS if v not in os.environ]
        if missing:
            raise ValueError(f"--distributed runs under torchrun (e.g. `torchrun --nproc-per-node 2 -m recsys_hash.cli "
                             f"train-ctr --distributed ...`); the environment lacks {', '.join(missing)}")
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend not in ("gloo", "nccl"):
            raise ValueError(f"distributed backend must be gloo or nccl, got {backend!r}")
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return DistContext(rank=dist.get_rank(), world=dist.get_world_size(), device=device, backend=backend)


def step_bounds(n_rows: int, per_rank: int, world: int) -> Iterator[tuple[int, int]]:
    """[lo, hi) of each global step over `n_rows` rows: `per_rank * world` rows a step; a last step with fewer than
    `world` rows joins the one before, so every rank gets at least one row in every step."""
    if n_rows < world:
        raise ValueError(f"{n_rows} rows cannot feed {world} ranks: every rank needs at least one row per step")
    size = per_rank * world
    starts = list(range(0, n_rows, size))
    if len(starts) > 1 and n_rows - starts[-1] < world:
        starts.pop()
    for i, lo in enumerate(starts):
        yield lo, (starts[i + 1] if i + 1 < len(starts) else n_rows)


def part_sizes(n: int, world: int) -> np.ndarray:
    """Rows of each rank's part of `n` rows: as equal as possible, the first `n % world` ranks one more."""
    return np.full(world, n // world, dtype=np.int64) + (np.arange(world) < n % world)


def rank_part(rows: np.ndarray, rank: int, world: int) -> tuple[np.ndarray, np.ndarray]:
    """This rank's contiguous part of one global step's `rows` (sizes `part_sizes`), padded to ceil(len / world)
    rows by repeating its last row: TorchRec's sharded collectives need the same batch size on every rank.
    Returns (rows, weight) with weight 1.0 for real rows, 0.0 for padding."""
    sizes = part_sizes(len(rows), world)
    if sizes[rank] < 1:
        raise ValueError(f"{len(rows)} rows cannot feed {world} ranks: every rank needs at least one row per step")
    hi = int(sizes[:rank + 1].sum())
    mine = rows[hi - int(sizes[rank]):hi]
    width = int(sizes[0])
    weight = np.zeros(width, dtype=np.float32)
    weight[:mine.size] = 1.0
    return np.concatenate([mine, np.repeat(mine[-1:], width - mine.size)]), weight


def gather_parts(local: torch.Tensor, n: int, ctx: DistContext) -> torch.Tensor:
    """Every rank's 1-D `local` values for its padded part of `n` rows (`rank_part`), without the padding,
    concatenated in rank order, on every rank."""
    sizes = part_sizes(n, ctx.world)
    if local.numel() != sizes[0]:
        raise ValueError(f"rank {ctx.rank} holds {local.numel()} values, a padded part of {n} rows has {sizes[0]}")
    out = [torch.empty_like(local) for _ in range(ctx.world)]
    dist.all_gather(out, local.contiguous())
    return torch.cat([o[:s] for o, s in zip(out, sizes.tolist())])


def all_sum(value: float, ctx: DistContext) -> float:
    """Sum of a float over all ranks (float64)."""
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t.item())


def check_same_on_ranks(digest: bytes, ctx: DistContext, what: str) -> None:
    """Raise on every rank if the ranks' `digest`s (e.g. a sha256 of fitted tables and initial weights) differ:
    each rank must build the same model from the same data and seed before its tables are sharded."""
    mine = torch.frombuffer(bytearray(digest), dtype=torch.uint8).to(ctx.device)
    got = [torch.empty_like(mine) for _ in range(ctx.world)]
    dist.all_gather(got, mine)
    differ = [r for r, g in enumerate(got) if not torch.equal(g, got[0])]
    if differ:
        raise ValueError(f"ranks {differ} built a different {what} than rank 0 (same data and --seed on every rank "
                         "are required; a strategy whose fit is not deterministic cannot be trained distributed)")
