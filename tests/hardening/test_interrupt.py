"""SIGINT/SIGTERM during training: the current step finishes, the checkpoint holds every completed step (mid-epoch
included, with the global RNG states), and a resume reproduces the uninterrupted run exactly."""
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import recsys_hash
from recsys_hash.artifacts import load_artifact
from recsys_hash.errors import TrainingInterrupted
from recsys_hash.models.trainer import LoopConfig, TrainLoop

from _interrupt_run import train

HERE = Path(__file__).parent
ROOT = Path(recsys_hash.__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Every test starts from Python's own SIGINT handler, as in an interactive or CI shell: a runner started in
    the background inherits SIGINT ignored, and a signal would then do nothing at all."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run: (losses of all 21 steps, history, weights)."""
    return train(str(tmp_path_factory.mktemp("straight") / "ckpt.safetensors"))


def _assert_same_as_straight(straight, done, resumed):
    s_losses, s_history, s_weights = straight
    r_losses, r_history, r_weights = resumed
    assert len(done) + len(r_losses) == len(s_losses) == 21      # no completed step lost, none repeated
    assert r_losses[0] == s_losses[len(done)]                     # the identical next-step loss
    assert done + r_losses == s_losses
    assert r_history == s_history
    for key, value in r_weights.items():                         # epochs trained after the resume, final weights
        assert torch.equal(value, s_weights[key]), key


def test_sigterm_mid_epoch_subprocess_resume_is_exact(straight, tmp_path):
    ckpt, out = tmp_path / "ckpt.safetensors", tmp_path / "losses.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    proc = subprocess.run([sys.executable, str(HERE / "_interrupt_run.py"), "interrupt", str(ckpt), str(out), "10",
                           "SIGTERM"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert (f"recsys_hash.errors.TrainingInterrupted: training interrupted by SIGTERM after step 3 of epoch 2; "
            f"checkpoint {ckpt} holds every completed step: run again with resume to continue") in proc.stderr
    done = json.loads(out.read_text())
    assert len(done) == 10                               # the signalled step finished; no further step started
    _, meta = load_artifact(ckpt, "ctr_checkpoint")
    assert meta["state"]["epoch"] == 1
    assert meta["state"]["partial"]["epoch"] == 2 and meta["state"]["partial"]["step"] == 3
    assert not list(tmp_path.glob(".ckpt.safetensors.*"))        # no temp file left behind
    _assert_same_as_straight(straight, done, train(str(ckpt), resume=True))


def test_sigint_after_the_last_step_of_an_epoch_in_process(straight, tmp_path):
    ckpt = str(tmp_path / "ckpt.safetensors")
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    done: list = []
    with pytest.raises(TrainingInterrupted, match=r"^training interrupted by SIGINT after step 7 of epoch 1; "
                                                  rf"checkpoint {ckpt} holds every completed step") as info:
        train(ckpt, stop_at=7, signame="SIGINT", losses=done)
    assert (info.value.signal_name, info.value.epoch, info.value.step) == ("SIGINT", 1, 7)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before   # handlers restored
    assert len(done) == 7
    _assert_same_as_straight(straight, done, train(ckpt, resume=True))


# ---------------------------------------------------------------- the loop itself, on a one-weight model
def _loop(tmp_path, checkpoint=True, epochs=2):
    return TrainLoop(LoopConfig(epochs=epochs, patience=5, progress=False,
                                checkpoint=str(tmp_path / "c.safetensors") if checkpoint else None), "toy_checkpoint")


def _toy():
    torch.manual_seed(0)
    model = nn.Linear(1, 1, bias=False)
    return model, {"sgd": torch.optim.SGD(model.parameters(), lr=0.1)}


def _epoch_fn(model, opt, calls, signal_at=None, use_skip=True, sig=signal.SIGTERM):
    def train_epoch(epoch, advance):
        batches = range(4)
        for b in (advance.skip(batches) if use_skip else batches):
            loss = (model.weight.sum() - b) ** 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            calls.append((epoch, b))
            if (epoch, b) == signal_at:
                os.kill(os.getpid(), sig)
            advance(1, loss=float(loss.detach()))
        return {"loss": advance.sums["loss"] / 4}
    return train_epoch


def test_signal_during_validation_stops_after_the_epoch(tmp_path):
    model, opts = _toy()
    loop = _loop(tmp_path)

    def validate():
        os.kill(os.getpid(), signal.SIGTERM)
        return {"m": 1.0}

    with pytest.raises(TrainingInterrupted, match=r"^training interrupted by SIGTERM after epoch 1; checkpoint"):
        loop.run(model, opts, _epoch_fn(model, opts["sgd"], []), validate, monitor="m")
    _, meta = load_artifact(tmp_path / "c.safetensors", "toy_checkpoint")
    assert meta["state"]["epoch"] == 1 and meta["state"]["partial"] is None


def test_without_checkpoint_the_message_says_nothing_was_saved(tmp_path):
    model, opts = _toy()
    calls = []
    with pytest.raises(TrainingInterrupted, match=r"^training interrupted by SIGTERM after step 2 of epoch 1; no "
                                                  r"checkpoint path was given, so the completed steps are not saved$"):
        _loop(tmp_path, checkpoint=False).run(model, opts, _epoch_fn(model, opts["sgd"], calls, (1, 1)), None, "m")
    assert calls == [(1, 0), (1, 1)]
    assert not (tmp_path / "c.safetensors").exists()


def test_resume_skips_exactly_the_completed_steps_and_keeps_the_loss_sums(tmp_path):
    model, opts = _toy()
    calls: list = []
    with pytest.raises(TrainingInterrupted):
        _loop(tmp_path).run(model, opts, _epoch_fn(model, opts["sgd"], calls, (2, 0)), None, "m")
    assert calls == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0)]
    model2, opts2 = _toy()
    loop = TrainLoop(LoopConfig(epochs=2, progress=False, checkpoint=str(tmp_path / "c.safetensors"), resume=True),
                     "toy_checkpoint")
    res = loop.run(model2, opts2, _epoch_fn(model2, opts2["sgd"], calls), None, "m")
    assert calls[5:] == [(2, 1), (2, 2), (2, 3)]
    ref_model, ref_opts = _toy()
    (tmp_path / "ref").mkdir()
    ref = _loop(tmp_path / "ref").run(ref_model, ref_opts, _epoch_fn(ref_model, ref_opts["sgd"], []), None, "m")
    assert res.history == ref.history and torch.equal(model2.weight, ref_model.weight)


def test_a_train_epoch_that_does_not_skip_is_refused_on_a_mid_epoch_resume(tmp_path):
    model, opts = _toy()
    with pytest.raises(TrainingInterrupted):
        _loop(tmp_path).run(model, opts, _epoch_fn(model, opts["sgd"], [], (1, 1)), None, "m")
    loop = TrainLoop(LoopConfig(epochs=2, progress=False, checkpoint=str(tmp_path / "c.safetensors"), resume=True),
                     "toy_checkpoint")
    with pytest.raises(RuntimeError, match="resumed mid-epoch without advance.skip"):
        loop.run(model, opts, _epoch_fn(model, opts["sgd"], [], use_skip=False), None, "m")


def test_a_second_signal_aborts_at_once(tmp_path):
    model, opts = _toy()

    def train_epoch(epoch, advance):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("not reached")

    with pytest.raises(KeyboardInterrupt, match="second SIGINT while stopping: training aborted"):
        _loop(tmp_path).run(model, opts, train_epoch, None, "m")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    model, opts = _toy()
    np.random.seed(5)
    random.seed(5)
    with pytest.raises(TrainingInterrupted):
        _loop(tmp_path).run(model, opts, _epoch_fn(model, opts["sgd"], [], (1, 0)), None, "m")
    expected = torch.rand(3), np.random.random(3), random.random()      # the draws right after the checkpoint
    loop = TrainLoop(LoopConfig(epochs=1, progress=False, checkpoint=str(tmp_path / "c.safetensors"), resume=True),
                     "toy_checkpoint")
    got = []
    model2, opts2 = _toy()

    def first_step_draws(epoch, advance):
        got.extend([torch.rand(3), np.random.random(3), random.random()])
        for _ in advance.skip(range(4)):
            advance(1, loss=0.0)
        return {"loss": 0.0}

    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    loop.run(model2, opts2, first_step_draws, None, "m")
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_cli_guard_reports_the_interruption_and_exits_128_plus_the_signal(name, code, capsys):
    import typer

    from recsys_hash.commands._output import guard

    def run():
        raise TrainingInterrupted(f"training interrupted by {name} after epoch 1; checkpoint c holds ...", name)

    with pytest.raises(typer.Exit) as info:
        guard(run, as_json=True, dataset="x")
    assert info.value.exit_code == code
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == {"dataset": "x", "error": f"training interrupted by {name} after epoch 1; checkpoint c holds ...",
                    "error_type": "TrainingInterrupted"}


def test_with_catch_signals_off_a_signal_acts_as_usual(tmp_path):
    """Distributed runs turn it off: ranks stopping at different steps would wait on each other."""
    model, opts = _toy()
    calls = []
    loop = TrainLoop(LoopConfig(epochs=1, progress=False, catch_signals=False), "toy_checkpoint")
    with pytest.raises(KeyboardInterrupt) as info:
        loop.run(model, opts, _epoch_fn(model, opts["sgd"], calls, signal_at=(1, 0), sig=signal.SIGINT), None, "m")
    assert type(info.value) is KeyboardInterrupt and calls == [(1, 0)]     # stopped inside step 1, nothing saved
