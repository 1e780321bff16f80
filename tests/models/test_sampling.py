"""BPR batches, negative sampling and the validation carve."""
import numpy as np
import pytest

from recsys_hash.data.types import Interactions
from recsys_hash.models.sampling import carve_validation, dedup_pairs, epoch_batches, pack_pairs, sample_negatives


def test_epoch_covers_every_positive_once_and_is_seeded(planted):
    users, items = dedup_pairs(planted.train)
    batches = list(epoch_batches(users, items, planted.n_items, 64, seed=1, epoch=3))
    u = np.concatenate([b[0] for b in batches])
    i = np.concatenate([b[1] for b in batches])
    assert sorted((u * 1000 + i).tolist()) == sorted((users * 1000 + items).tolist())
    again = list(epoch_batches(users, items, planted.n_items, 64, seed=1, epoch=3))
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(batches, again))
    other = np.concatenate([b[2] for b in epoch_batches(users, items, planted.n_items, 64, seed=1, epoch=4)])
    assert not np.array_equal(other, np.concatenate([b[2] for b in batches]))


def test_reject_positives():
    users = np.repeat(np.arange(50), 4)
    pos_keys = np.unique(users * 5 + np.tile(np.arange(4), 50))        # every user likes items 0..3 of 5
    neg = sample_negatives(users, 5, np.random.default_rng(0), pos_keys)
    assert (neg == 4).all()
    plain = sample_negatives(users, 5, np.random.default_rng(0))
    assert (plain != 4).any()


def test_carve_validation_partitions_per_user():
    users = np.repeat(np.arange(4), [1, 2, 10, 20])
    items = np.concatenate([np.arange(1), np.arange(2), np.arange(10), np.arange(20)])
    train = Interactions(users, items, 4, 20, name="t")
    fit, valid = carve_validation(train, 0.1, seed=5)
    counts = np.bincount(valid.user, minlength=4)
    # floor(0.1 * n + U): 10 items -> 1, 20 items -> 2; a user keeps >= 1 item (1 item -> none, 2 items -> 0 or 1)
    assert counts[0] == 0 and counts[1] in (0, 1) and counts[2] == 1 and counts[3] == 2
    keys = lambda x: set((x.user * 100 + x.item).tolist())  # noqa: E731
    assert keys(fit) | keys(valid) == keys(train) and not keys(fit) & keys(valid)
    fit2, valid2 = carve_validation(train, 0.1, seed=5)
    assert keys(valid2) == keys(valid)
    assert keys(carve_validation(train, 0.5, seed=6)[1]) != keys(carve_validation(train, 0.5, seed=7)[1])
    with pytest.raises(ValueError, match=r"validation fraction must be in \(0, 1\)"):
        carve_validation(train, 1.0)


def test_dedup_pairs_never_wraps_on_huge_vocabularies():
    # 4 * 2**62 + 5 wraps to 5 in int64: packing would merge (0, 5) and (4, 5)
    wide = Interactions(np.array([4, 0, 4, 0]), np.array([5, 5, 5, 2**62 - 1]), 5, 2**62, name="wide")
    users, items = dedup_pairs(wide)
    assert users.tolist() == [0, 0, 4] and items.tolist() == [5, 2**62 - 1, 5]
    # the item ID 9e18 of a damaged folder: 1 * (9e18 + 1) + 9e18 wraps negative
    huge = Interactions(np.array([1, 0, 1, 1]), np.array([9 * 10**18, 9 * 10**18, 2, 2]), 2, 9 * 10**18 + 1, name="h")
    users, items = dedup_pairs(huge)
    assert users.tolist() == [0, 1, 1] and items.tolist() == [9 * 10**18, 2, 9 * 10**18]
    assert users.dtype == np.int64 and items.dtype == np.int64


def test_dedup_pairs_matches_python_sets_on_the_packed_path():
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 30, 2_000), rng.integers(0, 40, 2_000)
    users, items = dedup_pairs(Interactions(u, i, 30, 40, name="r"))
    assert list(zip(users.tolist(), items.tolist())) == sorted(set(zip(u.tolist(), i.tolist())))


def test_pack_pairs_refuses_keys_beyond_int64():
    assert pack_pairs(np.array([0, 2]), np.array([3, 1]), 3, 4).tolist() == [3, 9]
    big = 2**62
    assert pack_pairs(np.array([1]), np.array([big - 1]), 2, big).tolist() == [2 * big - 1]   # = 2**63 - 1 fits
    with pytest.raises(ValueError, match=r"5 users × 4611686018427387904 items do not fit in int64"):
        pack_pairs(np.array([4]), np.array([5]), 5, big)
