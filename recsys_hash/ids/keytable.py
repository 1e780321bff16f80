"""Exact key -> row lookup for vocabularies of non-negative int64 keys, vectorised in numpy.

Two layouts, chosen at build time:
- dense: a direct table `dense[key]` (row or -1) when the largest key is below `DENSE_FACTOR` x vocabulary;
  one `np.take(..., mode="clip")` per lookup (the last slot is a -1 sentinel, so too-large keys miss).
- hash: linear-probing open addressing with Fibonacci hashing at load factor <= 1/4. Built without a
  Python loop: keys sorted by home slot take `pos = i + cummax(home - i)` (each run is contiguous, so the
  table is a valid linear-probing table); the table gets an overflow tail instead of wrapping around.
  A lookup probes only the keys still unresolved, at most `max_probe + 1` rounds.
The torch twin (`recsys_hash.integrations.torch_ops.keytable_lookup`) reads the same arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys_hash.ids.hashing import _BLOCK, slot_hash

DENSE_FACTOR = 4
EMPTY = -1
LOAD_INV = 4  # slots per key (at least): few displaced keys, so most lookups end after one probe


@dataclass
class KeyTable:
    """Arrays of a built table. dense: int64 [max_key + 2]; or slot_keys / slot_rows: int64 [slots + tail]."""

    dense: np.ndarray | None = None
    slot_keys: np.ndarray | None = None
    slot_rows: np.ndarray | None = None
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
        size = max(1 << bits, int(pos[-1]) + 1) + 1          # >= 1 trailing empty slot ends every probe
        slot_keys = np.full(size, EMPTY, dtype=np.int64)
        slot_rows = np.full(size, EMPTY, dtype=np.int64)
        slot_keys[pos] = keys[order]
        slot_rows[pos] = rows[order]
        return cls(slot_keys=slot_keys, slot_rows=slot_rows, bits=bits, max_probe=int((pos - home_sorted).max()))

    @property
    def is_dense(self) -> bool:
        return self.dense is not None

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Non-negative int64 keys [n] -> rows int64 [n], -1 where the key is not in the table."""
        keys = np.asarray(keys, dtype=np.int64)
        if self.dense is not None:
            return np.take(self.dense, keys, mode="clip")
        out = np.empty(keys.shape, dtype=np.int64)
        for lo in range(0, keys.size, 8 * _BLOCK):   # blocks keep the probe temporaries in cache
            out[lo : lo + 8 * _BLOCK] = self._probe(keys[lo : lo + 8 * _BLOCK])
        return out

    def _probe(self, keys: np.ndarray) -> np.ndarray:
        slot = slot_hash(keys, self.bits)
        found = np.take(self.slot_keys, slot)
        out = np.take(self.slot_rows, slot)
        pending = np.flatnonzero((found != keys) & (found != EMPTY))
        out[pending] = EMPTY
        step = 1
        while pending.size and step <= self.max_probe:
            s = slot[pending] + step
            found = np.take(self.slot_keys, s)
            hit = found == keys[pending]
            out[pending[hit]] = np.take(self.slot_rows, s[hit])
            pending = pending[~hit & (found != EMPTY)]
            step += 1
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a torch twin needs (dense, or slot_keys + slot_rows)."""
        if self.dense is not None:
            return {"dense": self.dense}
        return {"slot_keys": self.slot_keys, "slot_rows": self.slot_rows}
