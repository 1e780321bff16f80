"""CTR metrics against hand-computed values, scikit-learn and torchmetrics."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torchmetrics.classification import BinaryAUROC

from recsys_hash.eval.ctr_metrics import auc, ctr_metrics, gauc, group_auc, logloss

Y = [1, 0, 1, 0]
S = [0.9, 0.8, 0.3, 0.1]   # positive-negative pairs ordered right: (.9,.8) (.9,.1) (.3,.1); wrong: (.3,.8) -> 3/4


def test_auc_hand_computed_and_equal_to_torchmetrics():
    assert auc(Y, S) == pytest.approx(0.75)
    tm = BinaryAUROC()(torch.tensor(S), torch.tensor(Y))
    assert auc(Y, S) == pytest.approx(float(tm), abs=1e-7)


def test_auc_with_ties_counts_half():
    assert auc([1, 0], [0.5, 0.5]) == 0.5
    assert auc([1, 0, 1], [0.5, 0.5, 0.9]) == pytest.approx(0.75)       # (.5 vs .5) = 1/2, (.9 vs .5) = 1


def test_logloss_hand_computed():
    assert logloss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert logloss([1], [0.0]) == pytest.approx(-math.log(1e-7))        # clipped, not inf


def test_gauc_weights_users_by_impressions_and_drops_one_label_users():
    labels = Y + [1, 0] + [1, 1]
    scores = S + [0.2, 0.6] + [0.5, 0.4]
    users = ["a"] * 4 + ["b"] * 2 + ["c"] * 2
    res = group_auc(labels, scores, users)
    assert list(res.groups) == ["a", "b"] and list(res.auc) == [0.75, 0.0] and list(res.weight) == [4, 2]
    assert res.n_groups_dropped == 1
    assert gauc(labels, scores, users) == pytest.approx((0.75 * 4 + 0.0 * 2) / 6)


def test_group_auc_equals_sklearn_per_group_with_ties():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 30, 2000)
    s = rng.integers(0, 8, 2000) / 8.0                                  # many ties
    y = (rng.random(2000) < 0.3 + 0.5 * s).astype(float)
    res = group_auc(y, s, g)
    expect = [roc_auc_score(y[g == u], s[g == u]) for u in res.groups]
    np.testing.assert_allclose(res.auc, expect, rtol=0, atol=1e-12)
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_ctr_metrics_keys():
    out = ctr_metrics(Y, S, groups=[0, 0, 1, 1])
    assert set(out) == {"auc", "logloss", "gauc", "gauc_groups"} and out["gauc_groups"] == 2


@pytest.mark.parametrize("labels,scores,match", [
    ([1, 2], [0.1, 0.2], r"labels must be 0 or 1, got 2\.0 at row 1"),
    ([1, 0], [0.1, float("nan")], r"score nan at row 1 is not finite"),
    ([], [], r"no rows to evaluate"),
    ([1, 1], [0.1, 0.2], r"needs both labels"),
    ([1, 0], [0.1], r"labels have 2 values but scores 1"),
])
def test_bad_input(labels, scores, match):
    with pytest.raises(ValueError, match=match):
        auc(labels, scores)


def test_logloss_rejects_non_probabilities():
    with pytest.raises(ValueError, match=r"probabilities must lie in \[0, 1\]"):
        logloss([1, 0], [1.5, 0.2])
