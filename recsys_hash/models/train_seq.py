"""Long-sequence CTR training on the CTR trainer (`train_ctr`: shared loop, early stopping on validation AUC,
checkpoints, AUC / logloss / GAUC by user). Test AUC and GAUC use the best-AUC weights, test logloss the weights of
its own best validation logloss (as in `train_ctr`)."""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Optional

import numpy as np

from recsys_hash.data.seq_sets import SeqCTRDataset
from recsys_hash.models.seq_ctr import LongSeqCTR, SeqModelConfig
from recsys_hash.distributed.context import DistContext
from recsys_hash.models.train_ctr import (LOGLOSS_NOTE, CTRTrainConfig, distributed_info, evaluate_split,
                                          tables_fingerprint, train_ctr)
from recsys_hash.models.trainer import seed_everything


def seq_train_config(**overrides: Any) -> CTRTrainConfig:
    """CTRTrainConfig with sequence-sized defaults (batch 256, eval batch 1,024, 5 epochs, Adam 0.03 on embeddings,
    no embedding L2: the CTR trainer's penalty reads a pooled sparse arch the sequence model does not have)."""
    base = dict(epochs=5, batch_size=256, eval_batch=1024, emb_optimizer="adam", emb_lr=0.03, lr=1e-3, patience=2,
                emb_l2=0.0)
    return CTRTrainConfig(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def fit_seq_tables(data: SeqCTRDataset, strategy: str = "full", budget: Optional[float] = None,
                   seed: int = 0) -> dict[str, Any]:
    """item (and cate) -> fitted remapper. `full` owns a row per code; another strategy fits the item table on
    the training targets and histories with `budget` rows (fraction of the vocabulary or a count)."""
    from recsys_hash.budget import resolve_budget
    from recsys_hash.ids import get_strategy

    full = get_strategy("full")
    tables: dict[str, Any] = {}
    if strategy == "full":
        tables["item"] = full(seed=seed).fit(np.arange(data.vocab["item"], dtype=np.int64))
    else:
        cls = get_strategy(strategy)
        if cls.needs_interactions:
            raise ValueError(f"train-seq: strategy {strategy!r} needs an interaction graph; use a hashing or "
                             f"frequency strategy for the item sequence table")
        tr = data.train
        col = np.concatenate([tr.frame.categorical["item_id"], tr.history["hist_item_id"][1]])
        rows = resolve_budget(0.5 if budget is None else budget, data.vocab["item"], "item")
        tables["item"] = cls(num_rows=rows, seed=seed).fit(col)
    if data.has_cate:
        tables["cate"] = full(seed=seed).fit(np.arange(data.vocab["cate"], dtype=np.int64))
    return tables


def model_provenance(cfg: SeqModelConfig) -> dict[str, Any]:
    """The model settings a checkpoint records. `aux_loss` is left out when off, so a checkpoint written before the
    auxiliary loss existed (every module without it) still resumes under the same settings."""
    out = asdict(cfg)
    if not out["aux_loss"]:
        del out["aux_loss"]
    return out


def run_seq(data: SeqCTRDataset, model_cfg: SeqModelConfig, train: Optional[CTRTrainConfig] = None,
            seed: int = 0, strategy: str = "full", budget: Optional[float] = None,
            ctx: Optional[DistContext] = None) -> tuple[dict[str, Any], LongSeqCTR]:
    """Fit tables, train, test -> (JSON-ready result with auc, logloss, gauc, train_s, module; trained model).
    `ctx`: train sharded over the ranks of a torchrun group (see `train_ctr`)."""
    train = train or seq_train_config()
    seed_everything(seed)
    tables = fit_seq_tables(data, strategy, budget, seed)
    seed_everything(seed)
    model = LongSeqCTR(model_cfg, tables)
    provenance = {"dataset": data.name, "rows": {s: len(f) for s, f in data.splits().items()},
                  "model": model_provenance(model_cfg), "max_len": data.max_len,
                  "tables": tables_fingerprint(tables, {"item": data.vocab["item"], "cate": data.vocab.get("cate", 0)})}
    t0 = time.perf_counter()
    res = train_ctr(model, data, train, seed=seed, provenance=provenance, ctx=ctx)
    wall = time.perf_counter() - t0
    test = evaluate_split(model, data, "test", train.eval_batch)
    if "best_logloss" in res.snapshots:
        best = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(res.snapshots["best_logloss"])
        test["logloss"] = evaluate_split(model, data, "test", train.eval_batch)["logloss"]
        model.load_state_dict(best)
    result = {
        "dataset": data.name, "split": data.split_note, "module": model_cfg.module, "seed": seed,
        "dim": model_cfg.dim, "att_dim": model_cfg.attention_dim if model_cfg.module in ("dare", "sdim_decoupled")
        else None, "tau": model_cfg.tau if model_cfg.module in ("sdim", "sdim_decoupled") else None,
        "aux_loss": model_cfg.aux_loss, "max_len": data.max_len, "strategy": strategy,
        "auc": test["auc"], "gauc": test["gauc"], "logloss": test["logloss"], "logloss_note": LOGLOSS_NOTE,
        "train_s": res.train_s, "valid_s": res.valid_s, "wall_s": wall, "epochs": res.epochs_run,
        "best_epoch": res.best_epoch, "logloss_epoch": res.tracked_best["logloss"]["epoch"],
        "valid_auc": res.best, "params": model.num_parameters(),
        "n_train": len(data.train), "n_valid": len(data.valid), "n_test": len(data.test), "history": res.history,
        "distributed": distributed_info(ctx, train),
    }
    return result, model
