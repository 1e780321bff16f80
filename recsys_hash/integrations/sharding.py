"""Row-wise sharding plans for MC-EBCs built by `make_mc_ebc` (the CPU planner will not place MC modules)."""
from __future__ import annotations

from typing import Optional

from torchrec.distributed.mc_embeddingbag import ManagedCollisionEmbeddingBagCollectionSharder
from torchrec.distributed.sharding_plan import construct_module_sharding_plan, row_wise
from torchrec.distributed.types import EmbeddingModuleShardingPlan
from torchrec.modules.mc_embedding_modules import ManagedCollisionEmbeddingBagCollection


def row_wise_plan(
    mc_ebc: ManagedCollisionEmbeddingBagCollection, world_size: int, device_type: str = "cpu",
    compute_kernel: Optional[str] = None,
) -> EmbeddingModuleShardingPlan:
    """Every table of the MC-EBC row-wise over `world_size` ranks (rows split in ceil(rows / world) blocks)."""
    if world_size < 1:
        raise ValueError(f"row_wise_plan: world_size must be >= 1, got {world_size}")
    tables = [c.name for c in mc_ebc._embedding_module.embedding_bag_configs()]
    gen = row_wise(compute_kernel=compute_kernel) if compute_kernel else row_wise()
    return construct_module_sharding_plan(
        mc_ebc, per_param_sharding={t: gen for t in tables},
        sharder=ManagedCollisionEmbeddingBagCollectionSharder(), local_size=world_size, world_size=world_size,
        device_type=device_type,
    )
