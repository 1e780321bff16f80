"""TorchScript-able twins of the numpy remapping kernels (exactly equal results, int64 wrap-around math).

A `RemapSpec` compiles to `cols: List[List[int]]` (one [lookup, family, a, b, mod, offset] per output column,
see `recsys_hash.ids.remap_spec.Column.as_ints`) plus the key table's tensors. Logical right shifts are
emulated with a mask because torch's `>>` on int64 is arithmetic. TorchScript cannot read module globals,
so the constants below are inlined as literals in the functions (and checked against these in the tests).
"""
from __future__ import annotations

from typing import List

import torch

_M61 = (1 << 61) - 1
_MASK32 = 0xFFFFFFFF
_MASK29 = (1 << 29) - 1


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= (1 << 63) else x


# xxh64 primes and the Fibonacci multiplier as signed int64 constants (same bits as the uint64 ones).
_P1 = _signed(0x9E3779B185EBCA87)
_P2 = _signed(0xC2B2AE3D27D4EB4F)
_P3 = _signed(0x165667B19E3779F9)
_P4 = _signed(0x85EBCA77C2B2AE63)
_P5 = _signed(0x27D4EB2F165667C5)
_FIB = _signed(0x9E3779B97F4A7C15)

# family codes, in recsys_hash.ids.remap_spec.FAMILIES order
ERROR, CONST, MOD, UNIVERSAL, XXHASH, QUOTIENT = 0, 1, 2, 3, 4, 5


def lsr(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bits by 1 <= s <= 63."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def rotl(x: torch.Tensor, r: int) -> torch.Tensor:
    return (x << r) | lsr(x, 64 - r)


def umod(h: torch.Tensor, m: int) -> torch.Tensor:
    """(h as uint64) mod m for 1 <= m < 2^62 -> int64 in [0, m)."""
    return (torch.remainder(lsr(h, 1), m) * 2 + (h & 1)) % m


def universal_torch(keys: torch.Tensor, a: int, b: int, m: int) -> torch.Tensor:
    """((a*x + b) mod (2^61-1)) mod m for non-negative int64 keys; equals `ids.hashing.universal_hash`."""
    x = (keys & (2305843009213693951)) + (keys >> 61)
    x0 = x & (4294967295)
    x1 = x >> 32
    a0 = a & (4294967295)
    a1 = a >> 32
    p0 = x0 * a0                                  # up to 2^64: may wrap negative, read as uint64 bits
    p1 = x1 * a0 + x0 * a1
    p2 = x1 * a1
    t = (p2 << 3) + (p1 >> 29) + ((p1 & (536870911)) << 32) + (p0 & (2305843009213693951)) + lsr(p0, 61) + b
    t = (t & (2305843009213693951)) + lsr(t, 61)                   # t read as uint64; fold, then one conditional subtract
    t = torch.where(t >= (2305843009213693951), t - (2305843009213693951), t)
    return t % m


def xxh64_int_torch(keys: torch.Tensor, seed: int) -> torch.Tensor:
    """xxh64 of each key's 8 little-endian bytes as int64 bits (seed given as a signed int64)."""
    k = rotl(keys * (-4417276706812531889), 31) * (-7046029288634856825)
    h = k ^ (torch.full_like(keys, seed) + ((2870177450012600261) + 8))   # wrapping add in tensor space
    h = rotl(h, 27) * (-7046029288634856825) + (-8796714831421723037)
    h = h ^ lsr(h, 33)
    h = h * (-4417276706812531889)
    h = h ^ lsr(h, 29)
    h = h * (1609587929392839161)
    return h ^ lsr(h, 32)


def keytable_lookup_torch(
    keys: torch.Tensor, dense: torch.Tensor, slot_keys: torch.Tensor, slot_rows: torch.Tensor, bits: int,
    max_probe: int,
) -> torch.Tensor:
    """Rows of keys in a `KeyTable` (dense if `dense` is non-empty, else linear probing), -1 on a miss."""
    if dense.numel() > 0:
        return dense[torch.clamp(keys, max=dense.numel() - 1)]
    slot = lsr(keys * (-7046029254386353131), 64 - bits)
    found = slot_keys[slot]
    out = torch.where(found == keys, slot_rows[slot], torch.full_like(keys, -1))
    pending = torch.nonzero((found != keys) & (found != -1)).flatten()
    step = 1
    while pending.numel() > 0 and step <= max_probe:
        s = slot[pending] + step
        found = slot_keys[s]
        hit = found == keys[pending]
        out[pending[hit]] = slot_rows[s[hit]]
        pending = pending[(~hit) & (found != -1)]
        step += 1
    return out


def _hash_column(keys: torch.Tensor, col: List[int]) -> torch.Tensor:
    family, a, b, m, offset = col[1], col[2], col[3], col[4], col[5]
    if family == 2:  # MOD
        out = keys % m
    elif family == 3:  # UNIVERSAL
        out = universal_torch(keys, a, b, m)
    elif family == 4:  # XXHASH
        out = umod(xxh64_int_torch(keys, a), m)
    elif family == 5:  # QUOTIENT
        out = torch.div(keys, a, rounding_mode="floor") % m
    else:  # CONST, or ERROR (rows only filled where the lookup hits)
        out = torch.zeros_like(keys)
    return out + offset


def apply_spec_torch(
    keys: torch.Tensor, cols: List[List[int]], dense: torch.Tensor, slot_keys: torch.Tensor,
    slot_rows: torch.Tensor, bits: int, max_probe: int, where: str,
) -> torch.Tensor:
    """Non-negative int64 keys [n] -> rows [n, len(cols)]; equals `ids.remap_spec.apply_spec`."""
    has_lookup = False
    for col in cols:
        if col[0] == 1:
            has_lookup = True
    found = torch.empty(0, dtype=torch.int64, device=keys.device)
    if has_lookup:
        found = keytable_lookup_torch(keys, dense, slot_keys, slot_rows, bits, max_probe)
    outs: List[torch.Tensor] = []
    for col in cols:
        if col[0] == 0:
            outs.append(_hash_column(keys, col))
            continue
        miss = found < 0
        if col[1] == 0:  # ERROR
            if bool(miss.any()):
                pos = int(torch.nonzero(miss).flatten()[0].item())
                raise ValueError(
                    where + ": unseen ID " + str(int(keys[pos].item())) + " at position " + str(pos)
                    + " (oov='error'); fit on it or choose another OOV policy"
                )
            outs.append(found)
        else:
            outs.append(torch.where(miss, _hash_column(keys, col), found))
    if len(outs) == 1:
        return outs[0].unsqueeze(1)
    return torch.stack(outs, dim=1)
