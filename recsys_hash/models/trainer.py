"""The training core every model family shares: seeding, per-epoch seeded shuffles, the epoch/validation loop with
early stopping (patience counted in evaluations), best-weight snapshots, a progress bar with throughput on stderr,
and safetensors checkpoints with exact resume.

A checkpoint holds the weights, every optimizer's state, the loop state, the weight snapshots and a `provenance`
dict (settings, strategy, params, remapper and data fingerprints, dataset counts, ...). Its path is checked before
the first epoch; it is written after every epoch. Resuming checks the provenance field by field and refuses a
mismatch, naming every differing field with both values. Shuffles come from a generator seeded by (seed, epoch),
so a resumed run continues exactly as the uninterrupted one.

SIGINT/SIGTERM during `run` (see `interrupt.py`): the current step finishes, the checkpoint is written with the
step reached inside the epoch and the global RNG states, and `TrainingInterrupted` is raised; resuming skips the
completed steps of that epoch (`advance.skip`), so no completed step is lost or repeated.

    >>> loop = TrainLoop(LoopConfig(epochs=10, patience=2, checkpoint="ckpt.safetensors"), "ctr_checkpoint")
    >>> result = loop.run(model, {"dense": adamw}, train_epoch, validate, monitor="auc", provenance={...})
"""
from __future__ import annotations

import json
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from recsys_hash.artifacts import check_target, load_artifact, read_header, save_artifact
from recsys_hash.errors import ArtifactError, TrainingInterrupted
from recsys_hash.models.interrupt import SignalCatcher, StepCounter, StopEpoch

Weights = dict[str, torch.Tensor]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy's legacy global generator and torch (model initialisation draws from torch)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffle of epoch `epoch`: int64 [n], a function of (seed, epoch) only (exact resume)."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def snapshot(model: nn.Module) -> Weights:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def jsonable(obj: Any) -> Any:
    """The JSON round-trip of `obj` (numpy scalars -> numbers, tuples -> lists, key order kept): what a checkpoint
    stores."""
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return json.loads(json.dumps(obj, default=default))


@dataclass
class LoopConfig:
    """Epochs, early stopping (`patience` evaluations without improvement, every `eval_every` epochs), checkpoint."""

    epochs: int = 10
    patience: int = 2
    eval_every: int = 1
    checkpoint: Optional[str] = None
    resume: bool = False
    progress: bool = True
    #: SIGINT/SIGTERM finish the step, write the checkpoint and raise TrainingInterrupted (off: they act as usual,
    #: e.g. under torchrun, where ranks stopping at different steps would wait on each other)
    catch_signals: bool = True
    #: False on the ranks other than 0 of a distributed run: they take part in gathering the state, rank 0 writes it
    write_checkpoint: bool = True

    def __post_init__(self) -> None:
        check_settings(self, "", ("epochs", "patience", "eval_every"))


def check_settings(cfg: Any, owner: str, counts: Sequence[str]) -> None:
    """ValueError naming `owner` + field: each of `counts` must be >= 1; `resume` needs a `checkpoint` path."""
    for name in counts:
        if getattr(cfg, name) < 1:
            raise ValueError(f"{owner}{name} must be >= 1, got {getattr(cfg, name)!r}")
    if getattr(cfg, "resume", False) and not getattr(cfg, "checkpoint", None):
        raise ValueError(f"{owner}resume needs a checkpoint path to resume from")


@dataclass
class LoopResult:
    """Best monitored value and epoch, each tracked metric's own best epoch, history, wall times, snapshots."""

    best: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    train_s: float
    valid_s: float
    tracked_best: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    snapshots: dict[str, Weights] = field(default_factory=dict)


def _better(value: float, best: Optional[float], mode: str) -> bool:
    return best is None or (value > best if mode == "max" else value < best)


class TrainLoop:
    """Runs epochs until `epochs` or early stopping; keeps a weight snapshot at each monitored/tracked best."""

    def __init__(self, config: LoopConfig, kind: str):
        self.config, self.kind = config, kind

    def run(self, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer],
            train_epoch: Callable[[int, Callable[[int], None]], dict[str, float]],
            validate: Optional[Callable[[], dict[str, float]]], monitor: str, mode: str = "max",
            track: Optional[Mapping[str, str]] = None, provenance: Optional[Mapping[str, Any]] = None,
            total_rows: int = 0, description: str = "train",
            on_epoch: Optional[Callable[[int], None]] = None,
            weights: Optional[tuple[Callable[[], Weights], Callable[[Weights], None]]] = None) -> LoopResult:
        """train_epoch(epoch, advance) trains one epoch and returns its stats: it iterates its batches through
        `advance.skip(batches)` and calls advance(rows, **sums) after each optimiser step (a `StepCounter`; sums such
        as loss=batch loss * rows accumulate in `advance.sums` and survive an interruption);
        validate() returns metrics incl. `monitor` and every `track` key (metric -> "max"/"min"); validate=None
        trains exactly `epochs` epochs with no evaluation and keeps the last weights;
        on_epoch(epoch) is called after each epoch (e.g. the audit's progress).
        weights: (get, set) of the model's whole weights for the best-epoch snapshots (default: its state dict; a
        sharded model gathers its shards, see `recsys_hash.distributed.sharded.weights_io`).
        The checkpoint path is checked (`check_checkpoint_path`) before anything is trained.
        Leaves the weights of the best `monitor` evaluation loaded. SIGINT/SIGTERM: see the module docstring."""
        cfg, track = self.config, dict(track or {})
        self._get, put = weights or ((lambda: snapshot(model)), model.load_state_dict)
        self._weights = weights
        if cfg.checkpoint:
            check_checkpoint_path(cfg.checkpoint, self.kind)
        provenance = jsonable(dict(provenance or {}))
        state: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": 0, "bad_evals": 0, "history": [],
                                 "train_s": 0.0, "valid_s": 0.0, "stopped_early": False,
                                 "tracked": {k: {"value": None, "epoch": 0} for k in track}, "partial": None}
        snaps: dict[str, Weights] = {}
        if cfg.checkpoint and cfg.resume and Path(cfg.checkpoint).is_file():
            state, snaps = load_checkpoint(cfg.checkpoint, self.kind, model, optimizers, provenance, weights)
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                            disable=not cfg.progress)
        with SignalCatcher(cfg.catch_signals) as signals, progress:
            task = progress.add_task(description, total=cfg.epochs * max(total_rows, 1),
                                     completed=state["epoch"] * total_rows, info="")
            while state["epoch"] < cfg.epochs and not state["stopped_early"]:
                epoch = state["epoch"] + 1
                partial = state.get("partial") or {}
                if partial and partial.get("epoch") != epoch:
                    raise ArtifactError(f"checkpoint {cfg.checkpoint} stopped inside epoch {partial.get('epoch')!r} "
                                        f"but has {state['epoch']} complete epochs")
                t0 = time.perf_counter()
                seen = [0]

                def on_rows(rows: int) -> None:
                    seen[0] += rows
                    rate = seen[0] / max(time.perf_counter() - t0, 1e-9)
                    progress.update(task, advance=rows, info=f"epoch {epoch} {rate:,.0f} rows/s")

                advance = StepCounter(on_rows, lambda: signals.pending is not None, partial.get("step", 0),
                                      partial.get("sums"))
                try:
                    stats = dict(train_epoch(epoch, advance))
                except StopEpoch:
                    state["train_s"] += time.perf_counter() - t0
                    state["partial"] = {"epoch": epoch, "step": advance.step, "sums": advance.sums}
                    self._stop(signals.name, model, optimizers, state, snaps, provenance, epoch, advance.step)
                if not advance.skipped:
                    raise RuntimeError("train_epoch resumed mid-epoch without advance.skip(batches): it would "
                                       "repeat completed steps")   # programming error in a trainer
                state["epoch"], state["partial"] = epoch, None
                state["train_s"] += time.perf_counter() - t0
                if validate is None:
                    state["history"].append({"epoch": epoch, **stats})
                elif epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                    t1 = time.perf_counter()
                    metrics = validate()
                    state["valid_s"] += time.perf_counter() - t1
                    state["history"].append({"epoch": epoch, **stats, **{f"valid_{k}": v for k, v in metrics.items()}})
                    self._update(state, snaps, metrics, monitor, mode, track, epoch)
                    progress.update(task, info=f"epoch {epoch} valid {monitor} {metrics[monitor]:.4f} "
                                               f"(best {state['best']:.4f} @ {state['best_epoch']})")
                if cfg.checkpoint:
                    save_checkpoint(cfg.checkpoint, self.kind, model, optimizers, state, snaps, provenance, weights,
                                    cfg.write_checkpoint)
                if on_epoch is not None:
                    on_epoch(epoch)
                if signals.pending is not None:
                    self._stop(signals.name, model, optimizers, state, snaps, provenance, epoch, None)
        if "best" in snaps:
            put(snaps["best"])
        return LoopResult(best=float(state["best"]) if state["best"] is not None else float("nan"),
                          best_epoch=state["best_epoch"], epochs_run=state["epoch"],
                          stopped_early=state["stopped_early"], train_s=state["train_s"], valid_s=state["valid_s"],
                          tracked_best={k: dict(v) for k, v in state["tracked"].items()}, history=state["history"],
                          snapshots=snaps)

    def _stop(self, signal_name: str, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer],
              state: dict, snaps: dict[str, Weights], provenance: Mapping[str, Any], epoch: int,
              step: Optional[int]) -> None:
        """After a signal: write the checkpoint (mid-epoch when `step` is set) and raise TrainingInterrupted."""
        where = f"after step {step} of epoch {epoch}" if step is not None else f"after epoch {epoch}"
        path = self.config.checkpoint
        if path:
            save_checkpoint(path, self.kind, model, optimizers, state, snaps, provenance, self._weights,
                            self.config.write_checkpoint)
            what = f"checkpoint {path} holds every completed step: run again with resume to continue"
        else:
            what = "no checkpoint path was given, so the completed steps are not saved"
        raise TrainingInterrupted(f"training interrupted by {signal_name or 'a signal'} {where}; {what}",
                                  signal_name, path, epoch, step or 0)

    def _update(self, state: dict, snaps: dict[str, Weights], metrics: Mapping[str, float],
                monitor: str, mode: str, track: Mapping[str, str], epoch: int) -> None:
        for key, kmode in track.items():
            slot = state["tracked"][key]
            if _better(metrics[key], slot["value"], kmode):
                slot.update(value=float(metrics[key]), epoch=epoch)
                snaps[f"best_{key}"] = self._get()
        if _better(metrics[monitor], state["best"], mode):
            state.update(best=float(metrics[monitor]), best_epoch=epoch, bad_evals=0)
            snaps["best"] = self._get()
        else:
            state["bad_evals"] += 1
            state["stopped_early"] = state["bad_evals"] >= self.config.patience


def check_checkpoint_path(path: str | Path, kind: str) -> Path:
    """Before training: `path` can be written and holds nothing but (at most) a checkpoint of `kind`."""
    path = check_target(path, "checkpoint")
    if path.exists():
        try:
            found = read_header(path).get("kind")
        except ArtifactError:
            found = None
        if found != kind:
            what = (f"holds a {found!r}, not a {kind!r}" if str(found).endswith("_checkpoint")
                    else "exists and is not a recsys_hash checkpoint")
            raise ArtifactError(f"checkpoint {path} {what}: refusing to overwrite it (choose another path or "
                                "remove the file)")
    try:                                               # the folder may exist yet be read-only
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ArtifactError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from exc
    return path


def _shown(key: str, value: Any) -> str:
    """repr of `value` with sha256 fingerprints (fields named *sha256, at any depth) cut to 12 hex digits."""
    def short(k: str, v: Any) -> Any:
        if isinstance(v, dict):
            return {kk: short(str(kk), vv) for kk, vv in v.items()}
        return f"{v[:12]}..." if k.endswith("sha256") and isinstance(v, str) else v

    value = short(key, value)
    return value if key.endswith("sha256") and isinstance(value, str) else repr(value)


def check_provenance(path: str | Path, saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Raise ArtifactError naming every field whose saved and current values differ (both JSON-normalised):
    this run's fields in its order, then fields only the checkpoint has, fingerprints (*sha256) last."""
    now = jsonable(dict(current))
    keys = list(now) + [k for k in saved if k not in now]
    keys.sort(key=lambda k: k.endswith("sha256"))          # fingerprints last: names say more than hashes
    diff = [f"{k}={_shown(k, saved.get(k))}, not {_shown(k, now.get(k))}" for k in keys if saved.get(k) != now.get(k)]
    if diff:
        raise ArtifactError(f"checkpoint {path} was made with " + "; ".join(diff))


def save_checkpoint(path: str | Path, kind: str, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer],
                    state: Mapping[str, Any], snapshots: Mapping[str, Weights],
                    provenance: Mapping[str, Any],
                    weights: Optional[tuple[Callable[[], Weights], Callable[[Weights], None]]] = None,
                    write: bool = True) -> Path:
    """Weights, snapshots, every optimizer's state, loop state and provenance in one safetensors artifact.
    weights: (get, set) of whole weights (a sharded model: collective); write=False gathers the state without writing
    (ranks other than 0)."""
    current = weights[0]() if weights is not None else model.state_dict()
    arrays = {f"model.{k}": v.detach().cpu().numpy() for k, v in current.items()}
    for name, weights in snapshots.items():
        arrays.update({f"snap.{name}.{k}": v.detach().cpu().numpy() for k, v in weights.items()})
    groups = {}
    for oname, opt in optimizers.items():
        sd = opt.state_dict()
        groups[oname] = sd["param_groups"]
        for idx, pstate in sd["state"].items():
            for sname, value in pstate.items():
                arrays[f"opt.{oname}.{idx}.{sname}"] = torch.as_tensor(value).detach().cpu().numpy()
    rng = rng_state()
    arrays.update({f"rng.{k}": v for k, v in rng.pop("arrays").items()})
    meta = {"state": jsonable(dict(state)), "param_groups": jsonable(groups), "provenance": jsonable(dict(provenance)),
            "snapshots": sorted(snapshots), "rng": rng}
    return save_artifact(path, kind, arrays, meta) if write else Path(path)


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU, numpy's legacy generator, Python's) as arrays + JSON: what a resumed run
    needs to draw what the uninterrupted one would have drawn (dropout, samplers on the global generators)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {"arrays": {"torch": torch.get_rng_state().numpy(), "numpy": np.asarray(keys, dtype=np.uint32),
                       "python": np.asarray(internal, dtype=np.uint64)},
            "numpy": [name, int(pos), int(has_gauss), float(cached)], "python": [version, gauss]}


def set_rng_state(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Restore what `rng_state` saved (arrays keyed torch/numpy/python); a checkpoint without it changes nothing."""
    if not {"torch", "numpy", "python"} <= set(arrays) or not isinstance(meta, Mapping):
        return
    torch.set_rng_state(torch.from_numpy(np.ascontiguousarray(arrays["torch"], dtype=np.uint8)))
    name, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.asarray(arrays["numpy"], dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    version, gauss = meta["python"]
    random.setstate((int(version), tuple(int(v) for v in arrays["python"]), gauss))


def load_checkpoint(path: str | Path, kind: str, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer],
                    provenance: Mapping[str, Any],
                    weights_io: Optional[tuple[Callable[[], Weights], Callable[[Weights], None]]] = None,
                    ) -> tuple[dict[str, Any], dict[str, Weights]]:
    """Restore weights and optimizer states after checking provenance and shapes; returns (loop state, snapshots)."""
    arrays, meta = load_artifact(path, kind)
    if "snapshots" not in meta or not isinstance(meta.get("param_groups"), dict):
        raise ArtifactError(f"checkpoint {path} was written by an earlier trainer (before the shared training core) "
                            "and cannot be resumed: train again without resuming")
    check_provenance(path, meta.get("provenance", {}), provenance)
    expected = weights_io[0]() if weights_io is not None else model.state_dict()
    weights = {k[6:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("model.")}
    if set(weights) != set(expected) or any(weights[k].shape != expected[k].shape for k in expected):
        raise ArtifactError(f"checkpoint {path} does not match this model's parameters (other model, tables or dim?)")
    if set(meta["param_groups"]) != set(optimizers):
        raise ArtifactError(f"checkpoint {path} holds optimizers {sorted(meta['param_groups'])}, "
                            f"this run has {sorted(optimizers)}")
    (weights_io[1] if weights_io is not None else model.load_state_dict)(weights)
    snaps: dict[str, Weights] = {name: {} for name in meta.get("snapshots", [])}
    opt_state: dict[str, dict[int, dict]] = {name: {} for name in optimizers}
    for key, value in arrays.items():
        if key.startswith("snap."):
            _, name, rest = key.split(".", 2)
            snaps[name][rest] = torch.from_numpy(value.copy())
        elif key.startswith("opt."):
            _, oname, idx, sname = key.split(".", 3)
            opt_state[oname].setdefault(int(idx), {})[sname] = torch.from_numpy(value.copy())
    for oname, opt in optimizers.items():
        opt.load_state_dict({"state": opt_state[oname], "param_groups": meta["param_groups"][oname]})
    set_rng_state({k[4:]: v for k, v in arrays.items() if k.startswith("rng.")}, meta.get("rng"))
    return dict(meta["state"]), snaps
