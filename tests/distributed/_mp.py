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

from recsys_hash.distributed.state import gather_full, scatter_full

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
    for key, value in dmp.state_dict().items():
        name = _plain_name(key)
        if name in full:
            scatter_full(value, full[name], name)
            sharded += hasattr(value, "local_shards")
    return sharded


def gathered_weights(dmp: nn.Module, names: Mapping[str, torch.Size]) -> Dict[str, torch.Tensor]:
    """name -> the full tensor reassembled from every rank's shards (all_reduce of disjoint pieces: exact)."""
    state = {_plain_name(k): v for k, v in dmp.state_dict().items()}
    return {name: gather_full(state[name]) for name in names}


def full_parameters(model: nn.Module) -> Dict[str, torch.Tensor]:
    """name -> a copy of every parameter of the unsharded model (state_dict names)."""
    params = {id(p) for p in model.parameters()}
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items() if id(v) in params}


def one_step_check(make_model: Callable[[], nn.Module], forward: Callable[[nn.Module, Any], torch.Tensor],
                   batches: List[Any], rank: int, world: int, sharding: str, kernel: Any = None,
                   coef_seed: int = 1, tag: str = "", scale: float = 1 / 16) -> Dict[str, torch.Tensor]:
    """Shard `make_model()` with `model_sharding_plan`, run one SGD step on each rank's batch, and return what the
    parent compares: `{tag}/out` vs `{tag}/out_ref` (rank's forward), `{tag}/w/NAME` vs `{tag}/w_ref/NAME` (every
    parameter after the step) and `{tag}/w_0/NAME` (before it).

    The unsharded reference takes one torch.optim.SGD step (lr LR) on (loss_0 + ... + loss_{W-1}) / W with
    loss_r = sum(forward(model, batch_r) * C_r), C_r a fixed dyadic tensor: DDP averages dense gradients over the
    ranks and TorchRec divides the embedding gradients of its all-to-all by W, so both sides take the same step.
    Tables on the FUSED kernel (all with kernel="fused"; MC-EC tables always) get SGD(lr=LR) applied in backward.
    """
    from torchrec.distributed.model_parallel import DistributedModelParallel
    from torchrec.distributed.types import ShardingEnv
    from torchrec.modules.mc_embedding_modules import ManagedCollisionEmbeddingCollection
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
    from torchrec.optim.keyed import KeyedOptimizerWrapper
    from torchrec.optim.optimizers import in_backward_optimizer_filter

    from recsys_hash.integrations.sharding import mc_collections, model_sharding_plan

    torch.manual_seed(0)
    reference = dyadic_(make_model(), seed=7, scale=scale)
    full = full_parameters(reference)
    src = make_model()
    for mc in mc_collections(src).values():
        if kernel == "fused" or isinstance(mc, ManagedCollisionEmbeddingCollection):
            apply_optimizer_in_backward(torch.optim.SGD, mc._embedding_module.parameters(), {"lr": LR})
    plan, sharders = model_sharding_plan(src, world, sharding, compute_kernel=kernel)
    model = DistributedModelParallel(src, env=ShardingEnv.from_process_group(dist.group.WORLD), plan=plan,
                                     sharders=sharders, device=torch.device("cpu"))
    assert load_full_weights(model, full) > 0, f"rank {rank} {tag}: no sharded weight found"

    def coef(r: int, like: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(coef_seed * 1000 + r)
        return torch.randint(-8, 8, like.shape, generator=gen) / 4.0

    got = forward(model, batches[rank])
    with torch.no_grad():
        expected = forward(reference, batches[rank])
    dense = dict(in_backward_optimizer_filter(model.named_parameters()))
    opt = KeyedOptimizerWrapper(dense, lambda ps: torch.optim.SGD(ps, lr=LR)) if dense else None
    (got * coef(rank, got)).sum().backward()
    if opt is not None:
        opt.step()
    ref_opt = torch.optim.SGD(reference.parameters(), lr=LR)
    outs = [forward(reference, b) for b in batches]
    (sum((o * coef(r, o)).sum() for r, o in enumerate(outs)) / world).backward()
    ref_opt.step()
    out = {f"{tag}/out": got.detach().clone(), f"{tag}/out_ref": expected}
    ref_state = reference.state_dict()
    for name, value in gathered_weights(model, {k: v.shape for k, v in full.items()}).items():
        out[f"{tag}/w/{name}"], out[f"{tag}/w_ref/{name}"] = value, ref_state[name].detach().clone()
        out[f"{tag}/w_0/{name}"] = full[name]
    return out


def assert_same(res: Dict[str, torch.Tensor], tag: str, rank: int, exact_step: bool = True,
                rtol: float = 1e-5, atol: float = 1e-6) -> List[str]:
    """Assert a `one_step_check` result: forward equal bit for bit; every parameter after the step equal bit for bit
    (exact_step) or within rtol/atol (float sums in another order), and moved by the step by more than 100 * atol.
    Returns the parameter names."""
    def same(a, b):
        return torch.equal(a, b) if exact_step else torch.allclose(a, b, rtol=rtol, atol=atol)

    assert res[f"{tag}/out_ref"].abs().sum() > 0, f"{tag}: the reference output is all zero"
    assert torch.equal(res[f"{tag}/out"], res[f"{tag}/out_ref"]), (
        f"rank {rank} {tag}: sharded forward != unsharded; max diff "
        f"{(res[f'{tag}/out'] - res[f'{tag}/out_ref']).abs().max().item()}")
    names = [k[len(f"{tag}/w/"):] for k in res if k.startswith(f"{tag}/w/")]
    for name in names:
        got, want, before = res[f"{tag}/w/{name}"], res[f"{tag}/w_ref/{name}"], res[f"{tag}/w_0/{name}"]
        moved = (want - before).abs().max().item()
        assert moved > 100 * atol, f"{tag} {name}: the step moved it by {moved} only"
        assert same(got, want), (f"rank {rank} {tag} {name}: sharded step != unsharded step; max diff "
                                 f"{(got - want).abs().max().item()} (step moved it by {moved})")
    return names
