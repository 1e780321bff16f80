"""The eager CPU remap splits large batches over torch's intra-op threads; rows never depend on the thread count."""
import multiprocessing
import threading

import numpy as np
import pytest
import torch
from torchrec.sparse.jagged_tensor import JaggedTensor

from recsys_hash.ids import create
from recsys_hash.ids import remap_spec
from recsys_hash.integrations import RemapperMCModule
from recsys_hash.integrations import torch_ops

N = 4 * torch_ops.MIN_CHUNK + 12_345          # enough keys for 4 chunks, not a multiple of the chunk count


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _batch(vocab: np.ndarray, seed: int) -> np.ndarray:
    """N queries: fitted keys mixed with unseen ones (sparse 62-bit and small ints), in random order."""
    rng = np.random.default_rng(seed)
    seen = vocab[rng.integers(0, vocab.size, N // 2)]
    unseen = np.concatenate([rng.integers(0, 2**62, N // 4), rng.integers(0, 10 * vocab.size, N - N // 2 - N // 4)])
    return rng.permutation(np.concatenate([seen, unseen]))


STRATEGIES = [
    ("universal", {"num_rows": 50_000}, True),
    ("full", {"oov": "hash", "oov_buckets": 97}, True),        # sparse keys: the hash-layout key table probe
    ("full", {"oov": "shared_row"}, False),                    # dense keys: the fused table
    ("double_frequency", {"num_rows": 50_000}, True),          # two columns, lookup + two hashes
    ("xxhash", {"num_rows": 50_000}, True),
]


@pytest.mark.parametrize("name,kw,sparse", STRATEGIES)
def test_rows_identical_at_1_2_4_threads(name, kw, sparse, restore_threads):
    rng = np.random.default_rng(0)
    vocab = np.unique(rng.integers(0, 2**40, 40_000)) if sparse else np.arange(40_000)
    r = create(name, seed=7, **kw).fit(vocab)
    queries = _batch(vocab, 1)
    mc = RemapperMCModule(r, name="t")
    feats = {"t": JaggedTensor(values=torch.from_numpy(queries), lengths=torch.tensor([N - 5, 5]))}
    rows = {}
    for t in (1, 2, 4):
        torch.set_num_threads(t)
        rows[t] = mc(feats)["t"].values().numpy().copy()
    np.testing.assert_array_equal(rows[1], r.transform(queries).reshape(-1))
    np.testing.assert_array_equal(rows[2], rows[1])
    np.testing.assert_array_equal(rows[4], rows[1])


@pytest.mark.parametrize("sparse", [True, False], ids=["hash-layout pre-map", "dense pre-map"])
def test_dedup_premap_rows_identical_at_1_2_4_threads(sparse, restore_threads):
    """dedup+double: the pre-map (member -> entity) runs before the columns in the kernels' own parallel loops
    (hash layout) or in every span of the pool (dense); rows equal double(entity) at any thread count."""
    from recsys_hash.ids.dedup import consolidate, entity_map

    rng = np.random.default_rng(0)
    vocab = np.unique(rng.integers(0, 2**40, 40_000)) if sparse else np.arange(40_000)
    pairs = vocab[rng.permutation(vocab.size)[:6000]].reshape(-1, 2)
    r = create("dedup+double", num_rows=50_000, duplicates=pairs, seed=7).fit(vocab)
    assert (r.remap_spec().premap.dense is None) == sparse
    queries = _batch(vocab, 1)
    members, entities = entity_map(pairs)
    expected = create("double", num_rows=50_000, seed=7).fit(vocab).transform(consolidate(queries, members, entities))
    mc = RemapperMCModule(r, name="t")
    feats = {"t": JaggedTensor(values=torch.from_numpy(queries), lengths=torch.tensor([N - 5, 5]))}
    for t in (1, 2, 4):
        torch.set_num_threads(t)
        np.testing.assert_array_equal(mc(feats)["t"].values().numpy(), expected.reshape(-1))


def test_large_batch_runs_on_every_torch_thread(monkeypatch, restore_threads):
    r = create("xxhash", num_rows=1000, seed=1).fit(np.arange(100))          # a family without a parallel kernel
    mc = RemapperMCModule(r, name="t")
    spans, lock = [], threading.Lock()
    inner = remap_spec.apply_columns
    values = torch.arange(N, dtype=torch.int64)
    for t in (1, 2, 3):
        torch.set_num_threads(t)
        spans.clear()
        meet = threading.Barrier(t, timeout=20)            # each thread's first span waits for the others: only
                                                             # t threads running at once get past it
        def spy(keys, *args, **kwargs):
            with lock:
                first = threading.get_ident() not in {ident for ident, _, _ in spans}
                spans.append((threading.get_ident(), int(keys[0]), keys.size))
            if first:
                meet.wait()
            return inner(keys, *args, **kwargs)

        monkeypatch.setattr(remap_spec, "apply_columns", spy)
        out = mc({"t": JaggedTensor(values=values, lengths=torch.tensor([N]))})["t"].values()
        monkeypatch.setattr(remap_spec, "apply_columns", inner)
        assert len({ident for ident, _, _ in spans}) == t
        starts = sorted((start, size) for _, start, size in spans)   # the spans tile the batch exactly once
        assert starts[0][0] == 0 and all(a + m == b for (a, m), (b, _) in zip(starts, starts[1:]))
        assert sum(size for _, size in starts) == N
        np.testing.assert_array_equal(out.numpy(), r.transform(values.numpy()))
    torch.set_num_threads(4)                                   # small batches stay on the calling thread
    spans.clear()
    monkeypatch.setattr(remap_spec, "apply_columns", lambda keys, *a, **kw: spans.append(keys.size) or inner(keys, *a, **kw))
    mc({"t": JaggedTensor(values=values[: torch_ops.MIN_CHUNK], lengths=torch.tensor([torch_ops.MIN_CHUNK]))})
    assert spans == [torch_ops.MIN_CHUNK]


def test_unseen_id_error_names_its_global_position_with_threads(restore_threads):
    r = create("full", oov="error").fit(np.arange(1000) * 3)
    mc = RemapperMCModule(r, name="user")
    values = (np.arange(N) % 1000) * 3
    values[N - 7] = 4                                          # unseen, in the last chunk
    values[N - 3] = 5
    torch.set_num_threads(4)
    with pytest.raises(ValueError, match=rf"unseen ID 4 at position {N - 7} \(oov='error'\)"):
        mc({"t": JaggedTensor(values=torch.from_numpy(values), lengths=torch.tensor([N]))})


def _remap_in_child(values: np.ndarray) -> np.ndarray:
    """remap_rows alone: torch's own OpenMP ops are not fork-safe once the parent has used them."""
    torch.set_num_threads(2)
    mc = RemapperMCModule(create("universal", num_rows=1000, seed=1).fit(np.arange(100)), name="t")
    keys = torch.from_numpy(values)
    return torch_ops.remap_rows(keys, mc._cols, mc._dense, mc._slots, mc._bits, mc._max_probe, "t").numpy()


def test_forked_child_remaps_on_its_own_pool(restore_threads):
    values = np.arange(N, dtype=np.int64)
    parent = _remap_in_child(values)                            # the parent's pool now has threads
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        child = pool.apply_async(_remap_in_child, (values,)).get(timeout=60)
    np.testing.assert_array_equal(child, parent)


@pytest.mark.parametrize("name,kw", [("universal", {"num_rows": 50_000}), ("full", {"oov": "hash", "oov_buckets": 97}),
                                     ("double_frequency", {"num_rows": 50_000})])
def test_parallel_kernel_families_run_in_the_kernels_own_loops_not_the_pool(name, kw, monkeypatch, restore_threads):
    """Universal hashing and the sparse key-table probe run their parallel twins (numba prange on the OpenMP layer
    torch uses) with the whole batch: no span goes to the pool, and the rows equal transform's."""
    from recsys_hash.ids import _jit

    vocab = np.unique(np.random.default_rng(5).integers(0, 2**62, 20_000))
    r = create(name, seed=3, **kw).fit(vocab)
    mc = RemapperMCModule(r, name="t")
    values = _batch(vocab, 11)
    launches = []
    inner = _jit.run_parallel
    monkeypatch.setattr(_jit, "run_parallel", lambda driver, threads, *a: launches.append(threads) or inner(driver, threads, *a))
    monkeypatch.setattr(torch_ops, "_pool", lambda workers: pytest.fail("the pool ran a parallel-kernel family"))
    torch.set_num_threads(2)
    out = mc({"t": JaggedTensor(values=torch.from_numpy(values), lengths=torch.tensor([N]))})["t"].values()
    assert launches and set(launches) == {2}
    np.testing.assert_array_equal(out.numpy().reshape(-1), r.transform(values).reshape(-1))


def test_parallel_kernels_equal_the_serial_ones_on_large_batches():
    from recsys_hash.ids._jit import kernel_threads, parallel_threads
    from recsys_hash.ids.hashing import universal_hash
    from recsys_hash.ids.keytable import KeyTable

    rng = np.random.default_rng(2)
    keys = rng.integers(0, 2**62, 300_001)
    table_keys = np.unique(rng.integers(0, 2**62, 50_000))
    table = KeyTable.build(table_keys, np.arange(table_keys.size))
    assert table.dense is None                                  # sparse keys: the hash layout's probe
    query = np.concatenate([table_keys, keys[:200_000]])
    serial_hash = universal_hash(keys, 0x9E3779B97F4A7C15, 12345, 1_000_003)
    serial_probe = table.lookup(query)
    assert (serial_probe[:table_keys.size] == np.arange(table_keys.size)).all() and (serial_probe[table_keys.size:] == -1).all()
    with kernel_threads(2):
        assert parallel_threads(keys.size) == 2                  # the parallel twins run (OpenMP layer, no fork)
        np.testing.assert_array_equal(universal_hash(keys, 0x9E3779B97F4A7C15, 12345, 1_000_003), serial_hash)
        np.testing.assert_array_equal(table.lookup(query), serial_probe)
