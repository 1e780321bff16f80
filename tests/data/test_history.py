"""history_samples: hand-computed rows, equivalence with a per-user loop, seeded negatives, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_hash.data import history_samples


def test_hand_computed_rows_ties_and_max_len():
    user = np.array([0, 0, 1, 0, 1])
    item = np.array([5, 6, 7, 8, 9])
    time = np.array([3, 1, 2, 2, 2])  # user 1: equal times keep input order (7 then 9)
    cate = np.array([50, 60, 70, 80, 90])
    sf = history_samples(user, item, time, {"cate_id": cate}, max_len=None, name="t")
    assert sf.frame.categorical["user_id"].tolist() == [0, 0, 1]
    assert sf.frame.categorical["item_id"].tolist() == [8, 5, 9]
    assert sf.frame.categorical["cate_id"].tolist() == [80, 50, 90]
    assert sf.history["hist_item_id"][0].tolist() == [0, 1, 3, 4]
    assert sf.history["hist_item_id"][1].tolist() == [6, 6, 8, 7]
    assert sf.history["hist_cate_id"][1].tolist() == [60, 60, 80, 70]
    assert sf.labels.tolist() == [1.0, 1.0, 1.0] and sf.name == "t"
    short = history_samples(user, item, time, max_len=1)
    assert short.history["hist_item_id"][0].tolist() == [0, 1, 2, 3]
    assert short.history["hist_item_id"][1].tolist() == [6, 8, 7]  # the most recent earlier event
    every = history_samples(user, item, time, min_history=0, max_len=None)
    assert len(every) == 5 and every.lengths("hist_item_id").tolist() == [0, 1, 2, 0, 1]


def _reference(user, item, time, max_len, min_history):
    rows = []
    for u in sorted(set(user.tolist())):
        idx = [i for i in sorted(range(len(user)), key=lambda i: (time[i], i)) if user[i] == u]
        for p, i in enumerate(idx):
            if p >= min_history:
                hist = [int(item[j]) for j in idx[:p]][-max_len:]
                rows.append((u, int(item[i]), hist))
    return rows


@pytest.mark.parametrize("max_len, min_history", [(3, 1), (50, 0), (1, 2)])
def test_equivalent_to_per_user_loop(max_len, min_history):
    rng = np.random.default_rng(7)
    n = 400
    user, item, time = rng.integers(0, 30, n), rng.integers(0, 100, n), rng.integers(0, 20, n)
    sf = history_samples(user, item, time, max_len=max_len, min_history=min_history)
    ref = _reference(user, item, time, max_len, min_history)
    assert len(sf) == len(ref)
    got = [(int(sf.frame.categorical["user_id"][i]), int(sf.frame.categorical["item_id"][i]),
            sf.sequence("hist_item_id", i).tolist()) for i in range(len(sf))]
    assert got == ref


def test_seeded_negatives_follow_each_positive():
    rng = np.random.default_rng(3)
    n = 200
    user, item, time = rng.integers(0, 10, n), rng.integers(0, 60, n), np.arange(n)
    cate = item % 7
    a = history_samples(user, item, time, {"cate_id": cate}, neg_per_pos=2, seed=11)
    b = history_samples(user, item, time, {"cate_id": cate}, neg_per_pos=2, seed=11)
    pos = history_samples(user, item, time, {"cate_id": cate})
    assert len(a) == 3 * len(pos)
    assert a.labels.tolist() == [1.0, 0.0, 0.0] * len(pos)
    for k in a.frame.categorical:
        np.testing.assert_array_equal(a.frame.categorical[k], b.frame.categorical[k])
    np.testing.assert_array_equal(a.frame.categorical["item_id"][::3], pos.frame.categorical["item_id"])
    np.testing.assert_array_equal(a.frame.categorical["user_id"], np.repeat(pos.frame.categorical["user_id"], 3))
    lengths = a.lengths("hist_item_id")
    np.testing.assert_array_equal(lengths, np.repeat(pos.lengths("hist_item_id"), 3))
    for i in range(0, len(a), 3):  # negatives share the positive's history
        assert a.sequence("hist_item_id", i).tolist() == a.sequence("hist_item_id", i + 2).tolist()
    touched = {(int(u), int(v)) for u, v in zip(user, item)}
    negs = a.frame.categorical["item_id"].reshape(-1, 3)[:, 1:]
    neg_users = a.frame.categorical["user_id"].reshape(-1, 3)[:, 1:]
    assert not any((int(u), int(v)) in touched for u, v in zip(neg_users.ravel(), negs.ravel()))
    assert set(negs.ravel().tolist()) <= set(item.tolist())
    np.testing.assert_array_equal(a.frame.categorical["cate_id"], a.frame.categorical["item_id"] % 7)


def test_negative_sampling_impossible_and_bad_inputs():
    with pytest.raises(ValueError, match=r"could not sample a negative item for user 0 in 100 tries"):
        history_samples(np.array([0, 0]), np.array([1, 2]), np.array([0, 1]), neg_per_pos=1)
    with pytest.raises(ValueError, match=r"history_samples: item must be a 1-D array of 3 events \(like user\), got shape \(2,\)"):
        history_samples(np.array([0, 0, 1]), np.array([1, 2]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"attribute 'cate' must be a 1-D array of 2 events"):
        history_samples(np.array([0, 0]), np.array([1, 2]), np.array([0, 1]), {"cate": np.array([1])})
    with pytest.raises(ValueError, match=r"user ids must be integers, got dtype float64"):
        history_samples(np.array([0.0, 1.0]), np.array([1, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"must be non-negative, got min user -1"):
        history_samples(np.array([-1, 1]), np.array([1, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"max_len must be >= 1 or None, got 0"):
        history_samples(np.array([0]), np.array([1]), np.array([0]), max_len=0)


def test_take_seqctr_gathers_histories():
    from recsys_hash.data import take_seqctr

    sf = history_samples(np.array([0, 0, 0, 1, 1]), np.array([1, 2, 3, 4, 5]), np.arange(5), max_len=None)
    assert [sf.sequence("hist_item_id", i).tolist() for i in range(3)] == [[1], [1, 2], [4]]
    sub = take_seqctr(sf, np.array([2, 1]), name="sub")
    assert sub.name == "sub" and sub.frame.categorical["item_id"].tolist() == [5, 3]
    assert sub.history["hist_item_id"][0].tolist() == [0, 1, 3] and sub.history["hist_item_id"][1].tolist() == [4, 1, 2]
    masked = take_seqctr(sf, np.array([True, False, True]))
    assert masked.frame.categorical["item_id"].tolist() == [2, 5] and masked.history["hist_item_id"][1].tolist() == [1, 4]
