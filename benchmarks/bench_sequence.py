"""Long-sequence modules: serving and training speed of SDIM (+BSE), DIN, dot attention, TWIN and DARE side by side
in one process, and CTR quality of every module on Amazon Beauty, ML-100K sequences and the planted synthetic set.

    python benchmarks/bench_sequence.py [--threads 1,2] [--speed-only] [--datasets amazon-beauty,ml-100k,synthetic]
                                        [--modules din,dot,sdim,twin,dare,sdim_decoupled] [--seeds 0,1,2]
                                        [--epochs 2] [--batch-size 1024] [--patience 2] [--att-dim N]
                                        [--max-len N] [--synthetic 3000,1000,2000] [--json] [--out FILE]

Speed (CPU, fp32, d=64, m=48, τ=3, forward, random embeddings; median of --reps timed runs after a warm-up):
  serving   one user, L ∈ {1,024, 10,000} behaviours, 1,000 candidates: SDIM-BSE request = table build + all
            candidates; DIN-MLP = DIN's attention MLP evaluated straightforwardly on [e, t, e-t, e⊙t] (the paper's
            baseline, `fold=False`); DIN-folded = the same MLP with its first layer folded algebraically; dot = plain
            dot-product target attention. `bse_ratio_10k_1k` = per-candidate serving cost with the tables built
            (build excluded) at L=10,000 over L=1,024.
  training  B=256 rows each bringing its own sequence, L ∈ {256, 1,024, 4,096}: forward of each module on the
            batch's embeddings. Search stage: the attention-table lookup of all B·L behaviours (a 100,000-row
            table), the scores and the top-20; TWIN at d=64 vs DARE at d_att=32.
  Every `*_vs_dinmlp` ratio uses DIN-MLP (straightforward); `*_vs_dinfolded` the folded one.
Quality: `recsys-hash train-seq` settings (dim 16, d_att --att-dim (default 8 = dim/2), K 20, Adam 0.03 on embeddings,
AdamW 1e-3, --batch-size (1,024), --epochs with early stopping on valid AUC after --patience evaluations), test AUC /
GAUC / logloss per dataset, module and seed; the summary gives mean ± std over seeds and the paired (same-seed)
differences sdim - din, dare - twin, sdim_decoupled - sdim. DIN is trained with its folded first layer, exact (the
same values and gradients as the straightforward MLP, tested), run on the real behaviours only. The synthetic set is
`synthetic_seq_ctr` with --synthetic USERS,SEQ_MAX,ITEMS (--max-len, if given, caps its histories to the most recent
behaviours of the same generated set).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
MODULES = ["din", "dot", "sdim", "twin", "dare", "sdim_decoupled"]
D, M, TAU, C, B, K = 64, 48, 3, 1000, 256, 20


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--speed-only", action="store_true", help="skip the quality runs")
    p.add_argument("--quality-only", action="store_true", help="skip the speed runs")
    p.add_argument("--datasets", default="amazon-beauty,ml-100k,synthetic")
    p.add_argument("--modules", default=",".join(MODULES))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--patience", type=int, default=2, help="evaluations without a better valid AUC before stopping")
    p.add_argument("--att-dim", type=int, default=None, help="attention dim of dare / sdim_decoupled (None: dim//2)")
    p.add_argument("--max-len", type=int, default=None, help="history cap (None: the dataset's default)")
    p.add_argument("--synthetic", default="3000,1000,2000",
                   help="USERS,SEQ_MAX,ITEMS of the planted synthetic set (lengths log-uniform in [10, SEQ_MAX])")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_sequence.json"))
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    return p.parse_args(argv)


def timed(fn, reps: int) -> float:
    """Median seconds of `reps` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def serving(reps: int) -> dict:
    from recsys_hash.sequence import SDIM, DINAttention, DotTargetAttention

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    sdim, dot = SDIM(D, M, TAU, seed=0), DotTargetAttention(D)
    din = DINAttention(D)
    out: dict = {}
    cands = torch.randn(C, D, generator=g)
    for L in (1024, 10_000):
        hist = torch.randn(L, D, generator=g)
        tables = sdim.build_tables(hist)
        r = {"sdim_bse_request_ms": 1e3 * timed(lambda: sdim.serve(sdim.build_tables(hist), cands), reps),
             "sdim_bse_build_ms": 1e3 * timed(lambda: sdim.build_tables(hist), reps),
             "sdim_bse_per_candidate_us": 1e6 * timed(lambda: sdim.serve(tables, cands), reps) / C,
             "dot_ms": 1e3 * timed(lambda: dot.serve(hist, cands), reps)}
        if L <= 1024:                  # DIN evaluates its MLP on every (candidate, behaviour) pair: L=1,024 only
            din.fold = False
            r["dinmlp_ms"] = 1e3 * timed(lambda: din.serve(hist, cands), max(1, reps // 3))
            din.fold = True
            r["dinfolded_ms"] = 1e3 * timed(lambda: din.serve(hist, cands), max(1, reps // 3))
        out[f"L{L}"] = r
    return out


def training(reps: int) -> dict:
    from recsys_hash.sequence import DARE, SDIM, TWIN, DINAttention, DotTargetAttention, JaggedSeq, topk_search

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    sdim, dot, twin, dare = SDIM(D, M, TAU, seed=0), DotTargetAttention(D), TWIN(D, K), DARE(D // 2, D, K)
    din = DINAttention(D)
    table, table_att = torch.randn(100_000, D, generator=g), torch.randn(100_000, D // 2, generator=g)
    out: dict = {}
    for L in (256, 1024, 4096):
        lengths = torch.full((B,), L)
        ids = torch.randint(0, 100_000, (B * L,), generator=g)
        tgt_ids = torch.randint(0, 100_000, (B,), generator=g)
        seq = JaggedSeq.of(table[ids], lengths)
        seq_att = JaggedSeq.of(table_att[ids], lengths)
        t, t_att = table[tgt_ids], table_att[tgt_ids]
        r = {"dot_ms": 1e3 * timed(lambda: dot(seq, t), reps),
             "sdim_ms": 1e3 * timed(lambda: sdim(seq, t), reps),
             "twin_ms": 1e3 * timed(lambda: twin(seq, t), reps),
             "dare_ms": 1e3 * timed(lambda: dare(seq_att, t_att, seq.values), reps),
             "twin_search_ms": 1e3 * timed(lambda: topk_search(JaggedSeq.of(table[ids], lengths), t, K), reps),
             "dare_search_ms": 1e3 * timed(lambda: topk_search(JaggedSeq.of(table_att[ids], lengths), t_att, K), reps),
             "twin_search_no_lookup_ms": 1e3 * timed(lambda: topk_search(seq, t, K), reps),
             "dare_search_no_lookup_ms": 1e3 * timed(lambda: topk_search(seq_att, t_att, K), reps)}
        din.fold = True
        r["dinfolded_ms"] = 1e3 * timed(lambda: din(seq, t), max(1, reps // 2))
        if L <= 1024:                  # the [B, L, 4d] input of the straightforward MLP: 1 GB at L=4,096
            din.fold = False
            r["dinmlp_ms"] = 1e3 * timed(lambda: din(seq, t), max(1, reps // 2))
        out[f"L{L}"] = r
    return out


def speed(threads: int, reps: int) -> dict:
    from recsys_hash.eval.timing import torch_threads

    with torch_threads(threads), torch.no_grad():
        s, t = serving(reps), training(reps)
    s1, s10, t1 = s["L1024"], s["L10000"], t["L1024"]
    return {"threads": threads, "serving": s, "training": t, "ratios": {
        "sdim_serving_speedup_L1024_vs_dinmlp": s1["dinmlp_ms"] / s1["sdim_bse_request_ms"],
        "sdim_serving_speedup_L1024_vs_dinfolded": s1["dinfolded_ms"] / s1["sdim_bse_request_ms"],
        "sdim_serving_speedup_L1024_vs_dot": s1["dot_ms"] / s1["sdim_bse_request_ms"],
        "sdim_serving_speedup_L10k_vs_dot": s10["dot_ms"] / s10["sdim_bse_request_ms"],
        "bse_ratio_10k_1k": s10["sdim_bse_per_candidate_us"] / s1["sdim_bse_per_candidate_us"],
        "sdim_train_speedup_L1024_vs_dinmlp": t1["dinmlp_ms"] / t1["sdim_ms"],
        "sdim_train_speedup_L1024_vs_dinfolded": t1["dinfolded_ms"] / t1["sdim_ms"],
        "sdim_train_slowdown_L1024_vs_dot": t1["sdim_ms"] / t1["dot_ms"],
        "dare_search_speedup_L1024": t1["twin_search_ms"] / t1["dare_search_ms"],
        "dare_search_speedup_L4096": t["L4096"]["twin_search_ms"] / t["L4096"]["dare_search_ms"],
        "dare_search_speedup_L1024_no_lookup": t1["twin_search_no_lookup_ms"] / t1["dare_search_no_lookup_ms"],
    }}


def quality(args) -> dict:
    from recsys_hash.data.seq_sets import load_seq_dataset, synthetic_seq_ctr
    from recsys_hash.eval.timing import torch_threads
    from recsys_hash.models.seq_ctr import SeqModelConfig
    from recsys_hash.models.train_seq import run_seq, seq_train_config

    runs, summary = [], {}
    seeds = [int(s) for s in args.seeds.split(",")]
    modules = args.modules.split(",")
    for name in args.datasets.split(","):
        for seed in seeds:
            if name == "synthetic":
                users, seq_max, items = (int(x) for x in args.synthetic.split(","))
                data = synthetic_seq_ctr(seed=seed, n_users=users, max_len=args.max_len or seq_max, n_items=items,
                                         seq_max=seq_max)
            else:
                data = load_seq_dataset(name, max_len=args.max_len, seed=seed)
            for module in modules:
                with torch_threads(int(args.threads.split(",")[0])):
                    res, _ = run_seq(data, SeqModelConfig(module=module, dim=16, att_dim=args.att_dim),
                                     seq_train_config(epochs=args.epochs, batch_size=args.batch_size, emb_lr=0.03,
                                                      patience=args.patience, progress=False), seed=seed)
                row = {k: res[k] for k in ("dataset", "module", "seed", "auc", "gauc", "logloss", "valid_auc",
                                           "train_s", "epochs", "best_epoch", "max_len", "n_train", "att_dim")}
                runs.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        summary[name] = summarise([r for r in runs if r["dataset"] == name], modules)
    return {"runs": runs, "summary": summary, "seeds": seeds,
            "settings": {k: getattr(args, k) for k in ("epochs", "batch_size", "patience", "att_dim", "max_len",
                                                         "synthetic")}}


def _mean_std(xs: list) -> dict:
    return {"mean": statistics.mean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}


def summarise(runs: list, modules: list) -> dict:
    """Per module: test AUC / GAUC mean ± std over seeds; per goal pair: the paired (same seed) AUC difference."""
    out: dict = {}
    by = {(r["module"], r["seed"]): r for r in runs}
    for module in modules:
        rows = [r for r in runs if r["module"] == module]
        if rows:
            out[module] = {"auc": _mean_std([r["auc"] for r in rows]), "gauc": _mean_std([r["gauc"] for r in rows])}
    for a, b, key in (("sdim", "din", "sdim_minus_din"), ("dare", "twin", "dare_minus_twin"),
                      ("sdim_decoupled", "sdim", "sdim_decoupled_minus_sdim")):
        diffs = [by[(a, s)]["auc"] - by[(b, s)]["auc"] for (m, s) in by if m == a and (b, s) in by]
        if diffs:
            out[key] = _mean_std(diffs)
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    result: dict = {"device": "cpu", "torch": torch.__version__, "dim": D, "m": M, "tau": TAU, "candidates": C,
                    "batch": B, "k": K, "gpu": "no GPU was available for these runs"}
    if not args.quality_only:
        result["speed"] = []
        for n in (int(x) for x in args.threads.split(",")):
            result["speed"].append(speed(n, args.reps))
            print(json.dumps(result["speed"][-1]["ratios"]), file=sys.stderr, flush=True)
        result.update(result["speed"][0]["ratios"])          # headline keys: the first --threads value
    if not args.speed_only:
        result["quality"] = quality(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
    tmp.replace(out)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k not in ("speed", "quality")}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
