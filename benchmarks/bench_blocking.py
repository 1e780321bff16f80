"""Entity blocking on the ER benchmarks, and the effect of consolidating duplicate IDs on retrieval.

    python benchmarks/bench_blocking.py [--datasets abt_buy,amazon_google,dblp_acm,febrl4]
        [--methods tfidf,minhash,minilm,nlsh,hybrid] [--hybrid-weight W|auto] [--select-epochs] [--simhash]
        [--consolidation] [--cv F] [--learn MODE] [--nlsh-lr LR] [--nlsh-epochs N]
        [--quick] [--json] [--out FILE]

Blocking (RECSYS_HASH_DATA): tableB queries tableA, gold = all labelled positives, supervised methods train on the
train split only (Febrl4: a seeded 60% of its links); PC, PQ and |C| at k = 1, 2, 5, 10, the smallest k <= 20 with
PC >= 0.97, and pc_test (pairs never trained on). MinHashLSH is swept over --minhash-thresholds (no k).
--simhash: NLSH with its SimHash index vs exact top-k (PC kept, share of pairs scored); --simhash-tables /
--simhash-bits / --simhash-target set the index (default auto x auto, target 0.15: chosen from tableA at fit time).
--cv F: F-fold cross-validation inside the train split (PC on held-out folds' matches, never on gold outside the
split) of tfidf, nlsh, hybrid and the merge that reads NLSH's list before TF-IDF's.
--learn / --nlsh-lr / --nlsh-epochs: the NLSH and hybrid encoder's learn mode, learning rate and epochs (defaults:
the blockers').
--consolidation: a synthetic catalogue with planted duplicate items (1-3 IDs per entity, typo'd titles): blocking
self-join -> matched pairs -> `dedup`; Recall@20 of MF with full / graphhash, with and without dedup in front.
Writes benchmarks/results/bench_blocking.json (or --out).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
KS = list(range(1, 11)) + [15, 20]
TABLE_KS = (1, 2, 5, 10)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="abt_buy,amazon_google,dblp_acm,febrl4")
    p.add_argument("--methods", default="tfidf,minhash,minilm,nlsh,hybrid",
                   help="any of tfidf, minhash, sorted_neighbourhood, minilm, nlsh, nlsh_minilm, hybrid")
    p.add_argument("--minhash-thresholds", default="0.1,0.2,0.3,0.5")
    p.add_argument("--hybrid-weight", default=None,
                   help="hybrid: the neural part's weight, a number or 'auto' (chosen on the train split; default 1)")
    p.add_argument("--select-epochs", action="store_true",
                   help="nlsh / hybrid: pick the epoch count on a seeded 20%% slice of the train split's matches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learn", default=None, help="NLSH char-n-gram encoder: both (default), weights, features or table")
    p.add_argument("--nlsh-lr", type=float, default=None, help="NLSH learning rate (default: the blocker's)")
    p.add_argument("--nlsh-epochs", type=int, default=None, help="NLSH training epochs (default: the blocker's)")
    p.add_argument("--simhash", action="store_true", help="NLSH SimHash index vs exact top-k")
    p.add_argument("--simhash-tables", default="auto", help="--simhash: tables L, an integer or auto")
    p.add_argument("--simhash-bits", default="auto", help="--simhash: bits per table b, an integer or auto")
    p.add_argument("--simhash-target", type=float, default=0.15, help="--simhash: target scored fraction (bits auto)")
    p.add_argument("--consolidation", action="store_true", help="the planted-duplicate catalogue retrieval run")
    p.add_argument("--recall-epochs", type=int, default=15)
    p.add_argument("--match-threshold", type=float, default=0.5,
                   help="consolidation: TF-IDF cosine a self-join pair needs to count as a duplicate")
    p.add_argument("--cv", type=int, default=0, help="F > 1: F-fold cross-validation on the train split of each "
                   "--datasets of tfidf, nlsh, hybrid and the NLSH-first merge (instead of the --methods run)")
    p.add_argument("--quick", action="store_true", help="smoke run: abt_buy, tfidf+nlsh, small catalogue")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_blocking.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.datasets, args.methods, args.recall_epochs = "abt_buy", "tfidf,nlsh", 3
    return args


def blocking(args) -> list[dict]:
    from recsys_hash.blocking.evaluate import evaluate_blocker
    from recsys_hash.data.er import load_er

    rows = []
    for name in args.datasets.split(","):
        er = load_er(name)
        for method in args.methods.split(","):
            if method == "minhash":
                for t in (float(x) for x in args.minhash_thresholds.split(",")):
                    res = evaluate_blocker(er, method, [None], seed=args.seed, threshold=t)
                    res["threshold"] = t
                    rows.append(res)
                    m = res["by_k"]["None"]
                    log(f"{name:14s} minhash t={t}: PC {m['pc']:.3f} |C| {m['candidates']:,} "
                        f"({res['fit_s'] + res['query_s']:.1f}s)")
                continue
            extra = {"progress": False} if method in ("minilm", "nlsh", "nlsh_minilm", "hybrid") else {}
            if method in ("nlsh", "hybrid"):
                extra.update(nlsh_kwargs(args))
            if args.select_epochs and method in ("nlsh", "nlsh_minilm", "hybrid"):
                extra["select_epochs"] = True
            if method == "hybrid" and args.hybrid_weight is not None:
                extra["weight"] = args.hybrid_weight if args.hybrid_weight == "auto" else float(args.hybrid_weight)
            ks = [k for k in KS if k <= 10] if method == "sorted_neighbourhood" else KS
            res = evaluate_blocker(er, method, ks, seed=args.seed, **extra)
            rows.append(res)
            pcs = " ".join(f"@{k} {res['by_k'][str(k)]['pc']:.3f}" for k in TABLE_KS)
            log(f"{name:14s} {method:12s} PC {pcs}  k(PC>=.97)={res['k_for_pc_0.97']}  "
                f"pc_test@1 {res['by_k']['1']['pc_test']:.3f}  fit {res['fit_s']:.1f}s query {res['query_s']:.1f}s"
                + (f"  weight {res['weight']}" if "weight" in res else "")
                + (f"  epochs {res['epochs']}" if "epochs" in res else ""))
    return rows


def simhash(args) -> list[dict]:
    """One trained NLSH encoder per dataset, queried through its SimHash index and by exact top-k: the chosen L x b,
    the fit-time self-probe estimate vs the fraction tableB's queries scored, PC of both at TABLE_KS, query seconds."""
    from recsys_hash.blocking.blocker import make_blocker
    from recsys_hash.blocking.evaluate import train_split
    from recsys_hash.blocking.index import exact_topk
    from recsys_hash.blocking.metrics import blocking_metrics, knn_pairs
    from recsys_hash.data.er import load_er

    choice = lambda v: v if v == "auto" else int(v)  # noqa: E731
    rows = []
    for name in args.datasets.split(","):
        er = load_er(name)
        train, _, _ = train_split(er, args.seed)
        b = make_blocker("nlsh", seed=args.seed, index="simhash", progress=False, tables=choice(args.simhash_tables),
                         bits=choice(args.simhash_bits), target_fraction=args.simhash_target)
        b.fit(er.table_a, context=[er.table_b], train=train, table_b=er.table_b)
        t0 = time.perf_counter()
        b._simhash().fit(b.x_a_)                            # the index alone (with auto: its L x b selection)
        index_fit_s = time.perf_counter() - t0
        ids_a, ids_b = er.table_a["id"].to_numpy(), er.table_b["id"].to_numpy()
        t0 = time.perf_counter()
        lsh_rows, _ = b.search(er.table_b, max(TABLE_KS))
        lsh_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        exact_rows, _ = exact_topk(b.x_a_, b.embed(b.texts(er.table_b, "tableB")), max(TABLE_KS))
        exact_s = time.perf_counter() - t0
        pc = lambda r, k: blocking_metrics(knn_pairs(r[:, :k], ids_a, ids_b), er.gold, ids_a, ids_b).pc  # noqa: E731
        row = {"dataset": name, "requested": {"tables": args.simhash_tables, "bits": args.simhash_bits},
               **b.index_.describe(), "multiprobe": True, "index_fit_s": index_fit_s,
               "query_s_simhash": lsh_s, "query_s_exact": exact_s,
               "pc_exact": {k: pc(exact_rows, k) for k in TABLE_KS}, "pc_simhash": {k: pc(lsh_rows, k) for k in TABLE_KS}}
        row["pc_kept"] = {k: row["pc_simhash"][k] / row["pc_exact"][k] for k in TABLE_KS}
        rows.append(row)
        est = "" if row["estimated_fraction"] is None else f" (estimated {row['estimated_fraction']:.3f})"
        log(f"{name:14s} simhash {row['tables']}x{row['bits']}: PC kept "
            f"{' '.join(f'@{k} {v:.4f}' for k, v in row['pc_kept'].items())} scoring {row['scored_fraction']:.3f} of "
            f"pairs{est}; query {lsh_s:.2f}s vs exact {exact_s:.2f}s")
    return rows


def consolidation(args) -> dict:
    from recsys_hash.blocking.blocker import make_blocker, matched_pairs
    from recsys_hash.blocking.metrics import blocking_metrics
    from recsys_hash.data.synthetic_catalogue import planted_duplicate_catalogue
    from recsys_hash.models import TrainConfig, run_recall

    sizes = dict(n_users=600, n_entities=400) if args.quick else {}
    data, titles, truth = planted_duplicate_catalogue(seed=args.seed, **sizes)
    t0 = time.perf_counter()
    blocker = make_blocker("tfidf").fit(titles)
    pairs = matched_pairs(blocker, k=3, threshold=args.match_threshold)
    block_s = time.perf_counter() - t0
    m = blocking_metrics(pairs, truth.duplicate_pairs, titles["id"], titles["id"], self_join=True,
                         query_side="self-join of the item titles", gold_name="planted duplicate pairs")
    out = {"catalogue": {"items": data.n_items, "entities": int(truth.entity.max()) + 1, "users": data.n_users,
                         "train": len(data.train), "test": len(data.test)},
           "blocking": {"method": f"tfidf self-join, k=3, cosine >= {args.match_threshold}", "seconds": block_s, **m.as_dict()},
           "recall": []}
    log(f"consolidation: matched {m.candidates} pairs, PC {m.pc:.3f} PQ {m.pq:.3f} vs planted")
    cfg = TrainConfig(epochs=args.recall_epochs, progress=False)
    half = 0.5
    for strategy, budget, dup in (("full", 1.0, None), ("dedup+full", 1.0, pairs), ("dedup+full", 1.0, truth.duplicate_pairs),
                                  ("graphhash", half, None), ("dedup+graphhash", half, pairs)):
        params = {} if dup is None else {"duplicates": dup.tolist()}   # JSON-ready: run provenance records it
        res = run_recall(data, model="mf", strategy=strategy, budget=budget, seed=args.seed, ks=(20,), config=cfg,
                         strategy_params=params)
        row = {"strategy": strategy, "budget": budget, "duplicates": "none" if dup is None else
               ("planted (oracle)" if dup is truth.duplicate_pairs else "blocking matches"),
               "recall@20": res["recall@20"], "ndcg@20": res.get("ndcg@20"), "rows_item": res.get("rows_item")}
        out["recall"].append(row)
        log(f"consolidation: {strategy:16s} budget {budget} dup={row['duplicates']:16s} Recall@20 {row['recall@20']:.4f}"
            f" item rows {row['rows_item']}")
    return out


CV_VARIANTS = ("tfidf", "nlsh", "hybrid", "nlsh_first")


def nlsh_kwargs(args) -> dict:
    """NLSH / hybrid settings the command line overrides."""
    out = {} if args.learn is None else {"learn": args.learn}
    if args.nlsh_lr is not None:
        out["lr"] = args.nlsh_lr
    if args.nlsh_epochs is not None:
        out["epochs"] = args.nlsh_epochs
    return out


def cross_validation(args) -> list[dict]:
    """--cv F: F-fold cross-validation on each dataset's train split (its matches split into seeded folds; tableB
    queries tableA; PC on the held-out fold's matches, pooled over folds) of TF-IDF, NLSH, the hybrid (fused score
    rank-merged with TF-IDF) and the other merge order (NLSH's list first, then TF-IDF's). One hybrid fit per fold
    gives all four: its TF-IDF part, its NLSH part (the same training as `nlsh`), and their fusion at weight 1."""
    from recsys_hash.blocking.baselines import sparse_scores
    from recsys_hash.blocking.blocker import make_blocker
    from recsys_hash.blocking.evaluate import train_folds, train_split
    from recsys_hash.blocking.fusion import fuse_topk, rank_merge
    from recsys_hash.blocking.index import topk_dense
    from recsys_hash.blocking.metrics import blocking_metrics, knn_pairs
    from recsys_hash.data.er import load_er

    rows = []
    for name in args.datasets.split(","):
        er = load_er(name)
        train, _, note = train_split(er, args.seed)
        ids_a, ids_b = er.table_a["id"].to_numpy(), er.table_b["id"].to_numpy()
        hits = {v: np.zeros(len(KS)) for v in CV_VARIANTS}
        n = 0
        t0 = time.perf_counter()
        for fold_train, held in train_folds(train, args.cv, args.seed):
            b = make_blocker("hybrid", seed=args.seed, progress=False, **nlsh_kwargs(args))
            b.fit(er.table_a, context=[er.table_b], train=fold_train, table_b=er.table_b)
            texts_b = b.texts(er.table_b, "tableB")
            lexical = sparse_scores(b.tfidf_.transform(texts_b), b.tfidf_.x_a_, 0, len(texts_b))
            neural = b.embed(texts_b) @ b.x_a_.T
            top = max(KS)
            lex_cols, nn_cols = topk_dense(lexical, top)[0], topk_dense(neural, top)[0]
            ranked = {"tfidf": lex_cols, "nlsh": nn_cols, "hybrid": fuse_topk(lexical, neural, 1.0, top)[0],
                      "nlsh_first": rank_merge(nn_cols, lex_cols)}
            for v, cols in ranked.items():            # a top-k is the prefix of the top-20 (rank merges too)
                hits[v] += [blocking_metrics(knn_pairs(cols[:, :k], ids_a, ids_b), held, ids_a, ids_b).pc * len(held)
                            for k in KS]
            n += len(held)
        res = {"dataset": name, "folds": args.cv, "seed": args.seed, "pairs": n, "train": note,
               "seconds": time.perf_counter() - t0,
               "pc": {v: {str(k): float(h / n) for k, h in zip(KS, hits[v])} for v in CV_VARIANTS}}
        rows.append(res)
        for v in CV_VARIANTS:
            log(f"{name:14s} cv {v:10s} " + " ".join(f"@{k} {res['pc'][v][str(k)]:.4f}" for k in (1, 2, 3, 5, 10, 20)))
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    result = {"seed": args.seed, "protocol": "tableB queries tableA; gold = all labelled positives; supervised "
              "methods train on the train split only (febrl4: seeded 60% of links); pc_test = pairs never trained on"}
    t0 = time.perf_counter()
    if args.cv:
        result["cv"] = cross_validation(args)
    elif args.datasets and args.methods:
        result["blocking"] = blocking(args)
    if args.simhash:
        result["simhash"] = simhash(args)
    if args.consolidation:
        result["consolidation"] = consolidation(args)
    result["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))
    log(f"wrote {out}")
    if args.json:
        print(json.dumps({"out": str(out), "seconds": result["seconds"]}))


if __name__ == "__main__":
    main()
