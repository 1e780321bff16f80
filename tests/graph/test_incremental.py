import numpy as np
from scipy.optimize import linear_sum_assignment

from recsys_hash.graph.incremental import majority_vote, match_rows


def test_majority_vote_weights_ties_and_missing():
    owner = np.array([5, 5, 5, 2, 2, 7, 9])
    cand = np.array([1, 3, 3, 4, 0, -1, 2])
    w = np.array([5.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    owners, win = majority_vote(owner, cand, w)
    assert owners.tolist() == [2, 5, 9] and win.tolist() == [0, 1, 2]       # 2: tie -> smaller; 7: no valid vote
    assert majority_vote(owner, cand)[1].tolist() == [0, 3, 2]
    assert majority_vote(np.array([1]), np.array([-1]))[0].size == 0


def test_match_rows_recovers_a_permutation():
    old = np.array([0, 0, 1, 1, 2, 2, 2, 3])
    perm_true = np.array([2, 0, 3, 1])                   # new row n <- old row perm_true[n]
    new = np.argsort(perm_true)[old]
    perm, kept = match_rows(old, new, 4)
    assert perm.tolist() == perm_true.tolist() and kept == 8


def test_match_rows_partial_overlap_and_new_rows():
    old = np.array([0, 0, 0, 1, 1, -1, 5])              # old row 5 is beyond the new table: cannot be kept
    new = np.array([1, 1, 0, 0, 2, 2, 2])
    perm, kept = match_rows(old, new, 3)
    # new 1 <- old 0 (2 IDs), new 0 <- old 1 (1 ID), new 2 takes the free row 2
    assert perm.tolist() == [1, 0, 2] and kept == 3


def test_greedy_is_within_half_of_optimum():
    rng = np.random.default_rng(0)
    for _ in range(5):
        old = rng.integers(0, 12, 300)
        new = np.where(rng.random(300) < 0.6, (old * 7) % 12, rng.integers(0, 12, 300))
        perm, kept = match_rows(old, new, 12)
        cont = np.zeros((12, 12))
        np.add.at(cont, (new, old), 1)
        r, c = linear_sum_assignment(cont, maximize=True)
        assert 0.5 * cont[r, c].sum() <= kept <= cont[r, c].sum()
        assert kept == cont[np.arange(12), perm].sum()
        assert sorted(perm.tolist()) == list(range(12))
