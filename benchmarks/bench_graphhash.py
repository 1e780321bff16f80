"""GraphHash fit speed and quality vs the plain scikit-network Louvain call, on gowalla and synthetic graphs.

    python benchmarks/bench_graphhash.py [--quick] [--sizes 1e6,1e7,3.75e7] [--repeats 3] [--leiden] [--out PATH] [--json]
    python benchmarks/bench_graphhash.py --backends [--threads 1,2] [--no-gowalla] [--sizes ...] [--out PATH] [--json]

Gowalla train graph (RECSYS_HASH_DATA): our fit at resolution 200 (graph build + clustering + row tables, both
sides) against `Louvain(resolution=200).fit(B, force_bipartite=True)` in the same process, alternating, best of
--repeats; Barber modularity of both. Then a budget-exact fit at 25% of each side's IDs, timed against one Louvain
run, and the default fit (automatic cluster share) at 25%, timed against one plain Louvain run at
--resolution (`auto_fit_ratio`; the goal is <= 10). Synthetic planted graphs of --sizes edges: each fit runs in a fresh child process that loads the saved
graph, so its peak RSS covers the graph and the fit only. Writes --out (default benchmarks/results/bench_graphhash.json;
give each size its own file, e.g. --out benchmarks/results/bench_graphhash_10m.json for --sizes 1e7).

--backends: scikit-network vs NetworKit PLM side by side instead: each graph is written to a parquet
file, and every fit runs in a fresh child process that streams it (`graph_from_file`), so the peak RSS covers the
graph build and the clustering. scikit-network runs at --resolution; PLM's resolution is searched for the same row
counts, and its Barber modularity is read at exactly those counts (log-linear between the bracketing runs).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, one 200k-edge synthetic graph")
    p.add_argument("--sizes", default="1e6,1e7,3.75e7", help="synthetic edge counts (comma list; '' = none)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--resolution", type=float, default=200.0)
    p.add_argument("--leiden", action="store_true", help="also time leidenalg (directed RB = Barber) if installed")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_graphhash.json"), help="result JSON file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--backends", action="store_true", help="sknetwork vs networkit (PLM): gowalla + --sizes")
    p.add_argument("--threads", default="1,2", help="PLM thread counts for --backends (comma list)")
    p.add_argument("--no-gowalla", action="store_true", help="--backends: synthetic graphs only")
    p.add_argument("--child", nargs=3, metavar=("KIND", "NPZ", "RESOLUTION"), help=argparse.SUPPRESS)
    p.add_argument("--backend-child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.sizes = 1, "2e5"
    return args


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sknetwork_plain(b, resolution: float):
    """The anchor's call: default Louvain (Barber / 'dugue'), all secondary outputs on."""
    from sknetwork.clustering import Louvain

    algo = Louvain(resolution=resolution).fit(b, force_bipartite=True)
    return algo.labels_row_, algo.labels_col_


def gowalla(args) -> dict:
    from recsys_hash.data import load_interactions
    from recsys_hash.graph.biadjacency import build_biadjacency
    from recsys_hash.graph.modularity import barber_modularity
    from recsys_hash.ids.graphhash import GraphHash

    train = load_interactions("gowalla").train
    b = build_biadjacency(train)
    r = args.resolution
    warm = b[:2000][:, :2000]                                  # warm-up: imports and first-call costs, untimed
    GraphHash.fit_sides(train.subset(np.flatnonzero((train.user < 2000) & (train.item < 2000))),
                        {"user": None, "item": None}, resolution=r)
    sknetwork_plain(warm, r)
    ours_t, plain_t = [], []
    for i in range(args.repeats):
        for first in ((0, 1) if i % 2 == 0 else (1, 0)):       # alternate the order between repeats
            t = time.perf_counter()
            if first == 0:
                sides = GraphHash.fit_sides(train, {"user": None, "item": None}, resolution=r)
                ours_t.append(time.perf_counter() - t)
            else:
                lu, li = sknetwork_plain(b, r)
                plain_t.append(time.perf_counter() - t)
    summary = sides["user"].clustering_summary_
    out = {
        "edges": int(b.nnz), "resolution": r, "ours_s": min(ours_t), "sknetwork_s": min(plain_t),
        "ratio_vs_sknetwork": min(ours_t) / min(plain_t),
        "modularity_ours": summary["modularity"], "modularity_sknetwork": barber_modularity(b, lu, li),
        "rows_ours": [sides["user"].table_rows, sides["item"].table_rows],
        "rows_sknetwork": [int(np.unique(lu).size), int(np.unique(li).size)],
        "one_run_s": min(s for s in ours_t),
    }
    log(f"gowalla r={r}: ours {out['ours_s']:.2f}s vs sknetwork {out['sknetwork_s']:.2f}s "
        f"(ratio {out['ratio_vs_sknetwork']:.2f}); rows {out['rows_ours']} / {out['rows_sknetwork']}; "
        f"modularity {out['modularity_ours']:.4f} / {out['modularity_sknetwork']:.4f}")
    budget_t = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        sides = GraphHash.fit_sides(train, {"user": 0.25, "item": 0.25}, cluster_share=1.0)
        budget_t.append(time.perf_counter() - t)
    want = [round(0.25 * train.n_users), round(0.25 * train.n_items)]
    got = [int(np.unique(sides[s].transform(np.arange(n))).size) for s, n in
           (("user", train.n_users), ("item", train.n_items))]
    tries = sides["user"].clustering_summary_["tries"]
    out.update({
        "budget_rows": want, "budget_rows_used": got, "budget_exact": got == want and
        [sides["user"].table_rows, sides["item"].table_rows] == want,
        "budget_fit_s": min(budget_t), "budget_louvain_runs": len(tries),
        "budget_search": tries, "budget_modularity": sides["user"].clustering_summary_["modularity"],
    })
    out["budget_ratio_vs_one_run"] = out["budget_fit_s"] / out["one_run_s"]
    log(f"gowalla 25% budget: exact={out['budget_exact']} rows {got} in {out['budget_fit_s']:.2f}s "
        f"({len(tries)} Louvain runs; {out['budget_ratio_vs_one_run']:.2f}x one run)")
    out.update(auto_fit(train, args.repeats, out["sknetwork_s"]))
    if args.leiden:
        out["leiden"] = leiden(b, r)
    return out


def auto_fit(train, repeats: int, plain_s: float, budget: float = 0.25) -> dict:
    """The default fit (cluster_share="auto") at `budget` of each side: wall time over one plain Louvain run."""
    from recsys_hash.ids.graphhash import GraphHash

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sides = GraphHash.fit_sides(train, {"user": budget, "item": budget})
        times.append(time.perf_counter() - t)
    auto = sides["user"].clustering_summary_["auto"]
    out = {"auto_budget": budget, "auto_fit_s": min(times), "auto_fit_ratio": min(times) / plain_s,
           "auto_cluster_share": auto["cluster_share"], "auto_resolution": auto["resolution"],
           "auto_louvain_runs": auto["louvain_runs"], "auto_users_scored": auto["users_scored"],
           "auto_scorer": auto["scorer"], "auto_scorer_margin_se": auto["scorer_margin_se"],
           "auto_scorer_gain": auto["scorer_gain"], "auto_louvain_s": auto["louvain_seconds"],
           "auto_score_s": auto["score_seconds"],
           "auto_candidates": auto["candidates"]}
    log(f"gowalla {budget:.0%} default (auto) fit: {out['auto_fit_s']:.2f}s = {out['auto_fit_ratio']:.2f}x one "
        f"plain Louvain run; share {auto['cluster_share']} at r={auto['resolution']} ({auto['louvain_runs']} runs, "
        f"{auto['louvain_seconds']:.2f}s; scorer {auto['scorer']}; scoring s {auto['score_seconds']})")
    return out


def leiden(b, resolution: float) -> dict:
    """leidenalg on the directed user->item graph (RB configuration = Barber modularity); not adopted."""
    try:
        import igraph as ig
        import leidenalg as la
    except ImportError:
        log("leidenalg not installed: skipped")
        return {"installed": False}
    from recsys_hash.graph.modularity import barber_modularity

    n_u, n_i = b.shape
    coo = b.tocoo()
    t = time.perf_counter()
    g = ig.Graph(n=n_u + n_i, edges=np.column_stack([coo.row, coo.col + n_u]).tolist(), directed=True)
    part = la.find_partition(g, la.RBConfigurationVertexPartition, resolution_parameter=resolution, seed=0)
    seconds = time.perf_counter() - t
    lab = np.asarray(part.membership)
    res = {"installed": True, "seconds": seconds, "modularity": barber_modularity(b, lab[:n_u], lab[n_u:]),
           "rows": [int(np.unique(lab[:n_u]).size), int(np.unique(lab[n_u:]).size)]}
    log(f"leiden: {seconds:.2f}s modularity {res['modularity']:.4f} rows {res['rows']}")
    return res


def child(kind: str, npz: str, resolution: float) -> None:
    """Runs in a fresh process: load the graph, fit, print {seconds, peak_rss_mb, modularity, rows}."""
    from recsys_hash.data.types import Interactions
    from recsys_hash.graph.biadjacency import build_biadjacency
    from recsys_hash.graph.modularity import barber_modularity
    from recsys_hash.ids.graphhash import GraphHash

    data = np.load(npz)
    inter = Interactions(data["user"], data["item"], int(data["n"][0]), int(data["n"][1]))
    before = _reset_peak_rss()
    t = time.perf_counter()
    if kind == "ours":
        sides = GraphHash.fit_sides(inter, {"user": None, "item": None}, resolution=resolution)
        seconds = time.perf_counter() - t
        mod, rows = sides["user"].clustering_summary_["modularity"], [sides[s].table_rows for s in ("user", "item")]
    else:
        b = build_biadjacency(inter)
        lu, li = sknetwork_plain(b, resolution)
        seconds = time.perf_counter() - t
        mod, rows = barber_modularity(b, lu, li), [int(np.unique(lu).size), int(np.unique(li).size)]
    print(json.dumps({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "rss_before_fit_mb": before,
                      "modularity": mod, "rows": rows}))


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> float:
    """Reset the process's peak-RSS mark (Linux clear_refs 5) so the peak covers the fit; returns RSS now (MB)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:                                            # not Linux: the peak then includes loading
        pass
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak == peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(sizes: list[int], resolution: float) -> list[dict]:
    from recsys_hash.data.synthetic_graph import planted_bipartite

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for edges in sizes:
            n_users, n_items = max(edges // 25, 100), max(edges // 20, 100)
            t = time.perf_counter()
            inter, _, _ = planted_bipartite(n_users, n_items, max(n_users // 500, 2), edges, p_in=0.8, seed=0)
            gen_s = time.perf_counter() - t
            path = os.path.join(tmp, f"g{edges}.npz")
            np.savez(path, user=inter.user, item=inter.item, n=np.array([n_users, n_items]))
            row = {"edges_drawn": edges, "edges": len(inter), "users": n_users, "items": n_items,
                   "generate_s": gen_s}
            del inter
            kinds = ("ours", "sknetwork") if len(out) % 2 == 0 else ("sknetwork", "ours")   # alternate the order
            for kind in kinds:
                res = subprocess.run([sys.executable, __file__, "--child", kind, path, str(resolution)],
                                     capture_output=True, text=True, check=True)
                r = json.loads(res.stdout.strip().splitlines()[-1])
                row.update({f"{kind}_{k}": v for k, v in r.items()})
            row["ratio_vs_sknetwork"] = row["ours_seconds"] / row["sknetwork_seconds"]
            log(f"synthetic {row['edges']:,} edges: ours {row['ours_seconds']:.1f}s {row['ours_peak_rss_mb']:.0f} MB, "
                f"sknetwork {row['sknetwork_seconds']:.1f}s {row['sknetwork_peak_rss_mb']:.0f} MB "
                f"(RSS before fit {row['ours_rss_before_fit_mb']:.0f} MB)")
            out.append(row)
    return out



# ---------------------------------------------------------------------------- --backends: sknetwork vs networkit
def backend_child(job: dict) -> None:
    """Fresh process: stream the parquet graph, cluster, print one JSON line (times, peak RSS, rows, modularity).

    job: {"path", "backend", "threads", "resolution"} for one run, or with "targets" {"user", "item"} a PLM search
    for those row counts (start "resolution", at most "max_runs" runs, relative tolerance "tol").
    """
    from recsys_hash.graph.budget import search_resolution
    from recsys_hash.graph.clustering import cluster_bipartite
    from recsys_hash.graph.stream import graph_from_file

    if job["backend"] == "networkit":
        import networkit  # noqa: F401  (import cost outside the timings)
    base = _status_mb("VmRSS")
    t = time.perf_counter()
    g = graph_from_file(job["path"], "user", "item")
    b = g.biadjacency
    build_s = time.perf_counter() - t
    rss_graph = _status_mb("VmRSS")
    if "targets" in job:
        res = search_resolution(b, job["targets"], start=job["resolution"], backend=job["backend"],
                                threads=job["threads"], max_runs=job["max_runs"], tol=job["tol"])
        tries = res.tries
    else:
        res = cluster_bipartite(b, job["resolution"], backend=job["backend"], threads=job["threads"])
        tries = [{"resolution": res.resolution, "n_user_clusters": res.n_user_clusters,
                  "n_item_clusters": res.n_item_clusters, "seconds": res.seconds, "modularity": res.modularity}]
    chosen = min(tries, key=lambda x: abs(x["resolution"] - res.resolution))
    print(json.dumps({
        "edges": int(b.nnz), "build_s": build_s, "cluster_s": chosen["seconds"], "fit_s": build_s + chosen["seconds"],
        "search_s": float(sum(x["seconds"] for x in tries)), "resolution": res.resolution,
        "rows": [res.n_user_clusters, res.n_item_clusters], "modularity": res.modularity, "tries": tries,
        "peak_rss_mb": _peak_rss_mb(), "rss_after_imports_mb": base, "rss_with_graph_mb": rss_graph,
    }))


def _run_child(job: dict) -> dict:
    res = subprocess.run([sys.executable, __file__, "--backend-child", json.dumps(job)], capture_output=True,
                         text=True)
    if res.returncode:
        raise RuntimeError(f"child {job} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def modularity_at_rows(tries: list[dict], rows: int) -> dict:
    """Barber modularity at exactly `rows` (user + item clusters): log-linear between the runs bracketing it."""
    pts = sorted((x["n_user_clusters"] + x["n_item_clusters"], x["modularity"]) for x in tries)
    below = [p for p in pts if p[0] <= rows]
    above = [p for p in pts if p[0] >= rows]
    if not below or not above:
        near = min(pts, key=lambda p: abs(np.log(p[0] / rows)))
        return {"modularity": near[1], "rows": near[0], "bracketed": False}
    (n0, q0), (n1, q1) = below[-1], above[0]
    q = q0 if n1 == n0 else q0 + (q1 - q0) * np.log(rows / n0) / np.log(n1 / n0)
    return {"modularity": float(q), "rows": rows, "bracketed": True, "between": [n0, n1]}


def backends_on(path: str, label: str, resolution: float, threads: list[int], log) -> dict:
    """sknetwork at `resolution`, then PLM searched for sknetwork's row counts at each thread count."""
    sk = _run_child({"path": path, "backend": "sknetwork", "threads": None, "resolution": resolution})
    log(f"{label}: sknetwork r={resolution:g}: fit {sk['fit_s']:.1f}s (build {sk['build_s']:.1f}s), "
        f"rows {sk['rows']}, Q {sk['modularity']:.4f}, peak RSS {sk['peak_rss_mb']:.0f} MB")
    targets = {"user": sk["rows"][0], "item": sk["rows"][1]}
    out = {"graph": label, "edges": sk["edges"], "resolution": resolution, "sknetwork": sk, "networkit": {}}
    start = resolution
    for t in threads:
        nk = _run_child({"path": path, "backend": "networkit", "threads": t, "resolution": start,
                         "targets": targets, "max_runs": 5, "tol": 0.015})
        nk["modularity_at_sknetwork_rows"] = modularity_at_rows(nk["tries"], sum(sk["rows"]))
        nk["time_ratio_vs_sknetwork"] = nk["fit_s"] / sk["fit_s"]
        start = nk["resolution"]
        out["networkit"][str(t)] = nk
        log(f"{label}: networkit {t} thread(s) gamma={nk['resolution']:.4g}: fit {nk['fit_s']:.1f}s "
            f"(cluster {nk['cluster_s']:.1f}s; {nk['fit_s'] / sk['fit_s']:.2f}x sknetwork), rows {nk['rows']}, "
            f"Q {nk['modularity']:.4f}, Q at sknetwork's {sum(sk['rows'])} rows "
            f"{nk['modularity_at_sknetwork_rows']['modularity']:.4f}, peak RSS {nk['peak_rss_mb']:.0f} MB, "
            f"search {len(nk['tries'])} runs {nk['search_s']:.1f}s")
    return out


def compare_backends(args, sizes: list[int], log) -> dict:
    """--backends: gowalla train graph (unless --no-gowalla) and planted graphs of `sizes` draws."""
    import polars as pl

    from recsys_hash.data.synthetic_graph import planted_bipartite

    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    result = {"resolution": args.resolution, "threads": threads, "graphs": []}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_gowalla:
            from recsys_hash.data import load_interactions

            train = load_interactions("gowalla").train
            path = os.path.join(tmp, "gowalla.parquet")
            pl.DataFrame({"user": train.user, "item": train.item}).write_parquet(path)
            del train
            result["graphs"].append(backends_on(path, "gowalla", args.resolution, threads, log))
        for edges in sizes:
            n_users, n_items = max(edges // 25, 100), max(edges // 20, 100)
            inter, _, _ = planted_bipartite(n_users, n_items, max(n_users // 500, 2), edges, p_in=0.8, seed=0)
            path = os.path.join(tmp, f"planted_{edges}.parquet")
            pl.DataFrame({"user": inter.user, "item": inter.item}).write_parquet(path)
            del inter
            row = backends_on(path, f"planted {edges:.3g} draws ({n_users} x {n_items})", args.resolution, threads,
                              log)
            row.update(edges_drawn=edges, users=n_users, items=n_items)
            result["graphs"].append(row)
    result["machine"] = {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}
    return result


def save(result: dict, out: str) -> Path:
    """Write the result JSON to `out` (parent folders created)."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=float))
    log(f"wrote {path}")
    return path


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.backend_child:
        backend_child(json.loads(args.backend_child))
        return
    if args.backends:
        result = compare_backends(args, [int(float(s)) for s in args.sizes.split(",") if s.strip()], log)
        save(result, args.out)
        if args.json:
            print(json.dumps(result, default=float, sort_keys=True))
        return
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    result = gowalla(args)
    result["synthetic"] = synthetic(sizes, args.resolution)
    result["machine"] = {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}
    save(result, args.out)
    if args.json:
        print(json.dumps(result, default=float, sort_keys=True))


if __name__ == "__main__":
    main()
