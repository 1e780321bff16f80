"""The char-n-gram encoder's shared n-gram weighting: descriptors of each n-gram (`ngram_features`), learn="features"
(log-weight = descriptors @ coef) and learn="both" (that plus a free log-weight per n-gram, the default)."""
import numpy as np
import pytest
import torch

from recsys_hash.blocking.baselines import tfidf_vectorizer
from recsys_hash.blocking.blocker import make_blocker
from recsys_hash.blocking.encoders import LEARN_MODES, CharNgramEncoder, make_encoder, ngram_features
from recsys_hash.blocking.train import TrainConfig, positive_rows, train_nlsh
from recsys_hash.data.synthetic_er import planted_er_pairs

COLUMNS = ["bias", "digits0", "digits1", "digits2", "digits3+", "letters", "boundary", "punct", "idf", "idf2",
           "df_a", "df_b", "one_side", "ratio"]


def test_descriptors_of_a_hand_built_vocabulary():
    a, b = ["kdl-32 tv"], ["sony tv", "tv"]
    vec = tfidf_vectorizer().fit(a + b)
    f = ngram_features(vec, [a, b])
    assert f.shape == (len(vec.vocabulary_), len(COLUMNS)) and f.dtype == np.float32
    row = {g: dict(zip(COLUMNS, f[j])) for g, j in vec.vocabulary_.items()}
    # "-32": two digits, no letter, punctuation, no word boundary; only tableA holds it
    assert [row["-32"][c] for c in ("bias", "digits0", "digits1", "digits2", "digits3+", "letters", "boundary",
                                    "punct")] == [1, 0, 0, 1, 0, 0, 0, 1]
    assert [row[" tv"][c] for c in ("digits0", "letters", "boundary", "punct")] == pytest.approx([1, 2 / 3, 1, 0])
    # document frequencies: " tv" is in 1 text of tableA and 2 of tableB; "son" in 0 and 1
    logs = {g: (np.log1p(da), np.log1p(db)) for g, da, db in ((" tv", 1, 2), ("son", 0, 1), ("-32", 1, 0))}
    assert row[" tv"]["one_side"] == 0 and row["son"]["one_side"] == 1 and row["-32"]["one_side"] == 1
    for g, (la, lb) in logs.items():
        assert row[g]["ratio"] == pytest.approx(abs(la - lb), abs=1e-6)
    grams = vec.build_analyzer()                                # the slow reference: count texts per n-gram
    df = np.array([[sum(g in set(grams(t)) for t in texts) for texts in (a, b)]
                   for g, _ in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])], dtype=np.float64)
    assert df[vec.vocabulary_[" tv"]].tolist() == [1, 2] and df[vec.vocabulary_["son"]].tolist() == [0, 1]
    ldf = np.log1p(df)
    assert f[:, 10] == pytest.approx((ldf[:, 0] - ldf[:, 0].mean()) / ldf[:, 0].std(), abs=1e-5)
    assert f[:, 11] == pytest.approx((ldf[:, 1] - ldf[:, 1].mean()) / ldf[:, 1].std(), abs=1e-5)
    idf = vec.idf_
    assert f[:, 8] == pytest.approx((idf - idf.mean()) / idf.std(), abs=1e-5)
    assert f[:, 9] == pytest.approx(f[:, 8] ** 2, abs=1e-5)
    # without the tables, the frequency columns are 0 and the rest unchanged
    bare = ngram_features(vec)
    assert np.array_equal(bare[:, :10], f[:, :10]) and not bare[:, 10:].any()


@pytest.fixture(scope="module")
def parts():
    er, _ = planted_er_pairs(n_entities=150, n_b_only=30, typo_rate=0.3, abbrev_rate=0.3, seed=3)
    b = make_blocker("tfidf")
    ta, tb = b.texts(er.table_a, "tableA"), b.texts(er.table_b, "tableB")
    pos_a, pos_b = positive_rows(er.train, er.table_a["id"].to_numpy(), er.table_b["id"].to_numpy())
    return er, ta, tb, tfidf_vectorizer().fit(ta + tb), pos_a, pos_b


CFG = TrainConfig(epochs=2, lr=0.1, progress=False, patience=None)


def test_features_mode_trains_only_the_shared_coefficients(parts):
    _, ta, tb, vec, pos_a, pos_b = parts
    enc = make_encoder("charngram", vec, dim=32, learn="features", tables=[ta, tb])
    assert [n for n, p in enc.named_parameters() if p.requires_grad] == ["coef"]
    train_nlsh(enc, ta, tb, pos_a, pos_b, CFG)
    assert enc.coef.abs().sum() > 0 and not enc.log_weight.any()
    f = enc.ngram_features
    assert torch.equal(enc.weights(), f @ enc.coef)
    # n-grams with the same descriptors get the same weight, whether or not a training pair holds them
    _, first, inverse = np.unique(f.numpy(), axis=0, return_index=True, return_inverse=True)
    w = enc.weights().detach().numpy()
    assert np.array_equal(w, w[first][inverse.ravel()])


def test_both_mode_adds_a_free_weight_per_ngram_to_the_shared_part(parts):
    _, ta, tb, vec, pos_a, pos_b = parts
    enc = make_encoder("charngram", vec, dim=32, tables=[ta, tb])                 # the default: both
    assert enc.learn == "both"
    assert sorted(n for n, p in enc.named_parameters() if p.requires_grad) == ["coef", "log_weight"]
    before = enc.encode(tb)
    train_nlsh(enc, ta, tb, pos_a, pos_b, CFG)
    assert enc.coef.abs().sum() > 0 and enc.log_weight.abs().sum() > 0
    assert torch.equal(enc.weights(), enc.ngram_features @ enc.coef + enc.log_weight)
    assert not torch.equal(enc.encode(tb), before)
    # untrained, every mode is the same random projection of TF-IDF
    for mode in LEARN_MODES:
        assert torch.equal(make_encoder("charngram", vec, dim=32, learn=mode, tables=[ta, tb]).encode(tb), before)


def test_blocker_default_reads_both_tables_and_reports_what_it_learned(parts):
    from recsys_hash.blocking.evaluate import evaluate_blocker

    er = parts[0]
    res = evaluate_blocker(er, "nlsh", [1], dim=32, epochs=1, lr=0.1, progress=False)
    assert res["learn"] == "both"
    b = make_blocker("nlsh", dim=32, epochs=1, lr=0.1, progress=False).fit(
        er.table_a, context=[er.table_b], train=er.train, table_b=er.table_b)
    ta, tb = parts[1], parts[2]
    assert np.array_equal(b.encoder_.ngram_features.numpy(), ngram_features(b.encoder_.vectorizer, [ta, tb]))
    assert "learn" not in evaluate_blocker(er, "tfidf", [1])


def test_bad_learn_modes(parts):
    _, ta, tb, vec, _, _ = parts
    with pytest.raises(ValueError, match=r"nlsh: learn must be one of weights, features, both, table, got 'idf'"):
        make_blocker("nlsh", learn="idf")
    with pytest.raises(ValueError, match=r"CharNgramEncoder: learn must be one of"):
        CharNgramEncoder(vec, learn="idf")
    with pytest.raises(ValueError, match=r"ngram_features: tables needs the texts of two tables"):
        ngram_features(vec, [ta])
