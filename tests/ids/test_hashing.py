"""Hash primitives equal their slow references: the xxhash library and Python big-int arithmetic."""
import numpy as np
import pytest
import xxhash

from recsys_hash.ids import hashing
from recsys_hash.ids.hashing import (
    slot_hash, string_keys_to_int, universal_hash, universal_params, xxh64_int, xxh64_strings,
)

P61 = (1 << 61) - 1
U64 = (1 << 64) - 1


def fmix64_ref(h: int) -> int:
    """murmur3's 64-bit finaliser in Python integers (the published constants, not the library's)."""
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & U64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & U64
    return h ^ (h >> 33)


def universal_ref(keys, a: int, b: int, m: int) -> list[int]:
    """fmix64(((a*x + b) mod (2^61 - 1))) mod m with Python big integers."""
    return [fmix64_ref((a * int(k) + b) % P61) % m for k in keys]


@pytest.fixture(params=["numba", "numpy"])
def kernel(request, monkeypatch):
    """Run a test with the compiled universal-hash kernel and with the blocked numpy one."""
    if request.param == "numba":
        assert hashing.compiled(hashing._universal_loop) is not None, "numba is a dependency: the kernel must load"
    monkeypatch.setattr(hashing, "USE_NUMBA", request.param == "numba")
    return request.param


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


def test_universal_hash_equals_big_int_reference(kernel):
    rng = np.random.default_rng(2)
    keys = np.concatenate([rng.integers(0, 2**63 - 1, 3000, dtype=np.int64),
                           np.array([0, 1, P61 - 1, P61, P61 + 1, 2**62, 2**63 - 1], dtype=np.int64)])
    for a, b in universal_params(11, 2) + [(P61 - 1, P61 - 1), (1, 0)]:
        for m in (1, 7, 1_000_003, 2**40 + 3):
            np.testing.assert_array_equal(universal_hash(keys, a, b, m), universal_ref(keys, a, b, m))


def test_universal_hash_spans_blocks(kernel):
    keys = np.arange(20_000, dtype=np.int64) * 7919 + 3       # > 2 processing blocks
    (a, b), = universal_params(7, 1)
    assert universal_hash(keys, a, b, 1000)[-50:].tolist() == universal_ref(keys[-50:], a, b, 1000)


def test_universal_hash_hand_values(kernel):
    # a=3, b=5: x=7 -> 3*7 + 5 = 26 (< p); x = p maps like 0 -> 5; then fmix64 and mod 10
    assert universal_hash(np.array([7, P61, 0]), 3, 5, 10).tolist() == [fmix64_ref(26) % 10, fmix64_ref(5) % 10,
                                                                         fmix64_ref(5) % 10]
    assert fmix64_ref(0) == 0 and fmix64_ref(1) == 0xB456BCFC34C2CB2C   # murmur3 fmix64's known test vector
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


def test_universal_hash_numba_and_numpy_kernels_agree_on_a_large_batch(monkeypatch):
    rng = np.random.default_rng(5)
    keys = np.concatenate([rng.integers(0, 2**63 - 1, 100_000, dtype=np.int64), np.arange(50_000)])
    (a, b), = universal_params(3, 1)
    outs = []
    for use in (True, False):
        monkeypatch.setattr(hashing, "USE_NUMBA", use)
        outs.append(universal_hash(keys, a, b, 1_000_003))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert outs[0].dtype == np.int64
