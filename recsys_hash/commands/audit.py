"""`recsys-hash audit` (strategies x budgets on a dataset), `audit-model` (an existing model's tables), `demo`."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from recsys_hash.commands import _options as opt
from recsys_hash.commands._output import console, emit, guard as _guard, parse_list

DEFAULT_OUT = "audit-output"


class AuditProgress:
    """Progress of an audit on stderr: a bar over cells x seeds x epochs with an ETA (fed by the training loop's
    per-epoch callback), and one line per cell with elapsed time and ETA (what a log file keeps)."""

    def __init__(self, cells: int, per_cell: int):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.cells, self.per_cell, self.started, self.t0 = cells, per_cell, 0, None
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                            transient=True)
        self.task = self.bar.add_task("audit", total=cells * per_cell)

    def cell(self, message: str) -> None:
        """run_audit's callback at the start of each cell ("[i/N] strategy @ budget")."""
        done = self.started * self.per_cell   # early stopping may have skipped epochs: snap to the cell boundary
        self.started += 1
        self.t0 = self.t0 or time.perf_counter()
        elapsed = time.perf_counter() - self.t0
        eta = _clock(elapsed * (self.cells * self.per_cell - done) / done) if done else "-"
        self.bar.update(self.task, completed=done, description=message)
        self.bar.console.print(f"{message}  elapsed {_clock(elapsed)}  ETA {eta}", highlight=False)

    def epoch(self, _epoch: int) -> None:
        self.bar.advance(self.task)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def run_audit_command(dataset: Optional[str], dataset_path: Optional[Path], strategies: str, budgets: str, dim: int,
                      dtype: str, model: str, epochs: Optional[int], seeds: str, out: Path, as_json: bool,
                      lr: str = "0.005", reg: str = "0.0001", params: tuple[str, ...] = (),
                      threads: Optional[int] = None, task: str = "retrieval") -> dict:
    from recsys_hash.audit import AuditConfig, run_audit
    from recsys_hash.audit.evaluators import make_evaluator
    from recsys_hash.audit.report import render_table, write_report
    from recsys_hash.audit.runner import audit_plan, check_writable
    from recsys_hash.eval.timing import torch_threads

    config = AuditConfig(strategies=parse_list(strategies, what="--strategies"),
                         budgets=opt.parse_budgets(budgets, "--budgets"), dim=dim, dtype=dtype,
                         seeds=opt.parse_seeds(seeds, "--seeds"))
    config.validate()              # unknown strategies / bad budgets fail before any data is read
    per_strategy = opt.params_per_strategy(list(config.strategies), opt.parse_params(list(params)))
    lrs, regs = parse_list(lr, float, "--lr"), parse_list(reg, float, "--reg")
    check_writable(out)            # an unwritable folder fails before any training
    evaluator = make_evaluator(dataset, dataset_path, model=model, epochs=epochs, task=task, lrs=lrs, regs=regs,
                               params=per_strategy)
    cells = len(audit_plan(config))
    progress = AuditProgress(cells, len(config.seeds) * evaluator.epochs_per_cell)
    evaluator.on_epoch = progress.epoch
    console.print(f"audit of {evaluator.name}: {cells} cells x {len(config.seeds)} seed(s), at most "
                  f"{evaluator.epochs_per_cell} epochs each", highlight=False)
    with torch_threads(threads), progress.bar:
        result = run_audit(evaluator, config, progress=progress.cell)
    paths = write_report(result, out)
    emit({**result.to_dict(), "outputs": {k: str(v) for k, v in paths.items()}}, as_json,
         lambda c: (render_table(result, c), c.print(f"report: {paths['markdown']}  plot: {paths['plot']}")))
    return result.to_dict()


def register(app: typer.Typer) -> None:
    @app.command("audit")
    def audit(
        dataset: Optional[str] = typer.Option(None, "--dataset", help="Registered interaction set (gowalla, ml-1m, "
                                              "...); default: the embedded synthetic planted-community set."),
        dataset_path: Optional[Path] = opt.DATASET_PATH,
        strategies: str = opt.strategy_option(",".join(_default_strategies()), plural=True),
        budgets: str = opt.budget_option("0.25,0.1", plural=True),
        dim: int = typer.Option(64, help="Embedding dimension."),
        dtype: str = typer.Option("float32", help="Embedding dtype for byte accounting."),
        model: str = typer.Option("mf", help="Model trained per strategy: mf or lightgcn."),
        epochs: int = opt.EPOCHS,
        seeds: str = opt.seed_option(plural=True),
        lr: str = opt.LR,
        reg: str = opt.REG,
        param: list[str] = typer.Option([], "--param", help="Strategy parameter KEY=VALUE (repeatable), given to "
                                        "each audited strategy that takes KEY, e.g. --param cluster_share=0.25."),
        threads: Optional[int] = opt.THREADS,
        out: Path = typer.Option(Path(DEFAULT_OUT), help="Folder for report.md, audit.json, quality_vs_memory.png."),
        as_json: bool = opt.JSON,
        task: str = typer.Option("retrieval", "--task", help="retrieval (MF/LightGCN, Recall@20) or ctr (DLRM/DCN/"
                                 "DeepFM on the user and item features, AUC; default data: synthetic CTR)."),
    ) -> None:
        """Fit every strategy at every budget, train briefly, and report memory, collisions and quality.
        Progress (per epoch, with an ETA) goes to stderr."""
        _guard(lambda: run_audit_command(dataset, dataset_path, strategies, budgets, dim, dtype, model, epochs, seeds,
                                         out, as_json, lr, reg, tuple(param), threads, task), as_json)

    @app.command("audit-model")
    def audit_model(
        target: str = typer.Argument(..., help="Checkpoint (.safetensors/.pt file or folder) or 'package.module:factory'."),
        as_json: bool = opt.JSON,
    ) -> None:
        """List each embedding table of a saved model: rows, dim, dtype, bytes, strategy and its collisions."""
        from recsys_hash.audit.model_audit import audit_checkpoint, audit_module, total_bytes

        def run() -> None:
            rows = audit_checkpoint(target) if Path(target).exists() else audit_module(target)
            emit({"target": target, "tables": rows, "total_bytes": total_bytes(rows)}, as_json,
                 lambda c: _render_model(rows, c))

        _guard(run, as_json, target=target)

    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo-output"), help="Folder for the demo's report and plot."),
        as_json: bool = opt.JSON,
    ) -> None:
        """The main job on the embedded default: a compression audit of the synthetic planted-community set
        (every strategy at 25% and 10% of the full tables; dim 32 so it runs in a few minutes on 2 cores)."""
        _guard(lambda: run_audit_command(None, None, ",".join(_default_strategies()), "0.25,0.1", 32, "float32", "mf",
                                         None, "0", out, as_json), as_json)


def _default_strategies() -> list[str]:
    from recsys_hash.audit.runner import default_strategies

    return default_strategies()


def _render_model(rows: list[dict], c) -> None:
    from rich.table import Table

    t = Table(title="Embedding tables")
    for col in ("table", "rows", "dim", "dtype", "bytes", "strategy", "ids/row mean", "ids/row max",
                "interactions on shared rows", "interactions with an indistinguishable ID"):
        t.add_column(col)
    for r in rows:
        coll = r.get("collisions") or {}
        t.add_row(r["table"], str(r["rows"]), str(r["dim"]), r["dtype"], f"{r['bytes']:,}", str(r["strategy"] or "-"),
                  f"{coll['ids_per_row_mean']:.2f}" if coll else "-", str(coll.get("ids_per_row_max", "-")),
                  f"{100 * coll['weighted_shared_row_rate']:.1f}%" if coll else "-",
                  f"{100 * coll['weighted_collision_rate']:.1f}%" if coll else "-")
    c.print(t)
