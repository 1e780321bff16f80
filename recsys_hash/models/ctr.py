"""TorchRec's CTR models over per-feature compressed tables: each sparse feature reaches its table through its own
remapper (`make_mc_ebc`), and `KeyedTensorAdapter` makes the MC-EBC a drop-in for the models' EBC.

    dlrm    torchrec.models.dlrm.DLRM (dot interaction)
    dcn     torchrec.models.dlrm.DLRM_DCN (DCNv2 low-rank cross layers)
    deepfm  torchrec.models.deepfm.SimpleDeepFMNN (its final sigmoid is dropped: the model returns logits)

Dense features are optional: with none (Frappe, ML-100K) the models get one constant 1.0 column, so the dense arch
learns a bias vector (TorchRec's MLP over 0 inputs would be a zero-fan-in layer left uninitialised).

    >>> tables = fit_ctr_tables(data, cfg.resolve(data.features, data.vocab, (data.user_field, data.item_field)))
    >>> model = CTRModel("dlrm", tables, dim=16, n_dense=0)
    >>> logits = model(dense, kjt)                      # float [B]
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys_hash.data.ctr_sets import CTRDataset
from recsys_hash.data.types import Interactions
from recsys_hash.integrations.collections import KeyedTensorAdapter, make_mc_ebc
from recsys_hash.models.ctr_config import FeatureSpec

#: std of an embedding row at initialisation (every table, whatever its size: a fair start for each strategy).
EMB_INIT_STD = 0.01
#: share of a graph feature's rows reserved for IDs without a positive training row (cold policy "cold_rows").
COLD_SHARE = 0.1
#: Graph-strategy params on CTR data where the feature's spec leaves them unset (chosen on Frappe's validation split,
#: DLRM, 25%, 3 seeds; see benchmarks/RESULTS.md, bench_ctr):
#:   cluster_share 1.0  every row a cluster row. GraphHash's own default ("auto") scores its candidates by retrieval
#:                      on the positive graph: on Frappe it averages 0.9420 against 0.9495 for 1.0 (fixed 0.5 / 0.25 /
#:                      0.1: 0.938 / 0.920 / 0.882); on ML-100K as CTR it is 0.003 ahead (0.7658 vs 0.7629, within
#:                      the seeds' spread). Give `cluster_share = "auto"` in the feature's params to use it anyway.
#:   binarize True      a (user, item) pair shown in several contexts is one edge, not a weight: 0.9516 against 0.9495
#:                      (ML-100K has one row per pair: no change there).
CTR_GRAPH_DEFAULTS = {"cluster_share": 1.0, "binarize": True}


def _graph_params(strategy: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The feature's strategy params, completed with CTR_GRAPH_DEFAULTS the strategy takes and the spec leaves unset."""
    from recsys_hash.ids.registry import strategy_params

    takes = strategy_params(strategy)
    return {**{k: v for k, v in CTR_GRAPH_DEFAULTS.items() if k in takes}, **params}


def graph_interactions(data: CTRDataset, fields: Sequence[str], positives_only: bool) -> Interactions:
    """Training rows as (field a, field b) pairs: the bipartite graph GraphHash clusters (rows missing either: dropped)."""
    a, b = data.train.categorical[fields[0]], data.train.categorical[fields[1]]
    keep = (a >= 0) & (b >= 0)
    if positives_only:
        keep &= data.train.labels > 0
    if not keep.any():
        raise ValueError(f"{data.name}: no training row links {fields[0]!r} and {fields[1]!r}"
                         + (" with a positive label" if positives_only else ""))
    return Interactions(a[keep], b[keep], data.vocab[fields[0]], data.vocab[fields[1]],
                        name=f"{data.name}:{fields[0]}x{fields[1]}{'+' if positives_only else ''}")


def _rows(spec: FeatureSpec, vocab: int) -> int:
    from recsys_hash.budget import resolve_budget

    return resolve_budget(spec.budget, vocab, "feature")


def fit_ctr_tables(data: CTRDataset, specs: Mapping[str, FeatureSpec], graph_fields: Optional[Sequence[str]] = None,
                   cold: str = "partial_fit", seed: int = 0, cold_share: float = COLD_SHARE,
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """feature -> fitted IdRemapper (+ a report of graph fitting). `full` owns a row for every code of the vocabulary;
    hashing/frequency strategies fit on the feature's training column; graph strategies on the graph of
    `graph_fields` over positive training rows, with CTR_GRAPH_DEFAULTS (cluster_share 1.0, binarize) where the
    spec leaves them unset. IDs with no positive row ("cold": on Frappe 30% of the rows, with a 4% click rate) are
    placed by `cold`:

        partial_fit  each cold ID joins the cluster most of its co-occurring IDs in all training rows belong to
                     (the default)
        cold_rows    the clusters fill (1 - cold_share) of the feature's rows; cold IDs are hashed (seeded) into
                     the remaining rows, which learn what never-clicked IDs look like
        hash         each cold ID keeps GraphHash's seeded hash row over all rows
    """
    from recsys_hash.ids import get_strategy

    graph_fields = tuple(graph_fields or (data.user_field, data.item_field))
    tables: dict[str, Any] = {}
    report: dict[str, Any] = {}
    graph_feats = [f for f in graph_fields if f in specs and get_strategy(specs[f].strategy).needs_interactions]
    for f, spec in specs.items():
        if f in graph_feats:
            continue
        cls = get_strategy(spec.strategy)
        if spec.strategy == "full":
            tables[f] = cls(seed=seed, **spec.params).fit(np.arange(data.vocab[f], dtype=np.int64))
        else:
            col = data.column("train", f)
            if col.size == 0:
                raise ValueError(f"{data.name}: feature {f!r} has no value in the training split to fit {spec.strategy}")
            tables[f] = cls(num_rows=_rows(spec, data.vocab[f]), seed=seed, **spec.params).fit(col)
    if graph_feats:
        sides = dict(zip(graph_fields, ("user", "item")))
        pos = graph_interactions(data, graph_fields, positives_only=True)
        groups: dict[tuple, list[str]] = {}
        for f in graph_feats:      # one clustering per (strategy, params) shared by both sides when they agree
            groups.setdefault((specs[f].strategy, repr(sorted(specs[f].params.items()))), []).append(f)
        every = graph_interactions(data, graph_fields, positives_only=False) if cold == "partial_fit" else None
        for (strategy, _), feats in groups.items():
            budget = {f: _rows(specs[f], data.vocab[f]) for f in feats}
            reserved = {f: _cold_rows(budget[f], cold_share) if cold == "cold_rows" else 0 for f in feats}
            rows = {sides[f]: budget[f] - reserved[f] for f in feats}
            params = _graph_params(strategy, specs[feats[0]].params)
            fitted = get_strategy(strategy).fit_sides(pos, rows=rows, seed=seed, **params)
            for f in feats:
                rem = fitted[sides[f]]
                n_clustered = int(rem.known_.sum())
                placed = (rem.partial_fit(every).partial_fit_report_ or {}).get("assigned", 0) if every else 0
                if reserved[f]:
                    placed = rem.reserve_rows(np.flatnonzero(~rem.known_[:data.vocab[f]]), reserved[f], seed)
                report[f] = {"graph": f"{graph_fields[0]} x {graph_fields[1]} (positive training rows)",
                             "graph_edges": len(pos), "ids_in_graph": n_clustered, "cold": cold,
                             "cluster_share": params.get("cluster_share"), "binarize": params.get("binarize"),
                             "cluster_share_chosen": float(getattr(rem, "cluster_share_", 1.0)),
                             "cold_rows": reserved[f], "cold_placed": int(placed),
                             "cold_hashed": data.vocab[f] - n_clustered - int(placed)}
                tables[f] = rem
    return {f: tables[f] for f in specs}, report


def _cold_rows(rows: int, share: float) -> int:
    """Rows set aside for cold IDs: round(rows * share), at least 1, leaving at least 1 row to the clusters."""
    return int(min(max(1, round(rows * share)), rows - 1)) if rows > 1 else 0


class CTRModel(nn.Module):
    """One of TorchRec's CTR models fed by per-feature MC-EBC tables; forward(dense [B, n_dense], KJT) -> logits [B].

    Args:
        kind: "dlrm" | "dcn" | "deepfm".
        tables: feature -> fitted IdRemapper (each feature is its own table, named after it).
        dim: embedding dimension (all tables).
        n_dense: dense input columns (0 allowed).
        hidden: width of the dense and over MLPs.
        dcn_layers / dcn_rank: DCNv2 cross layers and their low rank.
        init_std: std of the normal initialisation of every embedding row.
    """

    def __init__(self, kind: str, tables: Mapping[str, Any], dim: int = 16, n_dense: int = 0, hidden: int = 64,
                 dcn_layers: int = 2, dcn_rank: int = 16, init_std: float = EMB_INIT_STD) -> None:
        super().__init__()
        from torchrec.models.deepfm import SimpleDeepFMNN
        from torchrec.models.dlrm import DLRM, DLRM_DCN

        self.kind, self.n_dense, self.dim = kind, int(n_dense), int(dim)
        self.features = list(tables)
        sparse = KeyedTensorAdapter(make_mc_ebc(dict(tables), embedding_dim=dim))
        for bag in sparse.mc_ebc._embedding_module.embedding_bags.values():
            nn.init.normal_(bag.weight, 0.0, init_std)
        dense_in = max(self.n_dense, 1)
        if kind == "dlrm":
            self.net = DLRM(embedding_bag_collection=sparse, dense_in_features=dense_in,
                            dense_arch_layer_sizes=[hidden, dim], over_arch_layer_sizes=[hidden, hidden, 1])
        elif kind == "dcn":
            self.net = DLRM_DCN(embedding_bag_collection=sparse, dense_in_features=dense_in,
                                dense_arch_layer_sizes=[hidden, dim], over_arch_layer_sizes=[hidden, hidden, 1],
                                dcn_num_layers=dcn_layers, dcn_low_rank_dim=dcn_rank)
        elif kind == "deepfm":
            self.net = SimpleDeepFMNN(num_dense_features=dense_in, embedding_bag_collection=sparse,
                                      hidden_layer_size=hidden, deep_fm_dimension=dim)
            self.net.over_arch.model[-1] = nn.Identity()     # logits out; the loss applies the sigmoid
        else:
            raise ValueError(f"unknown model {kind!r}; choose one of dlrm, dcn, deepfm")

    @property
    def sparse(self) -> KeyedTensorAdapter:
        """The MC-EBC adapter inside the TorchRec model (registered there once, not twice)."""
        return self.net.sparse_arch.embedding_bag_collection

    def embedding_parameters(self) -> list[nn.Parameter]:
        return list(self.sparse.parameters())

    def dense_parameters(self) -> list[nn.Parameter]:
        emb = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in emb]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def table_rows(self) -> dict[str, int]:
        return {c.name: c.num_embeddings for c in self.sparse.embedding_bag_configs()}

    def forward(self, dense: torch.Tensor, features: KeyedJaggedTensor) -> torch.Tensor:
        if self.n_dense == 0:
            dense = torch.ones(features.stride(), 1)
        return self.net(dense, features).reshape(-1)
