"""Per-feature configuration of a CTR model: which ID strategy and row budget each sparse feature's table gets.

    model = "dlrm"            # dlrm | dcn | deepfm
    dim = 16
    [default]                 # every feature not named below
    strategy = "full"
    [features.user]
    strategy = "graphhash"
    budget = 0.25             # fraction of the feature's vocabulary in (0, 1], or a row count >= 2
    params = { cluster_share = 1.0 }
    [graph]
    fields = ["user", "item"] # GraphHash's graph: co-occurrence of these two fields over positive training rows
    cold = "partial_fit"      # IDs with no positive row: placed by their co-occurrences in all training rows
    cold_share = 0.1          #   ("cold_rows": hashed into cold_share of the rows, kept for them; "hash": any row)
    [train]                   # any CTRTrainConfig field (epochs, batch_size, lr, emb_lr, emb_optimizer, ...)
    epochs = 10

`resolve(features, vocab)` checks every name before any training: an unknown feature or strategy, a parameter the
strategy does not take, or a budget outside the rules raises ValueError naming the offender and the valid choices.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from recsys_hash.budget import check_budget, parse_budget

MODEL_KINDS = ("dlrm", "dcn", "deepfm")
COLD_POLICIES = ("partial_fit", "cold_rows", "hash")


@dataclass(frozen=True)
class FeatureSpec:
    """How one feature's IDs become rows: strategy name, budget (None = the whole vocabulary), strategy params."""

    strategy: str = "full"
    budget: Optional[float | int] = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CTRConfig:
    """Model and per-feature table settings. `features` names only the features that differ from `default`."""

    model: str = "dlrm"
    dim: int = 16
    default: FeatureSpec = field(default_factory=FeatureSpec)
    features: dict[str, FeatureSpec] = field(default_factory=dict)
    graph_fields: Optional[tuple[str, str]] = None
    cold: str = "partial_fit"
    cold_share: float = 0.1
    train: dict[str, Any] = field(default_factory=dict)

    def with_strategy(self, strategy: str, budget: float | int | None, names: Sequence[str],
                      params: Optional[Mapping[str, Any]] = None) -> "CTRConfig":
        """A copy where each feature in `names` uses `strategy` at `budget` (the CLI's --strategy/--budget)."""
        spec = FeatureSpec(strategy, budget, dict(params or {}))
        return replace(self, features={**self.features, **{n: spec for n in names}})

    def resolve(self, features: Sequence[str], vocab: Mapping[str, int],
                graph_default: tuple[str, str]) -> dict[str, FeatureSpec]:
        """feature -> checked FeatureSpec for every feature of the dataset (budget None for `full`)."""
        from recsys_hash.ids.registry import check_params, get_strategy, strategy_names

        if self.model not in MODEL_KINDS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODEL_KINDS)}")
        if self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")
        if self.cold not in COLD_POLICIES:
            raise ValueError(f"graph cold policy must be one of {', '.join(COLD_POLICIES)}, got {self.cold!r}")
        if not 0.0 < self.cold_share < 1.0:
            raise ValueError(f"graph cold_share must be in (0, 1), got {self.cold_share!r}")
        unknown = [f for f in self.features if f not in features]
        if unknown:
            raise ValueError(f"unknown feature {unknown[0]!r} in the config; this dataset's features are: "
                             f"{', '.join(features)}")
        graph = self.graph_fields or graph_default
        if len(graph) != 2 or graph[0] == graph[1] or any(g not in features for g in graph):
            raise ValueError(f"graph fields must be two distinct features of the dataset ({', '.join(features)}), "
                             f"got {list(graph)}")
        out = {}
        for f in features:
            spec = self.features.get(f, self.default)
            where = f"feature {f!r}"
            if spec.strategy not in strategy_names():
                raise ValueError(f"{where}: unknown strategy {spec.strategy!r}; known strategies: "
                                 f"{', '.join(strategy_names())}")
            try:
                check_params(spec.strategy, dict(spec.params))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            budget = spec.budget
            if spec.strategy == "full":
                if budget not in (None, 1.0, 1):
                    raise ValueError(f"{where}: strategy 'full' keeps every row; its budget is 1.0, got {budget!r}")
                budget = None
            else:
                if budget is None:
                    raise ValueError(f"{where}: strategy {spec.strategy!r} needs a budget (fraction or row count)")
                budget = check_budget(budget, f"{where}: budget")
                if isinstance(budget, int) and budget > vocab[f]:
                    raise ValueError(f"{where}: budget of {budget} rows exceeds its vocabulary of {vocab[f]} IDs")
            if get_strategy(spec.strategy).needs_interactions and f not in graph:
                raise ValueError(f"{where}: strategy {spec.strategy!r} clusters the graph of {graph[0]!r} x "
                                 f"{graph[1]!r}; only those two features can use it")
            out[f] = FeatureSpec(spec.strategy, budget, dict(spec.params))
        return out


def _spec(raw: Any, where: str) -> FeatureSpec:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table with strategy/budget/params, got {raw!r}")
    extra = set(raw) - {"strategy", "budget", "params"}
    if extra:
        raise ValueError(f"{where}: unknown key {sorted(extra)[0]!r}; valid keys: strategy, budget, params")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"{where}.params must be a table, got {params!r}")
    return FeatureSpec(str(raw.get("strategy", "full")), raw.get("budget"), dict(params))


def config_from_dict(raw: Mapping[str, Any], where: str = "config") -> CTRConfig:
    """A parsed TOML document -> CTRConfig; unknown top-level or section keys are errors naming the valid ones."""
    top = {"model", "dim", "default", "features", "graph", "train"}
    extra = set(raw) - top
    if extra:
        raise ValueError(f"{where}: unknown key {sorted(extra)[0]!r}; valid keys: {', '.join(sorted(top))}")
    graph = raw.get("graph", {})
    bad = set(graph) - {"fields", "cold", "cold_share"}
    if bad:
        raise ValueError(f"{where}: unknown key {sorted(bad)[0]!r} in [graph]; valid keys: cold, cold_share, fields")
    train = dict(raw.get("train", {}))
    from recsys_hash.models.train_ctr import CTRTrainConfig

    valid_train = {f.name for f in fields(CTRTrainConfig)}
    bad = set(train) - valid_train
    if bad:
        raise ValueError(f"{where}: unknown key {sorted(bad)[0]!r} in [train]; valid keys: "
                         f"{', '.join(sorted(valid_train))}")
    feats = raw.get("features", {})
    if not isinstance(feats, dict):
        raise ValueError(f"{where}: [features] must be a table of feature tables")
    return CTRConfig(
        model=str(raw.get("model", "dlrm")), dim=int(raw.get("dim", 16)),
        default=_spec(raw.get("default", {}), f"{where} [default]"),
        features={name: _spec(spec, f"{where} [features.{name}]") for name, spec in feats.items()},
        graph_fields=tuple(graph["fields"]) if "fields" in graph else None,
        cold=str(graph.get("cold", "partial_fit")), cold_share=float(graph.get("cold_share", 0.1)), train=train,
    )


def load_config(path: str | os.PathLike) -> CTRConfig:
    """Read a TOML config file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None
    return config_from_dict(raw, where=str(path))


def parse_feature_override(text: str) -> tuple[str, FeatureSpec]:
    """'user=graphhash:0.25' / 'city=full' (the CLI's --feature) -> (name, FeatureSpec)."""
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise ValueError(f"--feature {text!r}: expected NAME=STRATEGY[:BUDGET]")
    strategy, _, budget = rest.partition(":")
    value = parse_budget(budget, f"--feature {text!r}: budget") if budget else None
    return name.strip(), FeatureSpec(strategy.strip(), value)
