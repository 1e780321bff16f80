"""Audit outputs: a rich terminal table, a Markdown report, JSON, and a quality-vs-memory PNG with the Pareto front."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from recsys_hash.audit.runner import AuditResult


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points (bytes, quality) not dominated by another (<= bytes and >= quality, one strictly)."""
    front = []
    for i, (b, q) in enumerate(points):
        dominated = any(
            (b2 <= b and q2 >= q) and (b2 < b or q2 > q) for j, (b2, q2) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def _size(nbytes: float) -> str:
    """Bytes in the largest binary unit below them, 4 significant digits (e.g. '62.5 KiB')."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.4g} {unit}"
    return f"{nbytes:.0f} B"


MEMORY_NOTE = (
    "Memory is what serving stores. `serving bytes` = embedding parameters (`params`) + the ID->row `mapping`: "
    "lookup keys and rows as int64 (full: every ID, 16 B each; frequency: its frequent keys), GraphHash's row per "
    "vocabulary ID (int64), and 32 B per hash rule (a, b, modulus, offset as int64; pure hashing keeps only these). "
    "`compression (serving)` is the full reference's serving bytes (its tables plus its key->row table of every ID) "
    "over the row's; the Pareto front and the plot use serving bytes. `compression (params)` compares the embedding "
    "tables alone (the fair figure when IDs already are dense row indices and the full model needs no mapping)."
)


def _columns(result: AuditResult) -> list[tuple[str, str, Any]]:
    m = result.primary_metric
    cols: list[tuple[str, str, Any]] = [
        ("strategy", "strategy", str),
        ("budget", "budget", lambda v: f"{v:g}"),
        ("rows_user", "user rows", str),
        ("rows_item", "item rows", str),
        ("serving_bytes", "serving bytes", _size),
        ("param_bytes", "params", _size),
        ("mapping_bytes", "mapping", _size),
        ("compression_ratio", "compression (serving)", lambda v: f"{v:.2f}x"),
        ("param_compression_ratio", "compression (params)", lambda v: f"{v:.2f}x"),
        ("user_ids_per_row_mean", "user ids/row (mean)", lambda v: f"{v:.2f}"),
        ("user_ids_per_row_max", "user ids/row (max)", str),
        ("item_ids_per_row_mean", "item ids/row (mean)", lambda v: f"{v:.2f}"),
        ("item_ids_per_row_max", "item ids/row (max)", str),
        ("item_weighted_shared_row_rate", "interactions on shared item rows", lambda v: f"{100 * v:.1f}%"),
        ("item_weighted_collision_rate", "interactions with an indistinguishable item", lambda v: f"{100 * v:.1f}%"),
        ("item_popularity_weighted_collision_rate", "item pop.-weighted collision", lambda v: f"{v:.3f}"),
    ]
    metrics = [m] + [k for k in result.rows[0] if k.startswith(("recall@", "ndcg@", "auc", "logloss"))
                     and not k.endswith("_std") and k != m] if result.rows else [m]
    for k in metrics:
        cols.append((k, k, lambda v: f"{v:.4f}"))
    cols += [("fit_s", "fit s", lambda v: f"{v:.2f}"), ("train_s", "train s", lambda v: f"{v:.1f}")]
    return cols


def _cell(row: dict[str, Any], key: str, fmt: Any) -> str:
    if key not in row or row[key] is None:
        return "-"
    text = fmt(row[key])
    if f"{key}_std" in row and len(row.get("seeds", [])) > 1:
        text += f" ± {row[f'{key}_std']:.4f}"
    return text


#: Columns that fit a terminal; the Markdown report and JSON carry every column.
_TERMINAL = ("strategy", "budget", "rows_user", "rows_item", "serving_bytes", "compression_ratio",
             "item_ids_per_row_max", "item_weighted_shared_row_rate")


def render_table(result: AuditResult, console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"Compression audit: {result.dataset} ({result.task})", show_lines=False)
    cols = [c for c in _columns(result) if c[0] in _TERMINAL or c[0].startswith(("recall@", "ndcg@", "auc", "logloss"))]
    short = {"interactions on shared item rows": "on shared item rows", "item ids/row (max)": "max ids/row",
             "serving bytes": "serving", "compression (serving)": "ratio"}
    cols = [(k, short.get(t, t), f) for k, t, f in cols]
    for key, title, _ in cols:
        if key == "strategy":
            table.add_column(title, justify="left", no_wrap=True, min_width=16)
        else:
            table.add_column(title, justify="right", overflow="fold")
    for row in result.rows:
        table.add_row(*[_cell(row, k, f) for k, _, f in cols])
    console.print(table)
    if result.floor:
        console.print(f"floor ({result.floor.get('name', 'baseline')}): "
                      + ", ".join(f"{k}={v:.4f}" for k, v in result.floor.items() if isinstance(v, float)))


def to_markdown(result: AuditResult, plot_name: str | None = None) -> str:
    cols = _columns(result)
    lines = [f"# Compression audit: {result.dataset}", "",
             f"Task: {result.task}; quality metric: {result.primary_metric}; "
             f"dim {result.config['dim']}, dtype {result.config['dtype']}, seeds {result.config['seeds']}.", "",
             "Budgets are fractions of each side's full vocabulary; `full` is the uncompressed reference.", "",
             MEMORY_NOTE, ""]
    lines.append("| " + " | ".join(t for _, t, _ in cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for row in result.rows:
        lines.append("| " + " | ".join(_cell(row, k, f) for k, _, f in cols) + " |")
    if result.floor:
        lines += ["", f"Floor — {result.floor.get('name', 'baseline')}: "
                  + ", ".join(f"{k} = {v:.4f}" for k, v in result.floor.items() if isinstance(v, float))]
    front = pareto_front([(r["serving_bytes"], r[result.primary_metric]) for r in result.rows])
    lines += ["", "Pareto front (smallest serving bytes for their quality): "
              + ", ".join(f"{result.rows[i]['strategy']}@{result.rows[i]['budget']:g}" for i in front)]
    if plot_name:
        lines += ["", f"![quality vs memory]({plot_name})"]
    return "\n".join(lines) + "\n"


def plot(result: AuditResult, path: str | os.PathLike) -> Path:
    """PNG of quality vs serving bytes (parameters + mapping): one line per strategy over budgets, Pareto front marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = result.primary_metric
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    strategies = list(dict.fromkeys(r["strategy"] for r in result.rows))
    for s in strategies:
        pts = sorted((r["serving_bytes"] / 2**20, r[m]) for r in result.rows if r["strategy"] == s)
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", label=s)
    pts = [(r["serving_bytes"] / 2**20, r[m]) for r in result.rows]
    front = pareto_front(pts)
    fx, fy = zip(*[pts[i] for i in front])
    ax.plot(fx, fy, linestyle="--", color="black", linewidth=1, zorder=0)
    ax.scatter(fx, fy, s=160, facecolors="none", edgecolors="black", linewidths=1.5, label="Pareto front", zorder=3)
    if result.floor and m in result.floor:
        ax.axhline(result.floor[m], color="grey", linestyle=":", label=result.floor.get("name", "floor"))
    ax.set_xscale("log")
    ax.set_xlabel("serving bytes: embedding parameters + ID->row mapping (MiB, log scale)")
    ax.set_ylabel(m)
    ax.set_title(f"{result.dataset}: {m} vs memory")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def write_report(result: AuditResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write report.md, audit.json and quality_vs_memory.png into `out_dir`; returns their paths."""
    out = Path(out_dir)
    png = plot(result, out / "quality_vs_memory.png")
    md = out / "report.md"
    md.write_text(to_markdown(result, png.name))
    js = out / "audit.json"
    js.write_text(json.dumps(result.to_dict(), indent=2, default=_np_default))
    return {"markdown": md, "json": js, "plot": png}


def _np_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o).__name__)
