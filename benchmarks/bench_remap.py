"""Remapping throughput per strategy and MC-EBC overhead, side by side with TorchRec's MCH (the anchor).

    python benchmarks/bench_remap.py [--quick] [--threads 1,2,4] [--mc-ebc-only] [--json]

Measures, in one process (each figure the median of --repeats runs after a warm-up): `transform` IDs/s for every hashing/lookup strategy on dense (0..V) and sparse
(random 40-bit) raw keys; TorchRec MCH remap IDs/s; forward time of an MC-EBC (our RemapperMCModule and
MCH) over an EBC fed pre-remapped IDs, the two timed alternately (at least 5 pairs). --threads sets torch's
intra-op threads, which the EBC and our module's remap both use (`transform` itself stays single-threaded);
`mc_ebc_overhead_by_threads` holds the overheads per thread count. --mc-ebc-only skips the transform and MCH
remap rates. Writes benchmarks/results/bench_remap.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

STRATEGIES = ["modulo", "universal", "xxhash", "double", "qr", "full", "frequency", "double_frequency"]


def median_time(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up (page faults, lazy init, numba compile)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def paired_times(fa, fb, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Times of two functions called alternately, so load drift on a shared machine hits both alike."""
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, acc in ((fa, ta), (fb, tb)):
            t = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t)
    return np.array(ta), np.array(tb)


def overhead_entry(fa, fb, repeats: int) -> dict:
    """EBC (fa) against MC-EBC (fb): medians and overhead = their ratio - 1; on a loaded machine also read
    overhead_paired (median of per-pair ratios - 1: each pair ran back to back) and overhead_best (ratio of the
    fastest runs - 1: the runs least disturbed by other processes)."""
    ta, tb = paired_times(fa, fb, repeats)
    t_ebc, t_mc = float(np.median(ta)), float(np.median(tb))
    return {"ebc_s": t_ebc, "mc_ebc_s": t_mc, "overhead": t_mc / t_ebc - 1.0,
            "overhead_paired": float(np.median(tb / ta)) - 1.0, "overhead_best": float(tb.min() / ta.min()) - 1.0}


def fit(name: str, vocab: np.ndarray, rows: int):
    from recsys_hash.ids import create

    if name == "full":
        return create(name, oov="shared_row").fit(vocab)
    return create(name, num_rows=rows, seed=0).fit(vocab)


def mch_module(vocab_sorted: np.ndarray, rows: int):
    from torchrec.modules.mc_modules import DistanceLFU_EvictionPolicy, MCHManagedCollisionModule

    mch = MCHManagedCollisionModule(zch_size=rows, device=torch.device("cpu"), eviction_interval=1,
                                    eviction_policy=DistanceLFU_EvictionPolicy(), input_hash_size=2**63 - 1)
    k = min(rows - 1, vocab_sorted.size)
    with torch.no_grad():                                        # a full table of known raw IDs
        mch._mch_sorted_raw_ids[:k] = torch.from_numpy(vocab_sorted[:k])
        mch._mch_remapped_ids_mapping[:k] = torch.arange(k)
    return mch.eval()


def transform_rates(vocab: np.ndarray, queries: np.ndarray, rows: int, repeats: int) -> dict[str, float]:
    out = {}
    for name in STRATEGIES:
        r = fit(name, vocab, rows)
        out[name] = queries.size / median_time(lambda: r.transform(queries), repeats)
    return out


def mch_rate(vocab: np.ndarray, queries: np.ndarray, rows: int, repeats: int) -> float:
    from torchrec.sparse.jagged_tensor import JaggedTensor

    mch = mch_module(np.sort(vocab), rows)
    q = torch.from_numpy(queries)
    feats = {"t": JaggedTensor(values=q, lengths=torch.tensor([q.numel()]))}
    with torch.no_grad():
        return q.numel() / median_time(lambda: mch.remap(feats), repeats)


def mc_ebc_overheads(vocab: np.ndarray, rows: int, dim: int, batch: int, per_row: int, repeats: int) -> dict:
    from torchrec.modules.embedding_configs import EmbeddingBagConfig
    from torchrec.modules.embedding_modules import EmbeddingBagCollection
    from torchrec.modules.mc_embedding_modules import ManagedCollisionEmbeddingBagCollection
    from torchrec.modules.mc_modules import ManagedCollisionCollection
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    from recsys_hash.integrations import make_mc_ebc

    rng = np.random.default_rng(1)
    raw = vocab[rng.integers(0, vocab.size, batch * per_row)]
    lengths = torch.full((batch,), per_row)
    kjt = KeyedJaggedTensor.from_lengths_sync(keys=["f"], values=torch.from_numpy(raw), lengths=lengths)
    res = {}
    with torch.no_grad():
        for name in ("universal", "full"):
            r = fit(name, vocab, rows)
            mc = make_mc_ebc({"t": r}, dim, feature_names={"t": ["f"]}).eval()
            pre = KeyedJaggedTensor.from_lengths_sync(
                keys=["f"], values=torch.from_numpy(r.transform(raw)), lengths=lengths)
            ebc = mc._embedding_module
            res[name] = overhead_entry(lambda: ebc(pre), lambda: mc(kjt), repeats)
        cfg = [EmbeddingBagConfig(name="t", embedding_dim=dim, num_embeddings=rows, feature_names=["f"])]
        mch = mch_module(np.sort(vocab), rows)
        mch_ebc = ManagedCollisionEmbeddingBagCollection(
            EmbeddingBagCollection(tables=cfg), ManagedCollisionCollection({"t": mch}, cfg)).eval()
        pre = KeyedJaggedTensor.from_lengths_sync(keys=["f"], values=mch.remap(
            {"t": __import__("torchrec").JaggedTensor(values=kjt.values(), lengths=lengths)})["t"].values(),
            lengths=lengths)
        res["mch"] = overhead_entry(lambda: mch_ebc._embedding_module(pre), lambda: mch_ebc(kjt), repeats)
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--threads", default="1,2,4", help="comma-separated torch thread counts")
    ap.add_argument("--mc-ebc-only", action="store_true", help="only the MC-EBC overheads (no transform rates)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per figure (default 3; quick 2)")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_remap.json"))
    args = ap.parse_args(argv)
    n, vocab_size, rows, batch, repeats = (
        (200_000, 20_000, 20_000, 2048, 2) if args.quick else (10_000_000, 1_000_000, 1_000_000, 65_536, 3))
    repeats = args.repeats or repeats
    dim, per_row = 64, 20
    rng = np.random.default_rng(0)
    dense_vocab = np.arange(vocab_size, dtype=np.int64)
    sparse_vocab = np.unique(rng.integers(0, 2**40, vocab_size))
    dense_q = dense_vocab[rng.integers(0, dense_vocab.size, n)]
    sparse_q = sparse_vocab[rng.integers(0, sparse_vocab.size, n)]
    by_threads = {}
    for t in [int(x) for x in args.threads.split(",")]:
        torch.set_num_threads(t)
        entry = {}
        if not args.mc_ebc_only:
            print(f"threads={t}: transform ...", file=sys.stderr)
            entry = {
                "ids_per_s": transform_rates(dense_vocab, dense_q, rows, repeats),
                "ids_per_s_sparse": transform_rates(sparse_vocab, sparse_q, rows, repeats),
                "mch_remap_ids_per_s_sparse": mch_rate(sparse_vocab, sparse_q, rows, repeats),
            }
        print(f"threads={t}: MC-EBC forward ...", file=sys.stderr)
        entry["mc_ebc"] = mc_ebc_overheads(sparse_vocab, rows, dim, batch, per_row, max(repeats, 5))
        by_threads[str(t)] = entry
    first = by_threads[next(iter(by_threads))]
    result = {
        "config": {"n": n, "vocab": vocab_size, "rows": rows, "batch": batch, "ids_per_bag": per_row, "dim": dim,
                   "quick": args.quick, "transform_threads": 1, "torch_threads": list(by_threads),
                   "repeats": max(repeats, 5), "mc_ebc_only": args.mc_ebc_only},
        "ids_per_s": first.get("ids_per_s"),
        "ids_per_s_sparse": first.get("ids_per_s_sparse"),
        "mch_ids_per_s_sparse": first.get("mch_remap_ids_per_s_sparse"),
        "mc_ebc_overhead": first["mc_ebc"]["full"]["overhead"],
        "mc_ebc_overhead_universal": first["mc_ebc"]["universal"]["overhead"],
        "mch_overhead": first["mc_ebc"]["mch"]["overhead"],
        "mc_ebc_overhead_by_threads": {
            name: {t: e["mc_ebc"][name]["overhead"] for t, e in by_threads.items()} for name in ("universal", "full")},
        "by_threads": by_threads,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for t, e in by_threads.items():
        print(f"\n[threads={t}]", file=sys.stderr)
        if "ids_per_s" in e:
            print("  IDs/s (millions)   dense    sparse", file=sys.stderr)
            for s in STRATEGIES:
                print(f"  {s:18s} {e['ids_per_s'][s] / 1e6:8.1f} {e['ids_per_s_sparse'][s] / 1e6:8.1f}", file=sys.stderr)
            print(f"  {'MCH remap':18s} {'':8s} {e['mch_remap_ids_per_s_sparse'] / 1e6:8.1f}", file=sys.stderr)
        for k, v in e["mc_ebc"].items():
            print(f"  MC-EBC[{k}] {v['mc_ebc_s'] * 1e3:.1f} ms vs EBC {v['ebc_s'] * 1e3:.1f} ms: "
                  f"overhead {v['overhead']:.2f} (per pair {v['overhead_paired']:.2f}, best runs "
                  f"{v['overhead_best']:.2f})", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
