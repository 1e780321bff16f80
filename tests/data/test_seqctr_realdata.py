"""Sequence-CTR samples and xLearn libffm files under RECSYS_HASH_DATA: rows, fields, history lengths.

Expected figures were counted independently with awk/grep on the files (token and key counts)."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_hash.data import (
    XLEARN_CRITEO_BAGS, Sequences, SequenceCTRFrame, dataset_stats, load_seqctr_sample, read_libffm,
)

pytestmark = pytest.mark.realdata


def test_din_and_dmr_samples(data_root):
    din = load_seqctr_sample("paddlerec_din_amazon_electronics_sample.txt")
    assert isinstance(din, SequenceCTRFrame) and len(din) == 100 and int(din.labels.sum()) == 48
    assert int(din.history["hist_item"][0][-1]) == 742 and din.lengths("hist_item").min() >= 1
    np.testing.assert_array_equal(din.history["hist_item"][0], din.history["hist_cate"][0])
    dmr = load_seqctr_sample("paddlerec_dmr_alimama_sampled_train.txt")
    assert len(dmr) == 500 and int(dmr.labels.sum()) == 210 and len(dmr.frame.categorical) == 15
    lengths = dmr.lengths("cate_his")
    assert lengths.max() == 50 and (lengths == 50).sum() == 496 and int(lengths.sum()) == 24_879
    assert set(np.unique(dmr.history["btag_his"][1]).tolist()) == {1, 2, 3, 4}  # pv / cart / fav / buy
    assert dmr.frame.dense.shape == (500, 1) and 0.5 < dmr.frame.dense.min() < dmr.frame.dense.max() < 1.01


def test_mind_samples(data_root):
    train = load_seqctr_sample("paddlerec_mind_amazonbook_train_demo.txt")
    assert isinstance(train, Sequences) and len(train) == 1_467 and int(train.offsets[-1]) == 20_000
    within = np.ones(20_000 - 1, bool)
    within[train.offsets[1:-1] - 1] = False  # pairs that straddle two users
    assert (np.diff(train.timestamps)[within] == 1).all()  # steps 0, 1, 2, ... within every user
    assert (train.timestamps[train.offsets[:-1]] == 0).all()
    valid = load_seqctr_sample("paddlerec_mind_amazonbook_valid_part-0.txt")
    assert len(valid) == 499 and (valid.frame.categorical["target_item"] == 0).all()
    assert int(valid.history["hist_item"][0][-1]) == 4_027 and int(valid.history["eval_item"][0][-1]) == 1_764
    assert valid.sequence("hist_item", 0)[:3].tolist() == [5175, 14966, 23142]


def test_torchrechub_logs(data_root):
    elec = load_seqctr_sample("torchrechub_amazon_electronics_sample.csv")
    # 100 events of 17 users -> 83 events with history, each with one sampled negative
    assert len(elec) == 166 and elec.labels.tolist() == [1.0, 0.0] * 83
    assert set(elec.history) == {"hist_item_id", "hist_cate_id"} and elec.lengths("hist_item_id").max() <= 50
    again = load_seqctr_sample("torchrechub_amazon_electronics_sample.csv")
    np.testing.assert_array_equal(elec.frame.categorical["item_id"], again.frame.categorical["item_id"])
    beauty = load_seqctr_sample("torchrechub_amazon_beauty_sample.csv")
    assert len(beauty) == 100 - 69  # 69 distinct users, first event of each has no history
    assert dataset_stats("seqctr-samples")["rows"]["torchrechub_amazon_books_sample.csv"] == 100


@pytest.mark.parametrize("split, f16, f17, positives", [("train", 255, 253, 48), ("test", 253, 247, 46)])
def test_xlearn_ffm(data_root, split, f16, f17, positives):
    sf = read_libffm(data_root / "recsys" / "criteo-sample" / f"xlearn_criteo_small_{split}.ffm",
                     multi_valued=XLEARN_CRITEO_BAGS)
    assert len(sf) == 200 and int(sf.labels.sum()) == positives
    assert list(sf.frame.categorical) == [f"f{k}" for k in range(16)]
    assert int(sf.history["f16"][0][-1]) == f16 and int(sf.history["f17"][0][-1]) == f17
    assert (sf.frame.categorical["f2"] >= 0).all()  # fields 2..15 are present in every row
