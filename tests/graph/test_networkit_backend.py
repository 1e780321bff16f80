"""The "networkit" clustering backend (NetworKit PLM on users + items as one graph)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import normalized_mutual_info_score as nmi

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.errors import MissingDependencyError
from recsys_hash.graph.biadjacency import build_biadjacency
from recsys_hash.graph.budget import search_resolution
from recsys_hash.graph.clustering import cluster_bipartite
from recsys_hash.graph.modularity import barber_modularity


@pytest.fixture(scope="module")
def planted():
    inter, lu, li = planted_bipartite(1500, 1000, 12, 20_000, p_in=0.85, seed=1)
    return build_biadjacency(inter), lu, li


def _two_bicliques() -> sp.csr_matrix:
    """Users 0-2 x items 0-2 (a 3x3 biclique) and users 3-4 x items 3-4 (2x2); user 5 and item 5 isolated."""
    user = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4])
    item = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 4, 3, 4])
    return sp.csr_matrix((np.ones(user.size), (user, item)), shape=(6, 6))


def test_two_bicliques_exact_labels_largest_first():
    res = cluster_bipartite(_two_bicliques(), 1.0, backend="networkit", seed=0)
    assert res.user_labels.tolist() == [0, 0, 0, 1, 1, -1]
    assert res.item_labels.tolist() == [0, 0, 0, 1, 1, -1]
    # Barber Q by hand: m = 13, all edges inside; diversity = (9*9 + 4*4) / 13^2
    assert res.modularity == pytest.approx(1.0 - 97 / 169)
    assert res.backend == "networkit" and res.threads == 1
    assert res.summary()["threads"] == 1 and "threads" not in cluster_bipartite(_two_bicliques()).summary()


def test_weighted_edges_are_used():
    # user 0 ties to item 0 by weight 5 and to item 1 by weight 1; user 1 only to item 1 (weight 5)
    b = sp.csr_matrix(np.array([[5.0, 1.0], [0.0, 5.0]]))
    res = cluster_bipartite(b, 1.0, backend="networkit")
    assert res.user_labels.tolist() == [0, 1] and res.item_labels.tolist() == [0, 1]


@pytest.mark.parametrize("threads", [1, 2])
def test_recovers_planted_communities(planted, threads):
    b, lu, li = planted
    res = cluster_bipartite(b, 1.0, backend="networkit", seed=0, threads=threads)
    cu, ci = np.diff(b.indptr) > 0, np.bincount(b.indices, minlength=b.shape[1]) > 0
    assert nmi(lu[cu], res.user_labels[cu]) >= 0.9 and nmi(li[ci], res.item_labels[ci]) >= 0.9
    assert res.modularity == pytest.approx(barber_modularity(b, res.user_labels, res.item_labels))
    sizes = np.bincount(np.concatenate([res.user_labels[cu], res.item_labels[ci]]))
    assert np.all(np.diff(sizes) <= 0)                    # numbered largest cluster first
    assert res.threads == threads


def test_reproducible_in_a_one_thread_process(tmp_path):
    # the thread count must be set before networkit builds its graph: with torch/OpenMP defaults of 2+ threads a
    # parallel build gave 4-6 different labellings out of 8 runs here
    code = (
        "import numpy as np\n"
        "from recsys_hash.data.synthetic_graph import planted_bipartite\n"
        "from recsys_hash.graph.biadjacency import build_biadjacency\n"
        "from recsys_hash.graph.clustering import cluster_bipartite\n"
        "b = build_biadjacency(planted_bipartite(1500, 1000, 12, 20_000, p_in=0.85, seed=1)[0])\n"
        "runs = [cluster_bipartite(b, r, backend='networkit', seed=3) for r in (20.0,) * 4 + (1.0,) * 4]\n"
        "print(len({(x.user_labels.tobytes(), x.item_labels.tobytes()) for x in runs}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2], env=env)
    assert out.stdout.split()[-1] == "2"                  # one labelling per resolution


def test_one_thread_labels_do_not_change_after_a_multi_threaded_run(planted):
    b = planted[0]
    first = cluster_bipartite(b, 20.0, backend="networkit", seed=3)
    cluster_bipartite(b, 20.0, backend="networkit", seed=3, threads=2)
    again = cluster_bipartite(b, 20.0, backend="networkit", seed=3)
    assert np.array_equal(first.user_labels, again.user_labels)
    assert np.array_equal(first.item_labels, again.item_labels)


def test_thread_setting_restored(planted):
    import networkit as nk

    before = nk.getMaxNumberOfThreads()
    cluster_bipartite(planted[0], 1.0, backend="networkit", threads=before + 1)
    assert nk.getMaxNumberOfThreads() == before


def test_budget_search_with_networkit(planted):
    b, _, _ = planted
    res = search_resolution(b, {"user": 60, "item": 40}, backend="networkit", max_runs=6, tol=0.15)
    got = np.sqrt(res.n_user_clusters * res.n_item_clusters)
    assert abs(np.log(got / np.sqrt(60 * 40))) <= np.log(1.15)
    assert res.backend == "networkit" and len(res.tries) >= 2


def test_missing_networkit_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "networkit", None)          # `import networkit` now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"backend 'networkit' needs .*pip install networkit"):
        cluster_bipartite(_two_bicliques(), 1.0, backend="networkit")


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads(threads):
    with pytest.raises(ValueError, match=f"threads must be a positive integer or None, got {threads!r}"):
        cluster_bipartite(_two_bicliques(), 1.0, backend="networkit", threads=threads)


def test_the_biadjacency_is_left_unchanged(planted):
    b = planted[0]
    before = (b.indices.copy(), b.indptr.copy(), b.data.copy(), b.indices.dtype)
    cluster_bipartite(b, 20.0, backend="networkit", seed=3)
    assert b.indices.dtype == before[3]
    np.testing.assert_array_equal(b.indices, before[0])
    np.testing.assert_array_equal(b.indptr, before[1])
    np.testing.assert_array_equal(b.data, before[2])
