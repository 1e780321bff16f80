"""The hybrid blocker's fusion: rank merge and fused scores on hand-built examples, the bound it gives on how far
either ranking's best records fall, determinism and bad input."""
import numpy as np
import polars as pl
import pytest
import torch

from recsys_hash.blocking.blocker import make_blocker
from recsys_hash.blocking.fusion import fuse_topk, rank_merge
from recsys_hash.data.synthetic_er import planted_er_pairs

# one query, five records: TF-IDF likes record 0 best, the neural part likes it least
LEXICAL = torch.tensor([[0.9, 0.5, 0.4, 0.3, 0.1]])
NEURAL = torch.tensor([[0.0, 0.9, 0.8, 0.7, 0.6]])     # fused (weight 1): 0.9 1.4 1.2 1.0 0.7


@pytest.fixture(scope="module")
def er():
    tables, _ = planted_er_pairs(n_entities=150, n_b_only=30, typo_rate=0.3, abbrev_rate=0.3, seed=1)
    return tables


def fit_hybrid(er, **params):
    return make_blocker("hybrid", epochs=2, dim=32, progress=False, **params).fit(
        er.table_a, context=[er.table_b], train=er.train, table_b=er.table_b)


def test_rank_merge_reads_both_lists_in_turn_skipping_repeats():
    first = np.array([[1, 2, 3, 0, 4], [4, 3, 2, 1, 0], [0, 1, 2, 3, 4]])
    second = np.array([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
    assert rank_merge(first, second).tolist() == [[1, 0, 2, 3, 4], [4, 0, 3, 1, 2], [0, 1, 2, 3, 4]]
    assert rank_merge(first[:, :2], second[:, :2]).tolist() == [[1, 0], [4, 0], [0, 1]]


def test_fused_score_and_rank_fusion_on_hand_built_scores():
    cols, vals = fuse_topk(LEXICAL, NEURAL, 1.0, 2, fusion="score")
    assert cols.tolist() == [[1, 2]] and np.allclose(vals, [[1.4, 1.2]])
    # the score sum drops TF-IDF's best record (0) out of the top 3; the rank merge puts it second
    assert 0 not in fuse_topk(LEXICAL, NEURAL, 1.0, 3, fusion="score")[0]
    cols, vals = fuse_topk(LEXICAL, NEURAL, 1.0, 5)
    assert cols.tolist() == [[1, 0, 2, 3, 4]] and np.allclose(vals, [[1.4, 0.9, 1.2, 1.0, 0.7]])
    for k in (1, 2, 3):                                  # one ranking: every top-k is a prefix of the top-5
        assert fuse_topk(LEXICAL, NEURAL, 1.0, k)[0].tolist() == [[1, 0, 2][:k]]
    assert fuse_topk(LEXICAL, NEURAL, 0.0, 3)[0].tolist() == [[0, 1, 2]]    # weight 0: TF-IDF alone
    assert fuse_topk(LEXICAL, NEURAL, 1.0, 9)[0].shape == (1, 5)            # k > records: every record once


def test_hybrid_top_k_holds_both_rankings_heads(er):
    hybrid = fit_hybrid(er)
    tfidf = make_blocker("tfidf").fit(er.table_a, context=[er.table_b])
    scored = fit_hybrid(er, fusion="score")
    rows, _ = hybrid.search(er.table_b, 10)
    lex, _ = tfidf.search(er.table_b, 10)
    fused, _ = scored.search(er.table_b, 10)
    for k in (1, 2, 5, 10):
        assert all((np.sort(r[:k]) == np.unique(r[:k])).all() for r in rows)            # k distinct records
        holds = lambda head: (head[:, :, None] == rows[:, None, :k]).any(axis=2).all()  # noqa: E731
        assert holds(lex[:, :k // 2]) and holds(fused[:, :(k + 1) // 2])
    assert np.array_equal(rows[:, 0], fused[:, 0])                                     # k=1: the fused top-1
    again = fit_hybrid(er)
    assert np.array_equal(again.candidates(er.table_b, 3), hybrid.candidates(er.table_b, 3))


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf"), "heavy", True, None])
def test_hybrid_rejects_a_bad_weight(weight):
    with pytest.raises(ValueError, match=r"hybrid: weight must be a finite number >= 0 .*got "):
        make_blocker("hybrid", weight=weight)


def test_hybrid_rejects_an_unknown_fusion():
    with pytest.raises(ValueError, match=r"hybrid: fusion must be one of \('rank', 'score'\), got 'max'"):
        make_blocker("hybrid", fusion="max")


def test_auto_weight_is_seeded_and_reads_the_train_split_only(er):
    from dataclasses import replace

    from recsys_hash.blocking.evaluate import evaluate_blocker, train_split
    from recsys_hash.blocking.fusion import WEIGHT_GRID

    params = dict(weight="auto", epochs=2, dim=32, progress=False)
    res = evaluate_blocker(er, "hybrid", [1, 5], seed=0, **params)
    assert res["weight"] in WEIGHT_GRID
    val = res["weight_validation"]
    assert set(val["mean_pc_1_10"]) == set(WEIGHT_GRID) and val["share"] == 0.2
    assert res["weight"] == min(w for w, v in val["mean_pc_1_10"].items() if v == max(val["mean_pc_1_10"].values()))
    n_train = er.train.filter(pl.col("label") == 1).height
    assert val["pairs"] == int((np.random.default_rng(0).random(n_train) < 0.2).sum())
    again = evaluate_blocker(er, "hybrid", [1, 5], seed=0, **params)
    assert again["weight_validation"] == val and again["by_k"] == res["by_k"]
    # poison everything outside the train split: held-out gold pairs point at random records, valid/test labels flip
    _, held, _ = train_split(er, 0)
    rng = np.random.default_rng(7)
    is_held = (er.gold[:, None, :] == held[None, :, :]).all(axis=2).any(axis=1)
    gold = er.gold.copy()
    gold[is_held, 1] = rng.choice(er.table_b["id"].to_numpy(), size=int(is_held.sum()))
    flip = lambda t: t.with_columns(1 - pl.col("label"))                       # noqa: E731
    poisoned = replace(er, gold=gold, valid=flip(er.valid), test=flip(er.test))
    res_p = evaluate_blocker(poisoned, "hybrid", [1, 5], seed=0, **params)
    assert res_p["weight_validation"] == val and res_p["by_k"] != res["by_k"]
    # ... while the train split is what it reads: fewer train matches, fewer validation pairs
    fewer = replace(er, train=er.train.filter((pl.col("label") == 0) | (pl.col("ltable_id") % 3 != 0)))
    assert evaluate_blocker(fewer, "hybrid", [1], seed=0, **params)["weight_validation"]["pairs"] < val["pairs"]


def test_auto_weight_bad_input(er):
    with pytest.raises(ValueError, match=r"hybrid: weight='auto' needs training \(epochs > 0\), train= and table_b="):
        make_blocker("hybrid", weight="auto", epochs=0, progress=False).fit(
            er.table_a, context=[er.table_b], train=er.train, table_b=er.table_b)
    with pytest.raises(ValueError, match=r"hybrid: validation must be a share in \(0, 1\), got 1.5"):
        make_blocker("hybrid", weight="auto", validation=1.5)
    one = er.train.filter(pl.col("label") == 1).head(1)
    with pytest.raises(ValueError, match="holds out 20% of the train split's 1 matches for validation: too few"):
        make_blocker("hybrid", weight="auto", epochs=1, dim=16, progress=False).fit(
            er.table_a, context=[er.table_b], train=one, table_b=er.table_b)
