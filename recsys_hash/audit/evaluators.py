"""Evaluators: what the audit trains and measures for one task. Adding a task (CTR, sequences) = one class here.

An evaluator provides: `name`, `task`, `metrics`, `primary`; `vocab()` (side -> IDs); `fit_tables(strategy,
budget, seed)` (side -> fitted IdRemapper); `side_counts(side)` (IDs and their training frequency, for collision
statistics); `evaluate(tables, dim, seed)` (quality + timings); `floor()` (a trivial baseline, or None).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from recsys_hash.data.types import InteractionDataset

#: Audit tasks: what `make_evaluator` builds.
TASKS = ("retrieval", "ctr")

#: Training epochs when `--epochs` is not given.
DEFAULT_EPOCHS = 20


def check_epochs(epochs: Optional[int]) -> int:
    """`--epochs` as given (None -> DEFAULT_EPOCHS); 0, negatives and non-integers are a ValueError naming it."""
    if epochs is None:
        return DEFAULT_EPOCHS
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"audit: --epochs must be a positive number of epochs, got {epochs!r}")
    return int(epochs)


class RetrievalEvaluator:
    """Interaction data: train MF-BPR (or LightGCN) on each strategy's tables, full-ranking Recall/NDCG@20."""

    task = "retrieval"
    metrics = ("recall@20", "ndcg@20")
    primary = "recall@20"

    def __init__(self, data: InteractionDataset, model: str = "mf", epochs: Optional[int] = None,
                 lrs: tuple[float, ...] = (5e-3,), regs: tuple[float, ...] = (1e-4,), valid_fraction: float = 0.1,
                 batch_size: int = 4096, patience: int = 3, params: Optional[dict[str, dict]] = None,
                 on_epoch: Optional[Callable[[int], None]] = None):
        from recsys_hash.models.experiment import MODELS, make_split
        from recsys_hash.models.train_retrieval import TrainConfig

        if model not in MODELS or model == "popular":
            raise ValueError(f"audit: model must be 'mf' or 'lightgcn', got {model!r}")
        self.data, self.model, self.name = data, model, data.name
        self.lrs, self.regs = tuple(lrs), tuple(regs)
        self.split = make_split(data, valid_fraction, seed=0)
        self.config = TrainConfig(epochs=check_epochs(epochs), batch_size=batch_size, patience=patience, progress=False)
        #: strategy -> its parameters (`--param`); `on_epoch(epoch)` is called after every training epoch.
        self.params, self.on_epoch = dict(params or {}), on_epoch
        self._last: Optional[tuple] = None        # (tables, strategy, budget, seed) of the last `fit_tables`
        from recsys_hash.ids import create

        for name, given in self.params.items():      # a bad value is an error now, not after the first cells
            if given:
                create(name, num_rows=2, **given)

    @property
    def epochs_per_cell(self) -> int:
        """Most epochs one (strategy, budget, seed) trains: max epochs x (the lr x reg grid + the final retrain on
        the whole training set) (progress totals)."""
        return self.config.epochs * (len(self.lrs) * len(self.regs) + int(self.split.carved))

    def vocab(self) -> dict[str, int]:
        return {"user": self.data.n_users, "item": self.data.n_items}

    def fit_tables(self, strategy: str, budget: float, seed: int) -> dict[str, Any]:
        """The final tables: fitted on the whole training set (what the audit measures and the quality reports)."""
        from recsys_hash.models.experiment import fit_strategy

        tables = fit_strategy(strategy, self.split.known, budget, seed, **self.params.get(strategy, {}))
        self._last = (tables, strategy, budget, seed)
        return tables

    def side_counts(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        n = self.vocab()[side]
        col = self.split.known.user if side == "user" else self.split.known.item
        return np.arange(n, dtype=np.int64), np.bincount(col, minlength=n)

    def evaluate(self, tables: dict[str, Any], dim: int, seed: int) -> dict[str, Any]:
        """Tune lr x reg and the epoch count on the carved validation (the strategy refitted on the carved
        training pairs), then retrain on the whole training set over `tables` and test that model.
        Tables that `fit_tables` did not make last are used for tuning as well."""
        from recsys_hash.models.experiment import fit_strategy, run_recall

        last, tuning = self._last, tables
        if last is not None and last[0] is tables and self.split.carved:
            _, strategy, budget, fit_seed = last
            tuning = fit_strategy(strategy, self.split.fit, budget, fit_seed, **self.params.get(strategy, {}))
        res = run_recall(self.data, model=self.model, strategy="audit", seed=seed, dim=dim, lrs=self.lrs,
                         regs=self.regs, config=replace(self.config, seed=seed), split=self.split, remappers=tuning,
                         final_remappers=tables, on_epoch=self.on_epoch)
        keep = ("recall@20", "ndcg@20", "train_s", "eval_s", "lr", "reg", "best_epoch", "carved", "clustering")
        return {k: res[k] for k in keep if k in res}

    def floor(self) -> dict[str, Any]:
        from recsys_hash.models.experiment import run_recall

        res = run_recall(self.data, model="popular", split=self.split)
        return {"name": "most-popular", "recall@20": res["recall@20"], "ndcg@20": res["ndcg@20"]}


def default_dataset() -> InteractionDataset:
    """The embedded default: the seeded planted-community set (`DEFAULT_PLANTED`) split 80/20 per interaction."""
    from recsys_hash.data.synthetic_graph import DEFAULT_PLANTED, default_planted

    inter, _, _ = default_planted()
    rng = np.random.default_rng(DEFAULT_PLANTED["seed"])
    test_mask = rng.random(len(inter)) < 0.2
    return InteractionDataset(name="synthetic-planted", train=inter.subset(~test_mask, "train"),
                              test=inter.subset(test_mask, "test"))


def load_retrieval_data(dataset: Optional[str], dataset_path: Optional[Path]) -> InteractionDataset:
    """--dataset NAME [--dataset-path DIR]: NAME in its registered format (from DIR if given); DIR alone: a folder
    in the LightGCN line format (train.txt, test.txt), named after the folder."""
    from recsys_hash.data import load_interactions, load_lightgcn_folder

    if dataset is not None:
        return load_interactions(dataset, dataset_path)
    if dataset_path is not None:
        return load_lightgcn_folder(dataset_path, Path(dataset_path).name)
    raise ValueError("give --dataset NAME or --dataset-path DIR")


def make_evaluator(dataset: Optional[str], dataset_path: Optional[Path], model: str = "mf",
                   epochs: Optional[int] = None, task: str = "retrieval", **options: Any) -> Any:
    """The evaluator for a registered dataset, a LightGCN-format folder, or (neither) the embedded default.
    `options` go to `RetrievalEvaluator` (lrs, regs, params, on_epoch, ...). task "ctr" -> `CTREvaluator`
    (model "mf" means its default, dlrm; it tunes no lr x reg grid, so --lr/--reg other than the defaults are refused)."""
    if task not in TASKS:
        raise ValueError(f"audit: unknown task {task!r}; choose one of {', '.join(TASKS)}")
    check_epochs(epochs)                       # before any data is read
    if task == "ctr":
        from recsys_hash.audit.ctr_evaluator import make_ctr_evaluator

        lrs, regs = tuple(options.pop("lrs", (5e-3,))), tuple(options.pop("regs", (1e-4,)))
        if lrs != (5e-3,) or regs != (1e-4,):
            raise ValueError("audit --task ctr: --lr/--reg set the retrieval models' grid; the CTR evaluator trains "
                             "with the CTR trainer's defaults (use train-ctr to choose its learning rates)")
        return make_ctr_evaluator(dataset, dataset_path, "dlrm" if model == "mf" else model, epochs, **options)
    data = default_dataset() if dataset is None and dataset_path is None else load_retrieval_data(dataset, dataset_path)
    return RetrievalEvaluator(data, model=model, epochs=epochs, **options)
