"""Every blocking method on a small synthetic ER pair (typos, abbreviations), plus bad input."""
import numpy as np
import polars as pl
import pytest

from recsys_hash.blocking import blocking_metrics
from recsys_hash.blocking.blocker import blocker_names, make_blocker
from recsys_hash.data.synthetic_er import planted_er_pairs
from recsys_hash.errors import DataFormatError, NotFittedError


@pytest.fixture(scope="module")
def er():
    tables, _ = planted_er_pairs(n_entities=300, n_b_only=60, typo_rate=0.3, abbrev_rate=0.3, seed=1)
    return tables


def pc(er, pairs):
    return blocking_metrics(pairs, er.gold, er.table_a["id"], er.table_b["id"]).pc


def test_registry_lists_the_methods():
    assert set(blocker_names()) >= {"tfidf", "minhash", "sorted_neighbourhood", "minilm", "nlsh", "nlsh_minilm",
                                    "hybrid"}
    with pytest.raises(ValueError, match="unknown blocking method 'lsh'; known methods: "):
        make_blocker("lsh")


@pytest.mark.parametrize("name,params,k,floor", [
    ("tfidf", {}, 1, 0.85), ("minhash", {"threshold": 0.3}, None, 0.8), ("sorted_neighbourhood", {}, 2, 0.3),
])
def test_baselines_find_most_matches(er, name, params, k, floor):
    b = make_blocker(name, **params).fit(er.table_a, context=[er.table_b])
    pairs = b.candidates(er.table_b, k)
    assert pairs.dtype == np.int64 and pairs.shape[1] == 2
    assert pc(er, pairs) >= floor
    if k is not None and name == "tfidf":
        assert len(pairs) == k * er.table_b.height


def test_minhash_k_keeps_the_best_candidates_per_query(er):
    b = make_blocker("minhash", threshold=0.2).fit(er.table_a)
    every, top1 = b.candidates(er.table_b, None), b.candidates(er.table_b, 1)
    assert np.bincount(top1[:, 1]).max() == 1 and len(every) > len(top1)
    assert len(np.intersect1d(top1[:, 0] * 10_000 + top1[:, 1], every[:, 0] * 10_000 + every[:, 1])) == len(top1)


def test_nlsh_training_improves_on_the_untrained_encoder_and_is_seeded(er):
    fit = dict(context=[er.table_b], train=er.train, table_b=er.table_b)
    untrained = make_blocker("nlsh", epochs=0, dim=64, progress=False).fit(er.table_a, **fit)
    trained = make_blocker("nlsh", epochs=5, dim=64, progress=False).fit(er.table_a, **fit)
    again = make_blocker("nlsh", epochs=5, dim=64, progress=False).fit(er.table_a, **fit)
    p0, p1 = pc(er, untrained.candidates(er.table_b, 1)), pc(er, trained.candidates(er.table_b, 1))
    assert p1 > p0
    assert trained.losses_[-1] < trained.losses_[0]
    assert np.array_equal(trained.candidates(er.table_b, 2), again.candidates(er.table_b, 2))


def test_hybrid_and_simhash_index(er):
    fit = dict(context=[er.table_b], train=er.train, table_b=er.table_b)
    hybrid = make_blocker("hybrid", epochs=3, dim=64, progress=False).fit(er.table_a, **fit)
    tfidf = make_blocker("tfidf").fit(er.table_a, context=[er.table_b])
    assert pc(er, hybrid.candidates(er.table_b, 1)) >= pc(er, tfidf.candidates(er.table_b, 1))
    exact = make_blocker("nlsh", epochs=0, dim=64, progress=False).fit(er.table_a, **fit)
    lsh = make_blocker("nlsh", epochs=0, dim=64, index="simhash", tables=32, bits=8, progress=False).fit(er.table_a, **fit)
    assert pc(er, lsh.candidates(er.table_b, 2)) >= 0.95 * pc(er, exact.candidates(er.table_b, 2))
    assert (lsh.index_.tables_, lsh.index_.bits_, lsh.index_.estimated_fraction_) == (32, 8, None)
    auto = make_blocker("nlsh", epochs=0, dim=64, index="simhash", progress=False).fit(er.table_a, **fit)
    assert (auto.tables, auto.bits, auto.target_fraction) == ("auto", "auto", 0.15)
    assert auto.index_.estimated_fraction_ <= 0.15 and auto.index_.bits_ >= 1
    assert pc(er, auto.candidates(er.table_b, 2)) >= 0.95 * pc(er, exact.candidates(er.table_b, 2))
    with pytest.raises(ValueError, match=r"target_fraction must be in \(0, 1\], got 2"):
        make_blocker("nlsh", index="simhash", target_fraction=2)


def test_self_join_finds_planted_duplicates(er):
    both = pl.concat([er.table_a, er.table_b.with_columns(pl.col("id") + 1000)])
    pairs = make_blocker("tfidf").fit(both).self_join(1)
    assert (pairs[:, 0] < pairs[:, 1]).all()
    gold = np.stack([er.gold[:, 0], er.gold[:, 1] + 1000], axis=1)
    assert blocking_metrics(pairs, gold, both["id"], both["id"], self_join=True).pc > 0.85


def test_bad_input(er):
    b = make_blocker("tfidf")
    with pytest.raises(NotFittedError, match="tfidf: call fit"):
        b.candidates(er.table_b, 1)
    b.fit(er.table_a)
    for k in (0, -3, 1.5):
        with pytest.raises(ValueError, match=f"tfidf.candidates: k must be a positive integer, got {k}"):
            b.candidates(er.table_b, k)
    with pytest.raises(DataFormatError, match=r"tableB: attribute\(s\) \['surname'\] not in the table"):
        make_blocker("tfidf", attributes=["surname"]).fit(er.table_a).candidates(er.table_b.drop("surname"), 1)
    dup = pl.concat([er.table_a.head(2), er.table_a.head(1)])
    with pytest.raises(DataFormatError, match="tableA: record ids must be unique; id 0 appears 2 times"):
        make_blocker("tfidf").fit(dup)
    nlsh = make_blocker("nlsh", epochs=1, progress=False)
    with pytest.raises(ValueError, match="nlsh: training needs labelled pairs"):
        nlsh.fit(er.table_a, table_b=er.table_b)
    bad_train = pl.DataFrame({"ltable_id": [0], "rtable_id": [99_999], "label": [1]})
    with pytest.raises(DataFormatError, match="train pairs: id 99999 does not exist in tableB"):
        nlsh.fit(er.table_a, table_b=er.table_b, train=bad_train)
