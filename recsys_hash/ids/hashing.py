"""Vectorised, seeded hash primitives over uint64/int64 keys (no int64 overflow, no Python loops).

`universal_hash` is the Carter-Wegman family ((a*x + b) mod p) mod m with the Mersenne prime p = 2^61 - 1,
computed exactly with 32-bit limbs in uint64 arithmetic.
"""
from __future__ import annotations

import numpy as np

MERSENNE61 = np.uint64((1 << 61) - 1)
_M61 = (1 << 61) - 1
_MASK32 = np.uint64(0xFFFFFFFF)
_MASK29 = np.uint64((1 << 29) - 1)


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


def universal_hash(keys: np.ndarray, a: int, b: int, m: int) -> np.ndarray:
    """((a*x + b) mod (2^61-1)) mod m for non-negative int64 keys -> int64 rows in [0, m)."""
    if m < 1:
        raise ValueError(f"universal_hash: m must be >= 1, got {m}")
    x = _reduce61(np.asarray(keys).astype(np.uint64, copy=False))
    h = _reduce61(mulmod61(a, x) + np.uint64(b))
    return (h % np.uint64(m)).astype(np.int64)
