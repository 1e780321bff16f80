"""`recsys-hash datasets list|info|verify`: the dataset registry, counts of a dataset, sha256 checks."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from recsys_hash.commands._output import emit, fail
from recsys_hash.errors import RecsysHashError

app = typer.Typer(help="Named datasets: list the registry, print counts, verify checksums.", no_args_is_help=True)

_PATH_OPT = typer.Option(None, "--dataset-path", help="Read this folder (same format) instead of $RECSYS_HASH_DATA/<folder>.")
_JSON_OPT = typer.Option(False, "--json", help="Print one JSON object as the last stdout line.")


@app.command("list")
def list_cmd(as_json: bool = _JSON_OPT) -> None:
    """Registered datasets with kind, folder and format."""
    from recsys_hash.data import registry

    rows = [registry.get(n) for n in registry.names()]
    result = {"datasets": [{k: e[k] for k in ("name", "kind", "folder", "format", "loader")} for e in rows]}

    def render(c: Console) -> None:
        t = Table(title="recsys_hash datasets (folders relative to $RECSYS_HASH_DATA)")
        for col in ("name", "kind", "folder", "format", "loader"):
            t.add_column(col)
        for e in rows:
            t.add_row(e["name"], e["kind"], e["folder"], e["format"], e["loader"] or "-")
        c.print(t)

    emit(result, as_json, render)


@app.command("info")
def info_cmd(name: str = typer.Argument(..., help="Registered dataset name (see `datasets list`)."),
             dataset_path: Optional[Path] = _PATH_OPT, as_json: bool = _JSON_OPT) -> None:
    """Load NAME and print its counts (users, items, train/test rows, ...)."""
    from recsys_hash.data.catalog import dataset_stats

    try:
        stats = dataset_stats(name, dataset_path)
    except RecsysHashError as exc:
        fail(exc, as_json, name=name)

    def render(c: Console) -> None:
        t = Table(title=f"{name}")
        t.add_column("count")
        t.add_column("value", justify="right")
        for k, v in stats.items():
            t.add_row(k, f"{v:,}" if isinstance(v, int) else str(v))
        c.print(t)

    emit(stats, as_json, render)


@app.command("verify")
def verify_cmd(name: str = typer.Argument(..., help="Registered dataset name."),
               dataset_path: Optional[Path] = _PATH_OPT, as_json: bool = _JSON_OPT) -> None:
    """Check the sha256 of NAME's files against the registry; exit 1 on a mismatch or a missing required file."""
    from recsys_hash.data.catalog import verify_dataset

    try:
        checks = verify_dataset(name, dataset_path)
    except RecsysHashError as exc:
        fail(exc, as_json, name=name)
    bad = [c for c in checks if c["status"] == "mismatch" or (c["status"] == "missing" and c["required"])]
    ok = not bad

    def render(c: Console) -> None:
        t = Table(title=f"{name}: sha256")
        for col in ("file", "required", "status"):
            t.add_column(col)
        for ch in checks:
            colour = {"ok": "green", "mismatch": "red", "missing": "red" if ch["required"] else "yellow"}[ch["status"]]
            t.add_row(ch["file"], "yes" if ch["required"] else "no", f"[{colour}]{ch['status']}[/]")
        c.print(t)
        for ch in bad:
            if ch["status"] == "mismatch":
                c.print(f"[red]checksum mismatch[/] {name}/{ch['file']}: expected {ch['expected']}, actual {ch['actual']}",
                        highlight=False, soft_wrap=True)
            else:
                c.print(f"[red]missing[/] {name}/{ch['file']}: expected at {ch['path']}", highlight=False, soft_wrap=True)

    emit({"name": name, "ok": ok, "files": checks}, as_json, render)
    if not ok:
        raise typer.Exit(code=1)


def register(root: typer.Typer) -> None:
    """Attach the `datasets` sub-app to the top-level CLI."""
    root.add_typer(app, name="datasets")
