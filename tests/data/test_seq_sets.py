"""Sequence-CTR datasets: time order, no leakage, leave-one-out split, the history cap keeps the most recent."""
import json

import numpy as np
import pytest

from recsys_hash.data.seq_sets import beauty_seq_ctr, event_ranks, load_seq_dataset, synthetic_seq_ctr


@pytest.fixture
def tiny_beauty(tmp_path):
    """Three S3Rec users (1-based ids): 1: 1 2 3 4 5, 2: 6 7 8 9, 3: 2 6 7 (items 1..9, attributes for some)."""
    (tmp_path / "Beauty.txt").write_text("1 1 2 3 4 5\n2 6 7 8 9\n3 2 6 7\n")
    (tmp_path / "Beauty_item2attributes.json").write_text(json.dumps({"1": [4, 7], "2": [3], "6": [5, 1, 2]}))
    return tmp_path


def test_beauty_rows_hold_only_earlier_behaviours_and_split_leave_one_out(tiny_beauty):
    data = beauty_seq_ctr(tiny_beauty, max_len=2, neg_per_pos=1, seed=0)
    test = data.test
    # user 0 (items 0..4 after the shift): last event 4 with history [2, 3] (cap 2 keeps the most recent)
    assert test.frame.categorical["user_id"].tolist() == [0, 0, 1, 1, 2, 2]
    assert test.frame.categorical["item_id"][::2].tolist() == [4, 8, 6]
    assert test.frame.labels.tolist() == [1, 0, 1, 0, 1, 0]
    assert [test.sequence("hist_item_id", i).tolist() for i in range(6)] == [[2, 3], [2, 3], [6, 7], [6, 7],
                                                                              [1, 5], [1, 5]]
    assert data.valid.frame.categorical["item_id"][::2].tolist() == [3, 7, 5]
    assert data.train.frame.categorical["item_id"][::2].tolist() == [1, 2, 6]
    assert [data.train.sequence("hist_item_id", i).tolist() for i in range(0, 6, 2)] == [[0], [0, 1], [5]]
    # negatives are items the user never touched; categories: last attribute code + 1, 0 = none
    assert test.frame.categorical["item_id"][1] not in {0, 1, 2, 3, 4}
    assert test.frame.categorical["item_id"][3] not in {5, 6, 7, 8}
    assert test.frame.categorical["cate"][::2].tolist() == [0, 0, 0]        # items 5, 9, 7 (1-based): no attributes
    assert data.valid.frame.categorical["cate"][4] == 2 + 1                # item 6 (1-based): [5, 1, 2] -> 2
    assert data.train.frame.categorical["cate"][0] == 3 + 1                # item 2 (1-based): [3]
    assert [data.train.sequence("hist_cate", i).tolist() for i in range(0, 6, 2)] == [[7 + 1], [8, 4], [3]]
    assert data.vocab == {"item": 9, "cate": 9, "user": 3}


def test_batches_cap_histories_to_the_most_recent(tiny_beauty):
    data = beauty_seq_ctr(tiny_beauty, max_len=3, neg_per_pos=1, seed=0)
    _, kjt, labels = data.batch("test", np.array([0, 2]), max_len=1)
    d = kjt.to_dict()
    assert d["target_item"].values().tolist() == [4, 8]
    assert d["hist_item"].values().tolist() == [3, 7] and d["hist_item"].lengths().tolist() == [1, 1]
    _, kjt, _ = data.batch("test", np.array([0]))
    assert kjt.to_dict()["hist_item"].values().tolist() == [1, 2, 3]     # data cap 3 of the 4 earlier events
    assert labels.tolist() == [1.0, 1.0]


def test_event_ranks_count_events_not_negative_rows():
    pos, count = event_ranks(np.array([0, 0, 0, 0, 5, 5]), 2)
    assert pos.tolist() == [0, 0, 1, 1, 0, 0] and count.tolist() == [2, 2, 2, 2, 1, 1]


def test_synthetic_split_is_by_user_and_bad_names_are_refused():
    data = synthetic_seq_ctr(seed=0, n_users=100, max_len=30, n_items=200, targets_per_user=2)
    users = [set(f.categorical["user_id"].tolist()) for f in data.splits().values()]
    assert not (users[0] & users[1]) and not (users[0] & users[2]) and not (users[1] & users[2])
    assert max(int(f.lengths("hist_item_id").max()) for f in data.seq_splits().values()) == 30
    with pytest.raises(ValueError, match=r"unknown sequence dataset 'beauty'; choose one of amazon-beauty, ml-100k"):
        load_seq_dataset("beauty")
    with pytest.raises(ValueError, match=r"max_len \(history cap\) must be >= 1, got 0"):
        load_seq_dataset("synthetic", max_len=0)


def _same_rows_with_capped_histories(long, short, cap):
    for a, b in zip(long.seq_splits().values(), short.seq_splits().values()):
        assert np.array_equal(a.frame.categorical["item_id"], b.frame.categorical["item_id"])
        assert np.array_equal(a.frame.labels, b.frame.labels)
        (a_off, a_val), (b_off, b_val) = a.history["hist_item_id"], b.history["hist_item_id"]
        assert np.array_equal(np.diff(b_off), np.minimum(np.diff(a_off), cap))
        for r in range(len(a.frame.labels)):
            assert a_val[a_off[r]:a_off[r + 1]][-cap:].tolist() == b_val[b_off[r]:b_off[r + 1]].tolist()


def test_synthetic_max_len_caps_the_same_generated_set_to_its_most_recent_behaviours():
    # --max-len is a history cap: the generated sequences, rows, targets and labels stay those of the uncapped set
    long = synthetic_seq_ctr(seed=0, n_users=60, max_len=200, n_items=100, targets_per_user=2, seq_max=200)
    short = synthetic_seq_ctr(seed=0, n_users=60, max_len=12, n_items=100, targets_per_user=2, seq_max=200)
    _same_rows_with_capped_histories(long, short, 12)
    assert int(np.diff(long.train.history["hist_item_id"][0]).max()) > 12       # the cap did cut something
    # without seq_max the generated lengths do not follow the cap: the default set (lengths 10-1,000), capped
    default = synthetic_seq_ctr(seed=0, n_users=60, max_len=1000, n_items=100, targets_per_user=2)
    capped = synthetic_seq_ctr(seed=0, n_users=60, max_len=12, n_items=100, targets_per_user=2)
    _same_rows_with_capped_histories(default, capped, 12)
    assert "lengths 10-1000, seed 0), history cap 12 most recent" in capped.split_note
