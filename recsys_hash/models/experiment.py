"""One recall experiment: split, fit the strategy on the training graph, tune lr x reg on validation, test.

Protocol (the GraphHash / LightGCN one): BPR with one uniform negative per positive, early stopping on
validation Recall@20. When the dataset has no validation split (the LightGCN line-format sets), one is
carved from each user's training items (`valid_fraction`, seeded); the model and the strategy then see
only the remaining training pairs, and the test ranking masks every known pair (train + validation).
Every strategy gets the same grid; the best (lr, reg) on validation is kept and reported.
With a carved validation split, the reported model is then retrained on the WHOLE training set (remapper refitted
on it too) with the chosen (lr, reg) for exactly the best epoch count; the tuned model's figures stay in the JSON
under `carved` (its validation and test Recall/NDCG).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from recsys_hash.data.types import InteractionDataset, Interactions
from recsys_hash.eval.metrics import parse_ks
from recsys_hash.eval.ranking import embedding_scorer, evaluate_ranking, popularity_scorer
from recsys_hash.models.retrieval import build_model
from recsys_hash.models.sampling import carve_validation
from recsys_hash.models.tables import fit_remappers, remapper_fingerprint
from recsys_hash.models.train_retrieval import TrainConfig, check_checkpoint_path, train_bpr

MODELS = ("mf", "lightgcn", "popular")


@dataclass
class Split:
    """fit: pairs the model/strategy learn from; valid: early stopping; known: every pair masked at test."""

    fit: Interactions
    valid: Interactions
    known: Interactions
    test: Interactions
    valid_source: str
    carved: bool = False          # validation carved from training: the final model retrains on `known`


def make_split(data: InteractionDataset, valid_fraction: float = 0.1, seed: int = 0) -> Split:
    """Use the dataset's validation split if it has one, else carve one from training (seeded, per user)."""
    if data.valid is not None and len(data.valid):
        known = _concat(data.train, data.valid)
        return Split(data.train, data.valid, known, data.test, "dataset validation split")
    fit, valid = carve_validation(data.train, valid_fraction, seed)
    return Split(fit, valid, data.train, data.test,
                 f"carved: {valid_fraction:.0%} of each user's training items (seed {seed}); tuned on the rest, "
                 "final model retrained on all training pairs", carved=True)


def _concat(a: Interactions, b: Interactions) -> Interactions:
    return Interactions(np.concatenate([a.user, b.user]), np.concatenate([a.item, b.item]), a.n_users, a.n_items,
                        name=f"{a.name}+{b.name}")


def fit_strategy(strategy: str, fit: Interactions, budget: float | int, seed: int, **params: Any) -> dict[str, Any]:
    """Fitted remappers per side. `full` is fitted on the whole vocabulary so cold IDs own a row too."""
    if strategy == "full":
        from recsys_hash.ids import get_strategy
        from recsys_hash.ids.registry import check_params

        if budget != 1.0:
            raise ValueError(f"strategy 'full' keeps every row: its budget is 1.0, got {budget!r}")
        check_params("full", params)
        cls = get_strategy("full")
        return {side: cls(seed=seed, **params).fit(np.arange(n, dtype=np.int64))   # rows: vocabulary (+ OOV rows)
                for side, n in (("user", fit.n_users), ("item", fit.n_items))}
    return fit_remappers(strategy, fit, budget, seed=seed, **params)


def run_recall(data: InteractionDataset, model: str = "mf", strategy: str = "full", budget: float | int = 1.0,
               seed: int = 0, dim: int = 64, layers: int = 3, ks: Sequence[int] | str = (20,),
               lrs: Sequence[float] = (5e-3,), regs: Sequence[float] = (1e-4,), config: Optional[TrainConfig] = None,
               valid_fraction: float = 0.1, strategy_params: Optional[dict] = None,
               split: Optional[Split] = None, remappers: Optional[dict[str, Any]] = None,
               final_remappers: Optional[dict[str, Any]] = None, retrain: bool = True,
               on_epoch: Optional[Callable[[int], None]] = None) -> dict[str, Any]:
    """Train and test one (model, strategy, budget, seed); returns the JSON-ready result (see CLI docs).

    `remappers` (side -> fitted IdRemapper) skips fitting: the audit fits and measures them itself.
    With a carved split and `retrain`, the final model is trained on all training pairs (`split.known`) for the
    best epoch count, over `final_remappers` (default: the strategy refitted on `split.known`; the given
    `remappers` when the strategy cannot be refitted, i.e. `remappers` came without `final_remappers`).
    Checkpoint paths are checked before anything is fitted; a checkpoint records strategy, parameters, budget,
    dataset and remapper fingerprints, and resuming refuses one made by another run.
    `on_epoch(epoch)` is called after every training epoch of every grid point (progress).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    ks = parse_ks(ks)
    if 20 not in ks:
        ks = sorted(set(ks) | {20})
    cfg = replace(config or TrainConfig(), seed=seed)
    if model == "popular":
        _refuse_ignored(strategy, budget, strategy_params, cfg.checkpoint)
    grid = [(lr, reg, _trial_path(cfg.checkpoint, lr, reg, lrs, regs)) for lr in lrs for reg in regs]
    for *_, path in grid:
        if path is not None:
            check_checkpoint_path(path)
    split = split or make_split(data, valid_fraction, seed)
    full_rows = data.n_users + data.n_items
    out: dict[str, Any] = {"dataset": data.name, "model": model, "seed": seed, "valid_source": split.valid_source,
                           "full_rows": full_rows, "n_users": data.n_users, "n_items": data.n_items}
    if model == "popular":
        res = evaluate_ranking(popularity_scorer(split.known), split.known, split.test, ks)
        out.update(strategy="none", budget=None, rows_user=0, rows_item=0, params=0, train_s=0.0,
                   eval_s=res.eval_s, **res.metrics, **_counts(res))
        return out
    t0 = time.perf_counter()
    remappers_given = remappers is not None
    if remappers is None:
        remappers = fit_strategy(strategy, split.fit, budget, seed, **(strategy_params or {}))
    fit_s = time.perf_counter() - t0
    provenance = {"strategy": strategy, "strategy_params": strategy_params or {}, "budget": budget, "model": model,
                  "dim": dim, "layers": layers if model == "lightgcn" else None, "dataset": data.name,
                  **{f"{side}_remapper_sha256": remapper_fingerprint(r) for side, r in remappers.items()}}
    best: Optional[tuple] = None
    trials = []
    for lr, reg, path in grid:
        net = build_model(model, remappers, split.fit, dim=dim, layers=layers, seed=seed)
        res = train_bpr(net, split.fit, split.valid, replace(cfg, lr=lr, reg=reg, checkpoint=path), provenance,
                        on_epoch=on_epoch)
        trials.append({"lr": lr, "reg": reg, "valid_recall@20": res.best_valid, "best_epoch": res.best_epoch,
                       "train_s": res.train_s + res.valid_eval_s})
        if best is None or res.best_valid > best[0].best_valid:
            best = (res, net, lr, reg)
    res, net, lr, reg = best
    test = _test(net, split, ks, cfg)
    carved = {"valid_recall@20": res.best_valid, **{f"test_{k}": v for k, v in test.metrics.items()}}
    tuned_clustering = _clustering(remappers)
    final_s = 0.0
    if retrain and split.carved:
        t0 = time.perf_counter()
        if final_remappers is None:
            final_remappers = remappers if remappers_given else fit_strategy(strategy, split.known, budget, seed,
                                                                   **(strategy_params or {}))
        epochs = max(res.best_epoch, 1)
        net = build_model(model, final_remappers, split.known, dim=dim, layers=layers, seed=seed)
        final_cfg = replace(cfg, lr=lr, reg=reg, epochs=epochs, checkpoint=None, resume=False)
        train_bpr(net, split.known, None, final_cfg, provenance, on_epoch=on_epoch)   # no validation: last weights
        final_s = time.perf_counter() - t0
        test = _test(net, split, ks, cfg)
        remappers = final_remappers
    emb = net.emb
    out.update(
        strategy=strategy, budget=budget, dim=dim, rows_user=emb.table_rows["user"], rows_item=emb.table_rows["item"],
        rows_per_id={s: emb.rows_per_id[s] for s in emb.sides}, params=emb.num_parameters(),
        lr=lr, reg=reg, best_epoch=res.best_epoch, epochs_run=res.epochs_run, stopped_early=res.stopped_early,
        valid_recall=res.best_valid, fit_s=fit_s, train_s=sum(t["train_s"] for t in trials) + final_s,
        final_train_s=final_s, retrained=bool(retrain and split.carved), carved=carved,
        eval_s=test.eval_s, trials=trials, **test.metrics, **_counts(test),
    )
    clustering = _clustering(remappers)
    if clustering:
        out["clustering"] = clustering
        out["tuning_clustering"] = tuned_clustering
    if model == "lightgcn":
        out["layers"] = layers
    return out


def _test(net: Any, split: Split, ks: Sequence[int], cfg: TrainConfig) -> Any:
    """Full-ranking test metrics of a trained model, every known (train + validation) pair masked."""
    net.eval()
    with torch.no_grad():
        users, items = net.final_embeddings()
    return evaluate_ranking(embedding_scorer(users, items), split.known, split.test, ks, chunk_size=cfg.eval_chunk)


def _clustering(remappers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per side, the graph strategies' choice: cluster_share (cluster rows / rows), resolution, whether automatic."""
    out = {}
    for side, rem in remappers.items():
        summary = getattr(rem, "clustering_summary_", None)
        if summary is not None:
            out[side] = {"cluster_share": summary.get("cluster_share"), "resolution": summary["resolution"],
                         "n_clusters": summary[f"n_{side}_clusters"], "auto": "auto" in summary}
    return out


def _refuse_ignored(strategy: str, budget: float | int, strategy_params: Optional[dict],
                    checkpoint: Optional[str]) -> None:
    """Most-popular ranking has no tables: a strategy, budget, parameters or checkpoint would be silently ignored."""
    ignored = [f"{k}={v!r}" for k, v, default in (("strategy", strategy, "full"), ("budget", budget, 1.0),
                                                  ("strategy_params", strategy_params or {}, {}),
                                                  ("checkpoint", checkpoint, None)) if v != default]
    if ignored:
        raise ValueError(f"model 'popular' ranks items by training popularity and has no ID tables: "
                         f"{', '.join(ignored)} would be ignored (use model 'mf' or 'lightgcn')")


def _trial_path(path: Optional[str], lr: float, reg: float, lrs: Sequence[float], regs: Sequence[float]):
    """One checkpoint per grid point when tuning (`ckpt.lr0.005-reg0.0001.safetensors`), else `path` itself."""
    if path is None or len(lrs) * len(regs) == 1:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}.lr{lr:g}-reg{reg:g}{p.suffix}"))


def _counts(res: Any) -> dict[str, int]:
    return {"n_users_evaluated": res.n_users_evaluated, "n_cold_users": res.n_cold_users,
            "n_unseen_test_items": res.n_unseen_test_items, "n_overlap_dropped": res.n_overlap_dropped}
