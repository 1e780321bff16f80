import numpy as np
import pytest
import torch

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.data.types import Interactions
from recsys_hash.errors import ArtifactError, InvalidIdError
from recsys_hash.ids import IdRemapper, create, get_strategy
from recsys_hash.ids.graphhash import DoubleGraphHash, GraphHash
from recsys_hash.ids.hashing import universal_hash, universal_params


@pytest.fixture(scope="module")
def planted():
    inter, lu, li = planted_bipartite(800, 600, 8, 9000, seed=4)
    return inter


def test_registered_and_created_by_name():
    assert get_strategy("graphhash") is GraphHash and get_strategy("double_graphhash") is DoubleGraphHash
    rem = create("graphhash", num_rows=0.25, seed=3)
    assert rem.needs_interactions and rem.get_params()["num_rows"] == 0.25 and rem.rows_per_id == 1
    assert create("double_graphhash").rows_per_id == 2


@pytest.mark.parametrize("budgets", [{"user": 8, "item": 8}, {"user": 50, "item": 3}, {"user": 0.3, "item": 0.1},
                                     {"user": 800, "item": 600}])
def test_fit_sides_exact_budgets(planted, budgets):
    sides = GraphHash.fit_sides(planted, budgets)
    for side, rem in sides.items():
        vocab = planted.n_users if side == "user" else planted.n_items
        m = budgets[side] if isinstance(budgets[side], int) else round(budgets[side] * vocab)
        assert rem.table_rows == m and rem.side_ == side
        rows = rem.transform(np.arange(vocab))
        assert np.unique(rows).tolist() == list(range(m))
    # both sides come from one clustering
    assert sides["user"].clustering_summary_["tries"] == sides["item"].clustering_summary_["tries"]


def test_single_side_fit_resolution_mode_and_budget(planted):
    rem = GraphHash(resolution=1.0).fit(interactions=planted, side="item")
    assert rem.table_rows == rem.clustering_summary_["n_item_clusters"] == 8
    assert rem.clustering_summary_["modularity"] > 0.5
    rem = GraphHash(num_rows=37).fit(interactions=planted, side="user")
    assert rem.table_rows == 37 and np.unique(rem.transform(np.arange(800))).size == 37


def test_deterministic(planted):
    a = GraphHash(num_rows=50, seed=1).fit(interactions=planted, side="user")
    b = GraphHash(num_rows=50, seed=1).fit(interactions=planted, side="user")
    np.testing.assert_array_equal(a.transform(np.arange(10_000)), b.transform(np.arange(10_000)))


def test_unseen_and_isolated_ids_hash_into_range():
    inter = Interactions(np.array([0, 0, 1, 3]), np.array([0, 1, 1, 2]), n_users=5, n_items=3)   # users 2, 4 isolated
    rem = GraphHash(resolution=1.0, seed=9).fit(interactions=inter, side="user")
    m = rem.table_rows
    a, b = universal_params(9, 2)[0]
    rows = rem.transform(np.array([2, 4, 5, 10**12, 2**62]))
    assert rows.tolist() == universal_hash(np.array([2, 4, 5, 10**12, 2**62]), a, b, m).tolist()
    assert ((rows >= 0) & (rows < m)).all()
    assert not rem.known_[[2, 4]].any() and rem.known_[[0, 1, 3]].all()
    out = rem.transform(torch.tensor([0, 10**9]))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.int64


def test_double_graphhash_two_rows_same_table(planted):
    single = GraphHash(num_rows=40).fit(interactions=planted, side="item")
    double = DoubleGraphHash(num_rows=40).fit(interactions=planted, side="item")
    ids = np.array([0, 5, 599, 600, 10**10])
    rows = double.transform(ids)
    assert rows.shape == (5, 2) and double.table_rows == 40
    np.testing.assert_array_equal(rows[:, 0], single.transform(ids))
    np.testing.assert_array_equal(rows[:, 1], universal_hash(ids, *universal_params(0, 2)[1], 40))
    assert ((rows >= 0) & (rows < 40)).all()


def test_artifact_round_trip(tmp_path, planted):
    for cls in (GraphHash, DoubleGraphHash):
        rem = cls(num_rows=0.1, seed=5).fit(interactions=planted, side="user")
        path = rem.save(tmp_path / f"{cls.name}.safetensors")
        back = IdRemapper.load(path)
        assert type(back) is cls and back.table_rows == rem.table_rows and back.side_ == "user"
        ids = np.arange(0, 2000, 3)
        np.testing.assert_array_equal(back.transform(ids), rem.transform(ids))
        meta = back.clustering_summary_
        assert meta["modularity"] == rem.clustering_summary_["modularity"] and meta["seed"] == 5
        assert meta["side_rows"] == 80 and meta["n_user_clusters"] > 0 and meta["resolution"] > 0
    sides = GraphHash.fit_sides(planted, {"user": 30, "item": 20})
    item = IdRemapper.load(sides["item"].save(tmp_path / "item.safetensors"))
    np.testing.assert_array_equal(item.transform(np.arange(700)), sides["item"].transform(np.arange(700)))
    np.testing.assert_array_equal(item.fit_counts_, np.bincount(planted.item)[np.unique(planted.item)])
    assert item.stats() == sides["item"].stats() and item.stats()["rows_used"] == 20
    with pytest.raises(ArtifactError, match="holds strategy 'double_graphhash', not 'graphhash'"):
        GraphHash.load(tmp_path / "double_graphhash.safetensors")


def test_bad_input(planted):
    with pytest.raises(ValueError, match="fractional num_rows must be in"):
        GraphHash(num_rows=1.5)
    with pytest.raises(ValueError, match="num_rows must be a positive integer"):
        GraphHash(num_rows=0)
    with pytest.raises(ValueError, match="unknown backend 'leiden'"):
        GraphHash(backend="leiden")
    with pytest.raises(ValueError, match="resolution must be a positive number"):
        GraphHash(resolution=-1.0)
    with pytest.raises(ValueError, match="user budget of 900 rows exceeds the user vocabulary of 800"):
        GraphHash(num_rows=900).fit(interactions=planted, side="user")
    with pytest.raises(ValueError, match="needs interactions"):
        GraphHash().fit(np.arange(5))
    with pytest.raises(InvalidIdError, match="integer ID indices"):
        GraphHash().fit(np.array(["a", "b"]), interactions=planted, side="user")
    rem = GraphHash(num_rows=10).fit(interactions=planted, side="user")
    with pytest.raises(InvalidIdError, match="negative ID -3"):
        rem.transform(np.array([1, -3]))
    with pytest.raises(InvalidIdError, match="fitted on int keys, got str keys"):
        rem.transform(np.array(["u1"]))
    bad = Interactions(np.array([0, -1]), np.array([0, 1]), n_users=2, n_items=2)
    with pytest.raises(InvalidIdError, match="negative ID -1 at position 1"):
        GraphHash().fit(interactions=bad, side="user")
    nan = Interactions(np.array([0, 1]), np.array([0, 1]), 2, 2, rating=np.array([1.0, np.nan], np.float32))
    with pytest.raises(ValueError, match="weight nan at interaction 1"):
        GraphHash(weights="rating").fit(interactions=nan, side="item")
    empty = Interactions(np.zeros(0, np.int64), np.zeros(0, np.int64), 3, 3)
    with pytest.raises(InvalidIdError, match="got no IDs to fit on"):
        GraphHash().fit(interactions=empty, side="user")
    with pytest.raises(ValueError, match="interaction graph is empty"):
        GraphHash.fit_sides(empty, {"user": 2, "item": 2})
    with pytest.raises(ValueError, match="rows must map 'user'/'item'"):
        GraphHash.fit_sides(planted, {"users": 2})


@pytest.mark.parametrize("cls", [GraphHash, DoubleGraphHash])
def test_torchrec_module_matches_transform(planted, cls):
    from torchrec.sparse.jagged_tensor import JaggedTensor

    from recsys_hash.integrations.mc_module import RemapperMCModule

    rem = cls(num_rows=30).fit(interactions=planted, side="item")
    queries = np.array([0, 5, 599, 600, 10**12, 3], dtype=np.int64)
    mc = RemapperMCModule(rem, name="item")
    out = mc({"t": JaggedTensor(values=torch.from_numpy(queries), lengths=torch.tensor([4, 2]))})["t"]
    np.testing.assert_array_equal(out.values().numpy(), rem.transform(queries).reshape(-1))
    assert out.lengths().tolist() == [4 * rem.rows_per_id, 2 * rem.rows_per_id] and mc.output_size() == 30
    rem.partial_fit(Interactions(np.array([0, 1]), np.array([700, 700]), planted.n_users, 701))
    assert rem.remap_spec().dense_keys == 701                 # the spec follows partial_fit


def test_reserve_rows_moves_the_given_ids_onto_new_rows_and_keeps_the_others(tmp_path):
    inter = planted_bipartite(300, 200, 6, 3000, p_in=0.9, seed=2)[0]
    gh = GraphHash.fit_sides(inter, {"user": 40, "item": 30}, seed=0)["item"]
    before, n = gh.rows_.copy(), gh.num_rows_
    cold = np.array([3, 17, 150], dtype=np.int64)
    assert gh.reserve_rows(cold, extra=5, seed=7) == 3
    a, b = universal_params(8)[0]
    expected = before.copy()
    expected[cold] = n + universal_hash(cold, a, b, 5)
    assert gh.num_rows_ == n + 5 and gh.table_rows == n + 5
    np.testing.assert_array_equal(gh.rows_, expected)
    np.testing.assert_array_equal(gh.transform(np.arange(200)), expected)        # the lookup table is rebuilt
    big = np.array([10**9], dtype=np.int64)                                       # beyond the vocabulary
    assert gh.transform(big)[0] == universal_hash(big, *gh._hash[0], n + 5)[0]
    again = IdRemapper.load(gh.save(tmp_path / "item.safetensors"))
    np.testing.assert_array_equal(again.transform(np.arange(200)), expected)
    for bad, match in ((np.array([200]), r"indices of the fitted vocabulary \[0, 200\)"),
                       (np.array([-1]), r"indices of the fitted vocabulary"),
                       (np.array([1.5]), r"got dtype float64")):
        with pytest.raises(ValueError, match=match):
            gh.reserve_rows(bad, extra=2)
    with pytest.raises(ValueError, match=r"extra must be an integer >= 1, got 0"):
        gh.reserve_rows(cold, extra=0)
