"""CTR quality of ID strategies on TorchRec's DLRM and DCNv2: full vs hashing vs GraphHash at 25% of the user and
item rows (other fields full), seeds paired; and the cost of the MC-EBC in a DLRM training step.

    python benchmarks/bench_ctr.py [--datasets frappe,ml-100k] [--models dlrm,dcn] [--seeds 0,1,2,3,4]
                                   [--strategies full,modulo,...] [--epochs 10] [--threads 1] [--json] [--out FILE]

Protocol: each dataset pooled and re-split 80/10/10 with the run's seed; dim 16; the library's default training
(`CTRTrainConfig`: Adagrad lr 0.2 with L2 1e-3 on the looked-up embeddings, AdamW 2e-3 for the dense layers, batch
1024), at most 10 epochs, early stopping on validation AUC (patience 2). Test AUC at the best validation AUC epoch;
test logloss at its own best validation logloss epoch. GraphHash's default cold policy places IDs with no positive
training row by their co-occurring IDs' majority cluster ("partial_fit"); the ablations `graphhash_coldrows` (cold IDs
hashed into 10% of the rows kept for them) and `graphhash_hashcold` (cold IDs keep a seeded hash row over all rows).
Paired differences are per seed (same split, same initialisation seed). `--split-seed N` keeps one split for every
seed, so the spread is the initialisation's alone (each seed's split differs in difficulty: on Frappe the seed-3 split
costs every strategy ≈ 0.01 AUC). `mc_train_step_ratio`: median time of one DLRM training step
(forward, backward, Adagrad/AdamW step; batch 4,096) with our MC-EBC over the same DLRM with a plain EBC fed the
already remapped rows, same process, same tables.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
STRATEGIES = ["full", "modulo", "double_frequency", "graphhash", "double_graphhash", "graphhash_coldrows",
              "graphhash_hashcold"]
#: ablation suffix -> GraphHash cold policy (IDs without a positive training row); no suffix: the default policy
COLD_SUFFIXES = {"_coldrows": "cold_rows", "_hashcold": "hash"}
REFERENCE = "double_frequency"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="frappe,ml-100k")
    p.add_argument("--models", default="dlrm,dcn")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--budget", type=float, default=0.25)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--split-seed", type=int, default=None,
                   help="re-split every dataset once with this seed; --seeds then vary only the initialisation and "
                        "the remappers' seeds (default: each seed re-splits)")
    p.add_argument("--ratio-steps", type=int, default=20)
    p.add_argument("--out", default=str(ROOT / "results" / "bench_ctr.json"))
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    p.add_argument("--merge", nargs="+", metavar="FILE",
                   help="train nothing: merge these result files (a later file's run replaces an earlier one of the "
                        "same dataset, model, strategy and seed), summarise and write --out")
    return p.parse_args(argv)


def merge_files(paths: list[str]) -> dict:
    """Runs of several bench_ctr files (later files win per dataset, model, strategy, seed) with their summary; the
    mc_train_step_ratio of the last file that has one."""
    runs: dict[tuple, dict] = {}
    extra: dict = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        for r in data["runs"]:
            runs[(r["dataset"], r["model"], r["strategy"], r["seed"])] = dict(r, source=Path(path).name)
        extra.update({k: data[k] for k in ("mc_train_step_ratio", "mc_step_ms", "plain_step_ms", "train", "dim",
                                           "budget", "epochs", "patience") if k in data})
    merged = list(runs.values())
    return {**extra, "merged_from": [Path(p).name for p in paths], "summary": summarise(merged), "runs": merged}


def one_run(data, model: str, strategy: str, seed: int, args) -> dict:
    from recsys_hash.models.ctr_config import CTRConfig
    from recsys_hash.models.train_ctr import CTRTrainConfig, run_ctr

    cfg = CTRConfig(model=model, dim=args.dim)
    name = strategy
    for suffix, cold in COLD_SUFFIXES.items():
        if strategy.endswith(suffix):
            name, cfg = strategy.removesuffix(suffix), CTRConfig(model=model, dim=args.dim, cold=cold)
    if name != "full":
        cfg = cfg.with_strategy(name, args.budget, [data.user_field, data.item_field])
    res, _, _ = run_ctr(data, cfg, CTRTrainConfig(epochs=args.epochs, patience=args.patience, progress=False),
                        seed=seed)
    keep = ("auc", "gauc", "logloss", "rows", "full_rows", "params", "train_s", "epochs", "best_epoch",
            "logloss_epoch", "valid_auc", "graph")
    return {"dataset": data.name, "model": model, "strategy": strategy, "seed": seed, "split": data.split_note,
            **{k: res[k] for k in keep}}


def summarise(runs: list[dict]) -> list[dict]:
    """Mean ± std per (dataset, model, strategy) and paired (same seed) differences against double_frequency."""
    out = []
    keys = sorted({(r["dataset"], r["model"], r["strategy"]) for r in runs}, key=lambda k: (k[0], k[1],
                  STRATEGIES.index(k[2]) if k[2] in STRATEGIES else 99))
    for ds, model, strat in keys:
        rs = {r["seed"]: r for r in runs if (r["dataset"], r["model"], r["strategy"]) == (ds, model, strat)}
        ref = {r["seed"]: r for r in runs if (r["dataset"], r["model"], r["strategy"]) == (ds, model, REFERENCE)}
        row = {"dataset": ds, "model": model, "strategy": strat, "seeds": sorted(rs), "rows": rs[min(rs)]["rows"],
               "full_rows": rs[min(rs)]["full_rows"]}
        for m in ("auc", "gauc", "logloss", "train_s"):
            v = np.array([rs[s][m] for s in sorted(rs)])
            row[m], row[f"{m}_std"] = float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
        common = sorted(set(rs) & set(ref))
        if common and strat != REFERENCE:
            for m in ("auc", "logloss"):
                d = np.array([rs[s][m] - ref[s][m] for s in common])
                row[f"{m}_vs_{REFERENCE}"] = float(d.mean())
                row[f"{m}_vs_{REFERENCE}_std"] = float(d.std(ddof=1)) if d.size > 1 else 0.0
            rel = np.array([(rs[s]["logloss"] - ref[s]["logloss"]) / ref[s]["logloss"] for s in common])
            row[f"logloss_rel_vs_{REFERENCE}"] = float(rel.mean())
        out.append(row)
    return out


def mc_train_step_ratio(data, steps: int, batch: int = 4096, dim: int = 16) -> dict:
    """Median train-step time: DLRM over our MC-EBC vs the same DLRM over a plain EBC fed pre-remapped rows."""
    import torch
    import torch.nn.functional as F
    from torchrec.models.dlrm import DLRM
    from torchrec.modules.embedding_modules import EmbeddingBagCollection
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    from recsys_hash.models.ctr import CTRModel, fit_ctr_tables
    from recsys_hash.models.ctr_config import CTRConfig
    from recsys_hash.models.train_ctr import CTRTrainConfig, make_optimizers

    cfg = CTRConfig(dim=dim).with_strategy("graphhash", 0.25, [data.user_field, data.item_field])
    specs = cfg.resolve(data.features, data.vocab, (data.user_field, data.item_field))
    tables, _ = fit_ctr_tables(data, specs, seed=0)
    torch.manual_seed(0)
    mc_model = CTRModel("dlrm", tables, dim=dim)
    ebc = EmbeddingBagCollection(tables=mc_model.sparse.embedding_bag_configs())
    torch.manual_seed(0)
    plain = DLRM(embedding_bag_collection=ebc, dense_in_features=1, dense_arch_layer_sizes=[64, dim],
                 over_arch_layer_sizes=[64, 64, 1])
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(steps + 3):
        dense, kjt, labels = data.batch("train", rng.integers(0, len(data.train), batch))
        remapped = mc_model.sparse.mc_ebc._managed_collision_collection(kjt)
        pre = KeyedJaggedTensor(keys=remapped.keys(), values=remapped.values(), lengths=remapped.lengths())
        batches.append((kjt, pre, labels))
    tcfg = CTRTrainConfig()
    mc_opt = make_optimizers(mc_model, tcfg)
    p_opt = {"embedding": torch.optim.Adagrad(ebc.parameters(), lr=tcfg.emb_lr),
             "dense": torch.optim.AdamW([p for n, p in plain.named_parameters() if "embedding_bag" not in n], lr=tcfg.lr)}

    def step(model_fn, opts, kjt, labels):
        t0 = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(model_fn(kjt), labels)
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opts.values():
            o.step()
        return time.perf_counter() - t0

    ones = torch.ones(batch, 1)
    t_mc, t_plain = [], []
    for i, (kjt, pre, labels) in enumerate(batches):     # interleaved, so machine noise hits both alike
        a = step(lambda k: mc_model(torch.zeros(batch, 0), k), mc_opt, kjt, labels)
        b = step(lambda k: plain(ones, k).reshape(-1), p_opt, pre, labels)
        if i >= 3:
            t_mc.append(a)
            t_plain.append(b)
    mc, pl = float(np.median(t_mc)), float(np.median(t_plain))
    return {"mc_step_ms": 1e3 * mc, "plain_step_ms": 1e3 * pl, "mc_train_step_ratio": mc / pl, "batch": batch,
            "steps": steps, "dataset": data.name, "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.merge:
        result = merge_files(args.merge)
        Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True))
        if args.json:
            print(json.dumps({k: v for k, v in result.items() if k != "runs"}, sort_keys=True))
        return 0
    import torch

    from recsys_hash.data.ctr_sets import load_ctr_dataset

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    ratio = None
    from dataclasses import asdict

    from recsys_hash.models.ctr_config import CTRConfig
    from recsys_hash.models.train_ctr import CTRTrainConfig

    train = {k: v for k, v in asdict(CTRTrainConfig()).items() if k in ("batch_size", "lr", "emb_lr", "emb_optimizer",
                                                                        "weight_decay", "emb_l2", "init_std", "hidden")}
    header = {"command": "python benchmarks/bench_ctr.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "budget": args.budget, "dim": args.dim, "epochs": args.epochs, "patience": args.patience,
              "threads": args.threads, "train": train, "cold_share": CTRConfig().cold_share,
              "split": "one split, seed %d" % args.split_seed if args.split_seed is not None else "re-split per seed"}
    seeds = [int(s) for s in args.seeds.split(",")]
    for ds in args.datasets.split(","):
        fixed = load_ctr_dataset(ds, seed=args.split_seed) if args.split_seed is not None else None
        for seed in seeds:
            data = fixed if fixed is not None else load_ctr_dataset(ds, seed=seed)
            if ratio is None:
                ratio = mc_train_step_ratio(data, args.ratio_steps)
                print(f"mc_train_step_ratio {ratio['mc_train_step_ratio']:.3f} ({ratio['mc_step_ms']:.1f} ms vs "
                      f"{ratio['plain_step_ms']:.1f} ms)", file=sys.stderr)
            for model in args.models.split(","):
                for strat in args.strategies.split(","):
                    r = one_run(data, model, strat, seed, args)
                    runs.append(r)
                    print(f"{ds} {model} {strat} seed {seed}: auc {r['auc']:.4f} logloss {r['logloss']:.4f} "
                          f"epochs {r['epochs']} {r['train_s']:.1f}s", file=sys.stderr)
                    summary = {**header, **(ratio or {}), "summary": summarise(runs), "runs": runs}
                    out.write_text(json.dumps(summary, indent=1, sort_keys=True))
    summary = {**header, **(ratio or {}), "summary": summarise(runs), "runs": runs}
    out.write_text(json.dumps(summary, indent=1, sort_keys=True))
    for row in summary["summary"]:
        print(f"{row['dataset']:8s} {row['model']:5s} {row['strategy']:20s} rows {row['rows']:5d}/{row['full_rows']} "
              f"AUC {row['auc']:.4f}±{row['auc_std']:.4f} logloss {row['logloss']:.4f}±{row['logloss_std']:.4f}"
              + (f"  ΔAUC vs {REFERENCE} {row[f'auc_vs_{REFERENCE}']:+.4f}±{row[f'auc_vs_{REFERENCE}_std']:.4f}"
                 if f"auc_vs_{REFERENCE}" in row else ""), file=sys.stderr)
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
