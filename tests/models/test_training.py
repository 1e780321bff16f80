"""BPR training: learns planted structure, is seeded, early-stops by evaluations, resumes from checkpoints."""
import numpy as np
import pytest
import torch

from recsys_hash.artifacts import save_artifact
from recsys_hash.errors import ArtifactError
from recsys_hash.ids import IdRemapper, create
from recsys_hash.eval.ranking import embedding_scorer, evaluate_ranking, popularity_scorer
from conftest import planted_dataset
from recsys_hash.models import TrainConfig, build_model, carve_validation, fit_strategy, train_bpr


def _setup(planted, strategy="full", model="mf", budget=1.0, seed=0):
    fit, valid = carve_validation(planted.train, 0.2, seed=seed)
    rem = fit_strategy(strategy, fit, budget, seed)
    return fit, valid, build_model(model, rem, fit, dim=16, layers=2, seed=seed)


def _test_recall(net, planted):
    with torch.no_grad():
        u, i = net.final_embeddings()
    return evaluate_ranking(embedding_scorer(u, i), planted.train, planted.test, ks=[10]).metrics["recall@10"]


@pytest.mark.parametrize("kind", ["mf", "lightgcn"])
def test_training_beats_popularity_on_planted_groups(planted, kind):
    fit, valid, net = _setup(planted, model=kind)
    res = train_bpr(net, fit, valid, TrainConfig(epochs=30, batch_size=256, lr=0.02, reg=0.0, progress=False,
                                                   patience=30))
    pop = evaluate_ranking(popularity_scorer(planted.train), planted.train, planted.test, ks=[10]).metrics
    # a random ranking of 80 items gets about 10/70 ~ 0.14; planted groups of 20 items allow ~0.5
    assert _test_recall(net, planted) > max(0.35, pop["recall@10"] + 0.15)
    assert res.best_valid > 0.2 and 1 <= res.best_epoch <= res.epochs_run


def test_multirow_strategy_trains():
    # 600 users share 300 rows: each item row is seen by many users, so hashed tables can still learn groups
    data = planted_dataset(n_users=600, n_items=80)
    fit, valid = carve_validation(data.train, 0.2, seed=0)
    net = build_model("mf", fit_strategy("double", fit, 0.5, 0), fit, dim=16, seed=0)
    train_bpr(net, fit, valid, TrainConfig(epochs=12, batch_size=512, lr=0.02, reg=0.0, progress=False, patience=12))
    assert net.emb.rows_per_id == {"user": 2, "item": 2}
    assert net.emb.table_rows == {"user": 300, "item": 40}
    # a random ranking gets ~10/70 = 0.14; seeds 0-5 of the strategy give 0.16-0.20 (seed 0: 0.177)
    assert _test_recall(net, data) > 0.16


def test_same_seed_same_weights(planted):
    cfg = TrainConfig(epochs=3, batch_size=128, progress=False)
    weights = []
    for _ in range(2):
        fit, valid, net = _setup(planted, seed=4)
        train_bpr(net, fit, valid, TrainConfig(**{**cfg.__dict__, "seed": 4}))
        weights.append({k: v.clone() for k, v in net.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_early_stopping_counts_evaluations(planted):
    fit, valid, net = _setup(planted)
    # a huge learning rate makes validation recall stall quickly
    res = train_bpr(net, fit, valid, TrainConfig(epochs=60, batch_size=512, lr=0.5, reg=0.0, eval_every=2,
                                                   patience=2, progress=False))
    assert res.stopped_early
    assert res.epochs_run == res.best_epoch + 2 * 2
    assert [h["epoch"] for h in res.history] == list(range(2, res.epochs_run + 1, 2))
    assert max(h["valid_recall"] for h in res.history) == res.best_valid


def test_checkpoint_resume_equals_uninterrupted(planted, tmp_path):
    base = dict(batch_size=128, lr=0.01, progress=False, patience=100, seed=1)
    fit, valid, straight = _setup(planted, seed=1)
    ref = train_bpr(straight, fit, valid, TrainConfig(epochs=4, **base))
    ckpt = tmp_path / "ckpt.safetensors"
    _, _, first = _setup(planted, seed=1)
    train_bpr(first, fit, valid, TrainConfig(epochs=2, checkpoint=str(ckpt), **base))
    _, _, resumed = _setup(planted, seed=7)          # other init: everything must come from the checkpoint
    res = train_bpr(resumed, fit, valid, TrainConfig(epochs=4, checkpoint=str(ckpt), resume=True, **base))
    assert res.epochs_run == 4 and res.best_epoch == ref.best_epoch and res.best_valid == ref.best_valid
    assert [h["valid_recall"] for h in res.history] == [h["valid_recall"] for h in ref.history]
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_checkpoint_mismatch_is_rejected(planted, tmp_path):
    ckpt = tmp_path / "c.safetensors"
    fit, valid, net = _setup(planted)
    train_bpr(net, fit, valid, TrainConfig(epochs=1, batch_size=256, checkpoint=str(ckpt), progress=False))
    _, _, other = _setup(planted, strategy="modulo", budget=0.5)
    with pytest.raises(ArtifactError, match=r"was made with id_rows_sha256=[0-9a-f]{12}\.\.\., not"):
        train_bpr(other, fit, valid, TrainConfig(epochs=2, batch_size=256, checkpoint=str(ckpt), resume=True,
                                                 progress=False))
    with pytest.raises(ArtifactError, match="was made with lr=0.005, not 0.1"):
        train_bpr(net, fit, valid, TrainConfig(epochs=2, batch_size=256, lr=0.1, checkpoint=str(ckpt), resume=True,
                                               progress=False))


def test_bad_training_input(planted):
    fit, valid, net = _setup(planted)
    with pytest.raises(ValueError, match="validation set 'empty' is empty"):
        train_bpr(net, fit, valid.subset(np.zeros(len(valid), dtype=bool), name="empty"), TrainConfig(progress=False))
    with pytest.raises(ValueError, match=r"TrainConfig.batch_size must be >= 1, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"TrainConfig.lr must be > 0"):
        TrainConfig(lr=0.0)


def test_resume_refuses_same_shaped_tables_with_other_rows(planted, tmp_path):
    # modulo and universal at one budget give tables of one shape: only which ID uses which row differs
    ckpt = tmp_path / "c.safetensors"
    fit, valid, net = _setup(planted, strategy="modulo", budget=0.5)
    train_bpr(net, fit, valid, TrainConfig(epochs=1, batch_size=256, checkpoint=str(ckpt), progress=False))
    _, _, other = _setup(planted, strategy="universal", budget=0.5)
    with pytest.raises(ArtifactError, match=rf"^checkpoint {ckpt} was made with id_rows_sha256=[0-9a-f]{{12}}\.\.\., "
                                            r"not [0-9a-f]{12}\.\.\.$"):
        train_bpr(other, fit, valid, TrainConfig(epochs=2, batch_size=256, checkpoint=str(ckpt), resume=True,
                                                 progress=False))
    smaller = fit.subset(np.arange(len(fit)) >= 3, name=fit.name)
    with pytest.raises(ArtifactError, match=rf"was made with n_train={len(fit)}, not {len(fit) - 3}; "
                                            r"train_sha256=[0-9a-f]{12}\.\.\., not [0-9a-f]{12}\.\.\.$"):
        train_bpr(net, smaller, valid, TrainConfig(epochs=2, batch_size=256, checkpoint=str(ckpt), resume=True,
                                                   progress=False))


def test_checkpoint_path_problems_are_found_before_training(planted, tmp_path):
    fit, valid, net = _setup(planted)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    note = tmp_path / "notes.txt"
    note.write_text("keep me")
    remapper = create("modulo", num_rows=5).fit(np.arange(9)).save(tmp_path / "r.safetensors")
    ctr = save_artifact(tmp_path / "ctr.safetensors", "ctr_checkpoint", {"x": np.zeros(2)}, {})
    cases = [
        (note / "c.safetensors", f"cannot write checkpoint {note}/c.safetensors: {note} is not a folder"),
        (tmp_path / "no" / "c.safetensors",
         f"cannot write checkpoint {tmp_path}/no/c.safetensors: folder {tmp_path}/no does not exist"),
        (tmp_path, f"cannot write checkpoint {tmp_path}: it is a folder"),
        (note, f"checkpoint {note} exists and is not a recsys_hash checkpoint: refusing to overwrite it"),
        (remapper, f"checkpoint {remapper} exists and is not a recsys_hash checkpoint: refusing to overwrite it"),
        (ctr, f"checkpoint {ctr} holds a 'ctr_checkpoint', not a 'retrieval_checkpoint': refusing to overwrite it"),
    ]
    for path, message in cases:
        with pytest.raises(ArtifactError, match=f"^{message}"):
            train_bpr(net, fit, valid, TrainConfig(epochs=1, batch_size=256, checkpoint=str(path), progress=False))
    assert note.read_text() == "keep me" and IdRemapper.load(remapper).num_rows_ == 5
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # an existing checkpoint may be overwritten by a fresh run
    ckpt = tmp_path / "c.safetensors"
    for _ in range(2):
        train_bpr(net, fit, valid, TrainConfig(epochs=1, batch_size=256, checkpoint=str(ckpt), progress=False))
    with pytest.raises(ValueError, match="TrainConfig.resume needs a checkpoint path"):
        TrainConfig(resume=True)


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_from_its_last_epoch_evaluated_or_not(planted, tmp_path):
    base = dict(batch_size=128, lr=0.01, progress=False, patience=100, seed=2, eval_every=2)
    fit, valid, straight = _setup(planted, seed=2)
    ref = train_bpr(straight, fit, valid, TrainConfig(epochs=4, **base))
    ckpt = tmp_path / "ckpt.safetensors"

    def stop(epoch):
        raise Interrupt(epoch)

    _, _, first = _setup(planted, seed=2)
    with pytest.raises(Interrupt):                    # killed after epoch 1, which was not evaluated
        train_bpr(first, fit, valid, TrainConfig(epochs=4, checkpoint=str(ckpt), **base), on_epoch=stop)
    assert ckpt.is_file()
    _, _, resumed = _setup(planted, seed=8)
    res = train_bpr(resumed, fit, valid, TrainConfig(epochs=4, checkpoint=str(ckpt), resume=True, **base))
    assert res.history == ref.history and res.best_epoch == ref.best_epoch
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_checkpoint_of_the_earlier_layout_is_refused_with_a_message(planted, tmp_path):
    # the layout train_bpr wrote before the shared trainer core: best.* weights, one optimizer, settings in "config"
    fit, valid, net = _setup(planted)
    old = tmp_path / "old.safetensors"
    save_artifact(old, "retrieval_checkpoint", {f"model.{k}": v.numpy() for k, v in net.state_dict().items()},
                  {"state": {"epoch": 1}, "param_groups": [{"lr": 0.005}], "config": {"lr": 0.005}, "provenance": {}})
    with pytest.raises(ArtifactError, match=rf"^checkpoint {old} was written by an earlier trainer \(before the "
                                            r"shared training core\) and cannot be resumed: train again"):
        train_bpr(net, fit, valid, TrainConfig(epochs=2, batch_size=256, checkpoint=str(old), resume=True,
                                               progress=False))



def test_without_validation_trains_exactly_the_epochs_and_keeps_the_last_weights(planted):
    """valid=None (the final retrain on all training pairs): `epochs` epochs, no evaluation, the last weights kept
    — the same weights as a run that validates once, after its last epoch."""
    fit, valid, net = _setup(planted)
    cfg = TrainConfig(epochs=3, batch_size=256, lr=0.02, progress=False)
    res = train_bpr(net, fit, None, cfg)
    assert res.epochs_run == 3 and res.valid_eval_s == 0.0 and [h["epoch"] for h in res.history] == [1, 2, 3]
    assert all(set(h) == {"epoch", "loss"} for h in res.history)
    _, _, ref = _setup(planted)
    train_bpr(ref, fit, valid, TrainConfig(epochs=3, batch_size=256, lr=0.02, progress=False, eval_every=3))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), ref.state_dict().values()))
