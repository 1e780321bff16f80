"""Offline check of the automatic cluster-share choice against MF-BPR results, without training MF.

For each dataset/budget with MF results (benchmarks/results/bench_recall_auto_*.json), rebuild the training graph
exactly as bench_recall does (loader -> train split -> biadjacency), carve the auto choice's validation, cluster the
carved graph at every resolution MF was measured at (the fixed shares' and the auto pick's final resolutions), and
score each clustering with the proxy scorers. Prints, per dataset/budget, MF Recall@20 next to each proxy score and
what the pick makes of MF's best (x best).

    PYTHONPATH=. python benchmarks/auto_proxy_loop.py [--datasets ml-100k,...] [--scorers svd32,svd64]
        [--tail 0.5] [--ladder] [--cache DIR]

The pick among the MF-measured clusterings uses the same rule as `choose_clustering` (`one_se_pick`); --ladder also
runs `choose_clustering` itself on the training graph.
"""
from __future__ import annotations

import argparse
import glob
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def mf_points(ds: str) -> dict[float, list[tuple[str, float, float]]]:
    """budget -> [(strategy, final resolution, MF Recall@20)] for graphhash runs of `ds`."""
    out: dict[float, list] = {}
    for f in sorted(glob.glob(str(ROOT / "results" / f"bench_recall_auto*_{ds}*.json"))):
        for r in json.load(open(f))["runs"]:
            s = r.get("strategy") or ""
            if r.get("dataset") != ds or not s.startswith("graphhash") or "clustering" not in r:
                continue
            res = float(r["clustering"]["item"]["resolution"])
            out.setdefault(float(r["budget"]), []).append((s + f" [{Path(f).stem[-12:]}]", res, r["recall@20"]))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="ml-100k,lastfm,amazon-electronics,ml-1m,gowalla")
    p.add_argument("--scorers", default="svd32", help="svdR: PureSVD of rank R")
    p.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "recsys_hash_autoloop"),
                   help="folder for cached clusterings")
    p.add_argument("--tail", type=float, default=0.5, help="score users up to this degree quantile (1: all)")
    p.add_argument("--ladder", action="store_true",
                   help="also run choose_clustering (the real ladder) and print its candidates and pick")
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from recsys_hash.budget import resolve_budget
    from recsys_hash.data import load_interactions
    from recsys_hash.graph import auto
    from recsys_hash.graph.biadjacency import build_biadjacency
    from recsys_hash.graph.clustering import GraphClustering, cluster_bipartite

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for ds in args.datasets.split(","):
        data = load_interactions(ds)
        b = build_biadjacency(data.train)
        fit, held = auto.carve_edges(b, auto.AUTO_HOLDOUT, 0)
        users = auto.validation_users(b, fit, held, seed=0, tail=args.tail)

        def clustering(res: float):
            f = cache / f"{ds}_{res:.6g}.npz"
            if f.exists():
                z = np.load(f)
                return z["u"], z["i"]
            c = cluster_bipartite(fit, res, seed=0)
            np.savez(f, u=c.user_labels, i=c.item_labels)
            return c.user_labels, c.item_labels

        for budget, pts in sorted(mf_points(ds).items(), reverse=True):
            targets = {"user": resolve_budget(budget, b.shape[0], "user"),
                       "item": resolve_budget(budget, b.shape[1], "item")}
            best_mf = max(x[2] for x in pts)
            print(f"\n== {ds} {budget:.0%} targets {targets}", flush=True)
            scores: dict[str, list[np.ndarray]] = {s: [] for s in args.scorers.split(",")}
            sizes = []
            for name, res, mf in pts:
                ul, il = clustering(res)
                c = GraphClustering(ul, il, res, "sknetwork", 0.0, 0.0, 0.0)
                rows = auto._rows(c, fit, targets)
                sizes.append(float(np.sqrt(c.n_user_clusters * c.n_item_clusters)))
                line = f"  {name:55s} r={res:8.3f} nu={c.n_user_clusters:6d} ni={c.n_item_clusters:6d} MF={mf:.4f}"
                for s in scores:
                    t = time.perf_counter()
                    with threadpool_limits(1):
                        v = auto.score_rows(fit, held, rows["user"], rows["item"], users, seed=0, rank=int(s[3:]),
                                            per_user=True)
                    scores[s].append(v)
                    line += f" {s}={v.mean():.4f}({time.perf_counter() - t:.1f}s)"
                print(line, flush=True)
            for s, v in scores.items():
                pick = auto.one_se_pick(v, sizes)[0]            # the rule choose_clustering applies
                print(f"  -> {s}: picks {pts[pick][0]} MF {pts[pick][2]:.4f} = {pts[pick][2] / best_mf:.3f}x best")
            if args.ladder:
                t = time.perf_counter()
                c = auto.choose_clustering(b, targets, seed=0)
                print(f"  ladder ({time.perf_counter() - t:.1f}s): pick r={c.auto['resolution']} "
                      f"share={c.auto['cluster_share']}")
                for x in c.auto["candidates"]:
                    print("    ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in x.items()})


if __name__ == "__main__":
    main()
