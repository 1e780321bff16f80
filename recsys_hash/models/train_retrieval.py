"""BPR training loop for retrieval models: Adam, seeded, early stopping on validation Recall@K with patience
counted in evaluations, rich progress bar, safetensors checkpoint save/resume.

Every epoch's shuffle and negatives come from a generator seeded by (seed, epoch), so a run resumed from a
checkpoint continues exactly as the uninterrupted run would have. A checkpoint records what produced it (the
training pairs, the ID rows of every table, the settings and whatever the caller adds, e.g. strategy and budget)
and refuses to resume anything else; its path is checked before the first epoch.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from recsys_hash.artifacts import check_target, content_digest, load_artifact, read_header, save_artifact
from recsys_hash.data.types import Interactions
from recsys_hash.errors import ArtifactError
from recsys_hash.eval.ranking import embedding_scorer, evaluate_ranking
from recsys_hash.models.retrieval import bpr_loss
from recsys_hash.models.sampling import dedup_pairs, epoch_batches, pack_pairs

CHECKPOINT_KIND = "retrieval_checkpoint"
#: TrainConfig fields a resumed run must share with the checkpoint (epochs may grow; patience is a stopping rule).
RESUME_CONFIG = ("lr", "reg", "batch_size", "seed", "reject_positives")


@dataclass
class TrainConfig:
    """BPR training settings; `patience` counts evaluations (every `eval_every` epochs) without improvement."""

    epochs: int = 50
    batch_size: int = 4096
    lr: float = 5e-3
    reg: float = 1e-4
    eval_every: int = 1
    patience: int = 3
    valid_k: int = 20
    reject_positives: bool = False
    seed: int = 0
    eval_chunk: int = 2048
    checkpoint: Optional[str] = None
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every", "patience", "valid_k", "eval_chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        if self.reg < 0:
            raise ValueError(f"TrainConfig.reg must be >= 0, got {self.reg!r}")
        if self.resume and not self.checkpoint:
            raise ValueError("TrainConfig.resume needs a checkpoint path to resume from")


@dataclass
class TrainResult:
    """What training did: best validation Recall@K and its epoch, per-evaluation history, wall times."""

    best_valid: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    train_s: float
    valid_eval_s: float
    history: list[dict] = field(default_factory=list)


def _validate(model: nn.Module, train: Interactions, valid: Interactions, cfg: TrainConfig) -> float:
    model.eval()
    with torch.no_grad():
        users, items = model.final_embeddings()
    model.train()
    res = evaluate_ranking(embedding_scorer(users, items), train, valid, ks=[cfg.valid_k], chunk_size=cfg.eval_chunk)
    return res.metrics[f"recall@{cfg.valid_k}"]


def check_checkpoint_path(path: str | Path) -> Path:
    """Before training: `path` can be written and holds nothing but (at most) a recsys_hash checkpoint."""
    path = check_target(path, "checkpoint")
    if path.exists():
        try:
            kind = read_header(path).get("kind")
        except ArtifactError:
            kind = None
        if kind != CHECKPOINT_KIND:
            raise ArtifactError(f"checkpoint {path} exists and is not a recsys_hash checkpoint: refusing to overwrite "
                                "it (choose another path or remove the file)")
    try:                                               # the folder may exist yet be read-only
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ArtifactError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from exc
    return path


def run_provenance(model: nn.Module, train: Interactions, valid: Interactions) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: sizes and sha256 of the pairs, sha256 of the ID rows (buffers)."""
    def pairs(x: Interactions) -> str:
        return content_digest("pairs", {}, {"user": x.user, "item": x.item})

    buffers = {name: b.detach().cpu().numpy() for name, b in model.named_buffers()}
    return {
        "model": getattr(model, "kind", type(model).__name__), "n_users": int(train.n_users),
        "n_items": int(train.n_items), "n_train": len(train), "n_valid": len(valid),
        "train_sha256": pairs(train), "valid_sha256": pairs(valid),
        "id_rows_sha256": content_digest("id_rows", {}, buffers),
    }


def train_bpr(model: nn.Module, train: Interactions, valid: Interactions, cfg: TrainConfig,
              provenance: Optional[dict[str, Any]] = None,
              on_epoch: Optional[Callable[[int], None]] = None) -> TrainResult:
    """Train `model` (MF / LightGCN) with BPR on `train`, early-stop on `valid`; leaves the best weights loaded.

    `provenance` (JSON values, e.g. strategy, its parameters, budget, dataset) is recorded in the checkpoint beside
    what training itself can fingerprint; resuming refuses a checkpoint whose provenance differs.
    `on_epoch(epoch)` is called after each epoch (the audit's progress).
    """
    if len(train) == 0:
        raise ValueError(f"training set {train.name!r} is empty")
    if len(valid) == 0:
        raise ValueError(f"validation set {valid.name!r} is empty: early stopping needs validation pairs")
    if cfg.checkpoint:
        check_checkpoint_path(cfg.checkpoint)
    provenance = json.loads(json.dumps({**(provenance or {}), **run_provenance(model, train, valid)}))
    users, items = dedup_pairs(train)
    pos_keys = pack_pairs(users, items, train.n_users, train.n_items) if cfg.reject_positives else None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)   # fused: ~10x faster on dense CPU tables
    state = {"epoch": 0, "best_valid": -1.0, "best_epoch": 0, "bad_evals": 0, "history": [], "train_s": 0.0,
             "valid_eval_s": 0.0, "stopped_early": False}
    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if cfg.checkpoint and cfg.resume and Path(cfg.checkpoint).is_file():
        state, best_weights = load_checkpoint(cfg.checkpoint, model, opt, cfg, provenance)
    n_batches = -(-users.size // cfg.batch_size)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True, disable=not cfg.progress)
    with progress:
        task = progress.add_task(f"{getattr(model, 'kind', 'model')} BPR", total=cfg.epochs * n_batches,
                                 completed=state["epoch"] * n_batches, info="")
        while state["epoch"] < cfg.epochs and not state["stopped_early"]:
            epoch = state["epoch"] + 1
            t0 = time.perf_counter()
            total = 0.0
            for bu, bp, bn in epoch_batches(users, items, train.n_items, cfg.batch_size, cfg.seed, epoch, pos_keys):
                final, ego = model.batch_embeddings(torch.from_numpy(bu), torch.from_numpy(bp), torch.from_numpy(bn))
                loss = bpr_loss(final, ego, cfg.reg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * bu.size
                progress.advance(task)
            state["epoch"] = epoch
            state["train_s"] += time.perf_counter() - t0
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                t1 = time.perf_counter()
                recall = _validate(model, train, valid, cfg)
                state["valid_eval_s"] += time.perf_counter() - t1
                state["history"].append({"epoch": epoch, "loss": total / users.size, "valid_recall": recall})
                if recall > state["best_valid"]:
                    state.update(best_valid=recall, best_epoch=epoch, bad_evals=0)
                    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    state["bad_evals"] += 1
                    state["stopped_early"] = state["bad_evals"] >= cfg.patience
                progress.update(task, info=f"epoch {epoch} loss {total / users.size:.4f} "
                                           f"valid R@{cfg.valid_k} {recall:.4f} (best {state['best_valid']:.4f})")
                if cfg.checkpoint:
                    save_checkpoint(cfg.checkpoint, model, opt, state, best_weights, cfg, provenance)
            if on_epoch is not None:
                on_epoch(epoch)
    model.load_state_dict(best_weights)
    return TrainResult(best_valid=state["best_valid"], best_epoch=state["best_epoch"], epochs_run=state["epoch"],
                       stopped_early=state["stopped_early"], train_s=state["train_s"],
                       valid_eval_s=state["valid_eval_s"], history=state["history"])


def save_checkpoint(path: str | Path, model: nn.Module, opt: torch.optim.Optimizer, state: dict,
                    best_weights: dict[str, torch.Tensor], cfg: TrainConfig,
                    provenance: Optional[dict[str, Any]] = None) -> Path:
    """Weights, best weights, Adam moments, loop state and provenance in one safetensors artifact (atomic write)."""
    arrays = {f"model.{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    arrays.update({f"best.{k}": v.detach().cpu().numpy() for k, v in best_weights.items()})
    opt_sd = opt.state_dict()
    for idx, pstate in opt_sd["state"].items():
        for name, value in pstate.items():
            arrays[f"opt.{idx}.{name}"] = torch.as_tensor(value).detach().cpu().numpy()
    meta = {"state": state, "param_groups": opt_sd["param_groups"], "config": asdict(cfg),
            "provenance": provenance or {}}
    return save_artifact(path, CHECKPOINT_KIND, arrays, json.loads(json.dumps(meta, default=float)))


def _shown(key: str, value: Any) -> str:
    return f"{value[:12]}..." if key.endswith("sha256") and isinstance(value, str) else repr(value)


def check_resumable(path: str | Path, meta: dict[str, Any], cfg: TrainConfig,
                    provenance: Optional[dict[str, Any]] = None) -> None:
    """`ArtifactError` naming every field (settings, then provenance) where checkpoint and this run differ."""
    saved = {**{k: meta["config"].get(k) for k in RESUME_CONFIG}, **meta.get("provenance", {})}
    now = {**{k: getattr(cfg, k) for k in RESUME_CONFIG}, **json.loads(json.dumps(provenance or {}))}
    keys = [k for k in now if not k.endswith("sha256")] + [k for k in saved if k not in now]
    keys += [k for k in now if k.endswith("sha256")]        # fingerprints last: names say more than hashes
    diff = [f"{k}={_shown(k, saved.get(k))}, not {_shown(k, now.get(k))}" for k in keys if saved.get(k) != now.get(k)]
    if diff:
        raise ArtifactError(f"checkpoint {path} was made with " + "; ".join(diff))


def load_checkpoint(path: str | Path, model: nn.Module, opt: torch.optim.Optimizer, cfg: TrainConfig,
                    provenance: Optional[dict[str, Any]] = None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore weights and Adam state from `path`; returns (loop state, best weights).

    Refuses (ArtifactError) a checkpoint made with other settings or other `provenance`: pass what `train_bpr`
    records for this run (its `provenance` argument plus `run_provenance(model, train, valid)`).
    """
    arrays, meta = load_artifact(path, CHECKPOINT_KIND)
    check_resumable(path, meta, cfg, provenance)
    expected = model.state_dict()
    weights = {k[6:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("model.")}
    best = {k[5:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("best.")}
    if set(weights) != set(expected) or any(weights[k].shape != expected[k].shape for k in expected):
        raise ArtifactError(f"checkpoint {path} does not match this model's tables (other strategy, budget or dim?)")
    model.load_state_dict(weights)
    opt_state: dict[int, dict] = {}
    for key, value in arrays.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = torch.from_numpy(value.copy())
    opt.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
    return dict(meta["state"]), best
