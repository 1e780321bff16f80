import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from sknetwork.clustering import get_modularity

from recsys_hash.data.synthetic_graph import planted_bipartite
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


def test_equals_sknetwork_directed_form():
    inter, _, _ = planted_bipartite(60, 50, 4, 600, seed=3)
    b = build_biadjacency(inter)
    rng = np.random.default_rng(0)
    lu, li = rng.integers(0, 5, b.shape[0]), rng.integers(0, 5, b.shape[1])
    n_u, n_i = b.shape
    directed = sp.bmat([[None, b], [sp.csr_matrix((n_i, n_u)), None]]).tocsr()   # user -> item edges only
    for gamma in (1.0, 3.0):
        ref = get_modularity(directed, np.concatenate([lu, li]), resolution=gamma)
        assert barber_modularity(b, lu, li, gamma) == pytest.approx(ref, rel=1e-9)


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
