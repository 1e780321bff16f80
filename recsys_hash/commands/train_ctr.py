"""`recsys-hash train-ctr`: train TorchRec's DLRM / DCNv2 / DeepFM with each sparse feature behind its own ID strategy.

Settings come from --config FILE.toml (see `recsys_hash.models.ctr_config`), then the command line: --strategy and
--budget set the user and item features (or --fields), --feature NAME=STRATEGY[:BUDGET] sets one feature. Every name
is checked before any data is fitted. With --json the last stdout line is one JSON object.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recsys_hash.budget import parse_budget
from recsys_hash.commands import _options as opt
from recsys_hash.commands._output import guard, parse_list

MODEL_FILE = "model.safetensors"


def save_model(out: Path, model, tables: dict, result: dict) -> dict[str, str]:
    """model.safetensors (the state dict), <feature>.remapper.safetensors per table, result.json -> `out`."""
    import json

    from safetensors.torch import save_file

    from recsys_hash.audit.model_audit import REMAPPER_SUFFIX

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / MODEL_FILE))
    for feature, remapper in tables.items():
        remapper.save(out / f"{feature}{REMAPPER_SUFFIX}")
    (out / "result.json").write_text(json.dumps(result, indent=1, sort_keys=True, default=str))
    return {"model": str(out / MODEL_FILE), "folder": str(out)}


def train_ctr_command(dataset: Optional[str], dataset_path: Optional[Path], config: Optional[Path],
                      model: Optional[str], strategy: Optional[str], budget: Optional[str], fields: Optional[str],
                      feature: list[str], param: list[str], dim: Optional[int], train_overrides: dict,
                      seed_text: str, threads: Optional[int], save: Optional[Path], ctx=None,
                      cache_dir: Optional[Path] = None, max_rows: Optional[int] = None) -> dict:
    from dataclasses import replace

    from recsys_hash.data.ctr_cache import default_cache_dir
    from recsys_hash.data.ctr_sets import load_ctr_dataset
    from recsys_hash.eval.timing import torch_threads
    from recsys_hash.models.ctr_config import CTRConfig, load_config, parse_feature_override
    from recsys_hash.models.train_ctr import CTRTrainConfig, run_ctr

    cfg = load_config(config) if config is not None else CTRConfig()
    if model is not None:
        cfg = replace(cfg, model=model)
    if dim is not None:
        cfg = replace(cfg, dim=dim)
    seed = opt.parse_seed(seed_text)
    params = opt.parse_params(param)
    budget_value = parse_budget(budget, "--budget") if budget is not None else None
    if params and strategy is None:
        raise ValueError("--param sets parameters of --strategy; give --strategy too")
    overrides = dict(parse_feature_override(f) for f in feature)
    train = CTRTrainConfig(**{**cfg.train, **{k: v for k, v in train_overrides.items() if v is not None}})
    data = load_ctr_dataset(dataset, dataset_path, seed, cache_dir=cache_dir or default_cache_dir(), max_rows=max_rows)
    if strategy is not None:
        names = parse_list(fields, what="--fields") if fields else [data.user_field, data.item_field]
        cfg = cfg.with_strategy(strategy, 1.0 if strategy == "full" and budget_value is None else budget_value,
                                names, params)
    cfg = replace(cfg, features={**cfg.features, **overrides})
    with torch_threads(threads):
        result, net, tables = run_ctr(data, cfg, train, seed=seed, ctx=ctx)
    if save is not None and (ctx is None or ctx.is_main):
        result["saved"] = save_model(save, net, tables, result)
    return result


def register(app: typer.Typer) -> None:
    @app.command("train-ctr")
    def train_ctr(
        dataset: Optional[str] = typer.Option(None, "--dataset", help="synthetic (default) | frappe | ml-100k | criteo | avazu."),
        dataset_path: Optional[Path] = typer.Option(None, "--dataset-path", help="Read --dataset from this folder "
                                                    "(its registered format); criteo: a TSV/CSV file or folder; avazu: a CSV file or folder "
                                                    "(default: the registry's avazu-sample)."),
        cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="criteo: folder for the parsed, "
                                                 "memory-mapped copy of --dataset-path (built once, reused while the "
                                                 "file is unchanged; about 264 bytes a row). Default: "
                                                 "$RECSYS_HASH_CACHE, else $XDG_CACHE_HOME/recsys_hash, else "
                                                 "~/.cache/recsys_hash."),
        max_rows: Optional[int] = typer.Option(None, "--max-rows", help="criteo: train on the file's first N rows "
                                               "only (re-split 80/10/10)."),
        config: Optional[Path] = typer.Option(None, "--config", help="TOML file: model, dim, [default], [features.X], "
                                              "[graph], [train]."),
        model: Optional[str] = typer.Option(None, "--model", help="dlrm | dcn | deepfm (default dlrm)."),
        strategy: Optional[str] = typer.Option(None, "--strategy", help="ID strategy for the user and item features "
                                               "(or --fields); other features keep the config's (default full)."),
        budget: Optional[str] = typer.Option(None, "--budget", help=f"Rows of each --strategy table: {opt.BUDGET_RULE} "
                                             "of its vocabulary."),
        fields: Optional[str] = typer.Option(None, "--fields", help="Features --strategy applies to (default: user,item)."),
        feature: list[str] = typer.Option([], "--feature", help="NAME=STRATEGY[:BUDGET] for one feature (repeatable)."),
        param: list[str] = opt.PARAM,
        dim: Optional[int] = typer.Option(None, "--dim", help="Embedding dimension (default 16)."),
        lr: Optional[float] = typer.Option(None, "--lr", help="AdamW learning rate of the dense layers."),
        emb_lr: Optional[float] = typer.Option(None, "--emb-lr", help="Learning rate of the embedding tables."),
        emb_optimizer: Optional[str] = typer.Option(None, "--emb-optimizer", help="adagrad (default) | adam | sgd "
                                                    "(--distributed on CPU: adagrad or sgd)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Maximum epochs (early stopping on valid AUC)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size"),
        patience: Optional[int] = typer.Option(None, "--patience", help="Evaluations without a better valid AUC."),
        seed: str = typer.Option("0", "--seed", help="Seed (>= 0) of the split, the strategies, initialisation and "
                                 "shuffles."),
        threads: Optional[int] = opt.THREADS,
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Save training state here (safetensors)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from --checkpoint if it exists."),
        save: Optional[Path] = typer.Option(None, "--save", "--out", help="Folder for the trained model and every "
                                            "remapper artifact (readable by `recsys-hash audit-model`)."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
        sharding: str = opt.SHARDING,
        distributed: bool = opt.DISTRIBUTED,
        as_json: bool = opt.JSON,
    ) -> None:
        """Train a CTR model whose sparse features each go through their own ID strategy; report AUC, logloss, GAUC."""
        overrides = {"lr": lr, "emb_lr": emb_lr, "emb_optimizer": emb_optimizer, "epochs": epochs,
                     "batch_size": batch_size, "patience": patience, "sharding": sharding, "resume": resume or None,
                     "checkpoint": str(checkpoint) if checkpoint else None,
                     "progress": None if progress else False}   # progress goes to stderr, --json too
        ctx = guard(lambda: opt.distributed_context(distributed), as_json)
        result = guard(lambda: train_ctr_command(dataset, dataset_path, config, model, strategy, budget, fields, feature,
                                                 param, dim, overrides, seed, threads, save, ctx, cache_dir,
                                                 max_rows), as_json)
        opt.emit_main(ctx, result, as_json, lambda c: _render(result, c))


def _render(result: dict, c) -> None:
    from rich.table import Table

    t = Table(title=f"{result['dataset']}: {result['model']} ({', '.join(f'{f}={s}' for f, s in result['strategies'].items() if s != 'full') or 'all full'})")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key in ("auc", "gauc", "logloss", "rows", "full_rows", "params", "epochs", "best_epoch", "logloss_epoch",
                "train_s"):
        v = result[key]
        t.add_row(key, f"{v:.4f}" if isinstance(v, float) else str(v))
    c.print(t)
    c.print(f"split: {result['split']}", highlight=False)
    c.print(result["logloss_note"], highlight=False)
