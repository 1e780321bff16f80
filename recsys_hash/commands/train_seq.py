"""`recsys-hash train-seq`: train the long-sequence CTR model with one sequence module (din, dot, sdim, twin, dare,
sdim_decoupled) on Amazon Beauty, ML-100K or the planted synthetic sequences; report AUC, logloss and GAUC.

Histories longer than --max-len keep the most recent behaviours. With --json the last stdout line is one JSON object.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recsys_hash.commands import _options as opt
from recsys_hash.commands._output import guard


def train_seq_command(dataset: str, dataset_path: Optional[Path], module: str, max_len: Optional[int],
                      model_overrides: dict, train_overrides: dict, strategy: str, budget: Optional[str],
                      seed_text: str, threads: Optional[int], ctx=None) -> dict:
    from recsys_hash.budget import parse_budget
    from recsys_hash.data.seq_sets import load_seq_dataset
    from recsys_hash.eval.timing import torch_threads
    from recsys_hash.models.seq_ctr import SeqModelConfig
    from recsys_hash.models.train_seq import run_seq, seq_train_config

    seed = opt.parse_seed(seed_text)
    model_cfg = SeqModelConfig(module=module, **{k: v for k, v in model_overrides.items() if v is not None})
    train = seq_train_config(**train_overrides)
    data = load_seq_dataset(dataset, dataset_path, max_len, seed)
    with torch_threads(threads):
        result, _ = run_seq(data, model_cfg, train, seed=seed, strategy=strategy,
                            budget=parse_budget(budget, "--budget") if budget is not None else None, ctx=ctx)
    return result


def register(app: typer.Typer) -> None:
    @app.command("train-seq")
    def train_seq(
        dataset: str = typer.Option("amazon-beauty", "--dataset", help="amazon-beauty | ml-100k | synthetic."),
        dataset_path: Optional[Path] = typer.Option(None, "--dataset-path",
                                                    help="A folder in the dataset's format (default: the registry's)."),
        module: str = typer.Option("sdim", "--module", help="din | dot | sdim | twin | dare | sdim_decoupled."),
        max_len: Optional[int] = typer.Option(None, "--max-len", help="History cap; longer histories keep the most "
                                              "recent (default: 50 Beauty, 1000 ML-100K and synthetic)."),
        dim: Optional[int] = typer.Option(None, "--dim", help="Embedding dimension (default 16)."),
        att_dim: Optional[int] = typer.Option(None, "--att-dim", help="Attention-table dim of dare / sdim_decoupled "
                                              "(default dim // 2)."),
        k: Optional[int] = typer.Option(None, "--k", help="Behaviours kept by TWIN / DARE's search (default 20)."),
        m: Optional[int] = typer.Option(None, "--m", help="SDIM hash functions (default 48)."),
        tau: Optional[int] = typer.Option(None, "--tau", help="SDIM bits per signature; must divide m (default 3)."),
        aux_loss: Optional[bool] = typer.Option(None, "--aux-loss/--no-aux-loss", help="twin / dare: also train an "
                                                "auxiliary full-attention head (softmax over every behaviour), BCE "
                                                "weight 1; prediction does not use it (default: on for twin / dare)."),
        strategy: str = typer.Option("full", "--strategy", help="ID strategy of the item table (hashing/frequency)."),
        budget: Optional[str] = typer.Option(None, "--budget", help=f"Item-table rows for --strategy: {opt.BUDGET_RULE} "
                                             "(default 0.5)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Maximum epochs (default 5; early stopping on "
                                             "valid AUC)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Default 256."),
        lr: Optional[float] = typer.Option(None, "--lr", help="AdamW learning rate of the dense layers."),
        emb_lr: Optional[float] = typer.Option(None, "--emb-lr", help="Learning rate of the embedding tables."),
        emb_optimizer: Optional[str] = typer.Option(None, "--emb-optimizer", help="adam (default) | adagrad | sgd "
                                                    "(--distributed on CPU: adagrad or sgd)."),
        patience: Optional[int] = typer.Option(None, "--patience"),
        seed: str = typer.Option("0", "--seed", help="Seed (>= 0) of negatives, splits, initialisation and shuffles."),
        threads: Optional[int] = opt.THREADS,
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Save training state here (safetensors)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from --checkpoint if it exists."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
        sharding: str = opt.SHARDING,
        distributed: bool = opt.DISTRIBUTED,
        as_json: bool = opt.JSON,
    ) -> None:
        """Train a CTR model over long behaviour sequences with one sequence module; report AUC, logloss, GAUC."""
        model_overrides = {"dim": dim, "att_dim": att_dim, "k": k, "m": m, "tau": tau, "aux_loss": aux_loss}
        train_overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "emb_lr": emb_lr,
                           "emb_optimizer": emb_optimizer, "sharding": sharding, "patience": patience,
                           "checkpoint": str(checkpoint) if checkpoint else None,
                           "resume": resume or None, "progress": None if progress else False}   # progress goes to stderr, --json too
        ctx = guard(lambda: opt.distributed_context(distributed), as_json)
        result = guard(lambda: train_seq_command(dataset, dataset_path, module, max_len, model_overrides,
                                                 train_overrides, strategy, budget, seed, threads, ctx), as_json,
                       module=module)
        opt.emit_main(ctx, result, as_json, lambda c: _render(result, c))


def _render(result: dict, c) -> None:
    from rich.table import Table

    t = Table(title=f"{result['dataset']}: long-sequence CTR with {result['module']} (max_len {result['max_len']})")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key in ("auc", "gauc", "logloss", "params", "epochs", "best_epoch", "train_s"):
        v = result[key]
        t.add_row(key, f"{v:.4f}" if isinstance(v, float) else str(v))
    c.print(t)
    c.print(f"split: {result['split']}", highlight=False)
