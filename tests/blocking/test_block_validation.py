"""NLSH best-epoch selection: validation PC@1..10 per epoch on matches held out of training, the best epoch's
weights restored, patience, weight decay, and the blocker's refit on the whole train split with the chosen count."""
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
import torch

from recsys_hash.blocking.baselines import tfidf_vectorizer
from recsys_hash.blocking.blocker import make_blocker
from recsys_hash.blocking.encoders import make_encoder
from recsys_hash.blocking.index import exact_topk
from recsys_hash.blocking.train import TrainConfig, positive_rows, train_nlsh
from recsys_hash.data.synthetic_er import planted_er_pairs


@pytest.fixture(scope="module")
def er():
    tables, _ = planted_er_pairs(n_entities=150, n_b_only=30, typo_rate=0.3, abbrev_rate=0.3, seed=3)
    return tables


@pytest.fixture(scope="module")
def parts(er):
    b = make_blocker("tfidf")
    ta, tb = b.texts(er.table_a, "tableA"), b.texts(er.table_b, "tableB")
    pos_a, pos_b = positive_rows(er.train, er.table_a["id"].to_numpy(), er.table_b["id"].to_numpy())
    held = np.random.default_rng(0).random(pos_a.size) < 0.3
    return ta, tb, tfidf_vectorizer().fit(ta + tb), pos_a, pos_b, held


def encoder(vec):
    # per-n-gram weights alone: the curves below (lr 1.0 over-fits and peaks early) are this mode's
    return make_encoder("charngram", vec, dim=32, seed=0, learn="weights")


CFG = TrainConfig(epochs=5, lr=0.2, progress=False, patience=None)


def test_validation_curve_picks_the_best_epoch_and_restores_its_weights(parts):
    ta, tb, vec, pos_a, pos_b, held = parts
    val = (pos_a[held], pos_b[held])
    enc = encoder(vec)
    log = train_nlsh(enc, ta, tb, pos_a[~held], pos_b[~held], CFG, val=val)
    assert len(log.losses) == 5 and len(log.val_pc) == 6 and all(len(row) == 10 for row in log.val_pc)
    means = [np.mean(row) for row in log.val_pc]
    assert log.best_epoch == int(np.argmax(means))                     # the first of equal bests
    # epoch 0 is the untrained encoder: its PC@k on the validation pairs, counted by hand
    rows, _ = exact_topk(encoder(vec).encode(ta), encoder(vec).encode([tb[i] for i in val[1]]), 10)
    assert log.val_pc[0] == pytest.approx([(rows[:, :k] == val[0][:, None]).any(axis=1).mean() for k in range(1, 11)])
    # the weights kept are the best epoch's: the same as training exactly that many epochs
    short = encoder(vec)
    train_nlsh(short, ta, tb, pos_a[~held], pos_b[~held], replace(CFG, epochs=log.best_epoch))
    assert torch.equal(enc.encode(tb), short.encode(tb))


def test_patience_stops_training_and_without_validation_nothing_changes(parts):
    ta, tb, vec, pos_a, pos_b, held = parts
    val = (pos_a[held], pos_b[held])
    full = train_nlsh(encoder(vec), ta, tb, pos_a[~held], pos_b[~held], replace(CFG, epochs=12, lr=1.0), val=val)
    assert full.best_epoch < 11                               # lr 1.0 over-fits: the curve peaks early
    stopped = train_nlsh(encoder(vec), ta, tb, pos_a[~held], pos_b[~held],
                         replace(CFG, epochs=12, lr=1.0, patience=1), val=val)
    assert len(stopped.losses) == full.best_epoch + 1 and stopped.val_pc == full.val_pc[:full.best_epoch + 2]
    plain = train_nlsh(encoder(vec), ta, tb, pos_a, pos_b, replace(CFG, epochs=2))
    assert (len(plain.losses), plain.val_pc, plain.best_epoch) == (2, [], None)


def test_weight_decay_pulls_the_learned_weights_towards_tfidf(parts):
    ta, tb, vec, pos_a, pos_b, _ = parts
    free, decayed = encoder(vec), encoder(vec)
    train_nlsh(free, ta, tb, pos_a, pos_b, replace(CFG, epochs=3))
    train_nlsh(decayed, ta, tb, pos_a, pos_b, replace(CFG, epochs=3, weight_decay=2.0))
    assert 0 < decayed.log_weight.abs().sum() < 0.8 * free.log_weight.abs().sum()


@pytest.mark.parametrize("kw,match", [
    ({"weight_decay": -0.1}, r"nlsh: weight_decay must be a finite number >= 0, got -0.1"),
    ({"patience": 0}, r"nlsh: patience must be >= 1 \(or None\), got 0"),
])
def test_bad_training_options(parts, kw, match):
    ta, tb, vec, pos_a, pos_b, _ = parts
    with pytest.raises(ValueError, match=match):
        train_nlsh(encoder(vec), ta, tb, pos_a, pos_b, replace(CFG, **kw))


def test_blocker_refits_the_chosen_epoch_count_on_the_whole_train_split(er):
    from recsys_hash.blocking.evaluate import evaluate_blocker, train_split

    fit = dict(context=[er.table_b], train=er.train, table_b=er.table_b)
    params = dict(dim=32, epochs=6, lr=0.2, progress=False)
    chosen = make_blocker("nlsh", select_epochs=True, validation=0.25, **params).fit(er.table_a, **fit)
    val = chosen.epoch_validation_
    n_pos = er.train.filter(pl.col("label") == 1).height
    assert val["pairs"] == int((np.random.default_rng(0).random(n_pos) < 0.25).sum()) and val["share"] == 0.25
    assert chosen.epochs_ == val["best_epoch"] == int(np.argmax([np.mean(r) for r in val["pc_1_10"]]))
    assert len(chosen.losses_) == chosen.epochs_
    plain = make_blocker("nlsh", **{**params, "epochs": chosen.epochs_}).fit(er.table_a, **fit)     # no selection
    assert plain.epoch_validation_ is None and plain.epochs_ == chosen.epochs_
    assert np.array_equal(chosen.candidates(er.table_b, 3), plain.candidates(er.table_b, 3))
    # the selection reads the train split only: poisoned held-out gold and flipped valid/test labels change nothing
    res = evaluate_blocker(er, "nlsh", [1], select_epochs=True, validation=0.25, **params)
    _, held, _ = train_split(er, 0)
    is_held = (er.gold[:, None, :] == held[None, :, :]).all(axis=2).any(axis=1)
    gold = er.gold.copy()
    gold[is_held, 1] = np.random.default_rng(7).choice(er.table_b["id"].to_numpy(), size=int(is_held.sum()))
    flip = lambda t: t.with_columns(1 - pl.col("label"))                       # noqa: E731
    poisoned = evaluate_blocker(replace(er, gold=gold, valid=flip(er.valid), test=flip(er.test)), "nlsh", [1],
                                select_epochs=True, validation=0.25, **params)
    assert poisoned["epoch_validation"] == res["epoch_validation"] == val


def test_blocker_validation_bad_input(er):
    with pytest.raises(ValueError, match=r"nlsh: validation must be a share in \(0, 1\), got 0"):
        make_blocker("nlsh", validation=0)
    one = er.train.filter(pl.col("label") == 1).head(1)
    with pytest.raises(ValueError, match=r"nlsh: validation=0.2 holds out 20% of the train split's 1 matches for "
                                         r"validation: too few to split \(select_epochs=False trains"):
        make_blocker("nlsh", select_epochs=True, epochs=1, dim=16, progress=False).fit(er.table_a, context=[er.table_b], train=one,
                                                                   table_b=er.table_b)


def test_epoch_selection_is_off_by_default():
    for name in ("nlsh", "hybrid", "nlsh_minilm"):
        b = make_blocker(name)
        assert (b.select_epochs, b.validation, b.config.weight_decay) == (False, 0.2, 0.0)
    assert make_blocker("nlsh").config.epochs == 10


def test_hybrid_selects_epochs_and_its_auto_weight_on_the_same_slice(er):
    from recsys_hash.blocking.fusion import WEIGHT_GRID

    h = make_blocker("hybrid", select_epochs=True, weight="auto", dim=32, epochs=4, lr=0.2, progress=False).fit(
        er.table_a, context=[er.table_b], train=er.train, table_b=er.table_b)
    assert h.validation_["pairs"] == h.epoch_validation_["pairs"] > 0 and h.weight_ in WEIGHT_GRID
    assert len(h.losses_) == h.epochs_ == h.epoch_validation_["best_epoch"]


def test_train_folds_put_every_match_in_one_fold_and_keep_non_matches_in_training():
    from recsys_hash.blocking.evaluate import train_folds

    train = pl.DataFrame({"ltable_id": np.arange(40), "rtable_id": np.arange(100, 140),
                          "label": (np.arange(40) % 4 != 0).astype(np.int64)})          # 30 matches, 10 non-matches
    folds = train_folds(train, folds=3, seed=5)
    held = np.concatenate([h for _, h in folds])
    matches = train.filter(pl.col("label") == 1).select("ltable_id", "rtable_id").to_numpy()
    assert len(folds) == 3 and sorted(map(tuple, held)) == sorted(map(tuple, matches))   # each match once
    for fold_train, h in folds:
        kept = set(map(tuple, fold_train.select("ltable_id", "rtable_id").to_numpy()))
        assert kept.isdisjoint(map(tuple, h)) and fold_train.height == 40 - len(h)
        assert fold_train.filter(pl.col("label") == 0).height == 10
    again = train_folds(train, folds=3, seed=5)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    with pytest.raises(ValueError, match="folds must be >= 2"):
        train_folds(train, folds=1)
