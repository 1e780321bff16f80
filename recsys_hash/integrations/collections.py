"""Builders: remappers -> TorchRec MC-EBC / MC-EC, and `KeyedTensorAdapter` so an MC-EBC fits `torchrec.models.dlrm.DLRM`.

    >>> mc_ebc = make_mc_ebc({"user": user_remapper, "item": item_remapper}, embedding_dim=16)
    >>> kt = KeyedTensorAdapter(mc_ebc)(kjt)          # KeyedTensor [B, 2 * 16]
"""
import numbers
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig, EmbeddingConfig, PoolingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection, EmbeddingCollection
from torchrec.modules.mc_embedding_modules import (
    ManagedCollisionEmbeddingBagCollection,
    ManagedCollisionEmbeddingCollection,
)
from torchrec.modules.mc_modules import ManagedCollisionCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor, KeyedTensor

from recsys_hash._quiet import quiet_fx_tracing_notice
from recsys_hash.ids.base import IdRemapper
from recsys_hash.integrations.mc_module import RemapperMCModule

quiet_fx_tracing_notice()   # KJT construction logs a torch.fx notice once per process


def _features_of(tables: Mapping[str, IdRemapper], feature_names: Optional[Mapping[str, Sequence[str]]]) -> Dict[str, List[str]]:
    feature_names = dict(feature_names or {})
    unknown = sorted(set(feature_names) - set(tables))
    if unknown:
        raise ValueError(f"feature_names names tables {unknown} that are not in tables {sorted(tables)}")
    out = {t: list(feature_names.get(t, [t])) for t in tables}
    seen: Dict[str, str] = {}
    for t, feats in out.items():
        for f in feats:
            if f in seen:
                raise ValueError(f"feature {f!r} is fed to two tables ({seen[f]!r} and {t!r}); TorchRec MC needs one")
            seen[f] = t
    return out


def _check_remapper(table: str, remapper: IdRemapper, multi_row_ok: bool, pooling: Optional[PoolingType]) -> None:
    if not remapper.is_fitted:
        raise ValueError(f"table {table!r}: remapper {remapper.name!r} is not fitted")
    combiner = getattr(remapper, "combiner", "sum")
    if combiner != "sum":
        raise ValueError(
            f"table {table!r}: {remapper.name} combiner={combiner!r} cannot be expressed by EBC pooling; "
            "use combiner='sum' or recsys_hash.integrations.lookup.combine_rows"
        )
    if remapper.rows_per_id > 1 and not multi_row_ok:
        raise ValueError(
            f"table {table!r}: {remapper.name} maps each ID to {remapper.rows_per_id} rows, which needs SUM "
            "pooling (an EmbeddingCollection returns one vector per row); use make_mc_ebc or combine_rows"
        )
    if remapper.rows_per_id > 1 and pooling is not None and pooling != PoolingType.SUM:
        raise ValueError(
            f"table {table!r}: {remapper.name} maps each ID to {remapper.rows_per_id} rows; only SUM pooling adds "
            f"them into one embedding, got {pooling}"
        )


def _mc_modules(tables: Mapping[str, IdRemapper], device: torch.device) -> Dict[str, RemapperMCModule]:
    return {t: RemapperMCModule(r, device=device, name=t) for t, r in tables.items()}


def _mc_collection(tables: Mapping[str, IdRemapper], embedding_dim: int,
                   feature_names: Optional[Mapping[str, Sequence[str]]], device: Optional[torch.device],
                   pooling: Optional[PoolingType], where: str):
    """Checked configs + ManagedCollisionCollection for `tables`; pooling None = unpooled (EmbeddingCollection)."""
    if not tables:
        raise ValueError(f"{where}: give at least one table")
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, numbers.Integral) or embedding_dim < 1:
        raise ValueError(f"{where}: embedding_dim must be an integer >= 1, got {embedding_dim!r}")
    embedding_dim = int(embedding_dim)
    device = device or torch.device("cpu")
    feats = _features_of(tables, feature_names)
    for t, r in tables.items():
        _check_remapper(t, r, pooling is not None, pooling)
    if pooling is None:
        configs = [EmbeddingConfig(name=t, embedding_dim=embedding_dim, num_embeddings=r.table_rows,
                                   feature_names=feats[t]) for t, r in tables.items()]
    else:
        configs = [EmbeddingBagConfig(name=t, embedding_dim=embedding_dim, num_embeddings=r.table_rows,
                                      feature_names=feats[t], pooling=pooling) for t, r in tables.items()]
    return configs, ManagedCollisionCollection(_mc_modules(tables, device), configs), device


def make_mc_ebc(
    tables: Mapping[str, IdRemapper], embedding_dim: int, feature_names: Optional[Mapping[str, Sequence[str]]] = None,
    pooling: PoolingType = PoolingType.SUM, device: Optional[torch.device] = None,
    return_remapped_features: bool = False,
) -> ManagedCollisionEmbeddingBagCollection:
    """One pooled table per remapper (num_embeddings = its table_rows), features default to the table name."""
    configs, mcc, device = _mc_collection(tables, embedding_dim, feature_names, device, pooling, "make_mc_ebc")
    ebc = EmbeddingBagCollection(tables=configs, device=device)
    return ManagedCollisionEmbeddingBagCollection(ebc, mcc, return_remapped_features=return_remapped_features)


def make_mc_ec(
    tables: Mapping[str, IdRemapper], embedding_dim: int, feature_names: Optional[Mapping[str, Sequence[str]]] = None,
    device: Optional[torch.device] = None, return_remapped_features: bool = False,
) -> ManagedCollisionEmbeddingCollection:
    """Unpooled (sequence) tables; only single-row strategies (one embedding per ID position)."""
    configs, mcc, device = _mc_collection(tables, embedding_dim, feature_names, device, None, "make_mc_ec")
    ec = EmbeddingCollection(tables=configs, device=device)
    return ManagedCollisionEmbeddingCollection(ec, mcc, return_remapped_features=return_remapped_features)


@torch.fx.wrap
def check_feature_names(features: KeyedJaggedTensor, expected: List[str]) -> KeyedJaggedTensor:
    """Raise if the KJT lacks a feature the tables expect (names both sides); returns the KJT unchanged."""
    keys = features.keys()
    missing: List[str] = []
    for f in expected:
        if f not in keys:
            missing.append(f)
    if len(missing) > 0:
        raise ValueError(
            "KeyedJaggedTensor lacks features " + str(missing) + " expected by the tables; it has " + str(keys)
        )
    return features


class KeyedTensorAdapter(nn.Module):
    """Wraps an MC-EBC so it returns only the KeyedTensor (what `torchrec.models.dlrm.DLRM` expects)."""

    def __init__(self, mc_ebc: ManagedCollisionEmbeddingBagCollection) -> None:
        super().__init__()
        if not isinstance(mc_ebc, ManagedCollisionEmbeddingBagCollection):
            raise TypeError(f"KeyedTensorAdapter wraps a ManagedCollisionEmbeddingBagCollection, got {type(mc_ebc).__name__}")
        self.mc_ebc = mc_ebc
        self._feature_names: List[str] = [
            f for c in mc_ebc._embedding_module.embedding_bag_configs() for f in c.feature_names
        ]

    def embedding_bag_configs(self) -> List[EmbeddingBagConfig]:
        return self.mc_ebc._embedding_module.embedding_bag_configs()

    def forward(self, features: KeyedJaggedTensor) -> KeyedTensor:
        features = check_feature_names(features, self._feature_names)
        return self.mc_ebc(features)[0]
