"""Exact mappings of every hashing/lookup strategy, hand-computed or against the slow reference."""
import numpy as np
import pytest
import torch
import xxhash

from recsys_hash.errors import InvalidIdError
from recsys_hash.ids import create, strategy_names
from recsys_hash.ids.hashing import universal_hash, universal_params

MINE = ["modulo", "universal", "xxhash", "double", "qr", "full", "frequency", "double_frequency"]


def _uh(key: int, a: int, b: int, m: int) -> int:
    """One key through the universal kernel (itself checked against big-int arithmetic in test_hashing)."""
    return int(universal_hash(np.array([key]), a, b, m)[0])


def test_all_registered():
    assert set(MINE) <= set(strategy_names())


def test_modulo_hand_values():
    r = create("modulo", num_rows=1000).fit(np.arange(10))
    assert r.transform(np.array([5, 12_345, 999, 1000])).tolist() == [5, 345, 999, 0]


def test_universal_uses_seeded_params():
    keys = np.array([0, 1, 2**40 + 17, 2**63 - 1])
    r = create("universal", num_rows=97, seed=3).fit(keys)
    (a, b), = universal_params(3, 1)
    assert r.transform(keys).tolist() == universal_hash(keys, a, b, 97).tolist()


def test_xxhash_equals_library_for_int_and_str_keys():
    ints = np.array([0, 7, 2**40 + 1, 2**63 - 1])
    r = create("xxhash", num_rows=1000, seed=9).fit(ints)
    assert r.transform(ints).tolist() == [xxhash.xxh64_intdigest(int(k).to_bytes(8, "little"), 9) % 1000 for k in ints]
    strs = np.array(["apple", "", "日本"], dtype=object)
    rs = create("xxhash", num_rows=1000, seed=9).fit(strs)
    assert rs.transform(strs).tolist() == [xxhash.xxh64_intdigest(s.encode(), 9) % 1000 for s in strs]


def test_double_is_k_universal_hashes_into_one_table():
    keys = np.arange(50) * 1013
    r = create("double", num_rows=64, num_hashes=3, seed=1).fit(keys)
    out = r.transform(keys)
    assert out.shape == (50, 3) and r.rows_per_id == 3
    for j, (a, b) in enumerate(universal_params(1, 3)):
        np.testing.assert_array_equal(out[:, j], universal_hash(keys, a, b, 64))


def test_qr_hand_values_and_unique_pairs():
    r = create("qr", num_rows=10).fit(np.arange(25))          # r = 5 remainder rows, q = 5 quotient rows
    assert r.transform(np.array([23, 0, 24, 25])).tolist() == [[3, 9], [0, 5], [4, 9], [0, 5]]
    pairs = r.transform(np.arange(25))
    assert np.unique(pairs, axis=0).shape[0] == 25            # keys in [0, r*q) never fully collide
    assert create("qr", num_rows=11).fit(np.arange(3)).remainder_rows == 6


def test_qr_odd_budget_tables_do_not_overlap():
    r = create("qr", num_rows=11).fit(np.arange(30))          # r = 6 remainder rows [0, 6), q = 5 quotient [6, 11)
    assert r.transform(np.array([29, 30, 5, 6])).tolist() == [[5, 10], [0, 6], [5, 6], [0, 7]]
    pairs = r.transform(np.arange(30))
    assert pairs[:, 0].max() == 5 and pairs[:, 1].min() == 6 and pairs[:, 1].max() == 10
    assert np.unique(pairs, axis=0).shape[0] == 30            # keys in [0, r*q) never fully collide


def test_full_vocabulary_ranks_and_oov_policies():
    keys = np.array([10, 3, 99, 3])
    r = create("full").fit(keys)
    assert r.num_rows_ == 3 and r.transform(np.array([99, 3, 10])).tolist() == [2, 0, 1]
    with pytest.raises(InvalidIdError, match=r"unseen ID 42 at position 1 \(oov='error'\)"):
        r.transform(np.array([3, 42]))
    shared = create("full", oov="shared_row").fit(keys)
    assert shared.num_rows_ == 4 and shared.transform(np.array([42, 10, 7])).tolist() == [3, 1, 3]
    hashed = create("full", oov="hash", oov_buckets=5, seed=2).fit(keys)
    (a, b), = universal_params(2, 1)
    assert hashed.num_rows_ == 8
    assert hashed.transform(np.array([42, 99])).tolist() == [3 + _uh(42, a, b, 5), 2]
    with pytest.raises(ValueError, match="need 8 rows, but num_rows=4"):
        create("full", num_rows=4, oov="hash", oov_buckets=5).fit(keys)


def test_full_dense_and_sparse_keys_agree():
    rng = np.random.default_rng(0)
    sparse = np.unique(rng.integers(0, 2**40, 500))
    r = create("full", oov="shared_row").fit(sparse)
    assert not r.spec_.table.is_dense
    np.testing.assert_array_equal(r.transform(sparse), np.arange(sparse.size))
    assert r.transform(np.array([2**41 + 1])).tolist() == [sparse.size]


def test_full_string_keys_and_hash_collision_detected(monkeypatch):
    strs = np.array(["b", "a", "c", "a"], dtype=object)
    r = create("full", oov="shared_row").fit(strs)
    out = r.transform(np.array(["a", "b", "c", "zzz"], dtype=object))
    assert sorted(out[:3].tolist()) == [0, 1, 2] and out[3] == 3
    from recsys_hash.ids import remap_spec

    monkeypatch.setattr(remap_spec, "string_keys_to_int", lambda s, seed: np.zeros(len(s), dtype=np.int64))
    with pytest.raises(InvalidIdError, match="'a' and 'b' hash to the same 64-bit key"):
        create("full").fit(strs)


def test_frequency_top_ids_own_rows_rest_hashed():
    # counts: 7 x3, 5 x2, 9 x2, 1 x1 -> with num_rows=6, K=3 own rows: 7 -> 0, then ties 5 < 9 -> 1, 2
    keys = np.array([7, 7, 7, 9, 5, 9, 5, 1])
    r = create("frequency", num_rows=6, seed=4).fit(keys)
    (a, b), = universal_params(4, 1)
    hashed = lambda k: 3 + _uh(k, a, b, 3)  # noqa: E731
    assert r.num_frequent == 3
    assert r.transform(np.array([7, 5, 9, 1, 1000])).tolist() == [0, 1, 2, hashed(1), hashed(1000)]


def test_double_frequency_convention():
    keys = np.array([7, 7, 7, 9, 5, 9, 5, 1])
    r = create("double_frequency", num_rows=8, seed=4).fit(keys)       # K = 4: 7, 5, 9, 1 own rows
    (a1, b1), (a2, b2) = universal_params(4, 2)
    out = r.transform(np.array([7, 1, 77]))
    assert out[:2].tolist() == [[0, 0], [3, 3]]
    assert out[2].tolist() == [4 + _uh(77, a1, b1, 4), 4 + _uh(77, a2, b2, 4)]


@pytest.mark.parametrize("name", ["frequency", "double_frequency"])
def test_frequency_bad_params(name):
    with pytest.raises(ValueError, match="frequent_share must be in"):
        create(name, num_rows=10, frequent_share=1.0)
    with pytest.raises(ValueError, match="num_rows .* is required"):
        create(name).fit(np.arange(3))


def test_torch_in_torch_out():
    r = create("modulo", num_rows=10).fit(np.arange(3))
    out = r.transform(torch.tensor([13, 4]))
    assert isinstance(out, torch.Tensor) and out.tolist() == [3, 4]


def test_stats_reports_collisions():
    r = create("modulo", num_rows=2).fit(np.arange(4))
    s = r.stats(np.array([0, 0, 1, 2]))                     # 0 and 2 share row 0; 1 alone in row 1
    assert s["rows_used"] == 2 and s["ids_per_row_max"] == 2
    assert s["weighted_collision_rate"] == pytest.approx(3 / 4)


def _slow_rows(r, keys):
    """Reference: per key and column, the table row if the column looks up and the key was kept, else its hash."""
    from recsys_hash.ids.remap_spec import hash_column

    spec = r.remap_spec()
    table = dict(zip(r.table_keys_.tolist(), r.table_rows_.tolist()))
    out = np.empty((keys.size, len(spec.columns)), dtype=np.int64)
    for j, col in enumerate(spec.columns):
        hashed = hash_column(keys, col)
        for i, k in enumerate(keys.tolist()):          # test-only loop over a few thousand keys
            out[i, j] = table[k] if col.lookup and k in table else hashed[i]
    return out


@pytest.mark.parametrize("name, kw", [("full", {"oov": "hash", "oov_buckets": 5}), ("full", {"oov": "shared_row"}),
                                      ("frequency", {"num_rows": 300}), ("double_frequency", {"num_rows": 300})])
@pytest.mark.parametrize("vocab_hi", [2000, 2**40])
def test_fused_dense_rows_equal_slow_reference(name, kw, vocab_hi):
    rng = np.random.default_rng(5)
    fit_keys = rng.integers(0, vocab_hi, 3000) if vocab_hi > 2000 else rng.zipf(1.3, 3000) % vocab_hi
    r = create(name, seed=4, **kw).fit(fit_keys)
    spec = r.remap_spec()
    dense = vocab_hi == 2000
    assert spec.dense_keys == (int(fit_keys.max()) + 1 if dense else 0)
    assert (spec.fused_dense() is not None) == dense
    queries = np.concatenate([np.arange(2100), fit_keys[:500], rng.integers(0, 2**62, 300), [2**63 - 1]])
    got = r.transform(queries)
    np.testing.assert_array_equal(got.reshape(queries.size, -1), _slow_rows(r, queries))
    if dense:                                      # keys past the fused range are hashed on the fly
        assert spec.fused_dense().shape == (len(spec.columns), spec.dense_keys + 1)
        assert (spec.fused_dense()[:, -1] == -1).all()


def test_fused_dense_hand_example_and_error_column_reuses_table():
    r = create("frequency", num_rows=4, frequent_share=0.5, seed=1).fit(np.array([3, 3, 3, 1, 1, 0, 2]))
    (a, b), = universal_params(1, 1)
    fused = r.remap_spec().fused_dense()                 # keys 3 and 1 own rows 0 and 1; 0 and 2 hash into [2, 4)
    expect = [2 + _uh(0, a, b, 2), 1, 2 + _uh(2, a, b, 2), 0, -1]
    assert fused.tolist() == [expect]
    full = create("full").fit(np.array([4, 1, 2]))
    spec = full.remap_spec()
    assert np.shares_memory(spec.fused_dense(), spec.table.dense)   # oov='error': no second copy
    with pytest.raises(InvalidIdError, match=r"unseen ID 3 at position 1 \(oov='error'\)"):
        full.transform(np.array([1, 3]))
    with pytest.raises(InvalidIdError, match=r"unseen ID 1000 at position 0"):
        full.transform(np.array([1000]))


def test_bytes_keys_are_decoded_to_str_keys():
    r = create("full").fit(np.array(["a", "bc", "é"], dtype=object))
    as_bytes = np.array(["bc".encode(), "é".encode(), b"a"])              # dtype 'S'
    assert as_bytes.dtype.kind == "S"
    np.testing.assert_array_equal(r.transform(as_bytes), r.transform(np.array(["bc", "é", "a"], dtype=object)))
    ascii_rows = r.transform(np.array([b"a", b"bc"]))                                  # ASCII-only: the fast cast
    np.testing.assert_array_equal(ascii_rows, r.transform(np.array(["a", "bc"], dtype=object)))
    with pytest.raises(InvalidIdError, match=r"^full.transform: bytes ID b'\\xff\\xfe' at position 2 is not valid utf-8"):
        r.transform(np.array([b"a", b"bc", b"\xff\xfe"]))


def test_object_keys_checked_everywhere_naming_the_bad_value():
    keys = np.array([f"k{i}" for i in range(100)], dtype=object)
    keys[70] = 12                                                         # past the first 64 values
    with pytest.raises(InvalidIdError, match=r"^full.fit: object arrays of IDs must hold str, got int 12 at position 70"):
        create("full").fit(keys)
    keys[70], keys[99] = "k70", b"raw"
    with pytest.raises(InvalidIdError, match=r"got bytes b'raw' at position 99$"):
        create("full").fit(keys)
    keys[99] = None
    with pytest.raises(InvalidIdError, match=r"got NoneType None at position 99$"):
        create("modulo", num_rows=5).fit(keys)
    keys[99] = "x" * 100
    with pytest.raises(InvalidIdError, match=r"got int 5 at position 0$"):  # first bad value wins
        create("full").fit(np.concatenate([np.array([5], dtype=object), keys]))
    keys[3] = list(range(40))                                             # long values are cut to 60 characters
    with pytest.raises(InvalidIdError, match=r"got list \[0, 1, 2, .{47}\.\.\. at position 3$"):
        create("full").fit(keys)
