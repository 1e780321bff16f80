"""Train an encoder with the NLSH loss on labelled matches (the train split only) and hard negatives mined from
the current neighbours: every epoch re-encodes both tables, and each (tableB query, tableA match) triplet takes
as its non-match a tableA record drawn from the query's `hard_k` nearest records that is not a labelled match.

With validation pairs (matches held out of training, e.g. a seeded slice of the train split's positives), the same
per-epoch encoding also gives their PC@1..10: the epoch with the best mean (epoch 0 = before training; ties: the
earlier) is kept, its weights are restored at the end, and training stops after `patience` epochs without a gain."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from recsys_hash.blocking.fusion import VALIDATION_KS, mean_pc
from recsys_hash.blocking.index import exact_topk
from recsys_hash.blocking.loss import check_radius, nlsh_loss


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 5e-2
    radius: float = 0.6
    c: float = 1.5
    hard_k: int = 10
    seed: int = 0
    progress: bool = True
    weight_decay: float = 0.0       # > 0: AdamW's decoupled decay (on the char-n-gram log-weights: towards TF-IDF's)
    patience: Optional[int] = 3     # with validation pairs: stop after this many epochs without a gain (None: never)


@dataclass
class TrainLog:
    """losses: mean loss per epoch run; val_pc: per evaluated epoch (0 = before training) the validation pairs'
    PC@1..10; best_epoch: the epoch whose weights the encoder holds (None without validation: the last)."""
    losses: list = field(default_factory=list)
    val_pc: list = field(default_factory=list)
    best_epoch: Optional[int] = None


def positive_rows(train, ids_a: np.ndarray, ids_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labelled matches (label == 1) of a train split -> (tableA rows, tableB rows), int64 [p] each."""
    from recsys_hash.errors import DataFormatError

    if train is None or train.height == 0:
        raise ValueError("nlsh: training needs labelled pairs (the train split: ltable_id, rtable_id, label)")
    pos = train.filter(train["label"] == 1)
    if pos.height == 0:
        raise ValueError("nlsh: the train split has no matching pair (label 1) to learn from")
    a, b = pos["ltable_id"].to_numpy().astype(np.int64), pos["rtable_id"].to_numpy().astype(np.int64)
    sa, sb = np.argsort(ids_a), np.argsort(ids_b)
    ra = sa[np.clip(np.searchsorted(ids_a, a, sorter=sa), 0, ids_a.size - 1)]
    rb = sb[np.clip(np.searchsorted(ids_b, b, sorter=sb), 0, ids_b.size - 1)]
    for rows, ids, raw, side in ((ra, ids_a, a, "tableA"), (rb, ids_b, b, "tableB")):
        bad = ids[rows] != raw
        if bad.any():
            raise DataFormatError(f"train pairs: id {int(raw[np.argmax(bad)])} does not exist in {side}")
    return ra, rb


def mine_negatives(neighbours: np.ndarray, pos_a: np.ndarray, pos_b: np.ndarray, n_a: int,
                   rng: np.random.Generator) -> np.ndarray:
    """For each positive (a, b): a tableA row among b's neighbours [n_b, h] that is no labelled match of b
    (uniform among them; a random non-match row when all h are matches) -> int64 [p]."""
    cand = neighbours[pos_b]                                        # [p, h]
    width = np.int64(n_a + 1)
    match_keys = np.unique(pos_b * width + pos_a)
    ok = ~np.isin(pos_b[:, None] * width + cand, match_keys) & (cand >= 0)
    score = np.where(ok, rng.random(cand.shape), -1.0)
    pick = cand[np.arange(cand.shape[0]), np.argmax(score, axis=1)]
    fallback = rng.integers(n_a, size=pick.size)
    fallback = np.where(fallback == pos_a, (fallback + 1) % n_a, fallback)
    return np.where(ok.any(axis=1), pick, fallback).astype(np.int64)


def train_nlsh(encoder: torch.nn.Module, texts_a: list[str], texts_b: list[str], pos_a: np.ndarray,
               pos_b: np.ndarray, cfg: TrainConfig, desc: str = "nlsh",
               val: Optional[tuple[np.ndarray, np.ndarray]] = None) -> TrainLog:
    """Seeded NLSH training (Adam, or AdamW with weight_decay > 0); progress bar on stderr.
    val: (tableA rows, tableB rows) int64 [v] each of matches held out of (pos_a, pos_b): best-epoch selection."""
    from tqdm import tqdm

    check_radius(cfg.radius, cfg.c)
    if cfg.weight_decay < 0 or not np.isfinite(cfg.weight_decay):
        raise ValueError(f"nlsh: weight_decay must be a finite number >= 0, got {cfg.weight_decay!r}")
    if cfg.patience is not None and cfg.patience < 1:
        raise ValueError(f"nlsh: patience must be >= 1 (or None), got {cfg.patience!r}")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    params = [p for p in encoder.parameters() if p.requires_grad]
    opt = (torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.weight_decay > 0
           else torch.optim.Adam(params, lr=cfg.lr))
    n_batches = -(-pos_a.size // cfg.batch_size)
    log = TrainLog()
    best = (-1.0, None)                                      # (mean validation PC, trainable weights)
    bar = tqdm(total=cfg.epochs * n_batches, desc=desc, file=sys.stderr, disable=not cfg.progress, leave=False)
    for epoch in range(cfg.epochs + 1):
        if val is None and epoch == cfg.epochs:
            break
        x_a, x_b = encoder.encode(texts_a), encoder.encode(texts_b)
        if val is not None:
            best = _validate(encoder, x_a, x_b, val, epoch, log, best)
            if epoch == cfg.epochs or (cfg.patience is not None and epoch - log.best_epoch >= cfg.patience):
                break
        neighbours, _ = exact_topk(x_a, x_b, min(cfg.hard_k, len(texts_a)), use_faiss=False)
        neg = mine_negatives(neighbours, pos_a, pos_b, len(texts_a), rng)
        order = rng.permutation(pos_a.size)
        encoder.train()
        total = 0.0
        for s in range(0, order.size, cfg.batch_size):
            idx = order[s:s + cfg.batch_size]
            anchor = encoder([texts_b[i] for i in pos_b[idx]])
            match = encoder([texts_a[i] for i in pos_a[idx]])
            other = encoder([texts_a[i] for i in neg[idx]])
            loss = nlsh_loss(anchor, match, other, cfg.radius, cfg.c)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.size
            bar.update(1)
        log.losses.append(total / pos_a.size)
        bar.set_postfix(loss=f"{log.losses[-1]:.4f}")
    bar.close()
    if val is not None:
        with torch.no_grad():
            for name, p in encoder.named_parameters():
                if name in best[1]:
                    p.copy_(best[1][name])
    encoder.eval()
    return log


def _validate(encoder, x_a, x_b, val, epoch, log, best):
    """Append the validation pairs' PC@1..10 at this epoch; the new best (score, trainable weights) if it gains."""
    val_a, val_b = val
    rows_b, query = np.unique(val_b, return_inverse=True)
    rows, _ = exact_topk(x_a, x_b[torch.from_numpy(rows_b)], min(max(VALIDATION_KS), x_a.shape[0]), use_faiss=False)
    log.val_pc.append([mean_pc(rows, query, val_a, ks=(k,)) for k in VALIDATION_KS])
    score = float(np.mean(log.val_pc[-1]))
    if score <= best[0]:
        return best
    log.best_epoch = epoch
    return score, {n: p.detach().clone() for n, p in encoder.named_parameters() if p.requires_grad}
