import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from sknetwork.clustering import get_modularity

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.data.types import Interactions
from recsys_hash.graph.biadjacency import build_biadjacency
from recsys_hash.graph.modularity import barber_modularity

B = sp.csr_matrix(np.array([[1.0, 1.0], [0.0, 1.0]]))   # edges (u0,i0) (u0,i1) (u1,i1); m = 3


def test_hand_computed():
    # inside edges 2 of 3; sum_c K_u(c) D_i(c) = 2*1 + 1*2 = 4  -> 2/3 - 4/9
    assert barber_modularity(B, np.array([0, 1]), np.array([0, 1])) == pytest.approx(2 / 9)
    assert barber_modularity(B, np.array([0, 0]), np.array([0, 0])) == pytest.approx(0.0)
    assert barber_modularity(B, np.array([0, 0]), np.array([0, 0]), resolution=0.5) == pytest.approx(0.5)
    # label -1 (no cluster) contributes nothing
    assert barber_modularity(B, np.array([0, -1]), np.array([0, -1])) == pytest.approx(1 / 3 - 2 / 9)


def test_weighted_hand_computed():
    # B = [[2, 1], [0, 3]], users u0 u1, items i0 i1, labels u = i = [0, 1]; m = 2 + 1 + 3 = 6.
    # fit: edges inside clusters (u0,i0) = 2 and (u1,i1) = 3 -> 5/6.
    # weighted degrees: k(u0) = 3, k(u1) = 3; d(i0) = 2, d(i1) = 1 + 3 = 4.
    # diversity: sum_c K_u(c) D_i(c) / m^2 = (3 * 2 + 3 * 4) / 36 = 1/2  ->  Q = 5/6 - 1/2 = 1/3.
    # Ignoring the weights (every edge 1) gives 2/3 - (2 * 1 + 1 * 2) / 9 = 2/9 instead.
    b = sp.csr_matrix(np.array([[2.0, 1.0], [0.0, 3.0]]))
    lu, li = np.array([0, 1]), np.array([0, 1])
    assert barber_modularity(b, lu, li) == pytest.approx(1 / 3, abs=1e-15)
    assert barber_modularity(b, lu, li, resolution=2.0) == pytest.approx(5 / 6 - 1.0, abs=1e-15)
    # one cluster for everything: fit 1, diversity (6 * 6) / 36 = 1 -> 0 at any weights
    assert barber_modularity(b, np.array([0, 0]), np.array([0, 0])) == pytest.approx(0.0, abs=1e-15)
    # u1 and i1 unclustered: fit 2/6, diversity K_u(0) D_i(0) / 36 = 3 * 2 / 36 -> 1/3 - 1/6 = 1/6
    assert barber_modularity(b, np.array([0, -1]), np.array([0, -1])) == pytest.approx(1 / 6, abs=1e-15)


def _sknetwork_barber(b, lu, li, gamma):
    """scikit-network's modularity of the directed graph user -> item, which is Barber's bipartite modularity.

    (`get_modularity(B, labels_row, labels_col)` symmetrises B and returns Newman's modularity of the undirected
    bipartite graph, diversity sum_c ((K_u(c) + D_i(c)) / 2m)^2: another quantity, not the reference here.)
    """
    n_u, n_i = b.shape
    directed = sp.bmat([[None, b], [sp.csr_matrix((n_i, n_u)), None]]).tocsr()
    return get_modularity(directed, np.concatenate([lu, li]), resolution=gamma)


@pytest.mark.parametrize("weighting", ["duplicates", "ratings"])
def test_equals_sknetwork_on_weighted_graphs(weighting):
    rng = np.random.default_rng(7)
    user, item = rng.integers(0, 40, 900), rng.integers(0, 30, 900)     # ~ half the pairs repeat: weights 2, 3, ...
    rating = rng.integers(1, 6, 900).astype(np.float32)
    inter = Interactions(user, item, 40, 30, rating=rating, name="w")
    b = build_biadjacency(inter, weights="rating" if weighting == "ratings" else None)
    assert b.data.max() >= 3 and np.unique(b.data).size >= 3                # really weighted
    lu, li = rng.integers(0, 4, 40), rng.integers(0, 4, 30)
    unit = b.copy()
    unit.data[:] = 1.0
    for gamma in (1.0, 2.5):
        ref = _sknetwork_barber(b, lu, li, gamma)
        assert barber_modularity(b, lu, li, gamma) == pytest.approx(ref, rel=1e-12, abs=1e-15)
        # the unweighted graph scores ~5e-4 apart, 1e8 times the tolerance: a weight-blind modularity fails above
        assert abs(_sknetwork_barber(unit, lu, li, gamma) - ref) > 1e-4


def test_equals_sknetwork_directed_form():
    inter, _, _ = planted_bipartite(60, 50, 4, 600, seed=3)
    b = build_biadjacency(inter)
    rng = np.random.default_rng(0)
    lu, li = rng.integers(0, 5, b.shape[0]), rng.integers(0, 5, b.shape[1])
    for gamma in (1.0, 3.0):
        assert barber_modularity(b, lu, li, gamma) == pytest.approx(_sknetwork_barber(b, lu, li, gamma), rel=1e-9)


def test_equals_networkx_when_clusters_are_components():
    # Three components: Newman's and Barber's null terms coincide when each cluster holds all edges of its nodes.
    user = np.array([0, 0, 1, 2, 3, 3, 4])
    item = np.array([0, 1, 1, 2, 3, 4, 4])
    b = sp.csr_matrix((np.ones(7), (user, item)), shape=(5, 5))
    lu, li = np.array([0, 0, 1, 2, 2]), np.array([0, 0, 1, 2, 2])
    g = nx.Graph()
    g.add_edges_from(zip(user.tolist(), (item + 5).tolist()))
    comms = [{0, 1, 5, 6}, {2, 7}, {3, 4, 8, 9}]
    for gamma in (1.0, 2.0):
        assert barber_modularity(b, lu, li, gamma) == pytest.approx(nx.community.modularity(g, comms, resolution=gamma))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="do not match the biadjacency"):
        barber_modularity(B, np.array([0, 1, 2]), np.array([0, 1]))


def test_blocked_edge_pass_equals_the_dense_formula(monkeypatch):
    """The inside-cluster weight is summed over blocks of rows; with tiny blocks (and empty rows, unlabelled nodes)
    the result equals Q computed densely from its definition."""
    import recsys_hash.graph.modularity as mod

    rng = np.random.default_rng(4)
    dense = (rng.random((40, 30)) < 0.15) * rng.integers(1, 4, (40, 30)).astype(float)
    dense[[3, 17, 39]] = 0.0                                    # empty rows, the last one too
    b = sp.csr_matrix(dense)
    users, items = rng.integers(-1, 5, 40), rng.integers(-1, 5, 30)
    m = dense.sum()
    same = (users[:, None] == items[None, :]) & (users[:, None] >= 0)
    expected = float(((dense - 0.7 * np.outer(dense.sum(1), dense.sum(0)) / m) * same).sum() / m)
    monkeypatch.setattr(mod, "_EDGE_BLOCK", 7)
    assert barber_modularity(b, users, items, resolution=0.7) == pytest.approx(expected, rel=1e-12, abs=1e-15)
