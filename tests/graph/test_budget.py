import numpy as np
import pytest
import scipy.sparse as sp

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.graph.biadjacency import build_biadjacency
from recsys_hash.graph.budget import resolve_budget, search_resolution, side_rows


def test_resolve_budget():
    assert resolve_budget(None, 10, "user") is None
    assert resolve_budget(3, 10, "user") == 3
    assert resolve_budget(0.25, 10, "user") == 2          # round(2.5) -> 2 (banker's), never below 1
    assert resolve_budget(0.01, 10, "item") == 1
    assert resolve_budget(1.0, 10, "item") == 10


@pytest.mark.parametrize("budget, match", [
    (11, r"user budget of 11 rows exceeds the user vocabulary of 10 IDs"),
    (0, r"user budget must be >= 1 row, got 0"),
    (-2, r"user budget must be >= 1 row"),
    (0.0, r"fraction must be in \(0, 1\], got 0.0"),
    (1.5, r"fraction must be in \(0, 1\]"),
    (True, r"must be an int count or a float fraction"),
    ("5", r"must be an int count or a float fraction"),
])
def test_bad_budgets(budget, match):
    with pytest.raises(ValueError, match=match):
        resolve_budget(budget, 10, "user")


def test_split_hand_example():
    # cluster 0: users 0..5 (degrees 1..6), cluster 1: users 6, 7; target 4 -> 2 private rows for the hottest
    # non-anchor users: user 5 anchors cluster 0 (row 0), user 6 anchors cluster 1 (row 1), users 4, 3 get rows 2, 3
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    deg = np.array([1, 2, 3, 4, 5, 6, 1, 1], dtype=float)
    b = sp.csr_matrix((deg, (np.arange(8), np.zeros(8, int))), shape=(8, 1))
    rows = side_rows(labels, b, np.array([0]), 4)
    assert rows.tolist() == [0, 0, 0, 3, 2, 0, 1, 1]


def test_merge_hand_example():
    # users in 3 clusters; items labelled 0/1/2; user cluster 2 (one user) shares item 1 with cluster 1 only
    user = np.array([0, 1, 2, 3, 4, 4])
    item = np.array([0, 0, 1, 1, 1, 2])
    b = sp.csr_matrix((np.ones(6), (user, item)), shape=(5, 3))
    labels = np.array([0, 0, 1, 1, 2])
    rows = side_rows(labels, b, np.array([0, 1, 2]), 2)
    assert rows.tolist() == [0, 0, 1, 1, 1]
    # a donor with no shared neighbour goes to the smallest kept cluster
    b2 = sp.csr_matrix((np.ones(5), ([0, 1, 2, 3, 4], [0, 0, 1, 1, 2])), shape=(5, 3))
    labels2 = np.array([0, 0, 1, 1, 2])
    rows2 = side_rows(labels2, b2, np.array([0, 1, 2]), 2)
    assert rows2.tolist() == [0, 0, 1, 1, 0]              # kept clusters tie on size: the lower row wins


def test_budget_beyond_connected_gives_isolated_ids_rows():
    b = sp.csr_matrix((np.ones(2), ([0, 1], [0, 0])), shape=(4, 1))   # users 2, 3 isolated
    rows = side_rows(np.array([0, 0, -1, -1]), b, np.array([0]), 3)
    assert sorted(rows[:2].tolist()) == [0, 1] and rows[2] == 2 and rows[3] == -1


@pytest.mark.parametrize("m_u, m_i", [(5, 300), (40, 40), (120, 80), (700, 20)])
def test_exact_budgets_both_sides(m_u, m_i):
    inter, _, _ = planted_bipartite(1000, 800, 10, 12_000, seed=2)
    b = build_biadjacency(inter)
    res = search_resolution(b, {"user": m_u, "item": m_i}, max_runs=2)
    assert 1 <= len(res.tries) <= 2
    ru = side_rows(res.user_labels, b, res.item_labels, m_u)
    ri = side_rows(res.item_labels, b.T.tocsr(), res.user_labels, m_i)
    for rows, m in ((ru, m_u), (ri, m_i)):
        used = rows[rows >= 0]
        assert np.unique(used).tolist() == list(range(m))
    connected = np.diff(b.indptr) > 0
    assert (ru[connected] >= 0).all()


def test_search_converges_and_is_deterministic():
    inter, _, _ = planted_bipartite(1000, 800, 10, 12_000, seed=2)
    b = build_biadjacency(inter)
    a = search_resolution(b, {"user": 200}, max_runs=4, tol=0.1)
    c = search_resolution(b, {"user": 200}, max_runs=4, tol=0.1)
    assert abs(a.n_user_clusters / 200 - 1) <= 0.1 or len(a.tries) == 4
    np.testing.assert_array_equal(a.user_labels, c.user_labels)
    assert [t["resolution"] for t in a.tries] == [t["resolution"] for t in c.tries]
    with pytest.raises(ValueError, match="max_runs must be >= 1"):
        search_resolution(b, {"user": 5}, max_runs=0)


def test_cluster_share_leaves_private_rows_to_hot_ids():
    # a 2-community planted graph with a 40-row item budget: with cluster_share=0.1 the search aims at ~4
    # clusters and the rest of the rows go to the hottest items, each alone on its row
    from recsys_hash.data.synthetic_graph import planted_bipartite
    from recsys_hash.ids.graphhash import GraphHash

    inter, _, _ = planted_bipartite(300, 200, 2, 6_000, seed=3)
    rem = GraphHash.fit_sides(inter, {"user": 40, "item": 40}, cluster_share=0.1)["item"]
    rows = rem.transform(np.arange(200))
    assert np.unique(rows).size == 40
    degree = np.bincount(inter.item, minlength=200)
    ids_per_row = np.bincount(rows, minlength=40)
    private = np.flatnonzero(ids_per_row[rows] == 1)
    shared = np.flatnonzero(ids_per_row[rows] > 1)
    assert private.size >= 30                                  # most rows are private rows of single items
    assert degree[private].min() >= np.median(degree[shared])  # ... and they belong to hot items
    with pytest.raises(ValueError, match=r"cluster_share must be in \(0, 1\]"):
        GraphHash(num_rows=10, cluster_share=0.0)
