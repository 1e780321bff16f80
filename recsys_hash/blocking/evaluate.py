"""Run one blocking method on an ER benchmark and measure it: the protocol the CLI and the benchmark share.

Protocol: the method indexes tableA (`context`: tableB's text may inform unsupervised statistics such as IDF),
tableB queries it; gold = the ERTables' gold (all labelled positives by default); supervised methods learn from the
train split only (Febrl4 has no split: a seeded 60% of its links is taken as the train split, and `pc_test` is
measured on the other 40%). `pc_test` is always PC on pairs the method never trained on.
"""
from __future__ import annotations

import time
from typing import Any, Optional, Sequence

import numpy as np
import polars as pl

from recsys_hash.blocking.blocker import KnnBlocker, make_blocker
from recsys_hash.blocking.metrics import blocking_metrics, knn_pairs, smallest_k

QUERY_SIDE = "tableB queries tableA"


def train_split(er, seed: int = 0, share: float = 0.6) -> tuple[pl.DataFrame, np.ndarray, str]:
    """(train pairs, held-out gold pairs int64 [n, 2], description): the ERTables' own train split and the positives
    outside it; or, without a split, a seeded `share` of the gold links as labelled matches."""
    if er.train is not None and er.train.height:
        pos = er.train.filter(pl.col("label") == 1).select("ltable_id", "rtable_id").to_numpy().astype(np.int64)
        width = int(max(er.gold.max(initial=0), pos.max(initial=0))) + 1
        held = er.gold[~np.isin(er.gold[:, 0] * width + er.gold[:, 1], pos[:, 0] * width + pos[:, 1])]
        return er.train, held, "train split; pc_test = gold pairs outside the train split"
    rng = np.random.default_rng(seed)
    pick = rng.random(len(er.gold)) < share
    train = pl.DataFrame({"ltable_id": er.gold[pick, 0], "rtable_id": er.gold[pick, 1],
                          "label": np.ones(int(pick.sum()), np.int64)})
    return train, er.gold[~pick], f"no split: seeded {share:.0%} of the gold links (seed {seed}); pc_test = the rest"


def train_folds(train: pl.DataFrame, folds: int = 5, seed: int = 0) -> list[tuple[pl.DataFrame, np.ndarray]]:
    """Cross-validation on a train split: [(the split without fold f's matches, fold f's matches int64 [n_f, 2])] for
    f < folds. Every labelled match (label 1) falls in exactly one seeded fold; non-matches always stay in training.
    Only the train split is read, so the figures never touch the evaluation gold outside it."""
    if folds < 2:
        raise ValueError(f"train_folds: folds must be >= 2, got {folds!r}")
    match = (train["label"] == 1).to_numpy()
    pairs = train.select("ltable_id", "rtable_id").to_numpy().astype(np.int64)
    fold = np.full(train.height, -1)
    fold[match] = np.random.default_rng(seed).integers(0, folds, int(match.sum()))
    return [(train.filter(pl.Series(fold != f)), pairs[fold == f]) for f in range(folds)]


def evaluate_blocker(er, method: str, ks: Sequence[Optional[int]], seed: int = 0, gold_name: str = "all labelled positives",
                     **params: Any) -> dict[str, Any]:
    """Fit `method` on er.table_a, query with er.table_b for every k; JSON-ready dict with one entry per k."""
    blocker = make_blocker(method, seed=seed, **params)
    train, held, train_note = train_split(er, seed)
    ids_a, ids_b = er.table_a["id"].to_numpy(), er.table_b["id"].to_numpy()
    t0 = time.perf_counter()
    fit_kw = dict(train=train, table_b=er.table_b) if blocker.supervised else {}
    blocker.fit(er.table_a, context=[er.table_b], **fit_kw)
    fit_s = time.perf_counter() - t0
    out: dict[str, Any] = {"dataset": er.name, "method": method, "seed": seed, "query_side": QUERY_SIDE,
                           "gold": gold_name, "gold_pairs": int(len(er.gold)), "fit_s": fit_s,
                           "train": train_note if blocker.supervised else "unsupervised", "by_k": {}}
    knn = isinstance(blocker, KnnBlocker) and all(k is not None for k in ks)
    if knn:
        t0 = time.perf_counter()
        rows, _ = blocker.search(er.table_b, max(ks))
        out["query_s"] = time.perf_counter() - t0
        index = getattr(blocker, "index_", None)
        if index is not None:
            out.update(index.describe())                 # tables, bits, scored / estimated fraction
    query_s = 0.0
    for k in ks:
        if knn:
            pairs = knn_pairs(rows[:, :k], ids_a, ids_b)
        else:
            t0 = time.perf_counter()
            pairs = blocker.candidates(er.table_b, k)
            query_s += time.perf_counter() - t0
        m = blocking_metrics(pairs, er.gold, ids_a, ids_b, query_side=QUERY_SIDE, gold_name=gold_name).as_dict()
        m["pc_test"] = blocking_metrics(pairs, held, ids_a, ids_b).pc if len(held) else None
        out["by_k"][str(k)] = m
    if not knn:
        out["query_s"] = query_s
    pcs = {int(k): v["pc"] for k, v in out["by_k"].items() if k != "None"}
    out["k_for_pc_0.97"] = smallest_k(pcs, 0.97) if pcs else None
    out["losses"] = [round(x, 6) for x in getattr(blocker, "losses_", [])]
    if getattr(blocker, "encoder", None) == "charngram":             # NLSH / hybrid: what the encoder learned
        out["learn"] = blocker.learn
    if getattr(blocker, "epoch_validation_", None) is not None:   # NLSH: the epoch count picked on a train slice
        out["epochs"], out["epoch_validation"] = blocker.epochs_, blocker.epoch_validation_
    if hasattr(blocker, "weight_"):                  # hybrid: the fusion weight used, and how it was chosen
        out["weight"], out["weight_validation"] = blocker.weight_, blocker.validation_
    return out
