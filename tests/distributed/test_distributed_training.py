"""`--distributed` training on 2 gloo CPU ranks trains what one process trains with the same global batch.

The equivalence checked: the same seeded shuffle cut into steps of 2 x 64 rows (one process: 128), each rank
training on its half, must give the loss history, validation metrics and final weights of a single unsharded process
(SGD on the tables — linear in the gradient, so only float summation order differs; AdamW on the dense layers).
The CTR model (MC-EBC, with the pooled-embedding L2 term) and DARE (two MC-ECs; also with its auxiliary
full-attention loss) go through `train_ctr` itself.
"""
import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from _mp import _free_port, run_ranks

pytestmark = pytest.mark.distributed
WORLD = 2
STEP = 128


def _ctr_case():
    from recsys_hash.data.ctr_sets import synthetic_ctr
    from recsys_hash.ids import create
    from recsys_hash.models.ctr import CTRModel

    data = synthetic_ctr(0, 2011)                         # 1,609 train rows: the last step (73) splits 37 / 36
    tables = {"user": create("double", num_rows=40, seed=1).fit(data.train.categorical["user"]),
              "item": create("universal", num_rows=60, seed=2).fit(data.train.categorical["item"]),
              "context": create("full").fit(np.arange(data.vocab["context"])),
              "device": create("full").fit(np.arange(data.vocab["device"]))}
    torch.manual_seed(0)
    return data, CTRModel("dlrm", tables, dim=8, hidden=16), dict(emb_l2=1e-3)


def _seq_case(aux_loss: bool = False):
    from recsys_hash.data.seq_sets import synthetic_seq_ctr
    from recsys_hash.models.seq_ctr import LongSeqCTR, SeqModelConfig
    from recsys_hash.models.train_seq import fit_seq_tables

    data = synthetic_seq_ctr(seed=0, n_users=200, max_len=30, n_items=200)
    tables = fit_seq_tables(data, "universal", 0.5, seed=0)
    torch.manual_seed(0)
    return data, LongSeqCTR(SeqModelConfig(module="dare", dim=8, k=5, aux_loss=aux_loss), tables), dict(emb_l2=0.0)


# seq_aux: DARE with the auxiliary full-attention head, whose BCE each rank adds to its part of the step
CASES = {"ctr": _ctr_case, "seq": _seq_case, "seq_aux": functools.partial(_seq_case, aux_loss=True)}


def _train(case, ctx):
    from recsys_hash.models.train_ctr import CTRTrainConfig, train_ctr

    data, model, extra = CASES[case]()
    world = 1 if ctx is None else ctx.world
    cfg = CTRTrainConfig(epochs=2, batch_size=STEP // world, emb_optimizer="sgd", emb_lr=0.5, lr=3e-3,
                         patience=5, eval_batch=256 // world, progress=False, **extra)
    res = train_ctr(model, data, cfg, seed=3, ctx=ctx)
    return res.history, model.state_dict()


def _ranks_train(rank, world):
    """One rank: join through `init_from_env` (it reuses the group the harness started), train both cases."""
    from recsys_hash.distributed import init_from_env

    ctx = init_from_env()
    assert (ctx.rank, ctx.world, ctx.backend) == (rank, world, "gloo")
    out = {}
    for case in CASES:
        history, weights = _train(case, ctx)
        out[f"{case}.history"] = history
        out.update({f"{case}.w.{k}": v for k, v in weights.items()})
    return out


@pytest.mark.timeout(300)
def test_two_ranks_train_what_one_process_trains(tmp_path):
    results = run_ranks(_ranks_train, tmp_path, WORLD)
    for case in CASES:
        history, weights = _train(case, None)
        assert len(history) == 2
        for rank, res in enumerate(results):
            for mine, ref in zip(res[f"{case}.history"], history):
                for key in ("loss", "valid_auc", "valid_logloss", "valid_gauc"):
                    assert mine[key] == pytest.approx(ref[key], rel=1e-5, abs=1e-6), (case, rank, key)
            sharded = {k[len(f"{case}.w."):]: v for k, v in res.items() if k.startswith(f"{case}.w.")}
            assert set(sharded) == set(weights)
            for key, value in weights.items():
                assert torch.allclose(sharded[key], value, rtol=1e-4, atol=1e-5), (case, rank, key)
        moved = sum(float((weights[k] - v).abs().sum()) for k, v in CASES[case]()[1].state_dict().items())
        assert moved > 0.1, f"{case}: training did not move the weights"


def _env():
    """This checkout's package first on the path of the child processes (they start in a temporary folder)."""
    import recsys_hash

    root = os.path.dirname(os.path.dirname(os.path.abspath(recsys_hash.__file__)))
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def _torchrun(n, args, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={n}", "--master-addr=127.0.0.1",
           f"--master-port={_free_port()}", "-m", "recsys_hash.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path, env=_env())


@pytest.mark.timeout(300)
def test_torchrun_train_ctr_prints_once_and_saves_an_auditable_model(tmp_path):
    out = tmp_path / "model"
    run = _torchrun(WORLD, ["train-ctr", "--distributed", "--sharding", "table_wise", "--epochs", "1", "--batch-size", "512", "--no-progress",
                            "--strategy", "double", "--budget", "0.5", "--save", str(out), "--json"], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, run.stdout                    # rank 0 alone prints
    result = json.loads(lines[0])
    assert result["distributed"]["world_size"] == WORLD and result["distributed"]["backend"] == "gloo"
    assert result["distributed"]["sharding"] == "table_wise"
    assert 0.7 < result["auc"] < 1.0 and result["epochs"] == 1
    audit = subprocess.run([sys.executable, "-m", "recsys_hash.cli", "audit-model", str(out), "--json"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_env())
    assert audit.returncode == 0, audit.stderr[-2000:]
    tables = json.loads(audit.stdout.splitlines()[-1])["tables"]
    assert {t["table"]: t["rows"] for t in tables} == result["rows_by_feature"]
    assert {t["table"]: t["strategy"] for t in tables}["user"] == "double"


@pytest.mark.timeout(300)
def test_torchrun_train_seq_with_adam_on_cpu_fails_on_every_rank_with_the_advice(tmp_path):
    run = _torchrun(WORLD, ["train-seq", "--dataset", "synthetic", "--distributed", "--json"], tmp_path)
    assert run.returncode != 0
    assert "fused adam kernel needs a GPU; use --emb-optimizer adagrad" in run.stdout


def _digests(rank, world):
    from recsys_hash.distributed import init_from_env
    from recsys_hash.distributed.context import check_same_on_ranks

    ctx = init_from_env()
    check_same_on_ranks(b"same" * 8, ctx, "model")
    try:
        check_same_on_ranks(bytes([rank]) * 32, ctx, "model")
        return {"message": "no error"}
    except ValueError as exc:
        return {"message": str(exc)}


@pytest.mark.timeout(120)
def test_ranks_that_built_different_models_all_stop(tmp_path):
    for res in run_ranks(_digests, tmp_path, WORLD):
        assert res["message"].startswith("ranks [1] built a different model than rank 0")


def _ranks_resume(rank, world, folder):
    """Train 2 epochs straight, and 1 epoch + a resumed 2nd from the checkpoint; return both results."""
    from recsys_hash.distributed import init_from_env
    from recsys_hash.models.train_ctr import CTRTrainConfig, train_ctr

    ctx = init_from_env()
    out = {}
    for tag, steps in (("straight", [(2, False)]), ("resumed", [(1, False), (2, True)])):
        path = os.path.join(folder, f"{tag}.safetensors")
        for epochs, resume in steps:
            data, model, extra = CASES["ctr"]()
            cfg = CTRTrainConfig(epochs=epochs, batch_size=STEP // world, emb_optimizer="adagrad", emb_lr=0.1,
                                 patience=5, eval_batch=256 // world, progress=False, checkpoint=path, resume=resume,
                                 **extra)
            res = train_ctr(model, data, cfg, seed=3, ctx=ctx)
        out[f"{tag}.history"] = res.history
        out.update({f"{tag}.w.{k}": v for k, v in model.state_dict().items()})
    out["files"] = sorted(os.listdir(folder))
    return out


@pytest.mark.timeout(300)
def test_distributed_checkpoint_resume_continues_exactly(tmp_path):
    """The checkpoint holds the gathered tables, the dense optimizer and the fused Adagrad state (per-row sums of
    squares, scattered back into the shards): epoch 2 after a resume equals epoch 2 of a straight run."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    results = run_ranks(functools.partial(_ranks_resume, folder=str(folder)), tmp_path, WORLD)
    for res in results:
        assert res["files"] == ["resumed.safetensors", "straight.safetensors"]   # rank 0 wrote, atomically
        assert res["resumed.history"] == res["straight.history"]
        keys = [k for k in res if k.startswith("straight.w.")]
        for k in keys:
            assert torch.equal(res[k], res["resumed.w." + k[len("straight.w."):]]), k
