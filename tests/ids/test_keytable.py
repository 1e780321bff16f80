"""KeyTable lookups equal a searchsorted reference in both layouts, including misses and long probe runs."""
import numpy as np
import pytest

from recsys_hash.ids import keytable
from recsys_hash.ids.hashing import slot_hash
from recsys_hash.ids.keytable import KeyTable


@pytest.fixture(params=["numba", "numpy"])
def probe(request, monkeypatch):
    """Run a test with the compiled probe and with the vectorised numpy probe."""
    if request.param == "numba":
        assert keytable._probe_kernel() is not None, "numba is a dependency: the compiled probe must load"
    monkeypatch.setattr(keytable, "USE_NUMBA", request.param == "numba")
    return request.param


def _reference(keys, rows, queries):
    order = np.argsort(keys)
    sk, sr = keys[order], rows[order]
    pos = np.minimum(np.searchsorted(sk, queries), sk.size - 1)
    return np.where(sk[pos] == queries, sr[pos], -1)


@pytest.mark.parametrize("sparse", [False, True])
def test_lookup_matches_reference(sparse, probe):
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2**40 if sparse else 5000, 3000))
    rows = rng.permutation(keys.size).astype(np.int64)
    table = KeyTable.build(keys, rows)
    assert table.is_dense != sparse
    queries = np.concatenate([keys, rng.integers(0, 2**62, 2000), [0, 2**63 - 1]]).astype(np.int64)
    np.testing.assert_array_equal(table.lookup(queries), _reference(keys, rows, queries))


def test_dense_hand_example_and_too_large_keys_miss():
    table = KeyTable.build(np.array([2, 0, 5]), np.array([10, 11, 12]))
    assert table.is_dense
    assert table.lookup(np.array([0, 1, 2, 5, 6, 10**12])).tolist() == [11, -1, 10, 12, -1, -1]


def test_colliding_home_slots_are_probed(probe):
    # build keys that all share one home slot: displacement grows, every key must still be found
    cand = np.arange(1, 2_000_000, dtype=np.int64) * 1_000_003
    bits = 6  # 12 keys -> ceil(log2(4 * 12)) = 6 bits
    home = slot_hash(cand, bits)
    keys = cand[home == home[0]][:8]
    keys = np.concatenate([keys, cand[:4] + 1])
    table = KeyTable(**vars(KeyTable.build(keys, np.arange(keys.size))))
    assert not table.is_dense
    assert table.max_probe >= 7
    np.testing.assert_array_equal(table.lookup(keys), np.arange(keys.size))
    assert table.lookup(np.array([cand[-1] + 3])).tolist() == [-1]


def test_build_rejects_bad_tables():
    with pytest.raises(ValueError, match="distinct"):
        KeyTable.build(np.array([1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        KeyTable.build(np.array([-1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="equal 1-D shapes"):
        KeyTable.build(np.array([1, 2]), np.array([0]))


def test_hash_layout_is_interleaved_pairs(probe):
    keys = np.array([5, 2**40 + 3, 2**50 + 11], dtype=np.int64)
    table = KeyTable.build(keys, np.array([7, 8, 9]))
    assert not table.is_dense and table.slots.shape[1] == 2
    home = slot_hash(keys, table.bits)
    for k, r, h in zip(keys, [7, 8, 9], home):            # each key sits at or after its home slot, with its row
        at = h + np.flatnonzero(table.slots[h:, 0] == k)[0]
        assert table.slots[at, 1] == r and at - h <= table.max_probe
    assert (table.slots[-keytable._WINDOW - 1 :, 0] == -1).all()     # empty tail ends every probe and window
    assert table.lookup(np.array([2**50 + 11, 6, 5])).tolist() == [9, -1, 7]


def test_long_runs_beyond_the_window(probe):
    # 40 keys sharing one home slot: displacements up to 39 > window 8, found by the step rounds
    cand = np.arange(1, 5_000_000, dtype=np.int64) * 7_919
    bits = int(np.ceil(np.log2(4 * 50)))
    home = slot_hash(cand, bits)
    same = cand[home == home[0]][:40]
    keys = np.concatenate([same, cand[1:11] * 3 + 1])
    table = KeyTable.build(keys, np.arange(keys.size))
    assert table.bits == bits and table.max_probe >= 39
    queries = np.concatenate([keys[::-1], same + 1])
    np.testing.assert_array_equal(table.lookup(queries), _reference(keys, np.arange(keys.size), queries))
