"""Validation-only tuning of CTR settings: each variant trained on a few seeds, ranked by validation AUC.

    python benchmarks/tune_ctr.py --dataset frappe --seeds 0,1,2 \
        --variants "full" "full|hidden=128" "graphhash:cluster_share=0.5" "graphhash|emb_l2=0.003" [--json]

A variant is `strategy[:param=value;...][|train_key=value;...]`: the strategy (with its parameters) for the user and
item fields at `--budget` (other fields full; `full` means every table full), and overrides of `CTRTrainConfig`
(`hidden`, `lr`, `emb_lr`, `emb_l2`, `batch_size`, ...). Every variant sees the same splits (the dataset re-split
80/10/10 with each seed) and the same initialisation seeds. Only validation AUC ranks the variants; the test AUC is
stored in the JSON for the record and is not printed, so nothing here is chosen on test.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def parse_variant(text: str) -> tuple[str, dict, dict]:
    """'graphhash:cluster_share=0.5|hidden=128;emb_l2=0.003' -> ("graphhash", {...}, {...})."""
    from recsys_hash.commands._options import parse_params
    from recsys_hash.models.train_ctr import CTRTrainConfig

    strat, _, train = text.partition("|")
    name, _, params = strat.partition(":")
    train_over = parse_params([p for p in train.split(";") if p])
    known = {f.name for f in fields(CTRTrainConfig)}
    bad = sorted(set(train_over) - known)
    if bad:
        raise ValueError(f"variant {text!r}: unknown training setting {bad[0]!r}; known: {', '.join(sorted(known))}")
    return name, parse_params([p for p in params.split(";") if p]), train_over


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="frappe")
    p.add_argument("--model", default="dlrm")
    p.add_argument("--variants", nargs="+", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--budget", type=float, default=0.25)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "results" / "tune_ctr.json"))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    import torch

    from recsys_hash.data.ctr_sets import load_ctr_dataset
    from recsys_hash.models.ctr_config import CTRConfig
    from recsys_hash.models.train_ctr import CTRTrainConfig, run_ctr

    torch.set_num_threads(args.threads)
    variants = [(v, *parse_variant(v)) for v in args.variants]        # all parsed before any training
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: list[dict] = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        data = load_ctr_dataset(args.dataset, seed=seed)
        for label, name, params, train_over in variants:
            cfg = CTRConfig(model=args.model, dim=args.dim)
            if name != "full":
                cfg = cfg.with_strategy(name, args.budget, [data.user_field, data.item_field], params)
            train = CTRTrainConfig(**{"epochs": args.epochs, "patience": args.patience, "progress": False,
                                      **train_over})
            res, _, _ = run_ctr(data, cfg, train, seed=seed)
            runs.append({"variant": label, "seed": seed, "valid_auc": res["valid_auc"], "test_auc": res["auc"],
                         "best_epoch": res["best_epoch"], "epochs": res["epochs"], "rows": res["rows"],
                         "train_s": res["train_s"]})
            print(f"seed {seed} {label:50s} valid AUC {res['valid_auc']:.4f} best epoch {res['best_epoch']} "
                  f"({res['train_s']:.0f}s)", file=sys.stderr, flush=True)
            out.write_text(json.dumps({"argv": sys.argv[1:] if argv is None else list(argv), "runs": runs}, indent=1))
    summary = []
    for label, *_ in variants:
        v = np.array([r["valid_auc"] for r in runs if r["variant"] == label])
        summary.append({"variant": label, "valid_auc": float(v.mean()),
                        "valid_auc_std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "seeds": int(v.size)})
    summary.sort(key=lambda r: -r["valid_auc"])
    for r in summary:
        print(f"{r['variant']:50s} valid AUC {r['valid_auc']:.4f} ± {r['valid_auc_std']:.4f}", file=sys.stderr)
    result = {"argv": sys.argv[1:] if argv is None else list(argv), "summary": summary, "runs": runs}
    out.write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps({"summary": summary}))
    return result


if __name__ == "__main__":
    main()
