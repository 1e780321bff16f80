"""CTR training on the shared trainer core: binary cross-entropy on logits, Adagrad (or Adam) for the embedding
tables and AdamW for the dense layers, early stopping on validation AUC.

Reported test metrics: AUC and GAUC (by the user field) with the weights of the best validation AUC; logloss with
the weights of its OWN best validation logloss epoch (logloss typically rises after an epoch or two while AUC still
improves, so the best-AUC epoch would overstate it); both epochs are in the result.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from recsys_hash.data.ctr_sets import CTRDataset
from recsys_hash.distributed.context import DistContext, all_sum, gather_parts, rank_part, step_bounds
from recsys_hash.eval.ctr_metrics import auc, group_auc, logloss
from recsys_hash.models.ctr import CTRModel, fit_ctr_tables
from recsys_hash.models.ctr_config import CTRConfig
from recsys_hash.models.trainer import LoopConfig, TrainLoop, epoch_permutation, seed_everything

CHECKPOINT_KIND = "ctr_checkpoint"
EMB_OPTIMIZERS = ("adagrad", "adam", "sgd")
#: table shardings of a distributed run (recsys_hash.integrations.sharding.SHARDINGS, without importing torchrec's
#: distributed package here)
SHARDINGS = ("row_wise", "table_wise")
LOGLOSS_NOTE = "test logloss uses the weights of the best validation logloss epoch (logloss_epoch), not the best AUC"


@dataclass
class CTRTrainConfig:
    """Training settings; `patience` counts evaluations without a better validation AUC.

    emb_l2: L2 penalty on the embeddings each batch looks up (sum of the squared pooled vectors, averaged over the
    batch's rows); without it Frappe overfits after 3-4 epochs. init_std: std of the normal initial embedding rows.
    Defaults chosen on Frappe's validation split (DLRM, 3 seeds; see benchmarks/RESULTS.md).
    """

    epochs: int = 10
    batch_size: int = 1024
    lr: float = 2e-3
    emb_lr: float = 0.2
    emb_optimizer: str = "adagrad"
    weight_decay: float = 1e-5
    emb_l2: float = 1e-3
    init_std: float = 0.01
    hidden: int = 64
    patience: int = 2
    eval_every: int = 1
    eval_batch: int = 32768
    checkpoint: Optional[str] = None
    resume: bool = False
    progress: bool = True
    sharding: str = "row_wise"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "eval_every", "eval_batch", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("lr", "emb_lr", "init_std"):
            if not getattr(self, name) > 0:
                raise ValueError(f"train.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("weight_decay", "emb_l2"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.sharding not in SHARDINGS:
            raise ValueError(f"train.sharding must be one of {', '.join(SHARDINGS)}, got {self.sharding!r}")
        if self.emb_optimizer not in EMB_OPTIMIZERS:
            raise ValueError(f"train.emb_optimizer must be one of {', '.join(EMB_OPTIMIZERS)}, "
                             f"got {self.emb_optimizer!r}")


def make_optimizers(model: CTRModel, cfg: CTRTrainConfig) -> dict[str, torch.optim.Optimizer]:
    emb = model.embedding_parameters()
    emb_opt = {"adagrad": torch.optim.Adagrad, "adam": torch.optim.Adam,
               "sgd": torch.optim.SGD}[cfg.emb_optimizer](emb, lr=cfg.emb_lr)
    return {"embedding": emb_opt,
            "dense": torch.optim.AdamW(model.dense_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)}


@torch.no_grad()
def predict(model: CTRModel, data: CTRDataset, split: str, batch: int = 32768,
            ctx: Optional[DistContext] = None) -> np.ndarray:
    """Click probabilities float64 [rows of `split`]. With `ctx` (a sharded model) every rank predicts its part of
    each batch of `batch x world` rows and every rank gets all probabilities."""
    model.eval()
    n = len(data.splits()[split])
    world = ctx.world if ctx is not None else 1
    out = []
    for lo, hi in step_bounds(n, batch, world):
        idx = np.arange(lo, hi) if ctx is None else rank_part(np.arange(lo, hi), ctx.rank, world)[0]
        dense, kjt, _ = _on_device(data.batch(split, idx), ctx)
        probs = torch.sigmoid(model(dense, kjt)).double()
        out.append((probs if ctx is None else gather_parts(probs, hi - lo, ctx)).cpu().numpy())
    model.train()
    return np.concatenate(out)


def auxiliary_logits(model: torch.nn.Module) -> Optional[torch.Tensor]:
    """Logits of a model's auxiliary training head for the batch just run (`pop_auxiliary_logits`), else None."""
    pop = getattr(model, "pop_auxiliary_logits", None)
    return pop() if pop is not None else None


def _on_device(batch: tuple, ctx: Optional[DistContext]) -> tuple:
    if ctx is None or ctx.device.type == "cpu":
        return batch
    return tuple(t.to(ctx.device) for t in batch)


def evaluate_split(model: CTRModel, data: CTRDataset, split: str, batch: int = 32768,
                   ctx: Optional[DistContext] = None) -> dict[str, float]:
    """AUC, logloss and GAUC by the user field on one split."""
    probs = predict(model, data, split, batch, ctx)
    frame = data.splits()[split]
    res = group_auc(frame.labels, probs, frame.categorical[data.user_field])
    return {"auc": auc(frame.labels, probs), "logloss": logloss(frame.labels, probs), "gauc": res.gauc}


def train_ctr(model: CTRModel, data: CTRDataset, cfg: CTRTrainConfig, seed: int = 0,
              provenance: Optional[Mapping[str, Any]] = None, on_epoch: Optional[Callable[[int], None]] = None,
              ctx: Optional[DistContext] = None):
    """Train on data.train, early-stop on data.valid AUC; returns the trainer core's LoopResult.
    `on_epoch(epoch)` is called after each epoch (progress).

    With `ctx` (under torchrun) the tables are sharded over the ranks (`recsys_hash.distributed.sharded`): every step
    trains on the same `batch_size x world` rows of the seeded shuffle, each rank on its part, with the gradient of
    the mean loss over all of them. `model` itself stays unsharded and ends with the best weights."""
    if cfg.emb_l2 > 0 and not hasattr(model, "sparse"):
        raise ValueError(f"emb_l2={cfg.emb_l2} needs a model with a pooled sparse arch (`model.sparse`); "
                         f"{type(model).__name__} has none: set emb_l2=0")
    world = 1 if ctx is None else ctx.world
    weights_io = None
    if ctx is None:
        net, optimizers = model, make_optimizers(model, cfg)
    else:
        from recsys_hash.distributed.sharded import (FusedOptimizerState, dense_parameters, shard_for_training,
                                                     weights_io as sharded_io)

        net = shard_for_training(model, ctx, cfg.emb_optimizer, cfg.emb_lr, cfg.sharding)
        optimizers = {"dense": torch.optim.AdamW(dense_parameters(net), lr=cfg.lr, weight_decay=cfg.weight_decay),
                      "embedding": FusedOptimizerState(net)}     # steps inside backward; here for checkpoints
        weights_io = sharded_io(net)
    inner = getattr(net, "module", net)                     # the model inside DistributedModelParallel
    n = len(data.train)
    pooled: dict[str, Any] = {}

    def train_epoch(epoch: int, advance) -> dict[str, float]:
        perm = epoch_permutation(n, seed, epoch)
        hook = (inner.sparse.register_forward_hook(lambda _m, _i, out: pooled.__setitem__("kt", out))
                if cfg.emb_l2 > 0 else None)
        try:
            for lo, hi in advance.skip(step_bounds(n, cfg.batch_size, world)):   # skip: steps done before a stop
                if ctx is None:
                    loss_sum = train_step(perm[lo:hi], hook is not None)
                else:
                    loss_sum = sharded_step(*rank_part(perm[lo:hi], ctx.rank, world), hi - lo, hook is not None)
                advance(hi - lo, loss=loss_sum)
        finally:
            if hook is not None:
                hook.remove()
        total = advance.sums.get("loss", 0.0)
        return {"loss": (total if ctx is None else all_sum(total, ctx)) / n}

    def step(loss: torch.Tensor) -> None:
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers.values():
            opt.step()

    def train_step(idx: np.ndarray, l2: bool) -> float:
        """One optimiser step on rows `idx`; returns the batch's summed loss (BCE, + an auxiliary head's BCE, + the
        embedding L2 term)."""
        dense, kjt, labels = data.batch("train", idx)
        loss = F.binary_cross_entropy_with_logits(model(dense, kjt), labels)
        aux = auxiliary_logits(model)
        if aux is not None:   # an auxiliary head's BCE (LongSeqCTR's full-attention loss), weight 1
            loss = loss + F.binary_cross_entropy_with_logits(aux, labels)
        if l2:       # L2 on the embeddings this batch looked up (pooled per feature), averaged over its rows
            loss = loss + cfg.emb_l2 * pooled.pop("kt").values().pow(2).sum() / idx.size
        step(loss)
        return float(loss.detach()) * idx.size

    def sharded_step(idx: np.ndarray, weight: np.ndarray, step_rows: int, l2: bool) -> float:
        """This rank's part of one step of `step_rows` rows (padding rows weigh 0); returns the part's summed loss.
        The loss is the part's share of the step's mean times `world`: DDP averages the dense gradients over the
        ranks and TorchRec's all-to-all divides the table gradients by the world size
        (torchrec.distributed.comm_ops.GRADIENT_DIVISION), so the update is that of the step's mean loss."""
        dense, kjt, labels = _on_device(data.batch("train", idx), ctx)
        w = torch.from_numpy(weight).to(labels.device)
        per_row = F.binary_cross_entropy_with_logits(net(dense, kjt), labels, reduction="none")
        aux = auxiliary_logits(inner)
        if aux is not None:
            per_row = per_row + F.binary_cross_entropy_with_logits(aux, labels, reduction="none")
        if l2:
            per_row = per_row + cfg.emb_l2 * pooled.pop("kt").values().pow(2).sum(dim=1)
        part = (per_row * w).sum()
        step(part * (world / step_rows))
        return float(part.detach())

    loop = TrainLoop(LoopConfig(epochs=cfg.epochs, patience=cfg.patience, eval_every=cfg.eval_every,
                                checkpoint=cfg.checkpoint, resume=cfg.resume,
                                progress=cfg.progress and (ctx is None or ctx.is_main),
                                catch_signals=ctx is None, write_checkpoint=ctx is None or ctx.is_main),
                     CHECKPOINT_KIND)
    prov = {**dict(provenance or {}), "seed": seed,
            **{k: v for k, v in asdict(cfg).items() if k in ("batch_size", "lr", "emb_lr", "emb_optimizer",
                                                              "weight_decay", "emb_l2", "init_std",
                                                              "hidden")}}
    if ctx is not None:     # a resume must keep the global step (batch x world) and the state layout
        prov.update(sharding=cfg.sharding, world_size=ctx.world)
    result = loop.run(net, optimizers, train_epoch, lambda: evaluate_split(net, data, "valid", cfg.eval_batch, ctx),
                      monitor="auc", mode="max", track={"logloss": "min"}, provenance=prov, total_rows=n,
                      description=f"{model.kind} CTR", on_epoch=on_epoch, weights=weights_io)
    if ctx is not None:                              # hand the trained weights back to the unsharded model
        model.load_state_dict(weights_io[0]())
    return result


def tables_fingerprint(tables: Mapping[str, Any], vocab: Mapping[str, int]) -> dict[str, Any]:
    """feature -> (strategy, rows, sha256 of the rows of codes 0..vocab-1): what a checkpoint's tables came from."""
    import hashlib

    out = {}
    for f, rem in tables.items():
        n = int(vocab[f])
        rows = np.ascontiguousarray(rem.transform(np.arange(n, dtype=np.int64)))
        out[f] = {"strategy": rem.name, "rows": int(rem.table_rows), "sha256": hashlib.sha256(rows.tobytes()).hexdigest()}
    return out


def run_ctr(data: CTRDataset, config: CTRConfig, train: Optional[CTRTrainConfig] = None, seed: int = 0,
            tables: Optional[dict[str, Any]] = None, on_epoch: Optional[Callable[[int], None]] = None,
            ctx: Optional[DistContext] = None) -> tuple[dict[str, Any], CTRModel, dict[str, Any]]:
    """Fit every feature's table, train, test. Returns (JSON-ready result, trained model, tables).

    `tables` (feature -> fitted IdRemapper) skips fitting: the audit fits and measures them itself;
    `on_epoch(epoch)` is called after each training epoch (progress); `ctx`: train sharded over the ranks of a
    torchrun group (every rank fits the same tables from the same seed; testing runs on the unsharded model).
    """
    train = train or CTRTrainConfig(**config.train)
    graph = tuple(config.graph_fields or (data.user_field, data.item_field))
    specs = config.resolve(data.features, data.vocab, graph)      # every name checked before any work
    seed_everything(seed)
    t0 = time.perf_counter()
    report: dict[str, Any] = {}
    if tables is None:
        tables, report = fit_ctr_tables(data, specs, graph, config.cold, seed, config.cold_share)
    fit_s = time.perf_counter() - t0
    seed_everything(seed)
    model = CTRModel(config.model, tables, dim=config.dim, n_dense=data.n_dense, hidden=train.hidden,
                     init_std=train.init_std)
    provenance = {"dataset": data.name, "rows": {s: len(f) for s, f in data.splits().items()}, "model": config.model,
                  "dim": config.dim, "features": {f: asdict(s) for f, s in specs.items()},
                  "tables": tables_fingerprint(tables, data.vocab)}
    res = train_ctr(model, data, train, seed=seed, provenance=provenance, on_epoch=on_epoch, ctx=ctx)
    test = evaluate_split(model, data, "test", train.eval_batch)               # best-AUC weights are loaded
    ll_epoch = res.tracked_best["logloss"]["epoch"]
    if "best_logloss" in res.snapshots:
        best_auc_weights = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(res.snapshots["best_logloss"])
        test["logloss"] = evaluate_split(model, data, "test", train.eval_batch)["logloss"]
        model.load_state_dict(best_auc_weights)
    rows = model.table_rows()
    full_rows = int(sum(data.vocab[f] for f in data.features))
    result = {
        "dataset": data.name, "split": data.split_note, "model": config.model, "seed": seed, "dim": config.dim,
        "auc": test["auc"], "gauc": test["gauc"], "logloss": test["logloss"], "logloss_note": LOGLOSS_NOTE,
        "rows": int(sum(rows.values())), "full_rows": full_rows, "rows_by_feature": rows,
        "strategies": {f: s.strategy for f, s in specs.items()},
        "budgets": {f: s.budget for f, s in specs.items() if s.budget is not None},
        "params": model.num_parameters(), "train_s": res.train_s, "valid_s": res.valid_s, "fit_s": fit_s,
        "epochs": res.epochs_run, "best_epoch": res.best_epoch, "logloss_epoch": ll_epoch,
        "stopped_early": res.stopped_early, "valid_auc": res.best, "graph": report,
        "n_train": len(data.train), "n_valid": len(data.valid), "n_test": len(data.test),
        "history": res.history, "distributed": distributed_info(ctx, train),
    }
    return result, model, tables


def distributed_info(ctx: Optional[DistContext], train: CTRTrainConfig) -> Optional[dict[str, Any]]:
    """What a result says of a distributed run (None for one process)."""
    if ctx is None:
        return None
    return {"world_size": ctx.world, "backend": ctx.backend, "sharding": train.sharding, "device": str(ctx.device),
            "embedding_optimizer": "fused (TorchRec apply_optimizer_in_backward)"}
