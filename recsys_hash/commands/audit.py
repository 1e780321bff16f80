"""`recsys-hash audit` (strategies x budgets on a dataset), `audit-model` (an existing model's tables), `demo`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recsys_hash.commands._output import console, emit, guard as _guard, parse_list

DEFAULT_OUT = "audit-output"


def _budget(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"budget {text!r} is not a number (budgets are fractions in (0, 1])") from None


def run_audit_command(dataset: Optional[str], dataset_path: Optional[Path], strategies: str, budgets: str, dim: int,
                      dtype: str, model: str, epochs: Optional[int], seeds: str, out: Path, as_json: bool,
                      task: str = "retrieval") -> dict:
    from recsys_hash.audit import AuditConfig, run_audit
    from recsys_hash.audit.evaluators import make_evaluator
    from recsys_hash.audit.report import render_table, write_report
    from recsys_hash.audit.runner import check_writable

    config = AuditConfig(strategies=parse_list(strategies, what="--strategies"),
                         budgets=parse_list(budgets, _budget, "--budgets"), dim=dim, dtype=dtype,
                         seeds=parse_list(seeds, int, "--seeds"))
    config.validate()              # unknown strategies / bad budgets fail before any data is read
    check_writable(out)            # an unwritable folder fails before any training
    evaluator = make_evaluator(dataset, dataset_path, model=model, epochs=epochs, task=task)
    result = run_audit(evaluator, config, progress=lambda msg: console.log(msg))
    paths = write_report(result, out)
    emit({**result.to_dict(), "outputs": {k: str(v) for k, v in paths.items()}}, as_json,
         lambda c: (render_table(result, c), c.print(f"report: {paths['markdown']}  plot: {paths['plot']}")))
    return result.to_dict()


def register(app: typer.Typer) -> None:
    @app.command("audit")
    def audit(
        dataset: Optional[str] = typer.Option(None, help="Registered dataset (e.g. gowalla); default: the embedded "
                                              "synthetic planted-community set."),
        dataset_path: Optional[Path] = typer.Option(None, help="Folder in the LightGCN line format (train.txt/test.txt)."),
        strategies: str = typer.Option(",".join(_default_strategies()), help="Comma-separated strategy names."),
        budgets: str = typer.Option("0.25,0.1", help="Comma-separated fractions of each side's full table, in (0, 1]."),
        dim: int = typer.Option(64, help="Embedding dimension."),
        dtype: str = typer.Option("float32", help="Embedding dtype for byte accounting."),
        model: str = typer.Option("mf", help="Model trained per strategy: mf or lightgcn."),
        epochs: Optional[int] = typer.Option(None, help="Training epochs (default: the evaluator's)."),
        seeds: str = typer.Option("0", help="Comma-separated seeds; quality is reported as mean ± std."),
        out: Path = typer.Option(Path(DEFAULT_OUT), help="Folder for report.md, audit.json, quality_vs_memory.png."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object on the last line."),
        task: str = typer.Option("retrieval", "--task", help="retrieval (MF/LightGCN, Recall@20) or ctr (DLRM/DCN/"
                                 "DeepFM on the user and item features, AUC; default data: synthetic CTR)."),
    ) -> None:
        """Fit every strategy at every budget, train briefly, and report memory, collisions and quality."""
        _guard(lambda: run_audit_command(dataset, dataset_path, strategies, budgets, dim, dtype, model, epochs, seeds,
                                         out, as_json, task), as_json)

    @app.command("audit-model")
    def audit_model(
        target: str = typer.Argument(..., help="Checkpoint (.safetensors/.pt file or folder) or 'package.module:factory'."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object on the last line."),
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
        as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object on the last line."),
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
    for col in ("table", "rows", "dim", "dtype", "bytes", "strategy", "ids/row mean", "ids/row max", "shared (weighted)"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["table"], str(r["rows"]), str(r["dim"]), r["dtype"], f"{r['bytes']:,}", str(r["strategy"] or "-"),
                  f"{r['collision_ids_per_row_mean']:.2f}" if "collision_ids_per_row_mean" in r else "-",
                  str(r.get("collision_ids_per_row_max", "-")),
                  f"{100 * r['collision_weighted_collision_rate']:.1f}%" if "collision_weighted_collision_rate" in r
                  else "-")
    c.print(t)
