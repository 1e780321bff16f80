"""Vectorised, seeded hash primitives over uint64/int64 keys and strings (no int64 overflow, no Python loops).

`universal_hash` is the Carter-Wegman family ((a*x + b) mod p) with the Mersenne prime p = 2^61 - 1, computed
exactly with 32-bit limbs in uint64 arithmetic, followed by murmur3's 64-bit finaliser `fmix64` before the final
`mod m`: fmix64(((a*x + b) mod p)) mod m. Without the finaliser, arithmetic progressions of keys (consecutive IDs)
land on a lattice mod m for some seeds (e.g. 18% of 10,245 rows used by 40,981 consecutive IDs); fmix64 is a
fixed bijection of 64-bit words, so collisions between two keys still need a collision mod p or mod m of
well-mixed words, and consecutive keys fill rows like random hashing for every seed. `xxh64_int` / `xxh64_strings` equal
`xxhash.xxh64_intdigest(key_bytes, seed)` (int keys as 8-byte little-endian, strings as utf-8).
When numba imports, `universal_hash` runs one compiled pass per key (`_universal_loop`, the same uint64 steps, ~2x
faster than the blocked numpy ufuncs, which stay as the fallback; both are tested against the same reference).
"""
from __future__ import annotations

import numpy as np

from recsys_hash.ids._jit import compiled, run_kernel

try:
    from numba import prange
except ImportError:  # pragma: no cover - numba is a dependency
    prange = range

MERSENNE61 = np.uint64((1 << 61) - 1)
_M61 = (1 << 61) - 1
_MASK32 = np.uint64(0xFFFFFFFF)
_MASK29 = np.uint64((1 << 29) - 1)
_U64 = (1 << 64) - 1

# xxh64 primes
P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
P3 = 0x165667B19E3779F9
P4 = 0x85EBCA77C2B2AE63
P5 = 0x27D4EB2F165667C5
_P1, _P2, _P3, _P4, _P5 = (np.uint64(p) for p in (P1, P2, P3, P4, P5))

# murmur3 fmix64 multipliers (the finaliser applied to the Mersenne result in `universal_hash`)
FMIX1 = 0xFF51AFD7ED558CCD
FMIX2 = 0xC4CEB9FE1A85EC53
_FMIX1, _FMIX2 = np.uint64(FMIX1), np.uint64(FMIX2)

USE_NUMBA = True   # the compiled universal kernel when numba imports (tests switch it off to check the numpy one)


def _reduce61(x: np.ndarray) -> np.ndarray:
    """x mod (2^61-1) for uint64 x (any value), vectorised."""
    x = (x & MERSENNE61) + (x >> np.uint64(61))
    return np.where(x >= MERSENNE61, x - MERSENNE61, x)


def mulmod61(a: int, x: np.ndarray) -> np.ndarray:
    """(a * x) mod (2^61-1) for a scalar a < 2^61 and uint64 x < 2^61, exact."""
    a0, a1 = np.uint64(a & 0xFFFFFFFF), np.uint64(a >> 32)
    x0, x1 = x & _MASK32, x >> np.uint64(32)
    p0 = a0 * x0                      # < 2^64
    p1 = a0 * x1 + a1 * x0            # < 2^62
    p2 = a1 * x1                      # < 2^58
    # a*x = p2*2^64 + p1*2^32 + p0 and 2^61 == 1 (mod p)
    total = (p2 << np.uint64(3)) + (p1 >> np.uint64(29)) + ((p1 & _MASK29) << np.uint64(32)) + _reduce61(p0)
    return _reduce61(total)


def universal_params(seed: int, count: int = 1) -> list[tuple[int, int]]:
    """`count` seeded (a, b) pairs with 1 <= a < p and 0 <= b < p."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    out = []
    for _ in range(count):
        a = int(rng.integers(1, _M61, dtype=np.uint64))
        b = int(rng.integers(0, _M61, dtype=np.uint64))
        out.append((a, b))
    return out


_BLOCK = 8192  # keys per block: temporaries stay in L1/L2 cache, which is what makes numpy fast here


def _blocks(n: int):
    for lo in range(0, n, _BLOCK):
        yield lo, min(lo + _BLOCK, n)


def universal_hash(keys: np.ndarray, a: int, b: int, m: int) -> np.ndarray:
    """fmix64(((a*x + b) mod (2^61-1))) mod m for non-negative int64 keys -> int64 rows in [0, m).

    Exact: 32-bit limbs in uint64 with lazy Mersenne folds, then the fmix64 finaliser (see the module docstring:
    it spreads consecutive keys for every seed); processed in cache-sized blocks, in place.
    """
    if m < 1:
        raise ValueError(f"universal_hash: m must be >= 1, got {m}")
    keys = np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64)
    out = np.empty(keys.shape, dtype=np.uint64)
    a0, a1 = np.uint64(a & 0xFFFFFFFF), np.uint64(a >> 32)
    ub, um = np.uint64(b), np.uint64(m)
    kernel = compiled(_universal_loop) if USE_NUMBA else None
    if kernel is not None:
        run_kernel(kernel, _universal_chunks, keys.size, keys.reshape(-1), a0, a1, ub, um, out.reshape(-1))
        return out.view(np.int64)
    s3, s29, s32, s33, s61 = np.uint64(3), np.uint64(29), np.uint64(32), np.uint64(33), np.uint64(61)
    t = np.empty(_BLOCK, np.uint64)
    u = np.empty(_BLOCK, np.uint64)
    v = np.empty(_BLOCK, np.uint64)
    for lo, hi in _blocks(keys.size):
        n = hi - lo
        x, h, t_, u_, v_ = keys[lo:hi], out[lo:hi], t[:n], u[:n], v[:n]
        # x' = fold(x) < 2^61 + 4 (== x mod p); kept in h
        np.bitwise_and(x, MERSENNE61, out=h)
        np.right_shift(x, s61, out=t_)
        h += t_
        # limbs: x0 -> u, x1 -> v
        np.bitwise_and(h, _MASK32, out=u_)
        np.right_shift(h, s32, out=v_)
        # p1 = a0*x1 + a1*x0 -> t ; p0 = a0*x0 -> u ; p2 = a1*x1 -> v
        np.multiply(v_, a0, out=t_)
        np.multiply(u_, a1, out=h)
        t_ += h
        u_ *= a0
        v_ *= a1
        # total = (p2 << 3) + (p1 >> 29) + ((p1 & M29) << 32) + fold(p0)  (< 2^63)
        v_ <<= s3
        np.right_shift(t_, s29, out=h)
        v_ += h
        t_ &= _MASK29
        t_ <<= s32
        v_ += t_
        np.right_shift(u_, s61, out=h)
        u_ &= MERSENNE61
        v_ += u_
        v_ += h
        v_ += ub                      # < 2^64
        # exact reduction: fold, then subtract p once if needed (min with the wrapped difference)
        np.right_shift(v_, s61, out=h)
        v_ &= MERSENNE61
        v_ += h
        np.subtract(v_, MERSENNE61, out=h)
        np.minimum(v_, h, out=h)
        # fmix64(h) (v is free again), then the final modulus
        np.right_shift(h, s33, out=v_)
        h ^= v_
        h *= _FMIX1
        np.right_shift(h, s33, out=v_)
        h ^= v_
        h *= _FMIX2
        np.right_shift(h, s33, out=v_)
        h ^= v_
        h %= um
    return out.view(np.int64)


def _universal_loop(keys: np.ndarray, a0: np.uint64, a1: np.uint64, b: np.uint64, m: np.uint64,
                    out: np.ndarray) -> None:
    """`universal_hash` per key (numba-compiled by `compiled`): uint64 keys [n] -> out uint64 [n] in [0, m).

    The blocked numpy steps fused into one pass (every constant a uint64: numba turns uint64 op int64 into float).
    """
    p, m32, m29 = np.uint64(_M61), np.uint64(0xFFFFFFFF), np.uint64((1 << 29) - 1)
    f1, f2 = np.uint64(FMIX1), np.uint64(FMIX2)
    s3, s29, s32, s33, s61 = np.uint64(3), np.uint64(29), np.uint64(32), np.uint64(33), np.uint64(61)
    for i in range(keys.size):
        x = keys[i]
        h = (x & p) + (x >> s61)                                   # < 2^61 + 4, == x mod p
        x0, x1 = h & m32, h >> s32
        p0, p1, p2 = x0 * a0, x1 * a0 + x0 * a1, x1 * a1
        v = (p2 << s3) + (p1 >> s29) + ((p1 & m29) << s32) + (p0 & p) + (p0 >> s61) + b   # < 2^64
        v = (v & p) + (v >> s61)
        if v >= p:
            v -= p
        v ^= v >> s33                                              # fmix64
        v *= f1
        v ^= v >> s33
        v *= f2
        v ^= v >> s33
        out[i] = v % m


_universal_kernel = compiled(_universal_loop)      # a global the parallel driver calls (numba resolves it)


def _universal_chunks(keys: np.ndarray, a0: np.uint64, a1: np.uint64, b: np.uint64, m: np.uint64, out: np.ndarray,
                      bounds: np.ndarray) -> None:
    """`_universal_loop` over contiguous chunks [bounds[j], bounds[j+1]) in parallel (numba prange on the OpenMP
    layer: inside a torch training step, torch's own worker threads run the chunks)."""
    for j in prange(bounds.size - 1):
        lo, hi = bounds[j], bounds[j + 1]
        _universal_kernel(keys[lo:hi], a0, a1, b, m, out[lo:hi])


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    acc = acc + lane * _P2
    return _rotl(acc, 31) * _P1


def _avalanche(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint64(33)
    h *= _P2
    h ^= h >> np.uint64(29)
    h *= _P3
    h ^= h >> np.uint64(32)
    return h


def xxh64_int(keys: np.ndarray, seed: int = 0) -> np.ndarray:
    """xxh64 of each int64 key's 8 little-endian bytes: int64 [n] -> uint64 [n] (== xxhash.xxh64_intdigest)."""
    keys = np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64)
    out = np.empty(keys.shape, dtype=np.uint64)
    h0 = np.uint64((seed + P5 + 8) & _U64)
    t = np.empty(_BLOCK, np.uint64)
    sh = {r: np.uint64(r) for r in (27, 29, 31, 32, 33, 37)}
    for lo, hi in _blocks(keys.size):
        k, t_ = out[lo:hi], t[: hi - lo]
        np.multiply(keys[lo:hi], _P2, out=k)          # round(0, lane) = rotl(lane * P2, 31) * P1
        np.right_shift(k, sh[33], out=t_)
        k <<= sh[31]
        k |= t_
        k *= _P1
        k ^= h0                                       # h = (seed + P5 + 8) ^ k1
        np.right_shift(k, sh[37], out=t_)             # h = rotl(h, 27) * P1 + P4
        k <<= sh[27]
        k |= t_
        k *= _P1
        k += _P4
        np.right_shift(k, sh[33], out=t_)             # avalanche
        k ^= t_
        k *= _P2
        np.right_shift(k, sh[29], out=t_)
        k ^= t_
        k *= _P3
        np.right_shift(k, sh[32], out=t_)
        k ^= t_
    return out


def xxh64_matrix(data: np.ndarray, seed: int = 0) -> np.ndarray:
    """xxh64 of each row of a uint8 matrix [n, L] (all rows L bytes long) -> uint64 [n]."""
    n, length = data.shape
    data = np.ascontiguousarray(data, dtype=np.uint8)

    def lanes(start: int, width: int) -> np.ndarray:
        dtype = np.uint64 if width == 8 else np.uint32
        return np.ascontiguousarray(data[:, start : start + width]).view(dtype).reshape(n).astype(np.uint64)

    p = 0
    if length >= 32:
        v = [np.full(n, (seed + P1 + P2) & _U64, np.uint64), np.full(n, (seed + P2) & _U64, np.uint64),
             np.full(n, seed & _U64, np.uint64), np.full(n, (seed - P1) & _U64, np.uint64)]
        while p + 32 <= length:
            for i in range(4):
                v[i] = _round(v[i], lanes(p + 8 * i, 8))
            p += 32
        h = _rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)
        for i in range(4):
            h = (h ^ _round(np.zeros(n, np.uint64), v[i])) * _P1 + _P4
    else:
        h = np.full(n, (seed + P5) & _U64, np.uint64)
    h = h + np.uint64(length)
    while p + 8 <= length:
        h ^= _round(np.zeros(n, np.uint64), lanes(p, 8))
        h = _rotl(h, 27) * _P1 + _P4
        p += 8
    if p + 4 <= length:
        h ^= lanes(p, 4) * _P1
        h = _rotl(h, 23) * _P2 + _P3
        p += 4
    while p < length:
        h ^= data[:, p].astype(np.uint64) * _P5
        h = _rotl(h, 11) * _P1
        p += 1
    return _avalanche(h)


def utf8_matrix(strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strings [n] -> (zero-padded utf-8 bytes uint8 [n, max_len], exact byte lengths int64 [n])."""
    import polars as pl

    arr = np.asarray(strings, dtype=object)
    lengths = pl.Series(arr.tolist(), dtype=pl.String).str.len_bytes().to_numpy().astype(np.int64)
    encoded = np.strings.encode(arr.astype(str), "utf-8")     # fixed-width S, zero padded
    width = max(int(encoded.dtype.itemsize), 1)
    mat = np.zeros((arr.size, width), dtype=np.uint8)
    if arr.size and encoded.dtype.itemsize:
        mat[:] = encoded.view(np.uint8).reshape(arr.size, encoded.dtype.itemsize)
    return mat, lengths


def xxh64_strings(strings: np.ndarray, seed: int = 0) -> np.ndarray:
    """xxh64 of each string's utf-8 bytes -> uint64 [n]; vectorised per distinct byte length."""
    mat, lengths = utf8_matrix(strings)
    out = np.empty(lengths.size, dtype=np.uint64)
    if lengths.size == 0:
        return out
    order = np.argsort(lengths, kind="stable")
    sorted_len = lengths[order]
    bounds = np.flatnonzero(np.diff(sorted_len)) + 1
    for chunk in np.split(order, bounds):  # one pass per distinct length, not per string
        length = int(lengths[chunk[0]])
        out[chunk] = xxh64_matrix(mat[chunk, :length], seed)
    return out


def string_keys_to_int(strings: np.ndarray, seed: int = 0) -> np.ndarray:
    """Strings -> non-negative int64 keys (top 63 bits of xxh64 of the utf-8 bytes)."""
    return (xxh64_strings(strings, seed) >> np.uint64(1)).view(np.int64)


def slot_hash(keys: np.ndarray, bits: int) -> np.ndarray:
    """Fibonacci hashing: int64 keys -> int64 slots in [0, 2^bits) (top bits of key * 0x9E3779B97F4A7C15)."""
    h = np.asarray(keys, dtype=np.int64).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h >>= np.uint64(64 - bits)
    return h.view(np.int64)
