"""Every loader against the real files under RECSYS_HASH_DATA: counts from ../shared/datasets/README.md."""
from __future__ import annotations


import numpy as np
import pytest

from recsys_hash.data import registry
from recsys_hash.data import (
    check_dataset, concat_ctr, dataset_stats, load_avazu_sample, load_beauty, load_er, load_frappe, load_interactions,
    load_lastfm_trust, load_ml100k, read_criteo,
)

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("name, users, items, train, test", [
    ("gowalla", 29_858, 40_981, 810_128, 217_242),
    ("ml-1m", 6_022, 3_043, 796_244, 99_455),
    ("amazon-electronics", 1_435, 1_522, 31_887, 4_044),
    # LastFM: ids are 1-based up to 1,892 users / 4,489 items (README); 1,880 user ids occur in data1+test1.
    ("lastfm", 1_892, 4_489, 42_135, 10_533),
    ("ml-100k", 943, 1_682, 80_000, 20_000),  # fold u1
    # Beauty read by leave-last-out: every user's last behaviour is a test row; no pair repeats, so none is dropped.
    ("amazon-beauty", 22_363, 12_101, 198_502 - 22_363, 22_363),
])
def test_interaction_counts(data_root, name, users, items, train, test):
    ds = load_interactions(name)
    assert (ds.n_users, ds.n_items, len(ds.train), len(ds.test)) == (users, items, train, test)
    for split in (ds.train, ds.test):
        assert split.user.min() >= 0 and split.user.max() < users and split.item.max() < items


def test_gowalla_matches_readme_checks(data_root):
    ds = load_interactions("gowalla")
    assert np.unique(ds.train.user).size == 29_858 and np.unique(ds.test.user).size == 29_858
    train_pairs = ds.train.user * ds.n_items + ds.train.item
    test_pairs = ds.test.user * ds.n_items + ds.test.item
    assert np.intersect1d(train_pairs, test_pairs).size == 0  # NOTES.md: train/test disjoint per user


def test_ml100k_all_ratings_and_features(data_root):
    ds = load_ml100k(fold=None)
    assert len(ds.train) == 100_000 and ds.n_users == 943 and ds.n_items == 1_682
    assert set(np.unique(ds.train.rating)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert ds.user_features["occupation"].min() >= 0 and ds.user_features["age"].shape == (943,)
    offsets, genres = ds.item_multi["genre"]
    assert offsets.shape == (1_683,) and genres.max() == 18
    assert len(load_ml100k(fold="ua").test) == 9_430
    assert load_lastfm_trust().shape == (25_434, 2)


def test_frappe_counts_and_fields(data_root):
    d = load_frappe()
    assert set(d) == {"validation", "test"}  # frappe.train.libfm is not in the shared copy
    assert (len(d["validation"]), len(d["test"])) == (57_722, 28_860)
    both = concat_ctr([d["validation"], d["test"]])
    assert len(both.categorical) == 10
    assert np.unique(both.categorical["item"]).size == 4_082 and np.unique(both.categorical["user"]).size == 913
    assert abs(both.labels.mean() - 1 / 3) < 0.01  # two sampled negatives per positive


def test_beauty_counts(data_root):
    s = load_beauty()
    assert (len(s), s.n_items, int(s.offsets[-1])) == (22_363, 12_101, 198_502)
    offsets, _ = s.item_attributes["attribute"]
    assert offsets.shape == (12_102,)


def test_criteo_and_avazu_samples(data_root):
    folder = data_root / "recsys" / "criteo-sample"
    f = read_criteo(folder / "deepctr_criteo_sample.txt")
    assert len(f) == 200 and f.dense.shape == (200, 13) and len(f.categorical) == 26
    assert len(read_criteo(folder / "torchrechub_criteo_sample.csv")) == 115
    assert sum(len(c) for c in read_criteo(folder / "deepctr_criteo_sample.txt", chunk_rows=64)) == 200
    a = load_avazu_sample()
    assert len(a) == 100 and len(a.categorical) == 22
    assert len(load_avazu_sample("torchrechub_avazu_train_sample.csv")) == 70


@pytest.mark.parametrize("name, n_a, n_b, labelled, positives", [
    ("abt_buy", 1_081, 1_092, 9_575, 1_028),
    ("amazon_google", 1_363, 3_226, 11_460, 1_167),
    ("dblp_acm", 2_616, 2_294, 12_363, 2_220),
])
def test_magellan_counts(data_root, name, n_a, n_b, labelled, positives):
    er = load_er(name)
    assert (er.table_a.height, er.table_b.height) == (n_a, n_b)
    assert sum(s.height for s in (er.train, er.valid, er.test)) == labelled
    assert len(er.gold) == positives


def test_dblp_full_gold_and_febrl(data_root):
    assert len(load_er("dblp_acm", gold="full").gold) == 2_224
    er = load_er("febrl4")
    assert (er.table_a.height, er.table_b.height, len(er.gold)) == (5_000, 5_000, 5_000)
    a = er.table_a["rec_id"].to_numpy()[er.gold[:, 0]]
    b = er.table_b["rec_id"].to_numpy()[er.gold[:, 1]]
    assert all(x.replace("-org", "-dup-0") == y for x, y in zip(a, b))


def test_every_registered_dataset_verifies(data_root):
    for name in registry.names():
        checks = check_dataset(name)
        assert all(c["status"] == "ok" for c in checks), name


def test_dataset_stats_match_registry_expectations(data_root):
    for name in registry.names():
        expected = registry.get(name)["expected"]
        stats = dataset_stats(name)
        for key, value in expected.items():
            assert stats[key] == value, (name, key)
