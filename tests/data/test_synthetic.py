"""Planted structure of the synthetic generators is measurable; same seed -> identical data."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from recsys_hash.data.synthetic import planted_ctr, planted_er_pairs, planted_sequence_targets, planted_sequences
from recsys_hash.data.synthetic_er import typo


def _onehot(codes, card):
    n = codes.size
    return csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, card))


def test_planted_cross_beats_first_order_model():
    cards = (15, 15, 10)
    frame, truth = planted_ctr(n_rows=30_000, cardinalities=cards, pairs=((0, 1),), seed=1)
    c = [frame.categorical[f"f{i}"] for i in range(3)]
    main = hstack([_onehot(c[i], cards[i]) for i in range(3)]).tocsr()
    cross = _onehot(c[0] * cards[1] + c[1], cards[0] * cards[1])
    with_cross = hstack([main, cross]).tocsr()
    tr, te = slice(0, 20_000), slice(20_000, None)
    auc = {}
    for name, x in (("main", main), ("cross", with_cross)):
        lr = LogisticRegression(C=1.0, max_iter=500).fit(x[tr], frame.labels[tr])
        auc[name] = roc_auc_score(frame.labels[te], lr.predict_proba(x[te])[:, 1])
    oracle = roc_auc_score(frame.labels[te], truth.logits[te])
    assert auc["cross"] > auc["main"] + 0.05
    assert auc["cross"] > oracle - 0.02
    w = truth.cross[(0, 1)]
    np.testing.assert_allclose(w.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(w.mean(1), 0, atol=1e-12)
    again, _ = planted_ctr(n_rows=30_000, cardinalities=cards, pairs=((0, 1),), seed=1)
    np.testing.assert_array_equal(again.labels, frame.labels)
    with pytest.raises(ValueError, match=r"pair \(0, 0\) must name two distinct fields"):
        planted_ctr(pairs=((0, 0),))


def test_planted_sequences_concentrate_on_interests():
    seqs, truth = planted_sequences(n_users=60, max_len=10_000, n_interests=10, n_items=2_000, interests_per_user=2,
                                    purity=0.7, min_len=200, seed=3)
    lengths = seqs.lengths
    assert lengths.max() <= 10_000 and lengths.min() >= 200 and lengths.max() > 3_000
    owner = np.repeat(np.arange(60), lengths)
    in_interest = (truth.item_interest[seqs.items][:, None] == truth.user_interests[owner]).any(1)
    expected = 0.7 + 0.3 * 2 / 10  # planted events + noise events that land in an interest by chance
    share = np.bincount(owner, weights=in_interest) / lengths
    assert abs(share.mean() - expected) < 0.02 and share.min() > expected - 0.08
    counts = np.zeros((60, 10))
    np.add.at(counts, (owner, truth.item_interest[seqs.items]), 1)
    top2 = np.sort(np.argsort(-counts, axis=1)[:, :2], axis=1)
    np.testing.assert_array_equal(top2, np.sort(truth.user_interests, axis=1))  # interests recoverable
    assert np.all(np.diff(seqs.timestamps)[np.diff(owner) == 0] > 0)
    off, attr = seqs.item_attributes["interest"]
    np.testing.assert_array_equal(attr[off[:-1]], truth.item_interest)
    rows, target, label = planted_sequence_targets(truth, n_per_user=4, seed=0)
    hit = (truth.item_interest[target][:, None] == truth.user_interests[rows]).any(1)
    np.testing.assert_array_equal(hit, label == 1)
    with pytest.raises(ValueError, match=r"need 1 <= min_len <= max_len"):
        planted_sequences(max_len=5, min_len=10)


def _osa(a: str, b: str) -> int:
    """Slow reference: optimal-string-alignment (Damerau) distance."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def test_typo_is_exactly_one_edit():
    rng = np.random.default_rng(0)
    words = np.array(["maple street", "a", "", "aa", "zz", "kingston", "nsw", "13"] * 50)
    out = typo(words, rng)
    assert all(_osa(a, b) == 1 for a, b in zip(words, out))


def test_planted_er_pairs_rates_and_gold():
    tables, truth = planted_er_pairs(n_entities=2_000, n_b_only=300, typo_rate=0.15, abbrev_rate=0.25, seed=7)
    assert tables.table_a.height == 2_000 and tables.table_b.height == 2_300
    matched = truth.source >= 0
    assert abs(truth.typo[matched].mean() - 0.15) < 0.015
    abbreviable = [truth.fields.index(f) for f in ("given_name", "street", "state")]
    assert abs(truth.abbrev[matched][:, abbreviable].mean() - 0.25) < 0.025
    assert not truth.abbrev[:, truth.fields.index("surname")].any()
    a = tables.table_a.to_dict(as_series=False)
    b = tables.table_b.to_dict(as_series=False)
    for a_id, b_id in tables.gold[:300]:
        for j, f in enumerate(truth.fields):
            same = a[f][a_id] == b[f][b_id]
            assert same == (not truth.typo[b_id, j] and not truth.abbrev[b_id, j]), (f, a[f][a_id], b[f][b_id])
    labelled = np.concatenate([t["label"].to_numpy() for t in (tables.train, tables.valid, tables.test)])
    assert labelled.sum() == 2_000
    clean, t0 = planted_er_pairs(n_entities=100, n_b_only=0, typo_rate=0.0, abbrev_rate=0.0, seed=1)
    assert clean.table_a.drop("id").sort("surname", "given_name", "street").equals(
        clean.table_b.drop("id").sort("surname", "given_name", "street"))
    with pytest.raises(ValueError, match=r"rates must be in \[0, 1\].*typo_rate=1.5"):
        planted_er_pairs(typo_rate=1.5)
