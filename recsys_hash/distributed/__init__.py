"""Distributed training on TorchRec's DistributedModelParallel: process group (`context`), sharded models and
their fused embedding optimizers (`sharded`), whole weights of a sharded model (`state`)."""
from recsys_hash.distributed.context import DistContext, init_from_env

__all__ = ["DistContext", "init_from_env"]
