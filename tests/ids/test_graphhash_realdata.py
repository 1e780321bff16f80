import numpy as np
import pytest
from sknetwork.clustering import Louvain

from recsys_hash.data import load_interactions
from recsys_hash.graph.biadjacency import build_biadjacency
from recsys_hash.graph.modularity import barber_modularity
from recsys_hash.ids.graphhash import GraphHash

pytestmark = pytest.mark.realdata


def _one_to_one(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to renaming: as many distinct (a, b) pairs as distinct a and as distinct b."""
    n_pairs = np.unique(np.stack([a, b]), axis=1).shape[1]
    return n_pairs == np.unique(a).size == np.unique(b).size


def test_gowalla_resolution_200_and_budget(data_root):
    train = load_interactions("gowalla", dataset_path=data_root / "recsys" / "gowalla").train
    assert (train.n_users, train.n_items, len(train)) == (29_858, 40_981, 810_128)
    sides = GraphHash.fit_sides(train, {"user": None, "item": None}, resolution=200)
    # reference: scikit-network's bipartite Louvain called plainly (deterministic: no node shuffling by default)
    graph = build_biadjacency(train)
    plain = Louvain(resolution=200).fit(graph)
    ref_users, ref_items = plain.labels_row_, plain.labels_col_
    assert (np.unique(ref_users).size, np.unique(ref_items).size) == (5652, 5669)   # 5,675 joint clusters
    assert (sides["user"].table_rows, sides["item"].table_rows) == (5652, 5669)
    joint = np.concatenate([sides["user"].labels_, sides["item"].labels_])
    assert _one_to_one(joint, np.concatenate([ref_users, ref_items]))
    assert _one_to_one(sides["user"].rows_, ref_users) and _one_to_one(sides["item"].rows_, ref_items)
    summary = sides["user"].clustering_summary_
    assert summary["n_clusters"] == 5675
    assert summary["modularity"] == pytest.approx(barber_modularity(graph, ref_users, ref_items), rel=1e-12)
    budget = GraphHash.fit_sides(train, {"user": 0.25, "item": 0.25})
    assert budget["user"].table_rows == 7464 and budget["item"].table_rows == 10245
    assert np.unique(budget["item"].transform(np.arange(train.n_items))).size == 10245
