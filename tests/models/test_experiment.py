"""run_recall: the split protocol, tuning grid, JSON keys, popularity floor."""
from dataclasses import replace

import numpy as np
import pytest
from conftest import planted_dataset

from recsys_hash.data.types import InteractionDataset
from recsys_hash.errors import ArtifactError
from recsys_hash.models import TrainConfig, make_split, run_recall

KEYS = {"recall@20", "ndcg@20", "rows_user", "rows_item", "full_rows", "params", "train_s", "eval_s"}


def test_make_split_carves_or_uses_validation(planted):
    s = make_split(planted, 0.25, seed=3)
    assert "carved: 25%" in s.valid_source and s.known is planted.train
    assert len(s.fit) + len(s.valid) == len(planted.train)
    with_valid = InteractionDataset("v", planted.train, planted.test, valid=s.valid)
    s2 = make_split(with_valid)
    assert s2.valid_source == "dataset validation split" and len(s2.known) == len(planted.train) + len(s.valid)


def test_run_recall_tunes_and_reports(planted):
    cfg = TrainConfig(epochs=6, batch_size=256, progress=False)
    out = run_recall(planted, model="mf", strategy="modulo", budget=0.25, seed=1, dim=8, ks="5,20",
                     lrs=(1e-3, 2e-2), regs=(0.0,), config=cfg)
    assert KEYS <= set(out) and {"recall@5", "ndcg@5"} <= set(out)
    assert out["rows_user"] == 30 and out["rows_item"] == 20 and out["full_rows"] == 200
    assert out["params"] == (30 + 20) * 8
    assert len(out["trials"]) == 2
    best = max(out["trials"], key=lambda t: t["valid_recall@20"])
    assert out["lr"] == best["lr"] and out["valid_recall"] == best["valid_recall@20"]


def test_full_strategy_uses_every_row_and_beats_popular(planted):
    cfg = TrainConfig(epochs=25, batch_size=256, progress=False, patience=25)
    full = run_recall(planted, strategy="full", dim=16, ks=[10], lrs=(0.02,), regs=(0.0,), config=cfg)
    pop = run_recall(planted, model="popular", ks=[10])
    assert full["rows_user"] == planted.n_users and full["rows_item"] == planted.n_items
    assert pop["params"] == 0 and KEYS <= set(pop)
    assert full["recall@10"] > pop["recall@10"] + 0.1


def test_run_recall_bad_model(planted):
    with pytest.raises(ValueError, match="model must be one of"):
        run_recall(planted, model="neumf")
    with pytest.raises(ValueError, match=r"user budget fraction must be in \(0, 1\], got 1.5"):
        run_recall(planted, strategy="modulo", budget=1.5, config=TrainConfig(epochs=1, progress=False))


@pytest.mark.parametrize("strategy", ["full", "modulo", "graphhash"])
def test_cold_users_and_unseen_items_are_evaluated(planted, strategy):
    # user 0 and item 1 never occur in training but do in test: defined behaviour is to rank them anyway
    tr = planted.train.subset((planted.train.user != 0) & (planted.train.item != 1), name="tr")
    extra = np.array([[0, 5], [3, 1]])
    te_u = np.concatenate([planted.test.user, extra[:, 0]])
    te_i = np.concatenate([planted.test.item, extra[:, 1]])
    from recsys_hash.data.types import Interactions

    te = Interactions(te_u, te_i, planted.n_users, planted.n_items, name="te")
    data = InteractionDataset("cold", tr, te)
    out = run_recall(data, strategy=strategy, budget=1.0 if strategy == "full" else 0.5, dim=8, ks=[10],
                     config=TrainConfig(epochs=2, batch_size=256, progress=False))
    assert out["n_cold_users"] == 1 and out["n_unseen_test_items"] == 1
    assert out["n_users_evaluated"] == len(np.unique(te_u))


def test_tuning_grid_checkpoints_one_file_per_grid_point(planted, tmp_path):
    ckpt = tmp_path / "run.safetensors"
    cfg = TrainConfig(epochs=2, batch_size=256, progress=False, checkpoint=str(ckpt))
    first = run_recall(planted, strategy="modulo", budget=0.5, dim=4, lrs=(0.01, 0.02), regs=(0.0,), config=cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.lr0.01-reg0.safetensors", "run.lr0.02-reg0.safetensors"]
    again = run_recall(planted, strategy="modulo", budget=0.5, dim=4, lrs=(0.01, 0.02), regs=(0.0,),
                       config=replace(cfg, resume=True))
    assert again["recall@20"] == first["recall@20"] and again["trials"][0]["best_epoch"] == first["trials"][0]["best_epoch"]


def test_resume_refuses_another_strategy_dataset_or_budget(planted, tmp_path):
    ckpt = tmp_path / "run.safetensors"
    cfg = TrainConfig(epochs=1, batch_size=256, progress=False, checkpoint=str(ckpt))
    run_recall(planted, strategy="modulo", budget=0.5, dim=4, config=cfg)
    again = replace(cfg, epochs=2, resume=True)
    with pytest.raises(ArtifactError, match=rf"^checkpoint {ckpt} was made with strategy='modulo', not 'universal'; "
                                            r"user_remapper_sha256=[0-9a-f]{12}\.\.\., not"):
        run_recall(planted, strategy="universal", budget=0.5, dim=4, config=again)
    with pytest.raises(ArtifactError, match=rf"^checkpoint {ckpt} was made with budget=0.5, not 0.25"):
        run_recall(planted, strategy="modulo", budget=0.25, dim=4, config=again)
    with pytest.raises(ArtifactError, match=r"strategy='modulo', not 'qr'; strategy_params=\{\}, "
                                            r"not \{'combiner': 'product'\}; "):
        run_recall(planted, strategy="qr", budget=0.5, dim=4, config=again, strategy_params={"combiner": "product"})
    fewer_users = planted_dataset(n_users=100)
    with pytest.raises(ArtifactError, match=r"n_users=120, not 100; .*n_train=\d+, not \d+"):
        run_recall(fewer_users, strategy="modulo", budget=0.5, dim=4, config=again)
    renamed = InteractionDataset("other", planted.train, planted.test)
    with pytest.raises(ArtifactError, match=rf"^checkpoint {ckpt} was made with dataset='planted', not 'other'$"):
        run_recall(renamed, strategy="modulo", budget=0.5, dim=4, config=again)
    resumed = run_recall(planted, strategy="modulo", budget=0.5, dim=4, config=again)
    assert resumed["epochs_run"] == 2


def test_bad_checkpoint_path_is_refused_before_fitting(planted, tmp_path, monkeypatch):
    import recsys_hash.models.experiment as experiment

    monkeypatch.setattr(experiment, "fit_strategy", lambda *a, **k: pytest.fail("fitted before checking the path"))
    taken = tmp_path / "run.lr0.02-reg0.safetensors"
    taken.write_text("not a checkpoint")
    cfg = TrainConfig(epochs=1, progress=False, checkpoint=str(tmp_path / "run.safetensors"))
    with pytest.raises(ArtifactError, match=f"^checkpoint {taken} exists and is not a recsys_hash checkpoint"):
        run_recall(planted, strategy="modulo", budget=0.5, lrs=(0.01, 0.02), regs=(0.0,), config=cfg)
    cfg = TrainConfig(epochs=1, progress=False, checkpoint=str(taken / "c.safetensors"))
    with pytest.raises(ArtifactError, match=f"^cannot write checkpoint {taken}/c.safetensors: {taken} is not a folder"):
        run_recall(planted, strategy="graphhash", budget=0.5, config=cfg)
    assert taken.read_text() == "not a checkpoint"


def test_popular_refuses_settings_it_would_ignore(planted, tmp_path):
    with pytest.raises(ValueError, match=r"^model 'popular' ranks items by training popularity and has no ID tables: "
                                         r"strategy='graphhash', budget=0.1 would be ignored"):
        run_recall(planted, model="popular", strategy="graphhash", budget=0.1)
    with pytest.raises(ValueError, match=r"strategy_params=\{'oov': 'hash'\} would be ignored"):
        run_recall(planted, model="popular", strategy_params={"oov": "hash"})
    with pytest.raises(ValueError, match=r"checkpoint='.*c.safetensors' would be ignored"):
        run_recall(planted, model="popular", config=TrainConfig(checkpoint=str(tmp_path / "c.safetensors")))


def test_final_model_retrained_on_the_whole_training_set(planted):
    cfg = TrainConfig(epochs=6, batch_size=256, progress=False, patience=6)
    epochs: list[int] = []
    out = run_recall(planted, model="mf", strategy="graphhash", budget=0.25, seed=0, dim=8, lrs=(2e-2,),
                     regs=(0.0,), config=cfg, on_epoch=epochs.append)
    assert out["retrained"] and "final model retrained on all training pairs" in out["valid_source"]
    # the grid point ran its epochs on the carved 90%, then the final run exactly best_epoch epochs
    assert epochs == list(range(1, out["epochs_run"] + 1)) + list(range(1, out["best_epoch"] + 1))
    assert set(out["carved"]) == {"valid_recall@20", "test_recall@20", "test_ndcg@20"}
    assert out["carved"]["valid_recall@20"] == out["valid_recall"] and out["final_train_s"] > 0
    # the final remapper is fitted on all training pairs; the tuning one on the carved part
    assert out["clustering"]["user"]["auto"] and out["tuning_clustering"]["user"]["auto"]
    tuned = run_recall(planted, model="mf", strategy="graphhash", budget=0.25, seed=0, dim=8, lrs=(2e-2,),
                       regs=(0.0,), config=cfg, retrain=False)
    assert not tuned["retrained"] and tuned["recall@20"] == tuned["carved"]["test_recall@20"]
    assert tuned["carved"] == out["carved"]


def test_dataset_validation_split_is_not_retrained(planted):
    s = make_split(planted, 0.25, seed=3)
    with_valid = InteractionDataset("v", s.fit, planted.test, valid=s.valid)
    cfg = TrainConfig(epochs=2, batch_size=256, progress=False)
    out = run_recall(with_valid, strategy="modulo", budget=0.5, dim=8, lrs=(1e-2,), regs=(0.0,), config=cfg)
    assert not out["retrained"] and out["recall@20"] == out["carved"]["test_recall@20"]


def test_automatic_choice_never_reads_the_test_split(planted):
    rng = np.random.default_rng(0)
    t = planted.test
    poisoned = InteractionDataset("planted", planted.train, type(t)(t.user, rng.integers(0, t.n_items, len(t)),
                                                                     t.n_users, t.n_items, name="poisoned"))
    cfg = TrainConfig(epochs=1, batch_size=256, progress=False)
    runs = [run_recall(d, strategy="graphhash", budget=0.3, dim=4, lrs=(1e-2,), regs=(0.0,), config=cfg)
            for d in (planted, poisoned)]
    assert runs[0]["recall@20"] != runs[1]["recall@20"]              # the test split did change
    for key in ("clustering", "tuning_clustering"):
        assert runs[0][key] == runs[1][key]
