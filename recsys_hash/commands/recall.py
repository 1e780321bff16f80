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

from recsys_hash.commands._output import emit, fail, parse_list


def parse_budget(text: str) -> float | int:
    """'0.25' -> fraction 0.25 of each side's IDs; a whole number > 1 ('5000') -> that many rows per side."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"budget {text!r} is not a number (fraction in (0, 1] or a row count)") from None
    if value > 1:
        if value != int(value):
            raise ValueError(f"budget {text!r}: a row count must be a whole number")
        return int(value)
    if value <= 0:
        raise ValueError(f"budget {text!r} must be > 0")
    return value


def parse_params(items: list[str]) -> dict:
    """["cluster_share=0.25", "oov=hash"] -> {"cluster_share": 0.25, "oov": "hash"} (JSON values, else strings)."""
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def recall_cmd(
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Registered interaction set (gowalla, ml-1m, ...)."),
    dataset_path: Optional[Path] = typer.Option(
        None, "--dataset-path", help="A folder in the LightGCN line format (train.txt, test.txt: `uid item item ...`)."),
    model: str = typer.Option("mf", "--model", help="mf | lightgcn | popular (most-popular ranking)."),
    strategy: str = typer.Option("full", "--strategy", help="ID strategy (see the ids registry), e.g. graphhash."),
    budget: str = typer.Option("1.0", "--budget", help="Rows per side: fraction of its IDs, or a row count > 1."),
    seed: int = typer.Option(0, "--seed"),
    epochs: int = typer.Option(50, "--epochs", help="Maximum epochs (early stopping on validation Recall@20)."),
    dim: int = typer.Option(64, "--dim"),
    layers: int = typer.Option(3, "--layers", help="LightGCN propagation layers."),
    k: str = typer.Option("20", "--k", help="Cut-offs, e.g. 10,20,50 (20 is always reported)."),
    lr: str = typer.Option("0.005", "--lr", help="Learning rate(s); a list is a tuning grid (x --reg)."),
    reg: str = typer.Option("0.0001", "--reg", help="L2 regularisation(s) on the batch's ego embeddings."),
    batch_size: int = typer.Option(4096, "--batch-size"),
    patience: int = typer.Option(3, "--patience", help="Evaluations without improvement before stopping."),
    eval_every: int = typer.Option(1, "--eval-every", help="Validate every N epochs."),
    valid_fraction: float = typer.Option(0.1, "--valid-fraction",
                                         help="Share of each user's train items carved for validation."),
    reject_positives: bool = typer.Option(False, "--reject-positives", help="Redraw negatives that are positives."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Save training state here (safetensors)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --checkpoint if it exists."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch threads (default: torch's choice)."),
    param: list[str] = typer.Option([], "--param", help="Strategy parameter KEY=VALUE (repeatable), e.g. "
                                    "--param cluster_share=0.25 for graphhash."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object as the last stdout line."),
) -> None:
    """Train a retrieval model whose user and item tables go through STRATEGY; report Recall@K / NDCG@K."""
    from recsys_hash.errors import RecsysHashError
    from recsys_hash.eval.metrics import parse_ks
    from recsys_hash.eval.timing import torch_threads

    try:
        if dataset is None and dataset_path is None:
            raise ValueError("give --dataset NAME or --dataset-path DIR")
        ks = parse_ks(k)
        budget_value = parse_budget(budget)
        lrs, regs = parse_list(lr, float, "--lr"), parse_list(reg, float, "--reg")
        strategy_params = parse_params(param)
        from recsys_hash.data import load_interactions, load_lightgcn_folder
        from recsys_hash.models import TrainConfig, run_recall

        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, patience=patience, eval_every=eval_every,
                          reject_positives=reject_positives, checkpoint=str(checkpoint) if checkpoint else None,
                          resume=resume, progress=progress and not as_json)
        data = (load_lightgcn_folder(dataset_path, dataset or dataset_path.name) if dataset_path is not None
                else load_interactions(dataset))
        with torch_threads(threads):
            result = run_recall(data, model=model, strategy=strategy, budget=budget_value, seed=seed, dim=dim,
                                layers=layers, ks=ks, lrs=lrs, regs=regs, config=cfg, valid_fraction=valid_fraction,
                                strategy_params=strategy_params)
    except (RecsysHashError, ValueError, FileNotFoundError) as exc:
        fail(exc, as_json)

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
