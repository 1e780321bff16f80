"""Hashed rows spread consecutive IDs like random hashing, for every seed and every strategy that hashes."""
import numpy as np
import pytest

from recsys_hash.data.types import Interactions
from recsys_hash.ids import create, strategy_names
from recsys_hash.ids.hashing import universal_hash, universal_params

N, M = 2000, 500          # consecutive IDs, rows they hash into
SEEDS = range(100)


def expected_used(m: int, n: int) -> float:
    """Expected rows used when n keys fall uniformly at random into m rows."""
    return m * (1.0 - (1.0 - 1.0 / m) ** n)


def _graph() -> Interactions:
    """600 users on 7 items: a side vocabulary that a 500-row budget fits."""
    users = np.arange(600)
    return Interactions(users, users % 7, n_users=600, n_items=7)


GRAPH = _graph()


def hashed_columns(name: str, seed: int) -> list[tuple[np.ndarray, int, int]]:
    """(rows of N consecutive IDs in the strategy's hashed range, shifted to start at 0; hashed rows; IDs) per
    hash column. Keys owned by a table (frequent keys, the vocabulary, clusters) are left out: only what the
    hash decides is measured."""
    keys = np.arange(N)
    if name in ("modulo", "universal", "xxhash", "double"):
        rows = create(name, num_rows=M, seed=seed).fit(keys).transform(keys).reshape(N, -1)
        return [(rows[:, j], M, N) for j in range(rows.shape[1])]
    if name == "qr":                        # only the remainder column hashes; the quotient is key // r by design
        rows = create(name, num_rows=M, seed=seed).fit(keys).transform(keys)
        return [(rows[:, 0], M // 2, N)]
    if name in ("frequency", "double_frequency"):
        rem = create(name, num_rows=M, frequent_share=0.5, seed=seed).fit(keys)
        k = rem.num_frequent                # every key counted once: ties by key, so keys [0, k) own rows
        rows = rem.transform(keys[k:]).reshape(N - k, -1)
        return [(rows[:, j] - k, M - k, N - k) for j in range(rows.shape[1])]
    if name in ("full", "dedup"):           # unseen keys hash into the oov buckets (dedup: then full)
        rem = create(name, oov="hash", oov_buckets=M, seed=seed).fit(np.arange(10))
        return [(rem.transform(keys + 10) - 10, M, N)]
    if name in ("graphhash", "double_graphhash"):   # IDs beyond the vocabulary take the hash fallback
        rem = create(name, num_rows=M, seed=seed).fit(interactions=GRAPH, side="user")
        rows = rem.transform(keys + GRAPH.n_users).reshape(N, -1)
        return [(rows[:, j], M, N) for j in range(rows.shape[1])]
    raise AssertionError(f"strategy {name!r} has no spread check: add it here")


@pytest.mark.parametrize("name", strategy_names())
def test_consecutive_ids_fill_rows_like_random_hashing_for_every_seed(name):
    worst = np.inf
    for seed in SEEDS:
        for rows, m, n in hashed_columns(name, seed):
            assert rows.min() >= 0 and rows.max() < m
            worst = min(worst, np.unique(rows).size / expected_used(m, n))
    assert worst >= 0.9, f"{name}: worst seed uses {worst:.0%} of the rows random hashing would"


def test_issue_example_universal_seed_30():
    # ((a*x + b) mod p) mod m used 1,843 of 10,245 rows here; random hashing uses ~98% (10,073 expected)
    used = create("universal", num_rows=10_245, seed=30).fit(np.arange(40_981)).stats()["rows_used"]
    assert used >= 0.99 * expected_used(10_245, 40_981)


def test_universal_kernel_spreads_arithmetic_progressions():
    # any step, not only 1: the step a*step mod m is what made the bare family degenerate
    (a, b), = universal_params(30, 1)
    for step in (1, 2, 7, 1024, 10_245):
        rows = universal_hash(np.arange(N) * step + 5, a, b, M)
        assert np.unique(rows).size >= 0.9 * expected_used(M, N), step
