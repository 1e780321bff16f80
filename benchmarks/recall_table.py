"""Merge bench_recall result files into one Markdown table per dataset (what benchmarks/RESULTS.md shows).

    python benchmarks/recall_table.py benchmarks/results/bench_recall_gowalla.json benchmarks/results/bench_recall_gowalla_graph.json

Later files override earlier ones for the same (dataset, model, strategy, budget): re-runs of a strategy after a
code change replace its old rows. Prints the table, the relative gain of each graph strategy over the best
hashing baseline at the same budget, and its share of the full table's Recall@20.

    python benchmarks/recall_table.py --runs A.json B.json ... [--out merged.json]

merges single runs instead (a later file's run replaces an earlier one of the same dataset, model, strategy, budget
and seed), so seeds run in separate processes are summarised together (mean ± std, × oracle, gain over hashing);
`--out` writes the merged runs and their summary in bench_recall's JSON layout.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HASHING = ("modulo", "universal", "xxhash", "double", "frequency", "double_frequency", "qr")


def merge_runs(paths: list[str]) -> tuple[list[dict], list[dict]]:
    """Runs of several bench_recall files, later files replacing earlier runs of the same cell and seed -> (runs,
    bench_recall.summarise(runs))."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_recall import summarise

    runs: dict[tuple, dict] = {}
    for path in paths:
        for r in json.loads(Path(path).read_text())["runs"]:
            runs[(r["dataset"], r["model"], r["strategy"], r["budget"], r["seed"])] = dict(r, source=Path(path).name)
    merged = list(runs.values())
    return merged, summarise(merged)


def merge(paths: list[str]) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        for r in data["summary"]:
            rows[(r["dataset"], r["model"], r["strategy"], r["budget"])] = dict(r, source=Path(path).name)
    return list(rows.values())


def _metric(r: dict, key: str) -> str:
    """mean, with ± std over seeds when there are several."""
    return f"{r[key]:.4f}" + (f" ± {r[key + '_std']:.4f}" if r.get("seeds", 1) > 1 else "")


def table(rows: list[dict]) -> str:
    out = []
    for ds in sorted({r["dataset"] for r in rows}):
        rs = [r for r in rows if r["dataset"] == ds]
        full = next((r["recall@20"] for r in rs if r["strategy"] == "full"), None)
        out += [f"**{ds}**", "", "| strategy | budget | rows (user+item) | Recall@20 | NDCG@20 | × full | vs best hashing |"
                " lr / reg | best epoch |", "|---|---|---|---|---|---|---|---|---|"]
        order = sorted(rs, key=lambda r: (-(r["budget"] or 2), -r["recall@20"]))
        for r in order:
            base = r["strategy"].partition(":")[0]
            gain = "-"
            if base.endswith("graphhash") and r["budget"] is not None:
                peers = [p for p in rs if p["budget"] == r["budget"] and p["strategy"] in HASHING]
                if peers:
                    best = max(peers, key=lambda p: p["recall@20"])
                    gain = f"{r['recall@20'] / best['recall@20'] - 1:+.0%} ({best['strategy']})"
            share = f"{r['recall@20'] / full:.2f}" if full else "-"
            rows_txt = f"{r['rows_user']}+{r['rows_item']}" if r["rows_user"] else "-"
            epoch = f"{r['best_epoch']:.1f}" if r["lr"] is not None else "-"
            out.append(f"| {r['strategy']} | {r['budget'] if r['budget'] is not None else '-'} | {rows_txt} | "
                       f"{_metric(r, 'recall@20')} | {_metric(r, 'ndcg@20')} | {share} | {gain} | "
                       f"{r['lr']} / {r['reg']} | {epoch} |")
        out.append("")
    return "\n".join(out)


def goals(rows: list[dict], model: str = "mf") -> str:
    """One line per (dataset, budget): the default graphhash against the best fixed cluster_share (oracle), the best
    hashing baseline and the full table (issue 12's goals), Recall@20 mean ± std over the seeds run."""
    out = ["| dataset | budget | graphhash (default) | oracle: best fixed share | × oracle | best hashing | × best "
           "hashing | full | × full |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted((r for r in rows if r["strategy"] == "graphhash" and r["model"] == model),
                    key=lambda r: (r["dataset"], -r["budget"])):
        same = [x for x in rows if x["dataset"] == r["dataset"] and x["model"] == model]
        fixed = [x for x in same if x["budget"] == r["budget"] and x["strategy"].startswith("graphhash:cluster_share")]
        hashing = [x for x in same if x["budget"] == r["budget"] and x["strategy"] in HASHING]
        full = next((x for x in same if x["strategy"] == "full"), None)
        oracle = max(fixed, key=lambda x: x["recall@20"]) if fixed else None
        best = max(hashing, key=lambda x: x["recall@20"]) if hashing else None
        cell = lambda x: f"{_metric(x, 'recall@20')} ({x['seeds']} seed{'s' if x['seeds'] > 1 else ''})"
        ratio = lambda x: f"{r['recall@20'] / x['recall@20']:.3f}" if x and x["recall@20"] else "-"
        out.append(f"| {r['dataset']} | {r['budget']:.0%} | {cell(r)} | "
                   + (f"{oracle['strategy'].split('=')[1]}: {cell(oracle)}" if oracle else "-")
                   + f" | {ratio(oracle)} | " + (f"{best['strategy']}: {cell(best)}" if best else "-")
                   + f" | {ratio(best)} | " + (cell(full) if full else "-") + f" | {ratio(full)} |")
    return "\n".join(out)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    if argv[:1] != ["--runs"]:
        print(table(merge(argv)))
        return
    paths, out = argv[1:], None
    if "--out" in paths:
        i = paths.index("--out")
        paths, out = paths[:i] + paths[i + 2:], paths[i + 1]
    runs, rows = merge_runs(paths)
    if out:
        Path(out).write_text(json.dumps({"meta": {"merged_from": [Path(p).name for p in paths]}, "runs": runs,
                                         "summary": rows}, indent=1, default=float))
    print(table(rows))
    print(goals(rows))
    for r in rows:
        if r["strategy"] in ("graphhash", "double_graphhash"):                # the defaults (automatic share)
            print(f"{r['dataset']} {r['model']} {r['strategy']} b={r['budget']} seeds={r['seeds']}: "
                  f"x oracle {r.get('vs_oracle', float('nan')):.3f} ({r.get('oracle')}), "
                  f"gain over {r.get('best_hashing')} {r.get('gain_over_best_hashing', float('nan')):+.2f}, "
                  f"x full {r.get('share_of_full') or float('nan'):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
