"""CTR evaluator for the compression audit: the user and item features go through each strategy at each budget (the
other features keep full tables); a DLRM is trained briefly and tested on AUC / logloss (see `train_ctr`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np


class CTREvaluator:
    """CTR rows: sides are the dataset's user and item features; quality is test AUC (primary) and logloss."""

    task = "ctr"
    metrics = ("auc", "logloss")
    primary = "auc"

    def __init__(self, data, model: str = "dlrm", epochs: Optional[int] = None,
                 params: Optional[dict[str, dict]] = None, on_epoch: Optional[Callable[[int], None]] = None):
        from recsys_hash.audit.evaluators import check_epochs
        from recsys_hash.models.ctr_config import MODEL_KINDS
        from recsys_hash.models.train_ctr import CTRTrainConfig

        if model not in MODEL_KINDS:
            raise ValueError(f"audit --task ctr: model must be one of {', '.join(MODEL_KINDS)}, got {model!r}")
        self.data, self.model, self.name = data, model, data.name
        self.fields = {"user": data.user_field, "item": data.item_field}
        self.train = CTRTrainConfig(epochs=check_epochs(epochs), progress=False)   # early stopping on valid AUC
        #: strategy -> its parameters (`--param`); `on_epoch(epoch)` is called after every training epoch.
        self.params, self.on_epoch = dict(params or {}), on_epoch

    @property
    def epochs_per_cell(self) -> int:
        """Most epochs one (strategy, budget, seed) trains (progress totals)."""
        return self.train.epochs

    def vocab(self) -> dict[str, int]:
        return {side: self.data.vocab[f] for side, f in self.fields.items()}

    def _config(self, strategy: str, budget: float, dim: int = 16):
        from recsys_hash.models.ctr_config import CTRConfig

        return CTRConfig(model=self.model, dim=dim).with_strategy(
            strategy, None if strategy == "full" else budget, list(self.fields.values()), self.params.get(strategy))

    def fit_tables(self, strategy: str, budget: float, seed: int) -> dict[str, Any]:
        from recsys_hash.models.ctr import fit_ctr_tables

        specs = self._config(strategy, budget).resolve(self.data.features, self.data.vocab, tuple(self.fields.values()))
        only = {f: specs[f] for f in self.fields.values()}
        tables, _ = fit_ctr_tables(self.data, only, tuple(self.fields.values()), seed=seed)
        return {side: tables[f] for side, f in self.fields.items()}

    def side_counts(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        n = self.vocab()[side]
        return np.arange(n, dtype=np.int64), np.bincount(self.data.column("train", self.fields[side]), minlength=n)

    def evaluate(self, tables: dict[str, Any], dim: int, seed: int) -> dict[str, Any]:
        from recsys_hash.models.ctr import fit_ctr_tables
        from recsys_hash.models.ctr_config import CTRConfig
        from recsys_hash.models.train_ctr import run_ctr

        cfg = CTRConfig(model=self.model, dim=dim)
        specs = cfg.resolve(self.data.features, self.data.vocab, tuple(self.fields.values()))
        rest = {f: s for f, s in specs.items() if f not in self.fields.values()}
        others, _ = fit_ctr_tables(self.data, rest, tuple(self.fields.values()), seed=seed) if rest else ({}, {})
        all_tables = {f: tables[self._side_of(f)] if self._side_of(f) else others[f] for f in self.data.features}
        res, _, _ = run_ctr(self.data, cfg, self.train, seed=seed, tables=all_tables, on_epoch=self.on_epoch)
        return {k: res[k] for k in ("auc", "logloss", "gauc", "train_s", "best_epoch", "logloss_epoch")}

    def _side_of(self, feature: str) -> Optional[str]:
        return next((s for s, f in self.fields.items() if f == feature), None)

    def floor(self) -> dict[str, Any]:
        """Predicting the training click rate for every row: AUC 0.5 and the base-rate logloss."""
        from recsys_hash.eval.ctr_metrics import logloss

        p = float(self.data.train.labels.mean())
        y = self.data.test.labels
        return {"name": "base rate", "auc": 0.5, "logloss": logloss(y, np.full(y.shape, p))}


def make_ctr_evaluator(dataset: Optional[str], dataset_path: Optional[Path], model: str = "dlrm",
                       epochs: Optional[int] = None, **options: Any) -> CTREvaluator:
    """The CTR evaluator for frappe / ml-100k / criteo (path) or, with neither, the embedded synthetic CTR set.
    `options` go to `CTREvaluator` (params, on_epoch)."""
    from recsys_hash.data.ctr_cache import default_cache_dir
    from recsys_hash.data.ctr_sets import load_ctr_dataset

    # criteo goes through the memory-mapped cache as in train-ctr (the other datasets ignore cache_dir)
    data = load_ctr_dataset(dataset, dataset_path, seed=0, cache_dir=default_cache_dir())
    return CTREvaluator(data, model=model, epochs=epochs, **options)
