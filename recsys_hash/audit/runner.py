"""Run a compression audit: fit every strategy at every budget, measure memory, collisions and quality.

Adding a task type (CTR, sequences) is adding one evaluator in `evaluators.py`; the runner does not change.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from recsys_hash.audit.memory import dtype_bytes, mapping_bytes, table_bytes
from recsys_hash.budget import BUDGET_RULE, check_budget
from recsys_hash.ids.registry import get_strategy, strategy_names
from recsys_hash.ids.stats import collision_stats

REFERENCE = "full"


def default_strategies() -> list[str]:
    """Every registered strategy but the uncompressed reference and those that need extra inputs to differ from
    another (`IdRemapper.in_default_audit`, e.g. `dedup`); the registry is the one list."""
    return [name for name in strategy_names() if name != REFERENCE and get_strategy(name).in_default_audit]



DEFAULT_BUDGETS = (0.25, 0.10)


@dataclass
class AuditConfig:
    """What to audit: strategies x budgets (fractions of each side's vocabulary or row counts), table dim/dtype, seeds."""

    strategies: Sequence[str] = field(default_factory=default_strategies)
    budgets: Sequence[float] = DEFAULT_BUDGETS
    dim: int = 64
    dtype: str = "float32"
    seeds: Sequence[int] = (0,)
    include_full: bool = True

    def validate(self) -> None:
        """Raise ValueError before any work starts: unknown strategies, bad budgets, bad dim/dtype, and any strategy,
        budget or seed given twice."""
        if not self.strategies:
            raise ValueError("audit: give at least one strategy")
        for name in self.strategies:
            get_strategy(name)  # raises "unknown strategy ...; known strategies: ..."
        if not self.budgets:
            raise ValueError("audit: give at least one budget")
        for b in self.budgets:
            try:
                check_budget(b)
            except ValueError:
                raise ValueError(f"audit: budget {b!r} is outside (0, 1] and not a whole row count >= 2 "
                                 f"(budgets are {BUDGET_RULE})") from None
        if self.dim < 1:
            raise ValueError(f"audit: dim must be >= 1, got {self.dim}")
        dtype_bytes(self.dtype)
        if not self.seeds:
            raise ValueError("audit: give at least one seed")
        _no_repeats("strategy", self.strategies, repr)
        _no_repeats("budget", [float(b) for b in self.budgets], lambda v: f"{v:g}")
        _no_repeats("seed", [int(s) for s in self.seeds], str)


def _no_repeats(what: str, values: Sequence[Any], show: Callable[[Any], str]) -> None:
    """Raise ValueError naming the first value given twice (each would be fitted and trained again)."""
    seen: set = set()
    for v in values:
        if v in seen:
            raise ValueError(f"audit: {what} {show(v)} is given twice; list each {what} once")
        seen.add(v)


@dataclass
class AuditResult:
    """One row per (strategy, budget): aggregated over seeds (mean, and *_std for quality)."""

    dataset: str
    task: str
    primary_metric: str
    config: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    floor: Optional[dict[str, Any]] = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_writable(out_dir: str | os.PathLike) -> Path:
    """Create `out_dir` if needed and prove it is writable, before any training starts."""
    path = Path(out_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ValueError(f"audit: output folder {path} is not writable: {exc.strerror or exc}") from exc
    return path


def run_audit(evaluator: Any, config: AuditConfig, progress: Optional[Callable[[str], None]] = None) -> AuditResult:
    """Fit, measure and evaluate every (strategy, budget); `evaluator` supplies data, sides and quality.

    Memory is what serving stores: `serving_bytes` = embedding parameters + the ID -> row mapping (`mapping_bytes`).
    `compression_ratio` and `reduction` compare it with the full reference's serving bytes (its tables plus its
    key -> row table of every ID); `param_compression_ratio` compares the embedding parameters alone.
    """
    config.validate()
    say = progress or (lambda _msg: None)
    reference = _memory(evaluator.fit_tables(REFERENCE, 1.0, config.seeds[0]), config)
    plan = audit_plan(config)
    result = AuditResult(
        dataset=evaluator.name, task=evaluator.task, primary_metric=evaluator.primary,
        config={**asdict(config), "strategies": list(config.strategies), "budgets": list(config.budgets),
                "seeds": list(config.seeds)},
    )
    result.floor = evaluator.floor()
    for i, (strategy, budget) in enumerate(plan, 1):
        say(f"[{i}/{len(plan)}] {strategy} @ {budget:g}")
        per_seed = [_audit_one(evaluator, config, strategy, budget, seed, reference) for seed in config.seeds]
        result.rows.append(_aggregate(per_seed, evaluator.metrics))
    return result


def audit_plan(config: AuditConfig) -> list[tuple[str, float | int]]:
    """The (strategy, budget) cells in run order: the full reference first, then strategies x budgets."""
    plan: list[tuple[str, float | int]] = [(REFERENCE, 1.0)] if config.include_full else []
    return plan + [(s, check_budget(b)) for s in config.strategies if s != REFERENCE for b in config.budgets]


def _memory(tables: dict[str, Any], config: AuditConfig) -> dict[str, int]:
    """Parameter, mapping and serving bytes of one fitted table per side."""
    params = sum(table_bytes(r.table_rows, config.dim, config.dtype) for r in tables.values())
    mapping = sum(mapping_bytes(r) for r in tables.values())
    return {"param_bytes": params, "mapping_bytes": mapping, "serving_bytes": params + mapping}


def _audit_one(evaluator: Any, config: AuditConfig, strategy: str, budget: float, seed: int,
               reference: dict[str, int]) -> dict[str, Any]:
    t0 = time.perf_counter()
    tables = evaluator.fit_tables(strategy, budget, seed)
    fit_s = time.perf_counter() - t0
    row: dict[str, Any] = {"strategy": strategy, "budget": budget, "seed": seed, "fit_s": fit_s}
    for side, remapper in tables.items():
        row[f"rows_{side}"] = remapper.table_rows
        ids, counts = evaluator.side_counts(side)
        for key, value in collision_stats(remapper.transform(ids), counts, remapper.table_rows).items():
            row[f"{side}_{key}"] = value
    mem = _memory(tables, config)
    full_serving, full_params = reference["serving_bytes"], reference["param_bytes"]
    row.update(
        **mem, full_serving_bytes=full_serving, full_param_bytes=full_params,
        compression_ratio=full_serving / mem["serving_bytes"], reduction=1.0 - mem["serving_bytes"] / full_serving,
        param_compression_ratio=full_params / mem["param_bytes"],
    )
    row.update(evaluator.evaluate(tables, dim=config.dim, seed=seed))
    return row


def _aggregate(per_seed: list[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    """Mean over seeds for numbers; quality metrics also get `<metric>_std`."""
    out = dict(per_seed[0])
    out.pop("seed", None)
    out["seeds"] = [r["seed"] for r in per_seed]
    for key, value in per_seed[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("budget", "seed"):
            vals = np.array([r[key] for r in per_seed], dtype=np.float64)
            out[key] = float(vals.mean()) if isinstance(value, float) else type(value)(round(vals.mean()))
            if key in metrics:
                out[f"{key}_std"] = float(vals.std(ddof=0))
    return out
