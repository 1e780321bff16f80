"""GraphHash with the "networkit" clustering backend: budgets, refit, partial_fit and artifacts as with sknetwork."""
import sys

import numpy as np
import pytest

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.errors import MissingDependencyError
from recsys_hash.ids import IdRemapper
from recsys_hash.ids.graphhash import GraphHash


@pytest.fixture(scope="module")
def planted():
    inter, _, _ = planted_bipartite(800, 600, 8, 9000, seed=4)
    return inter


@pytest.mark.parametrize("cluster_share", [1.0, "auto"])
def test_exact_budgets_and_backend_recorded(planted, cluster_share):
    sides = GraphHash.fit_sides(planted, {"user": 50, "item": 30}, backend="networkit", threads=2,
                                cluster_share=cluster_share)
    for side, m in (("user", 50), ("item", 30)):
        rem = sides[side]
        vocab = planted.n_users if side == "user" else planted.n_items
        assert rem.table_rows == m and np.unique(rem.transform(np.arange(vocab))).tolist() == list(range(m))
        assert rem.clustering_summary_["backend"] == "networkit" and rem.clustering_summary_["threads"] == 2
        assert rem.get_params()["backend"] == "networkit" and rem.get_params()["threads"] == 2


def test_resolution_mode_finds_planted_communities(planted):
    rem = GraphHash(resolution=1.0, backend="networkit").fit(interactions=planted, side="item")
    assert rem.table_rows == rem.clustering_summary_["n_item_clusters"] == 8     # the 8 planted communities
    assert rem.clustering_summary_["threads"] == 1 and rem.clustering_summary_["modularity"] > 0.5


def test_save_load_refit_partial_fit(tmp_path, planted):
    rem = GraphHash(num_rows=40, backend="networkit", cluster_share=1.0, seed=2).fit(interactions=planted, side="user")
    back = IdRemapper.load(rem.save(tmp_path / "gh.safetensors"))
    assert back.backend == "networkit" and back.threads is None
    assert back.clustering_summary_["backend"] == "networkit"
    np.testing.assert_array_equal(back.transform(np.arange(1000)), rem.transform(np.arange(1000)))
    back.refit(planted)                              # same graph: labels may vary a little (see clustering.py)
    assert back.refit_report_["share"] >= 0.5 and back.table_rows == 40
    assert np.unique(back.transform(np.arange(800))).size == 40
    back = IdRemapper.load(rem.save(tmp_path / "gh.safetensors"))
    more, _, _ = planted_bipartite(900, 600, 8, 10_000, seed=5)
    back.partial_fit(more)
    assert back.partial_fit_report_["assigned"] > 0
    known = np.flatnonzero(rem.known_)                             # fitted IDs keep their rows
    np.testing.assert_array_equal(back.transform(known), rem.transform(known))


def test_missing_networkit_named_at_fit_not_at_load(tmp_path, planted, monkeypatch):
    path = GraphHash(num_rows=20, backend="networkit").fit(interactions=planted, side="item").save(tmp_path / "a")
    monkeypatch.setitem(sys.modules, "networkit", None)
    back = IdRemapper.load(path)                                   # serving needs no networkit
    assert back.transform(np.array([0, 5])).shape == (2,)
    with pytest.raises(MissingDependencyError, match="pip install networkit"):
        GraphHash.fit_sides(planted, {"user": 0.1, "item": 0.1}, backend="networkit")


def test_bad_backend_options():
    with pytest.raises(ValueError, match="unknown backend 'igraph'; choose one of sknetwork, networkit, networkx"):
        GraphHash(backend="igraph")
    with pytest.raises(ValueError, match="graphhash: threads must be a positive integer or None, got 0"):
        GraphHash(backend="networkit", threads=0)
