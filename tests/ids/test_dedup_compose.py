"""dedup+X for every registered X: each member of an entity maps to exactly X(entity)'s rows, X fitted on the
consolidated data, on every path (numpy, torch eager and scripted, the GPU twin on CPU, MC-EBC pooling, artifact)."""
import numpy as np
import pytest
import torch
from torchrec.sparse.jagged_tensor import JaggedTensor, KeyedJaggedTensor

from recsys_hash.artifacts import load_artifact, save_artifact
from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.data.types import Interactions
from recsys_hash.errors import ArtifactError, InvalidIdError
from recsys_hash.ids import IdRemapper, create, get_strategy, strategy_names
from recsys_hash.ids.dedup import consolidate, entity_map
from recsys_hash.ids.keytable import KeyTable
from recsys_hash.ids.remap_spec import Column, RemapSpec, apply_spec
from recsys_hash.integrations import RemapperMCModule, make_mc_ebc
from recsys_hash.integrations import torch_ops

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

#: entities {3, 9, 12}, {40, 41}, {7, 140}, {5, 200} (a member beyond the graph's 150 items), {400, 450} (never seen)
DUPLICATES = [[9, 3], [12, 9], [41, 40], [140, 7], [200, 5], [450, 400]]
SPARSE_DUPS = [[2**40 + 1, 5], [2**50 + 3, 2**50 + 7], [77, 2**61]]
INNER = [n for n in strategy_names() if n != "dedup"]
GRAPH = [n for n in INNER if get_strategy(n).needs_interactions]
CASES = [(n, "dense") for n in INNER] + [(n, "sparse") for n in INNER if n not in GRAPH]
TOP = 2**63 - 1


def _params(name):
    if name == "full":
        return {"seed": 3, "oov": "hash", "oov_buckets": 7}
    return {"seed": 3, "num_rows": 40, **({"cluster_share": 0.5} if name in GRAPH else {})}


@pytest.fixture(scope="module")
def graph():
    return planted_bipartite(200, 150, 4, 2000, seed=1)[0]


def _fit_pair(name, keys_kind, graph):
    """(dedup+name fitted on raw data, name fitted on the consolidated data, queries, consolidated queries)."""
    dups = DUPLICATES if keys_kind == "dense" else DUPLICATES + SPARSE_DUPS
    members, entities = entity_map(dups)
    composed = create(f"dedup+{name}", duplicates=dups, **_params(name))
    plain = create(name, **_params(name))
    if name in GRAPH:
        merged = Interactions(graph.user, consolidate(graph.item, members, entities), graph.n_users, graph.n_items)
        composed.fit(interactions=graph, side="item")
        plain.fit(interactions=merged, side="item")
    else:
        keys = graph.item if keys_kind == "dense" else np.concatenate(
            [np.random.default_rng(0).integers(0, 2**62, 300), [2**40 + 1, 2**50 + 3, 2**50 + 3, 77]])
        keys = np.concatenate([keys, keys[:50]])                     # repeats: frequencies
        composed.fit(keys)
        plain.fit(consolidate(keys, members, entities))
    q = np.concatenate([np.arange(155), members, [451, 1001, 2**62, TOP, TOP - 1]])
    if keys_kind == "sparse":
        q = np.concatenate([q, np.random.default_rng(0).integers(0, 2**62, 300)])
    return composed, plain, q, consolidate(q, members, entities)


def _jt(q):
    return {"t": JaggedTensor(values=torch.from_numpy(q), lengths=torch.tensor([q.size]))}


@pytest.mark.parametrize("name,keys_kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_dedup_then_x_maps_members_to_the_entitys_rows_on_every_path(name, keys_kind, graph, tmp_path):
    composed, plain, q, entity_q = _fit_pair(name, keys_kind, graph)
    expected = plain.transform(entity_q)
    assert composed.rows_per_id == plain.rows_per_id and composed.table_rows == plain.table_rows
    premap = composed.remap_spec().premap                  # multi-row X: the pre-map, dense over dense IDs
    assert (premap is not None) == (plain.rows_per_id > 1)
    assert premap is None or (premap.dense is not None) == (keys_kind == "dense")
    np.testing.assert_array_equal(composed.transform(q), expected)
    np.testing.assert_array_equal(composed.transform(torch.from_numpy(q)).numpy(), expected)
    flat = expected.reshape(-1)
    mc = RemapperMCModule(composed, name="t")
    np.testing.assert_array_equal(mc(_jt(q))["t"].values().numpy(), flat)               # eager: numpy kernels
    np.testing.assert_array_equal(torch.jit.script(mc)(_jt(q))["t"].values().numpy(), flat)   # torch twins
    twin = torch_ops.apply_spec_torch(torch.from_numpy(q), mc._cols, mc._dense, mc._slots, mc._bits, mc._max_probe,
                                      "t", mc._premap, mc._pre_bits, mc._pre_max_probe)    # the GPU path, on CPU
    np.testing.assert_array_equal(twin.numpy().reshape(-1), flat)
    back = IdRemapper.load(composed.save(tmp_path / "d.safetensors"))
    assert back.name == f"dedup+{name}" and back.get_params() == composed.get_params()
    np.testing.assert_array_equal(back.transform(q), expected)
    reloaded = RemapperMCModule(create("modulo", num_rows=composed.table_rows).fit(np.arange(3)), name="t")
    reloaded.load_remapper_state(tmp_path / "d.safetensors")
    np.testing.assert_array_equal(reloaded(_jt(q))["t"].values().numpy(), flat)


@pytest.mark.parametrize("name", ["double", "double_graphhash", "frequency"])
def test_mc_ebc_pools_the_entitys_rows(name, graph):
    composed, plain, q, entity_q = _fit_pair(name, "dense", graph)
    torch.manual_seed(0)
    ebc = make_mc_ebc({"t": composed}, embedding_dim=3)
    weight = ebc._embedding_module.embedding_bags["t"].weight.detach()
    lengths = [7, q.size - 7]
    pooled = ebc(KeyedJaggedTensor.from_lengths_sync(["t"], torch.from_numpy(q), torch.tensor(lengths)))[0]
    rows = torch.from_numpy(plain.transform(entity_q).reshape(q.size, plain.rows_per_id))
    bags = torch.split(weight[rows].sum(dim=1), lengths)
    torch.testing.assert_close(pooled.to_dict()["t"].detach(), torch.stack([b.sum(dim=0) for b in bags]))


def test_multi_row_strategies_fit_on_entities():
    """double_frequency counts entities: three members seen once each make their entity the one frequent key."""
    keys = np.array([10, 11, 12, 1, 1, 2, 3, 4])
    r = create("dedup+double_frequency", num_rows=6, frequent_share=0.2, duplicates=[[10, 11], [11, 12]]).fit(keys)
    assert r.inner_.num_frequent == 1 and r.inner_.fit_keys_.tolist() == [1, 2, 3, 4, 10]
    assert r.transform(np.array([10, 11, 12])).tolist() == [[0, 0]] * 3       # entity 10 (count 3) owns row 0
    assert r.transform(np.array([1]))[0, 0] != 0
    d = create("dedup+double", num_rows=50, duplicates=[[10, 11]], seed=1).fit(keys)
    np.testing.assert_array_equal(d.transform(np.array([11])), create("double", num_rows=50, seed=1).fit(
        keys).transform(np.array([10])))


def test_other_side_and_user_side_dedup_with_multi_row_strategies(graph):
    """Pairs name item IDs: fitting the user side keeps user IDs as they are (on the graph of consolidated items);
    dedup_side='user' consolidates users."""
    users = create("dedup+double_graphhash", num_rows=30, duplicates=[[0, 1]], cluster_share=0.5, seed=3).fit(
        interactions=graph, side="user")
    merged = Interactions(graph.user, np.where(graph.item == 1, 0, graph.item), graph.n_users, graph.n_items)
    plain = create("double_graphhash", num_rows=30, cluster_share=0.5, seed=3).fit(interactions=merged, side="user")
    assert users.remap_spec().premap is None
    np.testing.assert_array_equal(users.transform(np.arange(200)), plain.transform(np.arange(200)))
    both = create("dedup+double", num_rows=30, duplicates=[[0, 1]], dedup_side="user").fit(
        interactions=graph, side="user")
    assert both.transform(np.array([1])).tolist() == both.transform(np.array([0])).tolist()


def test_single_row_composition_still_compiles_to_one_table_without_premap():
    """Single-row X: the members are entries of X's own table (one lookup per ID, no pre-map stage)."""
    r = create("dedup+universal", num_rows=40, duplicates=[[3, 9], [500, 700]], seed=1).fit(np.arange(25))
    spec = r.remap_spec()
    assert spec.premap is None and spec.columns[0].lookup
    plain = create("universal", num_rows=40, seed=1).fit(np.arange(25))
    assert r.transform(np.array([9, 700])).tolist() == plain.transform(np.array([3, 500])).tolist()
    d = create("dedup+double", num_rows=40, duplicates=[[3, 9], [500, 700]], seed=1).fit(np.arange(25))
    assert d.remap_spec().premap is not None and d.remap_spec().table is None


def _refused_on_every_path(apply, module, q, msg):
    """`apply` (numpy), the eager module and the scripted module all raise InvalidIdError matching `msg`."""
    with pytest.raises(InvalidIdError, match=msg):
        apply(q)
    with pytest.raises(InvalidIdError, match=msg):
        module(_jt(q))
    with pytest.raises(torch.jit.Error, match=msg):
        torch.jit.script(module)(_jt(q))


def test_unseen_entity_under_oov_error_names_the_id_given():
    """A member whose entity was never fitted is unseen: the error names the member, on every path."""
    r = create("dedup", duplicates=[[500, 700]]).fit(np.arange(10))
    _refused_on_every_path(r.transform, RemapperMCModule(r, name="t"), np.array([3, 700]),
                           r"unseen ID 700 at position 1 \(oov='error'\)")


def test_premap_error_names_the_member_not_its_entity():
    """An error column behind the pre-map (full inside a multi-row spec is impossible, so build one by hand)."""
    spec = RemapSpec([Column("error", lookup=True), Column("mod", mod=5)], 5, table=KeyTable.build(
        np.array([1, 2]), np.array([0, 1])), premap=KeyTable.build(np.array([9, 8]), np.array([2, 6])), name="s")
    assert apply_spec(spec, np.array([9, 1, 2])).tolist() == [[1, 2], [0, 1], [1, 2]]    # 9 -> 2 -> row 1, 2 % 5
    _refused_on_every_path(lambda q: apply_spec(spec, q), RemapperMCModule(spec, name="t"), np.array([9, 8]),
                           r"unseen ID 8 at position 1 \(oov='error'\)")


def test_dedup_cannot_follow_dedup():
    with pytest.raises(ValueError, match=r"unknown strategy 'dedup\+dedup': dedup composes in front of another "
                                         r"strategy; give every duplicate pair to one dedup"):
        get_strategy("dedup+dedup")


def _rewrite_extra(path, out, extra):
    """The artifact at `path` saved again (checksum recomputed) with `meta["extra"]` replaced."""
    arrays, meta = load_artifact(path)
    kind = meta.pop("kind")
    return save_artifact(out, kind, arrays, dict(meta, extra=extra))


def test_artifacts_saved_before_multi_row_compositions_still_load(tmp_path):
    """Older dedup artifacts held one folded column (`extra = {"column": [...]}`): they load with the same rows."""
    r = create("dedup+universal", num_rows=40, duplicates=[[3, 9], [9, 12]], seed=1).fit(np.arange(25))
    path = r.save(tmp_path / "new.safetensors")
    old = _rewrite_extra(path, tmp_path / "old.safetensors", {"column": r.remap_spec().columns[0].as_ints()})
    back = IdRemapper.load(old)
    q = np.arange(40)
    np.testing.assert_array_equal(back.transform(q), r.transform(q))
    assert back.remap_spec().premap is None and back.rows_per_id == 1


def test_artifact_whose_columns_do_not_fit_the_strategy_is_refused(tmp_path):
    r = create("dedup+double", num_rows=40, duplicates=[[3, 9]], seed=1).fit(np.arange(25))
    path = r.save(tmp_path / "d.safetensors")
    one = {"columns": [r.remap_spec().columns[0].as_ints()], "combiner": "sum",
           "premap": True}
    bad = _rewrite_extra(path, tmp_path / "bad.safetensors", one)
    with pytest.raises(ArtifactError, match=r"inconsistent contents for strategy 'dedup\+double': 1 columns saved, "
                                            r"but double with these parameters maps each ID to 2 rows"):
        IdRemapper.load(bad)


def test_dedup_graphhash_takes_a_fractional_budget_like_graphhash():
    """graphhash takes num_rows as a fraction of the side's vocabulary; dedup+graphhash must take it too and give
    the rows graphhash gives on the consolidated interactions."""
    rng = np.random.default_rng(0)
    user, item = rng.integers(0, 60, 900), rng.integers(0, 80, 900)
    inter = Interactions(user=user, item=item, n_users=60, n_items=80)
    pairs = np.array([[3, 9], [9, 12], [20, 21]])
    dedup = create("dedup+graphhash", num_rows=0.25, duplicates=pairs, seed=0).fit(inter.item, interactions=inter,
                                                                                 side="item")
    merged = Interactions(user=user, item=consolidate(item, *entity_map(pairs)), n_users=60, n_items=80)
    alone = create("graphhash", num_rows=0.25, seed=0).fit(merged.item, interactions=merged, side="item")
    keys = np.arange(80)
    np.testing.assert_array_equal(dedup.transform(keys), alone.transform(consolidate(keys, *entity_map(pairs))))
    assert dedup.get_params()["num_rows"] == 0.25
    with pytest.raises(ValueError, match="fractional num_rows must be in"):
        create("dedup+graphhash", num_rows=1.5, duplicates=pairs)
    with pytest.raises(ValueError, match="num_rows"):
        create("dedup+frequency", num_rows=0.25, duplicates=pairs)
