"""BPR batches, negative sampling and the validation carve."""
import numpy as np
import pytest

from recsys_hash.data.types import Interactions
from recsys_hash.models.sampling import carve_validation, dedup_pairs, epoch_batches, sample_negatives


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
