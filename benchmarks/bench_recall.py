"""Retrieval quality of every ID strategy at fixed row budgets: MF-BPR (and LightGCN), full ranking, Recall/NDCG@20.

    python benchmarks/bench_recall.py [--quick] [--datasets gowalla,ml-1m] [--models mf] [--strategies ...]
                                      [--budgets 0.25,0.1] [--seeds 0,1,2] [--lrs ...] [--regs ...] [--json]

Protocol: validation carved from each user's training items (10%, seeded) when the dataset has none; every
strategy (full table included) gets the same lr x reg grid, tuned on validation Recall@20 with seed 0 only;
the other seeds reuse the chosen values. Most-popular ranking is reported as the floor. Results are appended
to benchmarks/results/bench_recall.json after every run (a long grid can be interrupted and still report),
and summarised (mean ± std over seeds) in benchmarks/results/bench_recall.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
STRATEGIES = ["full", "modulo", "universal", "double", "frequency", "double_frequency", "qr", "graphhash",
              "double_graphhash"]
HASHING = ["modulo", "universal", "double", "frequency", "double_frequency", "qr"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="gowalla,ml-1m")
    p.add_argument("--models", default="mf", help="mf,lightgcn")
    p.add_argument("--strategies", default=",".join(STRATEGIES),
                   help="names, or name:key=value;key=value for strategy parameters (graphhash:cluster_share=0.25)")
    p.add_argument("--budgets", default="0.25,0.1", help="fractions of each side's IDs")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--lrs", default="0.001,0.005")
    p.add_argument("--regs", default="0.0001,0.01")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lightgcn-batch-size", type=int, default=16384,
                   help="LightGCN propagates the whole graph every step: larger batches keep CPU time sane")
    p.add_argument("--eval-every", type=int, default=2)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="smoke run: amazon-electronics, 3 strategies, 1 seed")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_recall.json"))
    p.add_argument("--md", default=str(ROOT / "results" / "bench_recall.md"))
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    p.add_argument("--reuse-grid", action="append", default=[], metavar="FILE",
                   help="an earlier run's JSON (repeatable): a (dataset, model, strategy, budget) cell it holds "
                        "reuses the lr/reg chosen there instead of searching the grid again (more seeds of a cell)")
    args = p.parse_args(argv)
    if args.quick:
        args.datasets, args.strategies, args.budgets, args.seeds = "amazon-electronics", "full,modulo,graphhash", \
            "0.25", "0"
        args.lrs, args.regs, args.epochs, args.eval_every = "0.01", "0.1", 6, 3
    return args


def summarise(runs: list[dict]) -> list[dict]:
    """Mean ± std over seeds per (dataset, model, strategy, budget), with share of full and gain over hashing."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["model"], r["strategy"], r["budget"]), []).append(r)
    rows = []
    for (ds, model, strat, budget), rs in groups.items():
        rec = np.array([r["recall@20"] for r in rs])
        nd = np.array([r["ndcg@20"] for r in rs])
        rows.append({"dataset": ds, "model": model, "strategy": strat, "budget": budget, "seeds": len(rs),
                     "recall@20": float(rec.mean()), "recall@20_std": float(rec.std(ddof=1)) if len(rs) > 1 else 0.0,
                     "ndcg@20": float(nd.mean()), "ndcg@20_std": float(nd.std(ddof=1)) if len(rs) > 1 else 0.0,
                     "rows_user": rs[0]["rows_user"], "rows_item": rs[0]["rows_item"],
                     "row_share": (rs[0]["rows_user"] + rs[0]["rows_item"]) / rs[0]["full_rows"],
                     "lr": rs[0].get("lr"), "reg": rs[0].get("reg"),
                     "best_epoch": float(np.mean([r.get("best_epoch", 0) for r in rs])),
                     "carved_recall@20": float(np.mean([r.get("carved", {}).get("test_recall@20", np.nan)
                                                        for r in rs])),
                     "cluster_share": {s: c["cluster_share"] for s, c in rs[0].get("clustering", {}).items()},
                     "train_s": float(np.mean([r["train_s"] for r in rs]))})
    for row in rows:
        full = [r for r in rows if r["dataset"] == row["dataset"] and r["model"] == row["model"]
                and r["strategy"] == "full"]
        if full and row["model"] != "popular":
            row["share_of_full"] = row["recall@20"] / full[0]["recall@20"] if full[0]["recall@20"] else None
        if strategy_spec(row["strategy"])[0] in ("graphhash", "double_graphhash"):
            base = [r for r in rows if r["dataset"] == row["dataset"] and r["model"] == row["model"]
                    and r["budget"] == row["budget"] and r["strategy"] in HASHING]
            if base:
                best = max(base, key=lambda r: r["recall@20"])
                row["best_hashing"] = best["strategy"]
                row["gain_over_best_hashing"] = row["recall@20"] / best["recall@20"] - 1 if best["recall@20"] else None
        if row["strategy"] in ("graphhash", "double_graphhash"):          # the default: automatic cluster share
            fixed = [r for r in rows if r["dataset"] == row["dataset"] and r["model"] == row["model"]
                     and r["budget"] == row["budget"] and strategy_spec(r["strategy"])[0] == row["strategy"]
                     and "cluster_share" in strategy_spec(r["strategy"])[1]]
            if fixed:
                oracle = max(fixed, key=lambda r: r["recall@20"])
                row["oracle"] = oracle["strategy"]
                row["vs_oracle"] = row["recall@20"] / oracle["recall@20"] if oracle["recall@20"] else None
    return sorted(rows, key=lambda r: (r["dataset"], r["model"], str(r["budget"]), -r["recall@20"]))


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"### Recall benchmark ({meta['note']})", "",
             "| dataset | model | strategy | budget | rows (user+item) | Recall@20 | NDCG@20 | share of full | "
             "gain vs best hashing | vs best fixed cluster_share | chosen cluster_share (user/item) | carved Recall@20 | "
             "lr / reg | best epoch | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share = f"{r['share_of_full']:.2f}" if r.get("share_of_full") is not None else "-"
        gain = (f"{r['gain_over_best_hashing']:+.0%} ({r['best_hashing']})"
                if r.get("gain_over_best_hashing") is not None else "-")
        oracle = f"{r['vs_oracle']:.2f}x ({r['oracle']})" if r.get("vs_oracle") is not None else "-"
        cs = r.get("cluster_share") or {}
        chosen = f"{cs['user']:.2f} / {cs['item']:.2f}" if {"user", "item"} <= set(cs) else "-"
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['strategy']} | {r['budget'] if r['budget'] is not None else '-'} | "
            f"{r['rows_user']}+{r['rows_item']} ({r['row_share']:.0%}) | "
            f"{r['recall@20']:.4f} ± {r['recall@20_std']:.4f} | {r['ndcg@20']:.4f} ± {r['ndcg@20_std']:.4f} | "
            f"{share} | {gain} | {oracle} | {chosen} | {r['carved_recall@20']:.4f} | "
            f"{r['lr']} / {r['reg']} | {r['best_epoch']:.1f} | {r['train_s']:.0f} |")
    return "\n".join(lines) + "\n"


def chosen_settings(paths: list[str]) -> dict[tuple, tuple[float, float]]:
    """(dataset, model, strategy label, budget) -> (lr, reg) chosen by earlier runs; the first file to hold a cell wins."""
    chosen: dict[tuple, tuple[float, float]] = {}
    for path in paths:
        for r in json.loads(Path(path).read_text())["runs"]:
            if r.get("lr") is None:
                continue
            key = (r["dataset"], r["model"], r["strategy"], r["budget"])
            chosen.setdefault(key, (float(r["lr"]), float(r["reg"])))
    return chosen


def strategy_spec(text: str) -> tuple[str, dict]:
    """'graphhash:cluster_share=0.25;max_search_runs=4' -> ("graphhash", {...}); a bare name has no parameters."""
    from recsys_hash.commands._options import parse_params

    name, _, params = text.partition(":")
    return name, parse_params([p for p in params.split(";") if p])


def main(argv=None) -> dict:
    args = parse_args(argv)
    from recsys_hash.commands._output import parse_list
    from recsys_hash.data import load_interactions
    from recsys_hash.eval.timing import torch_threads
    from recsys_hash.models import TrainConfig, make_split, run_recall

    seeds, budgets = parse_list(args.seeds, int), parse_list(args.budgets, float)
    lrs, regs = parse_list(args.lrs, float), parse_list(args.regs, float)
    reused = chosen_settings(args.reuse_grid)
    runs: list[dict] = []
    out_path, md_path = Path(args.out), Path(args.md)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    grid = (f"datasets {args.datasets}; models {args.models}; budgets {args.budgets}; seeds {args.seeds}; "
            f"grid lr {args.lrs} x reg {args.regs}; dim {args.dim}; max epochs {args.epochs}")
    meta = {"argv": sys.argv[1:] if argv is None else list(argv),
            "note": ("quick smoke run: " if args.quick else "") + grid,
            "protocol": "BPR, 1 uniform negative; lr x reg tuned on validation with seed 0, reused for other seeds",
            "reuse_grid": args.reuse_grid}
    t_all = time.perf_counter()
    with torch_threads(args.threads):
        for ds in parse_list(args.datasets):
            data = load_interactions(ds)
            for model in parse_list(args.models):
                bs = args.lightgcn_batch_size if model == "lightgcn" else args.batch_size
                cfg = TrainConfig(epochs=args.epochs, batch_size=bs, eval_every=args.eval_every,
                                  patience=args.patience, progress=False)
                jobs = [("popular", None, None)]
                for strat in parse_list(args.strategies):
                    for b in ([1.0] if strat == "full" else budgets):
                        jobs.append(("mf" if model == "mf" else model, strat, b))
                for kind, strat, b in jobs:
                    chosen = reused.get((ds, model, strat, b))
                    for seed in seeds if kind != "popular" else seeds[:1]:
                        split = make_split(data, 0.1, seed)
                        grid = (lrs, regs) if chosen is None else ([chosen[0]], [chosen[1]])
                        t0 = time.perf_counter()
                        if kind == "popular":
                            r = run_recall(data, model="popular", seed=seed, split=split)
                            r["model_group"] = model
                        else:
                            name, params = strategy_spec(strat)
                            r = run_recall(data, model=kind, strategy=name, budget=b, seed=seed, dim=args.dim,
                                           layers=args.layers, lrs=grid[0], regs=grid[1], config=cfg, split=split,
                                           strategy_params=params)
                            r["strategy"] = strat
                            chosen = (r["lr"], r["reg"])
                        r["wall_s"] = time.perf_counter() - t0
                        if kind == "popular":
                            r["model"], r["budget"], r["strategy"] = model, None, "most_popular"
                        runs.append(r)
                        print(f"[{time.perf_counter() - t_all:7.0f}s] {ds} {kind} {strat} b={b} seed={seed}: "
                              f"R@20={r['recall@20']:.4f} N@20={r['ndcg@20']:.4f} "
                              f"lr={r.get('lr')} reg={r.get('reg')} ({r['wall_s']:.0f}s)", file=sys.stderr, flush=True)
                        rows = summarise(runs)
                        out_path.write_text(json.dumps({"meta": meta, "runs": runs, "summary": rows}, indent=1,
                                                       default=float))
                        md_path.write_text(markdown(rows, meta))
    rows = summarise(runs)
    print(markdown(rows, meta), file=sys.stderr)
    result = {"summary": rows, "total_s": time.perf_counter() - t_all, "out": str(out_path)}
    if args.json:
        print(json.dumps(result, default=float))
    return result


if __name__ == "__main__":
    main()
