"""TorchRec integration: any IdRemapper as a ManagedCollisionModule, MC-EBC/MC-EC builders, sharding helpers."""
from recsys_hash.integrations.lookup import combine_rows
from recsys_hash.integrations.mc_module import RemapperMCModule
from recsys_hash.integrations.collections import KeyedTensorAdapter, make_mc_ebc, make_mc_ec

__all__ = ["KeyedTensorAdapter", "RemapperMCModule", "combine_rows", "make_mc_ebc", "make_mc_ec"]
