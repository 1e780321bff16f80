"""CTR training on the shared trainer core: learns the planted set, exact resume, provenance checks, bad input."""
import numpy as np
import pytest
import torch

from recsys_hash.artifacts import save_artifact
from recsys_hash.data.ctr_sets import CTRDataset, synthetic_ctr
from recsys_hash.data.types import CTRFrame
from recsys_hash.errors import ArtifactError
from recsys_hash.models.ctr import CTRModel
from recsys_hash.models.ctr_config import CTRConfig, FeatureSpec
from recsys_hash.models.train_ctr import CTRTrainConfig, run_ctr, train_ctr
from recsys_hash.models.trainer import LoopConfig, check_provenance, seed_everything

CFG = CTRConfig(dim=8, features={"user": FeatureSpec("graphhash", 0.5), "item": FeatureSpec("double_frequency", 0.5)})


@pytest.fixture(scope="module")
def data() -> CTRDataset:
    return synthetic_ctr(seed=0, n_rows=12_000)


def test_trains_well_above_chance_on_the_planted_set(data):
    res, model, tables = run_ctr(data, CFG, CTRTrainConfig(epochs=4, batch_size=512, progress=False), seed=0)
    assert res["auc"] >= 0.8, res["history"]
    assert res["rows"] == 50 + 75 + 8 + 4 and res["full_rows"] == 100 + 150 + 8 + 4
    assert res["strategies"] == {"user": "graphhash", "item": "double_frequency", "context": "full", "device": "full"}
    assert 1 <= res["logloss_epoch"] <= res["epochs"] and 1 <= res["best_epoch"] <= res["epochs"]
    assert 0 < res["gauc"] <= 1 and res["logloss"] < 0.69


def _model(tables, seed=0):
    seed_everything(seed)
    return CTRModel("dlrm", tables, dim=8)


def test_resume_gives_the_identical_next_epoch(data, tmp_path):
    _, _, tables = run_ctr(data, CFG, CTRTrainConfig(epochs=1, batch_size=1024, progress=False), seed=0)
    cfg = dict(batch_size=1024, patience=5, progress=False)
    straight = train_ctr(_model(tables), data, CTRTrainConfig(epochs=2, **cfg), seed=3)
    ckpt = str(tmp_path / "ctr.safetensors")
    first = train_ctr(_model(tables), data, CTRTrainConfig(epochs=1, checkpoint=ckpt, **cfg), seed=3)
    assert first.history[0] == straight.history[0]
    # a fresh model with other initial weights: everything must come from the checkpoint
    resumed = train_ctr(_model(tables, seed=99), data, CTRTrainConfig(epochs=2, checkpoint=ckpt, resume=True, **cfg),
                        seed=3)
    assert resumed.history[1]["loss"] == straight.history[1]["loss"]        # every step of epoch 2 identical
    assert resumed.history[1]["valid_auc"] == straight.history[1]["valid_auc"]
    with pytest.raises(ArtifactError, match=rf"^checkpoint {ckpt} was made with lr=0\.002, not 0\.003$"):
        train_ctr(_model(tables), data, CTRTrainConfig(epochs=3, checkpoint=ckpt, resume=True, lr=3e-3, **cfg), seed=3)
    # every differing field is named, in this run's order
    with pytest.raises(ArtifactError, match=rf"^checkpoint {ckpt} was made with batch_size=1024, not 512; "
                                            r"lr=0\.002, not 0\.003$"):
        train_ctr(_model(tables), data, CTRTrainConfig(epochs=3, checkpoint=ckpt, resume=True, lr=3e-3,
                                                       **{**cfg, "batch_size": 512}), seed=3)


def test_provenance_mismatch_names_the_field():
    saved = {"dataset": "frappe", "features": {"user": {"strategy": "graphhash"}}}
    check_provenance("c", saved, {"dataset": "frappe", "features": {"user": {"strategy": "graphhash"}}})
    with pytest.raises(ArtifactError, match=r"^checkpoint c was made with dataset='frappe', not 'ml-100k'$"):
        check_provenance("c", saved, {**saved, "dataset": "ml-100k"})
    with pytest.raises(ArtifactError, match=r"^checkpoint c was made with tables=None, not \{'user': 'x'\}$"):
        check_provenance("c", saved, {**saved, "tables": {"user": "x"}})


def test_provenance_mismatch_names_every_field_fingerprints_last_and_short():
    a, b = "a" * 64, "b" * 64
    saved = {"data_sha256": a, "seed": 0, "only_saved": 1, "tables": {"user": {"rows": 5, "sha256": a}}}
    now = {"data_sha256": b, "tables": {"user": {"rows": 6, "sha256": b}}, "seed": 1}
    with pytest.raises(ArtifactError, match=r"^checkpoint c was made with "
                                            r"tables=\{'user': \{'rows': 5, 'sha256': 'a{12}\.\.\.'\}\}, "
                                            r"not \{'user': \{'rows': 6, 'sha256': 'b{12}\.\.\.'\}\}; "
                                            r"seed=0, not 1; only_saved=1, not None; "
                                            r"data_sha256=a{12}\.\.\., not b{12}\.\.\.$"):
        check_provenance("c", saved, now)


def test_checkpoint_path_problems_are_found_before_training(data, tmp_path):
    _, _, tables = run_ctr(data, CFG, CTRTrainConfig(epochs=1, batch_size=1024, progress=False), seed=0)
    note = tmp_path / "notes.txt"
    note.write_text("keep me")
    retrieval = save_artifact(tmp_path / "r.safetensors", "retrieval_checkpoint", {"x": np.zeros(2)}, {})
    cases = [
        (note, f"checkpoint {note} exists and is not a recsys_hash checkpoint: refusing to overwrite it"),
        (retrieval, f"checkpoint {retrieval} holds a 'retrieval_checkpoint', not a 'ctr_checkpoint': refusing to "
                    "overwrite it"),
        (tmp_path, f"cannot write checkpoint {tmp_path}: it is a folder"),
        (tmp_path / "no" / "c.safetensors",
         f"cannot write checkpoint {tmp_path}/no/c.safetensors: folder {tmp_path}/no does not exist"),
    ]
    model = _model(tables)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for path, message in cases:
        with pytest.raises(ArtifactError, match=f"^{message}"):
            train_ctr(model, data, CTRTrainConfig(epochs=1, batch_size=1024, checkpoint=str(path), progress=False),
                      on_epoch=lambda e: pytest.fail("trained before checking the checkpoint path"))
    assert note.read_text() == "keep me"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="resume needs a checkpoint path to resume from"):
        LoopConfig(resume=True)


def _frame(labels, dense=None):
    n = len(labels)
    dense = np.zeros((n, 0), np.float32) if dense is None else np.asarray(dense, np.float32)
    return CTRFrame({"user": np.arange(n) % 2, "item": np.arange(n) % 3}, dense,
                    [f"d{i}" for i in range(dense.shape[1])], np.asarray(labels, np.float32))


@pytest.mark.parametrize("train,match", [
    (_frame([0, 1, 2]), r"toy/train: labels must be 0 or 1, got 2\.0 at row 2"),
    (_frame([0, 1, 1], [[0.0], [np.nan], [1.0]]), r"toy/train: dense feature 'd0' is nan at row 1"),
    (_frame([0, 1, 1], [[0.0], [1.0], [np.inf]]), r"dense feature 'd0' is inf at row 2"),
    (_frame([]), r"toy/train: the split is empty"),
])
def test_bad_data_fails_before_training(train, match):
    ok = _frame([0, 1, 1], None if train.dense.shape[1] == 0 else [[0.0]] * 3)
    with pytest.raises(ValueError, match=match):
        CTRDataset("toy", train, ok, ok, {"user": 2, "item": 3}, "user", "item", "toy")


def test_bad_training_settings():
    with pytest.raises(ValueError, match=r"train.emb_optimizer must be one of adagrad, adam, sgd, got 'rmsprop'"):
        CTRTrainConfig(emb_optimizer="rmsprop")
    with pytest.raises(ValueError, match=r"train.sharding must be one of row_wise, table_wise, got 'column_wise'"):
        CTRTrainConfig(sharding="column_wise")
    with pytest.raises(ValueError, match=r"train.lr must be > 0, got 0"):
        CTRTrainConfig(lr=0)
