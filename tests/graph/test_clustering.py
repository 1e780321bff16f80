import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import normalized_mutual_info_score as nmi
from sknetwork.clustering import Louvain

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.graph.biadjacency import build_biadjacency
from recsys_hash.graph.clustering import cluster_bipartite
from recsys_hash.graph.modularity import barber_modularity


@pytest.fixture(scope="module")
def planted():
    inter, lu, li = planted_bipartite(1500, 1000, 12, 20_000, p_in=0.85, seed=1)
    return build_biadjacency(inter), lu, li


def _connected(b):
    return np.diff(b.indptr) > 0, np.bincount(b.indices, minlength=b.shape[1]) > 0


@pytest.mark.parametrize("backend", ["sknetwork", "networkx"])
def test_recovers_planted_communities(planted, backend):
    b, lu, li = planted
    res = cluster_bipartite(b, 1.0, backend=backend, seed=0)
    cu, ci = _connected(b)
    assert nmi(lu[cu], res.user_labels[cu]) >= 0.9
    assert nmi(li[ci], res.item_labels[ci]) >= 0.9
    assert res.modularity == pytest.approx(barber_modularity(b, res.user_labels, res.item_labels))
    assert res.backend == backend and res.seconds > 0


def test_identical_to_direct_sknetwork_call(planted):
    b, _, _ = planted
    cu, ci = _connected(b)
    b = b[cu][:, ci]                                  # no isolated nodes: labels must be identical, not just equivalent
    for r in (1.0, 20.0):
        direct = Louvain(resolution=r).fit(b, force_bipartite=True)
        ours = cluster_bipartite(b, r)
        np.testing.assert_array_equal(ours.user_labels, direct.labels_row_)
        np.testing.assert_array_equal(ours.item_labels, direct.labels_col_)
        assert ours.modularity_at_resolution == pytest.approx(barber_modularity(b, direct.labels_row_,
                                                                                direct.labels_col_, r))


def test_deterministic_and_isolated_nodes_unlabelled():
    b = sp.csr_matrix((np.ones(4), ([0, 0, 2, 2], [0, 1, 2, 3])), shape=(4, 5))   # user 1, 3 and item 4 isolated
    a, c = cluster_bipartite(b, 1.0), cluster_bipartite(b, 1.0)
    np.testing.assert_array_equal(a.user_labels, c.user_labels)
    assert a.user_labels[[1, 3]].tolist() == [-1, -1] and a.item_labels[4] == -1
    assert a.user_labels[0] == a.item_labels[0] == a.item_labels[1] != a.user_labels[2]
    assert a.n_clusters == 2 and a.n_user_clusters == 2 and a.n_item_clusters == 2
    assert set(a.summary()) >= {"modularity", "resolution", "backend", "seconds", "n_user_clusters"}


def test_bad_input():
    b = sp.csr_matrix(np.eye(2))
    with pytest.raises(ValueError, match="unknown backend 'igraph'"):
        cluster_bipartite(b, backend="igraph")
    with pytest.raises(ValueError, match="resolution must be a positive number"):
        cluster_bipartite(b, 0.0)
    with pytest.raises(ValueError, match="no edges"):
        cluster_bipartite(sp.csr_matrix((2, 2)))
    with pytest.raises(ValueError, match="NaN/inf/negative"):
        cluster_bipartite(sp.csr_matrix(np.array([[1.0, np.nan], [0, 1]])))
    with pytest.raises(ValueError, match="2-D scipy sparse"):
        cluster_bipartite(np.eye(2))
