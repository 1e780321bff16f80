"""A tiny CTR training run for test_interrupt.py: `train(...)` in-process, or as a subprocess

    python _interrupt_run.py interrupt CHECKPOINT OUT STOP_AT SIGNAL

which raises SIGNAL at its own process while the STOP_AT-th training step runs (a deterministic hook: when that
step's loss is computed) and writes OUT (JSON: every training-step loss it computed, in order) before the
exception propagates.
"""
import json
import os
import signal
import sys
import types
from typing import Optional

import numpy as np
import torch

from recsys_hash.data.ctr_sets import synthetic_ctr
from recsys_hash.ids import create
from recsys_hash.models import train_ctr as tc
from recsys_hash.models.ctr import CTRModel
from recsys_hash.models.trainer import seed_everything

EPOCHS, BATCH = 3, 256          # 1600 training rows: 7 steps per epoch, 21 in all


def train(checkpoint: str, resume: bool = False, stop_at: Optional[int] = None, signame: str = "SIGTERM",
          losses: Optional[list] = None) -> tuple[list, list, dict]:
    """Train 3 epochs -> (every step's loss, history, weights after each epoch run here + the final best ones).

    resume: continue from `checkpoint`, starting from other initial weights (everything must come back from it).
    The loss also draws from the global torch and numpy generators, as dropout or a sampler would: a resume must
    restore them to reproduce the uninterrupted run.
    """
    torch.set_num_threads(1)
    losses = [] if losses is None else losses
    data = synthetic_ctr(seed=0, n_rows=2000)
    tables = {f: create("universal", num_rows=max(2, data.vocab[f] // 2), seed=1).fit(data.column("train", f))
              for f in data.features}
    seed_everything(123 if resume else 0)
    model = CTRModel("dcn", tables, dim=4, n_dense=data.n_dense, hidden=8)
    bce = tc.F.binary_cross_entropy_with_logits

    def recording_bce(*args, **kwargs):
        loss = bce(*args, **kwargs) * (1 + 1e-3 * torch.rand(()) + 1e-3 * float(np.random.random()))
        losses.append(float(loss.detach()))
        if len(losses) == stop_at:
            os.kill(os.getpid(), getattr(signal, signame))   # arrives in the middle of step `stop_at`
        return loss

    weights: dict[str, torch.Tensor] = {}

    def on_epoch(epoch: int) -> None:
        weights.update({f"epoch{epoch}.{k}": v.detach().clone() for k, v in model.state_dict().items()})

    cfg = tc.CTRTrainConfig(epochs=EPOCHS, batch_size=BATCH, patience=5, progress=False, checkpoint=checkpoint,
                            resume=resume)
    saved_f, tc.F = tc.F, types.SimpleNamespace(binary_cross_entropy_with_logits=recording_bce)
    try:
        res = tc.train_ctr(model, data, cfg, seed=7, provenance={"test": "interrupt"}, on_epoch=on_epoch)
    finally:
        tc.F = saved_f
    weights.update({f"final.{k}": v.detach().clone() for k, v in model.state_dict().items()})
    return losses, res.history, weights


if __name__ == "__main__":
    _, mode, ckpt, out, stop, sig = sys.argv
    assert mode == "interrupt"
    seen: list = []
    try:
        train(ckpt, stop_at=int(stop), signame=sig, losses=seen)
    finally:
        with open(out, "w") as f:
            json.dump(seen, f)
