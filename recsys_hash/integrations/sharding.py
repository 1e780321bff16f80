"""Hand-written sharding plans for MC-EBCs / MC-ECs (TorchRec's CPU planner will not place MC modules).

    row_wise    every table's rows split in ceil(rows / world) blocks over the ranks; TorchRec's MC sharders run
                each table's `RemapperMCModule.preprocess` on the input's rank and route the rows to their owners
                (the only layout TorchRec's MC sharders support: `create_mc_sharding` in
                torchrec/distributed/mc_modules.py raises for any other).
    table_wise  the model's tables, in module order, go whole round-robin over the ranks (table i on rank
                i % world). The plan names the collection's inner EBC / EC (`<path>._embedding_module`), so DMP
                shards only the embedding lookup; the remap stays an ordinary module that runs on the input's rank.
                Equal to the unsharded model because a `RemapperMCModule` does the whole raw-ID -> row mapping in
                `preprocess` and holds no trained state.

On CPU an `EmbeddingCollection` shards only with the FUSED kernel (its DENSE kernel fails with "Split sizes doesn't
match"), so MC-EC tables default to FUSED; MC-EBC tables follow TorchRec's rule: FUSED when the weights carry
an optimizer applied in backward, else DENSE (then one optimizer over the wrapped model's parameters trains the local
shards too, e.g. `KeyedOptimizerWrapper(dict(in_backward_optimizer_filter(dmp.named_parameters())), make_opt)`).
With FUSED the optimizer runs inside backward: call `torchrec.optim.apply_optimizer_in_backward` on the embedding
weights before wrapping the model; the dense optimizer then takes what `in_backward_optimizer_filter` leaves.

    >>> plan, sharders = model_sharding_plan(model, world_size=2, sharding="row_wise")
    >>> dmp = DistributedModelParallel(model, env=ShardingEnv.from_process_group(pg), plan=plan, sharders=sharders,
    ...                                device=torch.device("cpu"))
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from torch import nn
from torchrec.distributed.embedding import EmbeddingCollectionSharder
from torchrec.distributed.embedding_types import EmbeddingComputeKernel
from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
from torchrec.distributed.mc_embedding import ManagedCollisionEmbeddingCollectionSharder
from torchrec.distributed.mc_embeddingbag import ManagedCollisionEmbeddingBagCollectionSharder
from torchrec.distributed.sharding_plan import construct_module_sharding_plan, row_wise, table_wise
from torchrec.distributed.types import EmbeddingModuleShardingPlan, ModuleSharder, ShardingPlan
from torchrec.modules.mc_embedding_modules import (
    BaseManagedCollisionEmbeddingCollection,
    ManagedCollisionEmbeddingBagCollection,
    ManagedCollisionEmbeddingCollection,
)

SHARDINGS = ("row_wise", "table_wise")
#: the compute kernel each collection kind gets when none is given (see the module docstring)
DEFAULT_KERNEL: Dict[str, Optional[str]] = {"ebc": None, "ec": EmbeddingComputeKernel.FUSED.value}


def _check_world(world_size: int, where: str) -> int:
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"{where}: world_size must be an integer >= 1, got {world_size!r}")
    return world_size


def _kind(mc: nn.Module, where: str) -> str:
    if isinstance(mc, ManagedCollisionEmbeddingBagCollection):
        return "ebc"
    if isinstance(mc, ManagedCollisionEmbeddingCollection):
        return "ec"
    raise ValueError(f"{where}: expected a ManagedCollisionEmbeddingBagCollection or "
                     f"ManagedCollisionEmbeddingCollection, got {type(mc).__name__}")


def _table_names(mc: BaseManagedCollisionEmbeddingCollection) -> List[str]:
    emb = mc._embedding_module
    configs = emb.embedding_bag_configs() if isinstance(mc, ManagedCollisionEmbeddingBagCollection) \
        else emb.embedding_configs()
    return [c.name for c in configs]


def _kernel(kind: str, compute_kernel: Optional[str], device_type: str, where: str) -> Optional[str]:
    kernel = compute_kernel or DEFAULT_KERNEL[kind]
    if kind == "ec" and device_type == "cpu" and kernel == EmbeddingComputeKernel.DENSE.value:
        raise ValueError(f"{where}: an MC-EC shards on CPU only with the FUSED kernel (TorchRec's DENSE kernel fails "
                         "there with 'Split sizes doesn't match total dim 0 size'); pass compute_kernel='fused'")
    return kernel


def row_wise_plan(
    mc: BaseManagedCollisionEmbeddingCollection, world_size: int, device_type: str = "cpu",
    compute_kernel: Optional[str] = None,
) -> EmbeddingModuleShardingPlan:
    """Every table of the MC-EBC / MC-EC row-wise over `world_size` ranks (rank r owns rows
    [r * ceil(rows / world), (r + 1) * ceil(rows / world)) ∩ [0, rows)); the plan is keyed by the MC module itself."""
    kind = _kind(mc, "row_wise_plan")
    _check_world(world_size, "row_wise_plan")
    kernel = _kernel(kind, compute_kernel, device_type, "row_wise_plan")
    sharder = ManagedCollisionEmbeddingBagCollectionSharder() if kind == "ebc" \
        else ManagedCollisionEmbeddingCollectionSharder()
    gen = row_wise(compute_kernel=kernel) if kernel else row_wise()
    return construct_module_sharding_plan(
        mc, per_param_sharding={t: gen for t in _table_names(mc)}, sharder=sharder, local_size=world_size,
        world_size=world_size, device_type=device_type,
    )


def table_wise_plan(
    mc: BaseManagedCollisionEmbeddingCollection, world_size: int, device_type: str = "cpu",
    compute_kernel: Optional[str] = None, first_rank: int = 0,
) -> EmbeddingModuleShardingPlan:
    """Table i of the MC-EBC / MC-EC whole on rank (first_rank + i) % world_size; the plan is for its inner EBC / EC
    (module path `<mc path>._embedding_module`), the remap runs unsharded on the input's rank."""
    kind = _kind(mc, "table_wise_plan")
    _check_world(world_size, "table_wise_plan")
    kernel = _kernel(kind, compute_kernel, device_type, "table_wise_plan")
    sharder = EmbeddingBagCollectionSharder() if kind == "ebc" else EmbeddingCollectionSharder()
    tables = _table_names(mc)
    return construct_module_sharding_plan(
        mc._embedding_module,
        per_param_sharding={t: table_wise(rank=(first_rank + i) % world_size, compute_kernel=kernel)
                            for i, t in enumerate(tables)},
        sharder=sharder, local_size=world_size, world_size=world_size, device_type=device_type,
    )


def mc_collections(model: nn.Module) -> Dict[str, BaseManagedCollisionEmbeddingCollection]:
    """Module path -> every MC-EBC / MC-EC inside `model` (the model itself has path "")."""
    return {path: m for path, m in model.named_modules() if isinstance(m, BaseManagedCollisionEmbeddingCollection)}


def model_sharding_plan(
    model: nn.Module, world_size: int, sharding: str = "row_wise", device_type: str = "cpu",
    compute_kernel: Optional[str] = None,
) -> Tuple[ShardingPlan, List[ModuleSharder[nn.Module]]]:
    """The ShardingPlan and sharders DistributedModelParallel needs to shard every MC collection of `model`.

    Args:
        model: any module holding MC-EBCs / MC-ECs (e.g. `CTRModel`, `LongSeqCTR`); everything else DMP keeps
            data-parallel.
        world_size: number of ranks.
        sharding: "row_wise" | "table_wise" (see the module docstring).
        device_type: "cpu" or "cuda".
        compute_kernel: the EmbeddingComputeKernel value for every table (default: FUSED for MC-EC tables; for
            MC-EBC tables FUSED when an optimizer was applied in backward, else DENSE).

    Returns:
        (ShardingPlan keyed by module path, the sharders to pass to DistributedModelParallel).
    """
    if sharding not in SHARDINGS:
        raise ValueError(f"model_sharding_plan: unknown sharding {sharding!r}; choose one of {', '.join(SHARDINGS)}")
    _check_world(world_size, "model_sharding_plan")
    found = mc_collections(model)
    if not found:
        raise ValueError(f"model_sharding_plan: {type(model).__name__} holds no ManagedCollisionEmbeddingBagCollection "
                         "or ManagedCollisionEmbeddingCollection (build its tables with make_mc_ebc / make_mc_ec)")
    plans: Dict[str, EmbeddingModuleShardingPlan] = {}
    kinds = set()
    placed = 0      # table-wise: tables go round-robin over the ranks across all collections
    for path, mc in found.items():
        kinds.add(_kind(mc, "model_sharding_plan"))
        if sharding == "row_wise":
            plans[path] = row_wise_plan(mc, world_size, device_type, compute_kernel)
        else:
            inner = f"{path}._embedding_module" if path else "_embedding_module"
            plans[inner] = table_wise_plan(mc, world_size, device_type, compute_kernel, first_rank=placed)
            placed += len(_table_names(mc))
    if sharding == "row_wise":
        sharders = {"ebc": ManagedCollisionEmbeddingBagCollectionSharder,
                    "ec": ManagedCollisionEmbeddingCollectionSharder}
    else:
        sharders = {"ebc": EmbeddingBagCollectionSharder, "ec": EmbeddingCollectionSharder}
    return ShardingPlan(plans), [sharders[k]() for k in sorted(kinds)]
