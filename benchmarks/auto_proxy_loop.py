"""Offline check of the automatic cluster-share choice against MF-BPR results, without training MF.

For each dataset/budget with MF results (benchmarks/results/bench_recall_auto_*.json), rebuild the training graph
exactly as bench_recall does (loader -> train split -> biadjacency), carve the auto choice's validation, cluster the
carved graph at every resolution MF was measured at (the fixed shares' and the auto pick's final resolutions), and
score each clustering with the proxy scorers. Prints, per dataset/budget, MF Recall@20 next to each proxy score and
what the pick makes of MF's best (x best).

    PYTHONPATH=. python benchmarks/auto_proxy_loop.py [--datasets ml-100k,...] [--scorers svd32,svd64,knn,ials64]
        [--tail 0.5] [--ladder] [--cache DIR] [--results DIR] [--lr LR]

Scorers: `svdR` is `auto.score_rows` at rank R (PureSVD of the row-compressed graph); `knnu` is
`auto.knn_score_rows` as the choice uses it (item-row cosine kNN, no rank limit, each user scored through its user
row), `knn` the same scored through the user's own items (the earlier offline variant), `knnsz` that over sqrt(row
size); `ialsD` is
`ials_score_rows` (implicit ALS of dimension D whose parameters are the rows, tied as the compressed model ties them).
MF truths: MF-BPR runs of seed 0 in DIR/bench_recall_auto*_{dataset}*.json, one point per (strategy, resolution);
--lr keeps only the runs trained at that learning rate (gowalla's graph strategies want 1e-3, and its older 5e-3
runs would otherwise shadow them).

The pick among the MF-measured clusterings uses the same rule as `choose_clustering` (`one_se_pick`); --ladder also
runs `choose_clustering` itself on the training graph.
"""
from __future__ import annotations

import argparse
import glob
import json
import re
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import scipy.sparse as sp

from recsys_hash.graph import auto

ROOT = Path(__file__).resolve().parent
_SVD_SCORE = auto.score_rows                          # --ladder-scorer swaps auto.score_rows out while the ladder runs


def mf_points(ds: str, results: Path = ROOT / "results", lr: float | None = None
              ) -> dict[float, list[tuple[str, float, float]]]:
    """budget -> [(strategy [source file], final resolution, MF Recall@20)] for the MF-BPR graphhash runs of `ds` at
    seed 0 (and learning rate `lr` when given); a run found in several files (the *_merged files repeat their
    sources) counts once."""
    out: dict[float, list] = {}
    seen = set()
    for f in sorted(glob.glob(str(results / f"bench_recall_auto*_{ds}*.json"))):
        for r in json.load(open(f))["runs"]:
            s = r.get("strategy") or ""
            if (r.get("dataset") != ds or not s.startswith("graphhash") or "clustering" not in r
                    or r.get("model", "mf") != "mf" or int(r.get("seed", 0)) != 0
                    or (lr is not None and (r.get("lr") is None or not np.isclose(float(r["lr"]), lr)))):
                continue
            res = float(r["clustering"]["item"]["resolution"])
            key = (float(r["budget"]), s, round(res, 6))
            if key in seen:
                continue
            seen.add(key)
            src = Path(r.get("source") or f).stem.replace("bench_recall_", "")
            out.setdefault(float(r["budget"]), []).append((f"{s} [{src}]", res, r["recall@20"]))
    return out


def ials_score_rows(fit: sp.csr_matrix, held: sp.csr_matrix, user_rows: np.ndarray, item_rows: np.ndarray,
                    users: np.ndarray, k: int = auto.AUTO_K, seed: int = 0, per_user: bool = False, dim: int = 64,
                    alpha0: float = 0.1, lam: float = 1e-3, sweeps: int = 8, cg_steps: int = 3):
    """`auto.score_rows` with implicit ALS in place of PureSVD, its parameters tied as the compressed model ties
    them: one vector per user row (P) and per item row (Q), fitted to the uncompressed graph,

        sum over edges (u, i) of (1 - p_r(u) . q_r(i))^2 + alpha0 x sum over all (u, i) of (p_r(u) . q_r(i))^2 + reg,

    i.e. weighted least squares on the row-compressed counts c_ab with the unobserved term scaled by the rows' sizes
    s_a s_b; reg_a = lam (c_a + alpha0 s_a n_items) (frequency-scaled). Alternating updates, each solved by `cg_steps`
    of batched conjugate gradient warm-started at the previous solution. Items of a row share its score, the user's
    training items are masked, and ties straddling the k-th place count as in `score_rows`."""
    user_rows, item_rows, pi, comp, si = auto.compress_graph(fit, user_rows, item_rows, seed)
    n_ur, n_ir = comp.shape
    su = np.bincount(user_rows, minlength=n_ur).astype(np.float64)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x1A15]))
    q = rng.standard_normal((n_ir, dim)) * 0.1 / np.sqrt(dim)
    p = rng.standard_normal((n_ur, dim)) * 0.1 / np.sqrt(dim)
    comp_t = comp.T.tocsr()
    for _ in range(sweeps):
        p = _als_side(comp, p, q, su, si, alpha0, lam, cg_steps)
        q = _als_side(comp_t, q, p, si, su, alpha0, lam, cg_steps)
    return auto.masked_recall(p[user_rows[users]] @ q.T, fit, held, pi, si, users, k, per_user)


def _als_side(comp: sp.csr_matrix, x: np.ndarray, other: np.ndarray, s_self: np.ndarray, s_other: np.ndarray,
              alpha0: float, lam: float, steps: int) -> np.ndarray:
    """One side's update: for each row a of `comp`, (alpha0 s_a G + sum_b c_ab o_b o_b^T + reg_a I) x_a = sum_b c_ab o_b
    with G = sum_b s_b o_b o_b^T, by `steps` of conjugate gradient (all rows at once) from `x`."""
    gram = (other * s_other[:, None]).T @ other
    reg = lam * (np.asarray(comp.sum(axis=1)).ravel() + alpha0 * s_self * s_other.sum())
    coo = comp.tocoo()
    oc = other[coo.col]

    def matvec(z):
        t = coo.data * np.einsum("nd,nd->n", oc, z[coo.row])
        return (alpha0 * s_self[:, None] * (z @ gram) + reg[:, None] * z
                + sp.csr_matrix((t, (coo.row, coo.col)), shape=comp.shape) @ other)

    res = comp @ other - matvec(x)
    d = res.copy()
    rs = np.einsum("nd,nd->n", res, res)
    for _ in range(steps):
        ad = matvec(d)
        den = np.einsum("nd,nd->n", d, ad)
        a = np.divide(rs, den, out=np.zeros_like(rs), where=den > 0)
        x = x + a[:, None] * d
        res = res - a[:, None] * ad
        rs_new = np.einsum("nd,nd->n", res, res)
        d = res + np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)[:, None] * d
        rs = rs_new
    return x


def score(name: str, fit, held, user_rows, item_rows, users) -> np.ndarray:
    """Per-user Recall@20 of scorer `name` (`knnu`, `knn`, `knnsz`, `svdR` or `ialsD`) on the held edges."""
    if name in ("knn", "knnsz", "knnu"):
        return auto.knn_score_rows(fit, held, user_rows, item_rows, users, seed=0, per_user=True,
                                   size_power=0.5 if name == "knnsz" else 0.0,
                                   profile="row" if name == "knnu" else "own")
    if name.startswith("svd") and name[3:].isdigit():
        return _SVD_SCORE(fit, held, user_rows, item_rows, users, seed=0, rank=int(name[3:]), per_user=True)
    if name.startswith("ials") and name[4:].isdigit():
        return ials_score_rows(fit, held, user_rows, item_rows, users, seed=0, per_user=True, dim=int(name[4:]))
    raise ValueError(f"--scorers: unknown scorer {name!r} (knnu, knn, knnsz, svdR or ialsD, e.g. svd32, ials64)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="ml-100k,lastfm,amazon-electronics,ml-1m,gowalla")
    p.add_argument("--scorers", default="svd32",
                   help="svdR: PureSVD of rank R; knnu: item-row cosine kNN through the user row (the choice's); knn: "
                        "the same through the user's own items; knnsz: knn / sqrt(row size); "
                        "ialsD: tied-row implicit ALS of dimension D")
    p.add_argument("--lr", type=float, default=None, help="MF truths: only runs trained at this learning rate")
    p.add_argument("--results", default=str(ROOT / "results"), help="folder of the bench_recall_auto*.json MF runs")
    p.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "recsys_hash_autoloop"),
                   help="folder for cached clusterings")
    p.add_argument("--tail", type=float, default=0.5, help="score users up to this degree quantile (1: all)")
    p.add_argument("--ladder", action="store_true",
                   help="also run choose_clustering (the real ladder) and print its candidates and pick")
    p.add_argument("--ladder-scorer", default="auto",
                   help="scorer the ladder ranks its candidates with (auto: choose_clustering as shipped, svd and knn; "
                        "another scorer name: that scorer alone)")
    args = p.parse_args(argv)
    for name in args.scorers.split(",") + ([] if args.ladder_scorer == "auto" else [args.ladder_scorer]):
        if not re.fullmatch(r"knn|knnsz|knnu|svd[1-9][0-9]*|ials[1-9][0-9]*", name):
            p.error(f"unknown scorer {name!r} (knnu, knn, knnsz, svdR or ialsD, e.g. svd32, ials64)")
    from threadpoolctl import threadpool_limits

    from recsys_hash.budget import resolve_budget
    from recsys_hash.data import load_interactions
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

        for budget, pts in sorted(mf_points(ds, Path(args.results), args.lr).items(), reverse=True):
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
                        v = score(s, fit, held, rows["user"], rows["item"], users)
                    scores[s].append(v)
                    line += f" {s}={v.mean():.4f}({time.perf_counter() - t:.1f}s)"
                print(line, flush=True)
            for s, v in scores.items():
                pick = auto.one_se_pick(v, sizes)[0]            # the rule choose_clustering applies
                print(f"  -> {s}: picks {pts[pick][0]} MF {pts[pick][2]:.4f} = {pts[pick][2] / best_mf:.3f}x best")
            if args.ladder:
                t = time.perf_counter()

                def ladder_score(fit_, held_, ur, ir, users_, seed=0, per_user=False, **_):
                    v = score(args.ladder_scorer, fit_, held_, ur, ir, users_)
                    return v if per_user else float(np.mean(v))

                if args.ladder_scorer == "auto":
                    c = auto.choose_clustering(b, targets, seed=0)
                else:
                    with mock.patch.object(auto, "score_rows", ladder_score):
                        c = auto.choose_clustering(b, targets, seed=0, scorers=("svd",))
                print(f"  ladder {args.ladder_scorer} ({time.perf_counter() - t:.1f}s): scorer {c.auto.get('scorer')}, "
                      f"pick r={c.auto['resolution']} "
                      f"share={c.auto['cluster_share']}")
                for x in c.auto["candidates"]:
                    print("    ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in x.items()})


if __name__ == "__main__":
    main()
