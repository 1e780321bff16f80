"""Hash primitives equal their slow references: the xxhash library and Python big-int arithmetic."""
import numpy as np
import pytest
import xxhash

from recsys_hash.ids.hashing import (
    slot_hash, string_keys_to_int, universal_hash, universal_params, xxh64_int, xxh64_strings,
)

P61 = (1 << 61) - 1


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 7, 2**63 + 5, 2**64 - 1])
def test_xxh64_int_equals_xxhash_library(seed):
    rng = np.random.default_rng(seed % 1000)
    keys = np.concatenate([rng.integers(0, 2**63 - 1, 3000, dtype=np.int64), [0, 1, 2**63 - 1]]).astype(np.int64)
    ref = np.array([xxhash.xxh64_intdigest(int(k).to_bytes(8, "little"), seed) for k in keys], dtype=np.uint64)
    np.testing.assert_array_equal(xxh64_int(keys, seed), ref)


def test_xxh64_int_spans_blocks():
    keys = np.arange(20_000, dtype=np.int64) * 7919          # > 2 processing blocks
    ref = np.array([xxhash.xxh64_intdigest(int(k).to_bytes(8, "little"), 3) for k in keys[-50:]], dtype=np.uint64)
    np.testing.assert_array_equal(xxh64_int(keys, 3)[-50:], ref)


@pytest.mark.parametrize("seed", [0, 99, 2**64 - 1])
def test_xxh64_strings_equals_xxhash_library(seed):
    rng = np.random.default_rng(1)
    strings = ["", "a", "héllo wörld", "ab\x00", "\x00", "日本語テキスト" * 7, "x" * 31, "y" * 32, "z" * 33, "q" * 100]
    strings += ["".join(rng.choice(list("abcdefé€"), size=int(n))) for n in rng.integers(0, 80, 300)]
    arr = np.array(strings, dtype=object)
    ref = np.array([xxhash.xxh64_intdigest(s.encode("utf-8"), seed) for s in strings], dtype=np.uint64)
    np.testing.assert_array_equal(xxh64_strings(arr, seed), ref)


def test_string_keys_to_int_is_top_63_bits():
    arr = np.array(["user_1", "user_2"], dtype=object)
    expect = [xxhash.xxh64_intdigest(s.encode(), 5) >> 1 for s in arr]
    assert string_keys_to_int(arr, 5).tolist() == expect


def test_universal_hash_equals_big_int_reference():
    rng = np.random.default_rng(2)
    keys = np.concatenate([rng.integers(0, 2**63 - 1, 3000, dtype=np.int64),
                           np.array([0, 1, P61 - 1, P61, P61 + 1, 2**62, 2**63 - 1], dtype=np.int64)])
    for a, b in universal_params(11, 2) + [(P61 - 1, P61 - 1), (1, 0)]:
        for m in (1, 7, 1_000_003, 2**40 + 3):
            ref = np.array([((a * int(k) + b) % P61) % m for k in keys], dtype=np.int64)
            np.testing.assert_array_equal(universal_hash(keys, a, b, m), ref)


def test_universal_hash_hand_values():
    # a=3, b=5, m=10: (3*7 + 5) % p % 10 = 26 % 10 = 6; x = p maps like 0: 5 % 10 = 5
    assert universal_hash(np.array([7, P61]), 3, 5, 10).tolist() == [6, 5]
    with pytest.raises(ValueError, match="m must be >= 1"):
        universal_hash(np.array([1]), 3, 5, 0)


def test_universal_params_seeded():
    assert universal_params(4, 2) == universal_params(4, 2)
    assert universal_params(4, 1) != universal_params(5, 1)
    a, b = universal_params(4, 1)[0]
    assert 1 <= a < P61 and 0 <= b < P61


def test_slot_hash_hand_value():
    fib = 0x9E3779B97F4A7C15
    keys = np.array([1, 12345], dtype=np.int64)
    expect = [((int(k) * fib) % 2**64) >> (64 - 10) for k in keys]
    assert slot_hash(keys, 10).tolist() == expect
