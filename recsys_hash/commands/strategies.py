"""`recsys-hash strategies`: every registered ID strategy, its parameters, what it does, what `fit` needs."""
from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recsys_hash.commands import _options as opt
from recsys_hash.commands._output import emit


def strategy_rows() -> list[dict]:
    """One row per registered strategy: name, parameters (-> default), description, needs_interactions."""
    from recsys_hash.ids import get_strategy, strategy_names
    from recsys_hash.ids.registry import strategy_params

    rows = []
    for name in strategy_names():
        cls = get_strategy(name)
        doc = (cls.__doc__ or "").strip()
        rows.append({"name": name, "parameters": strategy_params(name),
                     "description": doc.splitlines()[0] if doc else "",
                     "needs_interactions": bool(cls.needs_interactions)})
    return rows


def strategies_cmd(as_json: bool = opt.JSON) -> None:
    """List the ID strategies: name, parameters (--param KEY=VALUE) with defaults, one-line description, and whether
    fitting needs interactions (the user-item graph) rather than an ID column."""
    rows = strategy_rows()

    def render(c: Console) -> None:
        t = Table(title="ID strategies (--strategy NAME, --param KEY=VALUE; num_rows comes from --budget, seed from "
                        "--seed)")
        for col in ("name", "parameters (default)", "needs interactions", "description"):
            t.add_column(col, overflow="fold")
        for r in rows:
            params = ", ".join(f"{k}={v!r}" for k, v in r["parameters"].items())
            t.add_row(r["name"], escape(params) or "-", "yes" if r["needs_interactions"] else "no",
                      escape(r["description"]))                # descriptions hold [a, b]: not rich markup
        c.print(t)

    emit({"strategies": rows}, as_json, render)


def register(app: typer.Typer) -> None:
    app.command("strategies")(strategies_cmd)
