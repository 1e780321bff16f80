"""RemapperMCModule: torch preprocess equals the numpy transform exactly, scripts, rejects bad input."""
import numpy as np
import pytest
import torch
from torchrec.sparse.jagged_tensor import JaggedTensor

from recsys_hash.errors import InvalidIdError
from recsys_hash.ids import create
from recsys_hash.ids import hashing
from recsys_hash.integrations import RemapperMCModule
from recsys_hash.integrations import torch_ops

MINE = ["modulo", "universal", "xxhash", "double", "qr", "full", "frequency", "double_frequency"]


def _fit(name, keys, seed=3, **kw):
    if name == "full":
        return create(name, oov="hash", oov_buckets=7, seed=seed, **kw).fit(keys)
    return create(name, num_rows=1000, seed=seed, **kw).fit(keys)


def _jt(values, lengths=None):
    values = torch.as_tensor(values, dtype=torch.int64)
    lengths = torch.tensor([values.numel()]) if lengths is None else torch.tensor(lengths)
    return {"t": JaggedTensor(values=values, lengths=lengths)}


def test_inlined_constants_match_numpy_ones():
    s = torch_ops._signed
    assert s(hashing.P1) == -7046029288634856825 and s(hashing.P2) == -4417276706812531889
    assert s(hashing.P3) == 1609587929392839161 and s(hashing.P4) == -8796714831421723037
    assert s(hashing.P5) == 2870177450012600261 and s(0x9E3779B97F4A7C15) == -7046029254386353131
    assert s(hashing.FMIX1) == -49064778989728563 and s(hashing.FMIX2) == -4265267296055464877


@pytest.mark.parametrize("name", MINE)
@pytest.mark.parametrize("dense", [True, False])
def test_preprocess_equals_numpy_transform(name, dense):
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 3000 if dense else 2**40, 2000)
    r = _fit(name, keys)
    queries = np.concatenate([keys[:700], rng.integers(0, 2**62, 300), [0, 2**63 - 1]])
    mc = RemapperMCModule(r, name="t")
    out = mc(_jt(queries, [500, 0, 502]))["t"]
    np.testing.assert_array_equal(out.values().numpy(), r.transform(queries).reshape(-1))
    assert out.lengths().tolist() == [500 * r.rows_per_id, 0, 502 * r.rows_per_id]
    scripted = torch.jit.script(mc)                            # scripted: the torch kernels
    np.testing.assert_array_equal(scripted(_jt(queries))["t"].values().numpy(), r.transform(queries).reshape(-1))
    eager_torch = torch_ops.apply_spec_torch(                  # the GPU path, run eagerly on CPU
        torch.from_numpy(queries), mc._cols, mc._dense, mc._slots, mc._bits, mc._max_probe, "t")
    np.testing.assert_array_equal(eager_torch.numpy(), r.transform(queries).reshape(queries.size, -1))


def test_torch_kernels_equal_numpy_kernels():
    keys = torch.from_numpy(np.random.default_rng(1).integers(0, 2**63 - 1, 5000, dtype=np.int64))
    for seed in (0, 2**63 + 1):
        np.testing.assert_array_equal(
            torch_ops.xxh64_int_torch(keys, torch_ops._signed(seed)).numpy().view(np.uint64),
            hashing.xxh64_int(keys.numpy(), seed),
        )
    for m in (1, 13, 2**61):
        h = torch_ops.xxh64_int_torch(keys, 5)
        np.testing.assert_array_equal(torch_ops.umod(h, m).numpy(), h.numpy().view(np.uint64) % np.uint64(m))
    consecutive = torch.arange(20_000, dtype=torch.int64)
    for a, b in hashing.universal_params(2, 2) + [(2**61 - 2, 2**61 - 2), (1, 0)]:
        for m in (1, 2, 997, 10_245, 2**40 + 3, 2**62 - 1):
            for k in (keys, consecutive):
                np.testing.assert_array_equal(torch_ops.universal_torch(k, a, b, m).numpy(),
                                              hashing.universal_hash(k.numpy(), a, b, m))


def test_bad_ids_raise_in_preprocess():
    r = create("full").fit(np.arange(10))
    mc = RemapperMCModule(r, name="user", input_hash_size=100)
    with pytest.raises(ValueError, match="feature t has negative ID -4 at position 1"):
        mc(_jt([1, -4]))
    with pytest.raises(ValueError, match="ID 100 at position 2 beyond input_hash_size=100"):
        mc(_jt([1, 2, 100]))
    with pytest.raises(ValueError, match=r"unseen ID 42 at position 1 \(oov='error'\)"):
        mc(_jt([1, 42]))
    with pytest.raises(ValueError, match="has IDs of dtype torch.float32"):
        mc({"t": JaggedTensor(values=torch.tensor([1.0]), lengths=torch.tensor([1]))})
    assert mc(_jt([], [0, 0]))["t"].values().numel() == 0


def test_string_keyed_remapper_rejected():
    r = create("full").fit(np.array(["a", "b"], dtype=object))
    with pytest.raises(ValueError, match="fitted on string keys"):
        RemapperMCModule(r)


def test_sharding_hooks_and_rebuild():
    r = create("universal", num_rows=10).fit(np.arange(5))
    mc = RemapperMCModule(r)
    assert (mc.input_size(), mc.output_size(), mc.buckets()) == (10, 10, 1)
    local = mc.rebuild_with_output_id_range((5, 10), [0, 5, 10])
    assert (local.input_size(), local.output_size(), local.buckets()) == (10, 5, 2)
    local.validate_state()
    q = torch.arange(100)
    assert torch.equal(local(_jt(q))["t"].values(), mc(_jt(q))["t"].values())   # preprocess keeps global rows
    assert "_dense" not in mc.state_dict() and mc.evict() is None


def test_load_remapper_state_restores_mapping(tmp_path):
    keys = np.random.default_rng(2).integers(0, 2**40, 300)
    r = create("frequency", num_rows=50, seed=1).fit(keys)
    path = r.save(tmp_path / "f.safetensors")
    other = create("frequency", num_rows=50, seed=9).fit(keys[::-1][:100])
    mc = RemapperMCModule(other)
    q = torch.from_numpy(keys)
    assert not torch.equal(mc(_jt(q))["t"].values(), torch.from_numpy(r.transform(keys)))
    mc.load_remapper_state(path)
    assert torch.equal(mc(_jt(q))["t"].values(), torch.from_numpy(r.transform(keys)))
    with pytest.raises(ValueError, match="new mapping has 20 rows, this module 50"):
        mc.load_remapper_state(create("modulo", num_rows=20).fit(keys))


def test_eager_path_uses_numpy_kernels_and_shares_buffers(monkeypatch):
    keys = np.random.default_rng(4).integers(0, 2**40, 500)
    r = create("full", oov="shared_row").fit(keys)
    mc = RemapperMCModule(r, name="user")
    assert np.shares_memory(mc._slots.numpy(), r.remap_spec().table.slots)      # no second copy of the table
    calls = []
    real = torch_ops.apply_spec_numpy
    monkeypatch.setattr(torch_ops, "apply_spec_numpy", lambda *a: calls.append(1) or real(*a))
    out = mc(_jt(keys[:5]))["t"].values()
    assert calls == [1] and torch.equal(out, torch.from_numpy(r.transform(keys[:5])))


def test_remapper_and_table_name_attributes(tmp_path):
    r = create("universal", num_rows=10, seed=1).fit(np.arange(5))
    mc = RemapperMCModule(r, name="item")
    assert mc.remapper is r and mc.table_name == "item"
    bare = RemapperMCModule(r.remap_spec())
    assert bare.remapper is None and bare.table_name == ""
    local = mc.rebuild_with_output_id_range((5, 10), [0, 5, 10])
    assert local.remapper is r and local.table_name == "item"
    other = create("universal", num_rows=10, seed=2).fit(np.arange(5))
    mc.load_remapper_state(other.save(tmp_path / "u.safetensors"))
    assert mc.remapper.name == "universal" and mc.remapper.seed == 2
    mc.load_remapper_state(other.remap_spec())
    assert mc.remapper is None
    torch.jit.script(RemapperMCModule(r, name="item"))       # the Python-side attributes do not break scripting


@pytest.mark.parametrize("name, kw", [("full", {"oov": "hash", "oov_buckets": 7}), ("full", {}),
                                      ("frequency", {"num_rows": 3000}), ("double_frequency", {"num_rows": 3000})])
def test_dense_key_table_past_fuse_max_equals_transform(monkeypatch, name, kw):
    from recsys_hash.ids import remap_spec

    monkeypatch.setattr(remap_spec, "FUSE_MAX", 64)               # as if the dense key range were > 2^26
    keys = np.random.default_rng(6).integers(0, 3000, 5000)
    r = create(name, seed=3, **kw).fit(keys)
    spec = r.remap_spec()
    assert spec.table.dense is not None and any(c.lookup for c in spec.columns)
    if kw.get("oov", "error") != "error" or name != "full":
        assert spec.fused_dense() is None                          # the case that used to crash
    queries = np.concatenate([keys[:900], np.arange(3100), [2**63 - 1]])
    if name == "full" and not kw:
        queries = keys                                             # oov='error': only fitted keys
    expect = r.transform(queries).reshape(-1)
    mc = RemapperMCModule(r, name="t")
    assert np.shares_memory(mc._dense.numpy(), spec.table.dense)   # the key table itself, no copy
    calls = []
    real = torch_ops.apply_spec_numpy
    monkeypatch.setattr(torch_ops, "apply_spec_numpy", lambda *a: calls.append(1) or real(*a))
    np.testing.assert_array_equal(mc(_jt(queries))["t"].values().numpy(), expect)          # eager: numpy kernels
    assert calls == [1]
    np.testing.assert_array_equal(torch.jit.script(mc)(_jt(queries))["t"].values().numpy(), expect)  # torch ops
    eager_torch = torch_ops.apply_spec_torch(
        torch.from_numpy(queries), mc._cols, mc._dense, mc._slots, mc._bits, mc._max_probe, "t")
    np.testing.assert_array_equal(eager_torch.numpy().reshape(-1), expect)


def test_bad_ids_same_invalid_id_error_eager_and_scripted():
    r = create("full").fit(np.arange(10))
    mc = RemapperMCModule(r, name="user", input_hash_size=100)
    scripted = torch.jit.script(mc)
    where = "RemapperMCModule[user].preprocess"
    cases = [
        (_jt([1, -4]), f"{where}: feature t has negative ID -4 at position 1"),
        (_jt([1, 2, 100]), f"{where}: feature t has ID 100 at position 2 beyond input_hash_size=100"),
        (_jt([1, 42]), f"{where}: unseen ID 42 at position 1 (oov='error'); fit on it or choose another OOV policy"),
        ({"t": JaggedTensor(values=torch.tensor([1.0]), lengths=torch.tensor([1]))},
         f"{where}: feature t has IDs of dtype torch.float32; need int"),
    ]
    for features, message in cases:
        with pytest.raises(InvalidIdError) as eager:
            mc(features)
        assert str(eager.value) == message
        with pytest.raises(torch.jit.Error) as script:             # TorchScript wraps the same exception and text
            scripted(features)
        assert str(script.value).rstrip().endswith("recsys_hash.errors.InvalidIdError: " + message)
    with pytest.raises(InvalidIdError, match=r"^t: unseen ID 42 at position 1 \(oov='error'\)"):  # the GPU path
        torch_ops.apply_spec_torch(torch.tensor([1, 42]), mc._cols, mc._dense, mc._slots, mc._bits, mc._max_probe, "t")
    with pytest.raises(InvalidIdError, match=r"^full.transform: negative ID -4 at position 1"):  # numpy transform
        r.transform(np.array([1, -4]))
