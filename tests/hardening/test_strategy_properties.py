"""Properties of every registered strategy and of the TorchRec adapter, over generated queries (hypothesis,
derandomized): rows always in [0, num_rows), deterministic, the torch twins (eager module, scripted module, the
GPU kernels run on CPU) equal to the numpy path, the artifact round trip gives identical rows and bytes, MC-EBC
pools exactly the rows of `transform`; unseen, huge and negative IDs included (negative ones, unseen ones under
oov='error' and IDs past input_hash_size get InvalidIdError naming the value and position on every path).
Fitting on varied inputs: tests/ids/test_remapper_io.py."""
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchrec.sparse.jagged_tensor import JaggedTensor, KeyedJaggedTensor

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.errors import InvalidIdError
from recsys_hash.ids import IdRemapper, create, strategy_names
from recsys_hash.integrations import RemapperMCModule, make_mc_ebc
from recsys_hash.integrations import torch_ops

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

PROPS = settings(max_examples=12, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
DUPLICATES = [[3, 9], [9, 12], [40, 41], [2**40 + 1, 5]]
TOP = 2**63 - 1
#: every registered strategy, compositions behind dedup (single-row X: folded into X's table; multi-row X: the
#: spec's pre-map), and the keys it is fitted on: dense item indices of a planted graph (graph strategies need
#: it) or sparse 64-bit keys (exact tables in hash layout)
COMPOSED = [("dedup+graphhash", "graph"), ("dedup+frequency", "sparse"), ("dedup+double_graphhash", "graph"),
            ("dedup+double", "sparse"), ("dedup+double_frequency", "sparse"), ("dedup+qr", "sparse")]
CASES = [(n, "graph") for n in strategy_names()] + COMPOSED + [
    (n, "sparse") for n in strategy_names() if not create(n).needs_interactions]


def _params(name):
    kw = {"seed": 3}
    if name.startswith("dedup"):
        kw["duplicates"] = DUPLICATES
    if name in ("full", "dedup"):
        kw.update(oov="hash", oov_buckets=7)
    else:
        kw["num_rows"] = 40
    return kw


@pytest.fixture(scope="module")
def graph():
    return planted_bipartite(200, 150, 4, 2000, seed=1)[0]


class _Fitted(dict):
    def __repr__(self) -> str:                 # hypothesis prints the arguments of a failing example
        return f"<{len(self)} fitted strategies>"


@pytest.fixture(scope="module")
def fitted(graph, tmp_path_factory):
    """(name, keys) -> (remapper, the IDs it was fitted on, its artifact, eager module, scripted module)."""
    folder = tmp_path_factory.mktemp("artifacts")
    sparse = np.random.default_rng(0).integers(0, 2**62, 300)
    out = _Fitted()
    for name, keys in CASES:
        if keys == "graph":
            rem = create(name, **_params(name)).fit(interactions=graph, side="item")
            ids = np.arange(graph.n_items)
        else:
            rem = create(name, **_params(name)).fit(np.concatenate([sparse, sparse[:50]]))   # repeats: frequencies
            ids = sparse
        path = rem.save(folder / f"{name}-{keys}.safetensors")
        mc = RemapperMCModule(rem, name="t")
        out[name, keys] = (rem, ids, path, mc, torch.jit.script(mc))
    return out


def queries(ids):
    """Fitted IDs, unseen small and huge ones (up to 2^63 - 1), in any order, 0 to 40 of them."""
    return st.lists(st.one_of(st.sampled_from(sorted(int(i) for i in ids)), st.integers(0, 1000),
                              st.integers(0, TOP), st.integers(TOP - 1000, TOP)), max_size=40)


def _jt(values, lengths):
    return {"t": JaggedTensor(values=torch.tensor(values, dtype=torch.int64).reshape(-1),
                              lengths=torch.tensor(lengths, dtype=torch.int64))}


def _split(n, cut):
    """Lengths of two bags over n values, the first `cut % (n + 1)` long (an empty bag included)."""
    first = cut % (n + 1)
    return [first, n - first]


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{k}" for n, k in CASES])
@PROPS
@given(data=st.data())
def test_rows_in_range_deterministic_and_every_path_equal(fitted, case, data):
    rem, ids, path, mc, scripted = fitted[case]
    q = np.array(data.draw(queries(ids), label="ids"), dtype=np.int64)
    rows = rem.transform(q)
    k = rem.rows_per_id
    assert rows.dtype == np.int64 and rows.shape == ((q.size,) if k == 1 else (q.size, k))
    assert ((rows >= 0) & (rows < rem.table_rows)).all()
    np.testing.assert_array_equal(rem.transform(q), rows)                        # deterministic
    np.testing.assert_array_equal(rem.transform(torch.from_numpy(q)).numpy(), rows)
    np.testing.assert_array_equal(IdRemapper.load(path).transform(q), rows)       # artifact round trip
    lengths = _split(q.size, data.draw(st.integers(0, 100), label="cut"))
    flat = rows.reshape(-1)
    for module in (mc, scripted):                                                 # numpy kernels, torch twins
        out = module(_jt(q, lengths))["t"]
        np.testing.assert_array_equal(out.values().numpy(), flat)
        assert out.lengths().tolist() == [n * k for n in lengths]
    twin = torch_ops.apply_spec_torch(torch.from_numpy(q), mc._cols, mc._dense, mc._slots, mc._bits,  # the GPU
                                      mc._max_probe, "t", mc._premap, mc._pre_bits, mc._pre_max_probe)  # path, on CPU
    np.testing.assert_array_equal(twin.numpy().reshape(-1), flat)


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_artifact_round_trip_is_identical(fitted, case, tmp_path):
    rem, ids, path, mc, _ = fitted[case]
    back = IdRemapper.load(path)
    assert type(back) is type(rem) and back.get_params() == rem.get_params()
    assert back.table_rows == rem.table_rows
    assert back.save(tmp_path / "again.safetensors").read_bytes() == path.read_bytes()   # load + save: same bytes
    q = np.concatenate([ids, [0, 1, TOP, TOP - 1, 2**40 + 1]])
    reloaded = RemapperMCModule(create("modulo", num_rows=rem.table_rows).fit(np.arange(3)), name="t")
    reloaded.load_remapper_state(path)                  # the adapter restored from the artifact
    np.testing.assert_array_equal(reloaded(_jt(q, [q.size]))["t"].values().numpy(), rem.transform(q).reshape(-1))


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{k}" for n, k in CASES])
@PROPS
@given(data=st.data())
def test_a_negative_id_is_refused_naming_it_on_every_path(fitted, case, data):
    rem, ids, _, mc, scripted = fitted[case]
    q = data.draw(queries(ids), label="ids")
    pos = data.draw(st.integers(0, len(q)), label="pos")
    neg = data.draw(st.integers(-(2**63), -1), label="negative")
    q = np.array(q[:pos] + [neg] + q[pos:], dtype=np.int64)
    with pytest.raises(InvalidIdError, match=rf"^{re.escape(rem.name)}\.transform: negative ID {neg} at position {pos}; "):
        rem.transform(q)
    with pytest.raises(InvalidIdError, match=rf"feature t has negative ID {neg} at position {pos}$"):
        mc(_jt(q, [q.size]))
    with pytest.raises(torch.jit.Error, match=rf"InvalidIdError: .*feature t has negative ID {neg} at position {pos}"):
        scripted(_jt(q, [q.size]))


@PROPS
@given(data=st.data())
def test_several_bad_ids_the_message_names_the_first_one(data):
    """The adapter names the first bad ID and its own position (not the smallest or largest ID elsewhere)."""
    rem = create("universal", num_rows=50, input_hash_size=1000).fit(np.arange(100))
    mc = RemapperMCModule(rem, name="t")
    good = data.draw(st.lists(st.integers(0, 999), max_size=10), label="good")
    bad = data.draw(st.lists(st.integers(1000, TOP), min_size=2, max_size=4), label="too large")
    q = np.array(good + bad, dtype=np.int64)
    with pytest.raises(InvalidIdError, match=rf"ID {bad[0]} at position {len(good)} is beyond input_hash_size=1000"):
        rem.transform(q)
    with pytest.raises(InvalidIdError, match=rf"has ID {bad[0]} at position {len(good)} beyond input_hash_size=1000"):
        mc(_jt(q, [q.size]))
    negs = data.draw(st.lists(st.integers(-(2**63), -1), min_size=2, max_size=4), label="negatives")
    q = np.array(good + negs, dtype=np.int64)
    with pytest.raises(InvalidIdError, match=rf"has negative ID {negs[0]} at position {len(good)}$"):
        mc(_jt(q, [q.size]))


@pytest.mark.parametrize("name", ["full", "dedup"])
@PROPS
@given(data=st.data())
def test_unseen_ids_under_oov_error_are_refused_on_every_path(name, data):
    fit = np.arange(0, 200, 2)                                  # even IDs only
    kw = {"duplicates": [[2, 4]]} if name == "dedup" else {}
    rem = create(name, **kw).fit(fit)
    mc = RemapperMCModule(rem, name="t")
    seen = data.draw(st.lists(st.sampled_from(fit.tolist()), max_size=10), label="seen")
    unseen = data.draw(st.one_of(st.integers(0, 99).map(lambda i: 2 * i + 1), st.integers(200, TOP)), label="unseen")
    q = np.array(seen + [unseen], dtype=np.int64)
    msg = rf"unseen ID {unseen} at position {len(seen)} \(oov='error'\)"
    with pytest.raises(InvalidIdError, match=msg):
        rem.transform(q)
    with pytest.raises(InvalidIdError, match=msg):
        mc(_jt(q, [q.size]))


@pytest.mark.parametrize("case", [c for c in CASES if c[1] == "graph"], ids=lambda c: c[0])
@PROPS
@given(data=st.data())
def test_mc_ebc_pools_exactly_the_rows_of_transform(fitted, case, data):
    rem, ids, _, _, _ = fitted[case]
    torch.manual_seed(0)
    ebc = make_mc_ebc({"t": rem}, embedding_dim=3)
    weight = ebc._embedding_module.embedding_bags["t"].weight.detach()
    q = np.array(data.draw(queries(ids), label="ids"), dtype=np.int64)
    lengths = _split(q.size, data.draw(st.integers(0, 100), label="cut"))
    kjt = KeyedJaggedTensor.from_lengths_sync(["t"], torch.from_numpy(q), torch.tensor(lengths))
    pooled = ebc(kjt)[0].to_dict()["t"].detach()
    rows = torch.from_numpy(rem.transform(q).reshape(q.size, rem.rows_per_id))
    bags = torch.split(weight[rows].sum(dim=1), lengths)
    expected = torch.stack([b.sum(dim=0) for b in bags])
    torch.testing.assert_close(pooled, expected, rtol=1e-6, atol=1e-6)
