"""Exact key -> row lookup for vocabularies of non-negative int64 keys, vectorised in numpy.

Two layouts, chosen at build time:
- dense: a direct table `dense[key]` (row or -1) when the largest key is below `DENSE_FACTOR` x vocabulary;
  one `np.take(..., mode="clip")` per lookup (the last slot is a -1 sentinel, so too-large keys miss).
- hash: linear-probing open addressing with Fibonacci hashing at load factor <= 1/LOAD_INV, stored as
  interleaved (key, row) pairs `slots` int64 [size, 2], so one probe is one 16-byte gather (one cache line)
  instead of two random reads. Built without a Python loop: keys sorted by home slot take
  `pos = i + cummax(home - i)` (each run is contiguous, so the table is a valid linear-probing table); the
  table gets an overflow tail instead of wrapping around. A lookup probes only the keys still unresolved,
  at most `max_probe + 1` rounds, in cache-sized blocks. When numba is installed, the probe is one compiled
  pass instead (`_probe_loop` via `_probe_kernel`: hash, probe and compare per key, prefetching the home slots of
  keys a few places ahead; ~2.5x faster, bound by the random gather);
  both are tested against the same reference.
The torch twin (`recsys_hash.integrations.torch_ops.keytable_lookup_torch`) reads the same arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from recsys_hash.ids._jit import compiled, prefetch, run_kernel

try:
    from numba import prange
except ImportError:  # pragma: no cover - numba is a dependency
    prange = range
from recsys_hash.ids.hashing import slot_hash

DENSE_FACTOR = 4
EMPTY = -1
LOAD_INV = 4      # slots per key (at least): few displaced keys, so most lookups end after one probe
_LOOKUP_BLOCK = 1 << 15   # keys per probe block: slots, pairs and masks of a block stay in L2
USE_NUMBA = True          # compiled probe when numba imports (tests switch it off to check the numpy probe)
_WINDOW = 8               # slots after the home slot scanned at once for displaced keys
_AHEAD = 16               # the compiled probe prefetches the home slot of the key this many places ahead


@dataclass
class KeyTable:
    """Arrays of a built table. dense: int64 [max_key + 2]; or slots: int64 [slots + tail, 2] (key, row)."""

    dense: Optional[np.ndarray] = None
    slots: Optional[np.ndarray] = None
    bits: int = 0
    max_probe: int = 0

    @classmethod
    def build(cls, keys: np.ndarray, rows: np.ndarray, dense_factor: int = DENSE_FACTOR) -> "KeyTable":
        """Table mapping distinct non-negative int64 keys [n] to int64 rows [n]."""
        keys = np.asarray(keys, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        if keys.shape != rows.shape or keys.ndim != 1:
            raise ValueError(f"KeyTable.build: keys {keys.shape} and rows {rows.shape} must be equal 1-D shapes")
        if keys.size == 0:
            return cls(dense=np.full(1, EMPTY, dtype=np.int64))
        if keys.min() < 0:
            raise ValueError("KeyTable.build: keys must be non-negative")
        if np.unique(keys).size != keys.size:
            raise ValueError("KeyTable.build: keys must be distinct")
        max_key = int(keys.max())
        if max_key < dense_factor * keys.size:
            dense = np.full(max_key + 2, EMPTY, dtype=np.int64)
            dense[keys] = rows
            return cls(dense=dense)
        bits = max(int(np.ceil(np.log2(LOAD_INV * keys.size))), 1)
        home = slot_hash(keys, bits)
        order = np.argsort(home, kind="stable")
        home_sorted = home[order]
        idx = np.arange(keys.size, dtype=np.int64)
        pos = np.maximum.accumulate(home_sorted - idx) + idx
        size = max(1 << bits, int(pos[-1]) + 1) + 1 + _WINDOW  # trailing empty slots end every probe and window
        slots = np.full((size, 2), EMPTY, dtype=np.int64)
        slots[pos, 0] = keys[order]
        slots[pos, 1] = rows[order]
        return cls(slots=slots, bits=bits, max_probe=int((pos - home_sorted).max()))

    @property
    def is_dense(self) -> bool:
        return self.dense is not None

    @property
    def slot_keys(self) -> Optional[np.ndarray]:
        """Keys of the hash layout, int64 [size] (a strided view; -1 = empty)."""
        return None if self.slots is None else self.slots[:, 0]

    @property
    def slot_rows(self) -> Optional[np.ndarray]:
        """Rows of the hash layout, int64 [size] (a strided view)."""
        return None if self.slots is None else self.slots[:, 1]

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Non-negative int64 keys [n] -> rows int64 [n], -1 where the key is not in the table."""
        keys = np.asarray(keys, dtype=np.int64)
        if self.dense is not None:
            return np.take(self.dense, keys, mode="clip")
        out = np.empty(keys.shape, dtype=np.int64)
        kernel = _probe_kernel() if USE_NUMBA else None
        if kernel is not None:
            flat = np.ascontiguousarray(keys).reshape(-1)
            run_kernel(kernel, _probe_chunks, flat.size, flat, np.ascontiguousarray(self.slots),
                       np.uint64(64 - self.bits), out.reshape(-1))
            return out
        pairs = self.slots.view(np.complex128).reshape(-1)   # one 16-byte (key, row) item per slot
        for lo in range(0, keys.size, _LOOKUP_BLOCK):
            hi = min(lo + _LOOKUP_BLOCK, keys.size)
            self._probe(keys[lo:hi], pairs, out[lo:hi])
        return out

    def _probe(self, keys: np.ndarray, pairs: np.ndarray, out: np.ndarray) -> None:
        slot = slot_hash(keys, self.bits)
        got = np.take(pairs, slot).view(np.int64).reshape(-1, 2)
        out[:] = got[:, 1]
        hit = got[:, 0] == keys
        np.putmask(out, ~hit, EMPTY)
        pending = np.flatnonzero(~hit & (got[:, 0] != EMPTY))
        if pending.size == 0 or self.max_probe == 0:
            return
        # displaced keys: scan the next `width` slots at once (keys are distinct, so at most one matches)
        width = min(self.max_probe, _WINDOW)
        win = np.take(pairs, slot[pending, None] + np.arange(1, width + 1), mode="clip").view(np.int64).reshape(-1, width, 2)
        eq = win[:, :, 0] == keys[pending, None]
        found = eq.any(axis=1)
        out[pending[found]] = win[found, eq[found].argmax(axis=1), 1]
        pending = pending[~found]
        step = width + 1
        while pending.size and step <= self.max_probe:     # rare: runs longer than the window
            got = np.take(pairs, slot[pending] + step).view(np.int64).reshape(-1, 2)
            hit = got[:, 0] == keys[pending]
            out[pending[hit]] = got[hit, 1]
            pending = pending[~hit & (got[:, 0] != EMPTY)]
            step += 1

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a torch twin needs (dense, or slots)."""
        if self.dense is not None:
            return {"dense": self.dense}
        return {"slots": self.slots}


def _probe_loop(keys: np.ndarray, slots: np.ndarray, shift: np.uint64, out: np.ndarray) -> None:
    """Linear probing per key (numba-compiled by `_probe_kernel`): keys int64 [n] -> out int64 [n] (row or -1).

    slots: C-contiguous [size, 2]. While probing key i it prefetches key i + _AHEAD's home slot, so the random
    cache misses of successive keys overlap instead of queueing (~1.5x; results unchanged, it is only a hint).
    """
    fib = np.uint64(0x9E3779B97F4A7C15)
    size = slots.shape[0]
    n = keys.size
    for i in range(min(_AHEAD, n)):
        prefetch(slots, np.int64((np.uint64(keys[i]) * fib) >> shift) * 2)
    for i in range(n):
        if i + _AHEAD < n:
            prefetch(slots, np.int64((np.uint64(keys[i + _AHEAD]) * fib) >> shift) * 2)
        k = keys[i]
        s = np.int64((np.uint64(k) * fib) >> shift)
        row = -1
        while s < size:
            stored = slots[s, 0]
            if stored == k:
                row = slots[s, 1]
                break
            if stored == -1:
                break
            s += 1
        out[i] = row


def _probe_kernel():
    """`_probe_loop` compiled with numba (cached on disk, nogil), or None when numba is not installed."""
    return compiled(_probe_loop)


_probe_jit = compiled(_probe_loop)      # a global the parallel driver calls (numba resolves it)


def _probe_chunks(keys: np.ndarray, slots: np.ndarray, shift: np.uint64, out: np.ndarray, bounds: np.ndarray) -> None:
    """`_probe_loop` over contiguous chunks [bounds[j], bounds[j+1]) in parallel (numba prange, OpenMP layer)."""
    for j in prange(bounds.size - 1):
        lo, hi = bounds[j], bounds[j + 1]
        _probe_jit(keys[lo:hi], slots, shift, out[lo:hi])
