"""Long-sequence modules: serving and training speed of SDIM (+BSE), DIN, dot attention, TWIN and DARE side by side
in one process, and CTR quality of every module on Amazon Beauty, ML-100K sequences and the planted synthetic set.

    python benchmarks/bench_sequence.py [--threads 1,2] [--speed-only] [--datasets amazon-beauty,ml-100k,synthetic]
                                        [--modules din,dot,sdim,twin,dare,sdim_decoupled] [--seeds 0,1,2]
                                        [--epochs 2] [--batch-size 1024] [--patience 2] [--att-dim N]
                                        [--max-len N] [--synthetic 3000,1000,2000] [--tau 3] [--taus 1,2,3]
                                        [--no-aux-loss] [--json] [--out FILE]
    python benchmarks/bench_sequence.py --merge A.json B.json ... --out FILE     # quality runs of several processes

Speed (CPU, fp32, d=64, m=48, τ=--tau (default 3, the paper's), forward, random embeddings; median of --reps timed
runs after a warm-up):
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
TWIN and DARE train with their auxiliary full-attention loss (the model's default; --no-aux-loss: without).
τ of sdim / sdim_decoupled: --tau, or with --taus T1,T2,... one run per τ; for each (dataset, module, seed) the run with
the best valid AUC is the module's row (its `tau` says which), the others are kept under `tau_runs`. Nothing is chosen
on test. --merge reads the `quality.runs` of earlier outputs (a file without per-run τ ran at its top-level `tau`; a
later file's runs win), makes the same per-seed choice over all of them and writes one summary.
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
SDIM_MODULES = ("sdim", "sdim_decoupled")
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
    p.add_argument("--tau", type=int, default=TAU, help="SDIM bits per signature (speed, and quality without --taus)")
    p.add_argument("--taus", default=None, help="quality: sdim / sdim_decoupled at each τ, the best valid AUC kept")
    p.add_argument("--no-aux-loss", action="store_true",
                   help="quality: twin / dare without their auxiliary full-attention loss (on by default)")
    p.add_argument("--merge", nargs="+", default=None, help="merge the quality runs of these outputs into --out")
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


def serving(reps: int, tau: int = TAU) -> dict:
    from recsys_hash.sequence import SDIM, DINAttention, DotTargetAttention

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    sdim, dot = SDIM(D, M, tau, seed=0), DotTargetAttention(D)
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


def training(reps: int, tau: int = TAU) -> dict:
    from recsys_hash.sequence import DARE, SDIM, TWIN, DINAttention, DotTargetAttention, JaggedSeq, topk_search

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    sdim, dot, twin, dare = SDIM(D, M, tau, seed=0), DotTargetAttention(D), TWIN(D, K), DARE(D // 2, D, K)
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


def speed(threads: int, reps: int, tau: int = TAU) -> dict:
    from recsys_hash.eval.timing import torch_threads

    with torch_threads(threads), torch.no_grad():
        s, t = serving(reps, tau), training(reps, tau)
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

    runs = []
    seeds = [int(s) for s in args.seeds.split(",")]
    modules = args.modules.split(",")
    taus = [int(t) for t in args.taus.split(",")] if args.taus else [args.tau]
    for name in args.datasets.split(","):
        for seed in seeds:
            if name == "synthetic":
                users, seq_max, items = (int(x) for x in args.synthetic.split(","))
                data = synthetic_seq_ctr(seed=seed, n_users=users, max_len=args.max_len or seq_max, n_items=items,
                                         seq_max=seq_max)
            else:
                data = load_seq_dataset(name, max_len=args.max_len, seed=seed)
            for module in modules:
                for tau in (taus if module in SDIM_MODULES else [args.tau]):
                    with torch_threads(int(args.threads.split(",")[0])):
                        aux = False if args.no_aux_loss else None             # None: the model's default
                        res, _ = run_seq(data, SeqModelConfig(module=module, dim=16, att_dim=args.att_dim, tau=tau,
                                                              aux_loss=aux),
                                         seq_train_config(epochs=args.epochs, batch_size=args.batch_size, emb_lr=0.03,
                                                          patience=args.patience, progress=False), seed=seed)
                    row = {k: res[k] for k in ("dataset", "module", "seed", "auc", "gauc", "logloss", "valid_auc",
                                               "train_s", "epochs", "best_epoch", "max_len", "n_train", "att_dim")}
                    row["tau"], row["aux_loss"] = tau, res["aux_loss"]
                    runs.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    settings = {k: getattr(args, k) for k in ("epochs", "batch_size", "patience", "att_dim", "max_len", "synthetic",
                                              "tau", "taus", "no_aux_loss")}
    return summarise_quality(runs, modules, seeds, settings)


def choose_tau(runs: list) -> tuple[list, list]:
    """(chosen, other): per (dataset, module, seed) of sdim / sdim_decoupled the τ run with the best valid AUC
    (ties: the smaller τ); every other module's run passes through (one per dataset, module and seed)."""
    best: dict = {}
    for r in runs:
        key = (r["dataset"], r["module"], r["seed"])
        cur = best.get(key)
        if cur is None or (r["module"] in SDIM_MODULES
                           and (r["valid_auc"], -r["tau"]) > (cur["valid_auc"], -cur["tau"])):
            best[key] = r
    chosen = list(best.values())
    kept = {id(r) for r in chosen}
    return chosen, [r for r in runs if id(r) not in kept]


def summarise_quality(runs: list, modules: list, seeds: list, settings: dict) -> dict:
    """Runs of every τ -> {runs (the chosen ones), tau_runs (the rest), summary per dataset, seeds, settings}."""
    chosen, other = choose_tau(runs)
    summary = {name: summarise([r for r in chosen if r["dataset"] == name], modules)
               for name in dict.fromkeys(r["dataset"] for r in chosen)}
    for name, out in summary.items():
        for module in SDIM_MODULES:
            taus = [r["tau"] for r in chosen if r["dataset"] == name and r["module"] == module]
            if taus:
                out.setdefault(module, {})["tau_chosen"] = taus
    return {"runs": chosen, "tau_runs": other, "summary": summary, "seeds": seeds, "settings": settings}


def merge(paths: list) -> dict:
    """The quality runs of several bench_sequence outputs -> one quality section (per-seed τ choice over all).

    A later file wins: the same run (dataset, module, seed, τ) in two files is the later one's, and where a later file
    ran a (dataset, module, seed) as another variant (with vs without the auxiliary loss) its variant replaces the
    earlier one's runs, which are listed under `replaced`."""
    by_key: dict = {}
    variant: dict = {}                                   # (dataset, module, seed) -> aux_loss of the latest file
    for path in paths:
        data = json.loads(Path(path).read_text())
        q = data["quality"]
        for r in q["runs"] + q.get("tau_runs", []):
            r = dict(r)
            r.setdefault("tau", data.get("tau", TAU))
            r["aux_loss"] = bool(r.get("aux_loss"))
            group = (r["dataset"], r["module"], r["seed"])
            variant[group] = r["aux_loss"]
            by_key[(*group, r["tau"] if r["module"] in SDIM_MODULES else None, r["aux_loss"])] = r
    runs = [r for r in by_key.values() if variant[(r["dataset"], r["module"], r["seed"])] == r["aux_loss"]]
    replaced = [r for r in by_key.values() if variant[(r["dataset"], r["module"], r["seed"])] != r["aux_loss"]]
    modules = {r["module"] for r in runs}
    order = [m for m in MODULES if m in modules] + sorted(modules - set(MODULES))
    out = summarise_quality(runs, order, sorted({r["seed"] for r in runs}),
                            {"merged_from": [Path(p).name for p in paths]})
    out["replaced"] = replaced
    return out


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
    result: dict = {"device": "cpu", "torch": torch.__version__, "dim": D, "m": M, "tau": args.tau, "candidates": C,
                    "batch": B, "k": K, "gpu": "no GPU was available for these runs"}
    if args.merge:
        result = {"quality": merge(args.merge)}
    elif not args.quality_only:
        result["speed"] = []
        for n in (int(x) for x in args.threads.split(",")):
            result["speed"].append(speed(n, args.reps, args.tau))
            print(json.dumps(result["speed"][-1]["ratios"]), file=sys.stderr, flush=True)
        result.update(result["speed"][0]["ratios"])          # headline keys: the first --threads value
    if not args.speed_only and not args.merge:
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
