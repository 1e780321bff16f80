"""A CTR or sequence model sharded for training with TorchRec's DistributedModelParallel.

Every managed-collision collection in the model (MC-EBC of the CTR models, MC-EC of the sequence models) is sharded
(row-wise by default; `recsys_hash.integrations.sharding.model_sharding_plan`) and its tables train with TorchRec's
fused optimizer (`apply_optimizer_in_backward`: the update runs inside backward, on the rank that owns each row);
the dense layers are replicated (DDP) and train with the caller's optimizer. The initial weights of the unsharded model are copied into the shards, so a sharded run
starts from exactly the weights an unsharded run would.

Fused optimizers on CPU (fbgemm): Adagrad and SGD. Adam needs a GPU.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from recsys_hash.distributed.context import DistContext, check_same_on_ranks
from recsys_hash.distributed.state import full_state_dict, gather_full, load_full_state_dict, scatter_full

#: embedding optimizer name -> (torch class, runs fused on CPU)
FUSED_OPTIMIZERS = {"adagrad": (torch.optim.Adagrad, True), "sgd": (torch.optim.SGD, True),
                    "adam": (torch.optim.Adam, False)}


def shard_for_training(model: nn.Module, ctx: DistContext, emb_optimizer: str, emb_lr: float,
                       sharding: str = "row_wise") -> nn.Module:
    """A DistributedModelParallel over a deep copy of `model` (which stays unsharded), its tables sharded over the
    ranks (`sharding`: row_wise | table_wise, see `recsys_hash.integrations.sharding`) with the fused
    `emb_optimizer`, starting from `model`'s weights."""
    from torchrec.distributed.model_parallel import DistributedModelParallel
    from torchrec.distributed.types import ShardingEnv
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
    import torch.distributed as dist

    from recsys_hash.integrations.sharding import SHARDINGS, mc_collections, model_sharding_plan

    if emb_optimizer not in FUSED_OPTIMIZERS:
        raise ValueError(f"distributed training: embedding optimizer must be one of {', '.join(FUSED_OPTIMIZERS)}, "
                         f"got {emb_optimizer!r}")
    if sharding not in SHARDINGS:
        raise ValueError(f"distributed training: sharding must be one of {', '.join(SHARDINGS)}, got {sharding!r}")
    cls, on_cpu = FUSED_OPTIMIZERS[emb_optimizer]
    if ctx.device.type == "cpu" and not on_cpu:
        raise ValueError(f"distributed training on CPU: TorchRec's fused {emb_optimizer} kernel needs a GPU; "
                         "use --emb-optimizer adagrad (or sgd)")
    if not mc_collections(model):
        raise ValueError(f"{type(model).__name__} has no managed-collision embedding collection to shard")
    check_same_on_ranks(_fingerprint(model), ctx, "model (ID mappings or initial weights)")
    work = copy.deepcopy(model)
    collections = mc_collections(work)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for module in collections.values():
        apply_optimizer_in_backward(cls, module.parameters(), {"lr": emb_lr})
    plan, sharders = model_sharding_plan(work, ctx.world, sharding, ctx.device.type)
    dmp = DistributedModelParallel(work, env=ShardingEnv.from_process_group(dist.group.WORLD), plan=plan,
                                   sharders=sharders, device=ctx.device)
    load_full_state_dict(dmp, initial)          # TorchRec re-initialises sharded tables: start from model's weights
    return dmp


def _fingerprint(model: nn.Module) -> bytes:
    """sha256 over the initial weights, every buffer (the ID -> row tables of the MC modules are non-persistent
    buffers) and every MC module's hash rules."""
    import hashlib

    from recsys_hash.integrations.mc_module import RemapperMCModule

    h = hashlib.sha256()
    tensors = {**dict(model.named_buffers()), **model.state_dict()}
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].detach().cpu().contiguous().numpy().tobytes())
    for name, module in model.named_modules():
        if isinstance(module, RemapperMCModule):
            h.update(f"{name}:{module._cols!r}".encode())
    return h.digest()


def dense_parameters(dmp: nn.Module) -> list[nn.Parameter]:
    """Parameters trained by the caller's optimizer: all but the tables (those update inside backward)."""
    from torchrec.optim.optimizers import in_backward_optimizer_filter

    return [p for _, p in in_backward_optimizer_filter(dmp.named_parameters())]


def weights_io(dmp: nn.Module) -> tuple[Callable[[], dict], Callable[[dict], None]]:
    """(get, set) of whole weights for the trainer's snapshots (collective calls)."""
    return (lambda: full_state_dict(dmp)), (lambda w: load_full_state_dict(dmp, w))


class FusedOptimizerState:
    """The fused table optimizer (it steps inside backward) seen by the trainer as one more optimizer: zero_grad and
    step do nothing; state_dict gathers its per-row state (e.g. Adagrad's sums of squares) into full tensors for a
    checkpoint (collective), load_state_dict scatters them back into the shards."""

    def __init__(self, dmp: nn.Module) -> None:
        self.dmp = dmp

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self) -> None:
        pass

    def _entries(self) -> list[tuple[str, object]]:
        state = self.dmp.fused_optimizer.state_dict()["state"]
        return [(f"{param}/{name}", value) for param in sorted(state) for name, value in sorted(state[param].items())]

    def state_dict(self) -> dict:
        entries = self._entries()
        return {"state": {i: {"value": gather_full(v)} for i, (_, v) in enumerate(entries)},
                "param_groups": [{"entries": [k for k, _ in entries]}]}

    def load_state_dict(self, state: dict) -> None:
        entries = self._entries()
        saved = state["param_groups"][0]["entries"] if state.get("param_groups") else None
        if saved != [k for k, _ in entries]:
            raise ValueError(f"the checkpoint's fused optimizer state covers {saved}, this model's "
                             f"{[k for k, _ in entries]}")
        for i, (key, value) in enumerate(entries):
            scatter_full(value, state["state"][i]["value"], f"fused optimizer state {key!r}")
