"""`recsys-hash recall`: train MF-BPR / LightGCN (or rank by popularity) with any ID strategy, report Recall/NDCG@K.

Metrics: full ranking over all items with training items masked; Recall@K = hits / min(K, |test items|);
users without test items are skipped. With --json the last stdout line is one JSON object.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from recsys_hash.commands import _options as opt
from recsys_hash.commands._output import emit, guard, parse_list


def recall_cmd(
    dataset: Optional[str] = opt.DATASET,
    dataset_path: Optional[Path] = opt.DATASET_PATH,
    model: str = typer.Option("mf", "--model", help="mf | lightgcn | popular (most-popular ranking)."),
    strategy: str = opt.strategy_option("full", plural=False),
    budget: str = opt.budget_option("1", plural=False),
    seed: str = opt.seed_option(plural=False),
    epochs: int = opt.EPOCHS,
    dim: int = typer.Option(64, "--dim"),
    layers: int = typer.Option(3, "--layers", help="LightGCN propagation layers."),
    k: str = typer.Option("20", "--k", help="Cut-offs, e.g. 10,20,50 (20 is always reported)."),
    lr: str = opt.LR,
    reg: str = opt.REG,
    batch_size: int = typer.Option(4096, "--batch-size"),
    patience: int = typer.Option(3, "--patience", help="Evaluations without improvement before stopping."),
    eval_every: int = typer.Option(1, "--eval-every", help="Validate every N epochs."),
    valid_fraction: float = typer.Option(0.1, "--valid-fraction",
                                         help="Share of each user's train items carved for validation."),
    reject_positives: bool = typer.Option(False, "--reject-positives", help="Redraw negatives that are positives."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Save training state here (safetensors)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --checkpoint if it exists."),
    threads: Optional[int] = opt.THREADS,
    param: list[str] = opt.PARAM,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Training progress bar on stderr."),
    as_json: bool = opt.JSON,
) -> None:
    """Train a retrieval model whose user and item tables go through STRATEGY; report Recall@K / NDCG@K."""
    from recsys_hash.eval.metrics import parse_ks
    from recsys_hash.eval.timing import torch_threads

    def run() -> tuple[dict, list[int]]:
        if dataset is None and dataset_path is None:
            raise ValueError("give --dataset NAME or --dataset-path DIR")
        if resume and checkpoint is None:
            raise ValueError("--resume continues from --checkpoint FILE: give --checkpoint too")
        name = opt.only_one(parse_list(strategy, what="--strategy"), "strategy")
        budget_value = opt.only_one(opt.parse_budgets(budget, "--budget"), "budget")
        seed_value = opt.only_one(opt.parse_seeds(seed, "--seed"), "seed")
        ks = parse_ks(k)
        lrs, regs = parse_list(lr, float, "--lr"), parse_list(reg, float, "--reg")
        strategy_params = opt.parse_params(param)
        if model != "popular":
            from recsys_hash.ids.registry import check_params

            check_params(name, strategy_params)
            opt.check_param_types(name, strategy_params)
        from recsys_hash.audit.evaluators import load_retrieval_data
        from recsys_hash.models import TrainConfig, run_recall

        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, patience=patience, eval_every=eval_every,
                          reject_positives=reject_positives, checkpoint=str(checkpoint) if checkpoint else None,
                          resume=resume, progress=progress)
        data = load_retrieval_data(dataset, dataset_path)
        with torch_threads(threads):
            return run_recall(data, model=model, strategy=name, budget=budget_value, seed=seed_value, dim=dim,
                              layers=layers, ks=ks, lrs=lrs, regs=regs, config=cfg, valid_fraction=valid_fraction,
                              strategy_params=strategy_params), ks

    result, ks = guard(run, as_json)

    def render(c: Console) -> None:
        t = Table(title=f"{result['dataset']}: {result['model']} / {result['strategy']} (budget {result['budget']})")
        t.add_column("metric")
        t.add_column("value", justify="right")
        for key in [f"recall@{x}" for x in ks] + [f"ndcg@{x}" for x in ks]:
            if key in result:
                t.add_row(key, f"{result[key]:.4f}")
        for key in ("rows_user", "rows_item", "full_rows", "params", "lr", "reg", "best_epoch", "train_s", "eval_s"):
            if key in result:
                v = result[key]
                t.add_row(key, f"{v:.4g}" if isinstance(v, float) else str(v))
        c.print(t)
        c.print(f"validation: {result['valid_source']}", highlight=False)

    emit(result, as_json, render)


def register(app: typer.Typer) -> None:
    app.command("recall")(recall_cmd)
