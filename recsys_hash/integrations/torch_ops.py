"""TorchScript-able twins of the numpy remapping kernels (exactly equal results, int64 wrap-around math).

A `RemapSpec` compiles to `cols: List[List[int]]` (one [lookup, family, a, b, mod, offset] per output column,
see `recsys_hash.ids.remap_spec.Column.as_ints`) plus the key table's tensors (and the pre-map's, if any). Logical
right shifts are emulated with a mask because torch's `>>` on int64 is arithmetic. TorchScript cannot read module
globals, so the constants below are inlined as literals in the functions (and checked against these in the tests).
Gathers use `index_select` (torch's advanced indexing is ~4x slower on CPU). `remap_rows` picks the path:
the numpy kernels themselves in eager CPU mode (`apply_spec_numpy`, dropped by TorchScript; large batches in
spans on `torch.get_num_threads()` threads), these twins when scripted or on GPU. Bad IDs raise `InvalidIdError`
with the same text on every path (scripted, TorchScript wraps it in `torch.jit.Error`, whose message ends with
"recsys_hash.errors.InvalidIdError: <text>").
"""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional

import numpy as np
import torch

from recsys_hash.errors import InvalidIdError
from recsys_hash.ids._jit import kernel_threads, parallel_threads

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
    """fmix64(((a*x + b) mod (2^61-1))) mod m for non-negative int64 keys, 1 <= m < 2^62; equals
    `ids.hashing.universal_hash` (fmix64 = murmur3's finaliser, multipliers FMIX1/FMIX2 inlined as signed int64)."""
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
    t = t ^ lsr(t, 33)                                             # fmix64: wrapping int64 multiplies = uint64 bits
    t = t * (-49064778989728563)
    t = t ^ lsr(t, 33)
    t = t * (-4265267296055464877)
    t = t ^ lsr(t, 33)
    return umod(t, m)


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


def keytable_lookup_torch(keys: torch.Tensor, slots: torch.Tensor, bits: int, max_probe: int) -> torch.Tensor:
    """Rows of keys in a hash-layout `KeyTable` (interleaved (key, row) slots int64 [size, 2]), -1 on a miss."""
    flat = slots.reshape(-1)
    slot = lsr(keys * (-7046029254386353131), 64 - bits)
    found = flat.index_select(0, slot * 2)
    out = torch.where(found == keys, flat.index_select(0, slot * 2 + 1), torch.full_like(keys, -1))
    pending = torch.nonzero((found != keys) & (found != -1)).flatten()
    step = 1
    while pending.numel() > 0 and step <= max_probe:
        s = (slot.index_select(0, pending) + step) * 2
        found = flat.index_select(0, s)
        hit = found == keys.index_select(0, pending)
        out[pending[hit]] = flat.index_select(0, s[hit] + 1)
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


def premap_torch(keys: torch.Tensor, premap: torch.Tensor, bits: int, max_probe: int) -> torch.Tensor:
    """The spec's pre-map on keys [n]: `premap` is a dense `KeyTable` [D] (value or -1; keys >= D - 1 read the -1
    sentinel), its hash-layout slots [size, 2], or empty (no pre-map); keys it does not hold pass unchanged."""
    if premap.numel() == 0:
        return keys
    if premap.dim() == 1:
        mapped = premap.index_select(0, torch.clamp(keys, max=premap.shape[0] - 1))
    else:
        mapped = keytable_lookup_torch(keys, premap, bits, max_probe)
    return torch.where(mapped >= 0, mapped, keys)


def apply_spec_torch(
    keys: torch.Tensor, cols: List[List[int]], dense: torch.Tensor, slots: torch.Tensor, bits: int, max_probe: int,
    where: str, premap: Optional[torch.Tensor] = None, pre_bits: int = 0, pre_max_probe: int = 0,
) -> torch.Tensor:
    """Non-negative int64 keys [n] -> rows [n, len(cols)]; equals `ids.remap_spec.apply_spec`.

    dense: the spec's `fused_dense()` [num_lookup_columns, D], or [1, D] shared by every lookup column (the dense
    `KeyTable` itself, row or -1, when the fused table would be too large), or empty; slots: the hash-layout table
    [size, 2] (used when `dense` is empty); premap (+ its probe bits and max_probe): the spec's pre-map, see
    `premap_torch` (None or empty: none). Errors name the key given, before the pre-map.
    """
    given = keys
    if premap is not None:
        keys = premap_torch(keys, premap, pre_bits, pre_max_probe)
    has_lookup = False
    for col in cols:
        if col[0] == 1:
            has_lookup = True
    found = torch.empty(0, dtype=torch.int64, device=keys.device)
    if has_lookup and dense.numel() == 0:
        found = keytable_lookup_torch(keys, slots, bits, max_probe)
    clipped = keys
    shared = dense.shape[0] == 1
    if dense.numel() > 0:
        clipped = torch.clamp(keys, max=dense.shape[1] - 1)
    outs: List[torch.Tensor] = []
    j = 0
    for col in cols:
        if col[0] == 0:
            outs.append(_hash_column(keys, col))
            continue
        rows = found
        if dense.numel() > 0:
            rows = dense[0 if shared else j].index_select(0, clipped)
            j += 1
        miss = rows < 0
        if col[1] == 0:  # ERROR
            if bool(miss.any()):
                pos = int(torch.nonzero(miss).flatten()[0].item())
                raise InvalidIdError(
                    where + ": unseen ID " + str(int(given[pos].item())) + " at position " + str(pos)
                    + " (oov='error'); fit on it or choose another OOV policy"
                )
            outs.append(rows)
        else:
            outs.append(torch.where(miss, _hash_column(keys, col), rows))
    if len(outs) == 1:
        return outs[0].unsqueeze(1)
    return torch.stack(outs, dim=1)


@torch.jit.unused
def apply_spec_numpy(
    keys: torch.Tensor, cols: List[List[int]], dense: torch.Tensor, slots: torch.Tensor, bits: int, max_probe: int,
    where: str, premap: Optional[torch.Tensor] = None, pre_bits: int = 0, pre_max_probe: int = 0,
) -> torch.Tensor:
    """Eager CPU path: the numpy kernels (`ids.remap_spec.apply_columns`) on zero-copy views -> rows [n, len(cols)].

    The same function as `transform`, hence equal to it by construction; TorchScript drops it (see `remap_rows`).
    Batches of at least 2 * MIN_CHUNK keys are mapped by `torch.get_num_threads()` threads at once, so the remap
    scales with the EBC's intra-op threads. Where every column runs in a kernel with a parallel twin (universal
    hashing, the sparse key-table probe: the strategies universal, double, full, frequency, double_frequency,
    graphhash's fallback), those kernels run their own parallel loops on numba's OpenMP layer, whose threads are
    torch's: with OpenMP's default spin-waiting, torch's idle workers would otherwise hold the cores a separate
    pool needs. Otherwise the caller and a pool of threads map spans (the kernels release the GIL). The batch is cut
    into about SPLIT contiguous spans per thread, which threads take in turn, so a thread the OS delays (a busy
    host) holds up at most one span. Each key's rows depend on that key alone: identical at any thread count. A
    bad ID re-runs the batch on one thread, so the error names the same ID and global position as `transform`.
    """
    from recsys_hash.ids import remap_spec
    from recsys_hash.ids.keytable import KeyTable

    columns = [remap_spec.Column.from_ints(c) for c in cols]
    table = KeyTable(slots=slots.numpy(), bits=bits, max_probe=max_probe) if slots.numel() > 0 else None
    fused = dense.numpy() if dense.numel() > 0 else None
    if fused is not None and fused.shape[0] == 1 and sum(c.lookup for c in columns) > 1:
        table, fused = KeyTable(dense=fused[0]), None          # one dense key table shared by the lookup columns
    pre = None
    if premap is not None and premap.numel() > 0:
        pre = (KeyTable(dense=premap.numpy()) if premap.dim() == 1
               else KeyTable(slots=premap.numpy(), bits=pre_bits, max_probe=pre_max_probe))
    flat = keys.numpy()
    n, k = flat.size, len(cols)
    threads = min(torch.get_num_threads(), n // MIN_CHUNK)
    if threads >= 2 and _parallel_kernels_cover(columns, table, fused, pre):
        with kernel_threads(threads):
            if parallel_threads(n) > 1:       # the kernels' own parallel loops share torch's OpenMP threads
                rows = remap_spec.apply_columns(flat, columns, table, fused, where, premap=pre)
                return torch.from_numpy(rows).view(n, k)
    if threads < 2:
        rows = remap_spec.apply_columns(flat, columns, table, fused, where, premap=pre)
        return torch.from_numpy(rows).view(n, k)
    out = np.empty((n, k), dtype=np.int64)
    step = max(MIN_CHUNK, -(-n // (threads * SPLIT)))
    spans = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    taken = itertools.count()                                  # next() on it is atomic: each span goes to one thread
    errors: List[BaseException] = []

    def work() -> None:
        i = next(taken)
        while i < len(spans) and not errors:
            lo, hi = spans[i]
            try:
                out[lo:hi] = remap_spec.apply_columns(flat[lo:hi], columns, table, fused, where,
                                                      premap=pre).reshape(hi - lo, k)
            except Exception as e:  # noqa: BLE001 - re-raised by the caller once no thread writes `out`
                errors.append(e)
            i = next(taken)

    pool = _pool(threads - 1)
    jobs = [pool.submit(work) for _ in range(threads - 1)]
    work()
    for job in jobs:
        if not job.cancel():                                   # not started (pool busy elsewhere): nothing to wait for
            job.result()
    if errors:
        remap_spec.apply_columns(flat, columns, table, fused, where, premap=pre)   # raises what `transform` raises
        raise errors[0]
    return torch.from_numpy(out)


def _parallel_kernels_cover(columns: list, table, fused, premap=None) -> bool:
    """True when every column's work (and the pre-map's) runs in a kernel with a parallel twin (universal hashing,
    the hash-layout key table probe); other families (modulo, xxhash, quotient, dense-table takes) go through the
    thread pool."""
    if any(c.family not in ("universal", "error", "const") for c in columns):
        return False
    if premap is not None and premap.dense is not None:
        return False
    return not any(c.lookup for c in columns) or (fused is None and table is not None and table.dense is None)


MIN_CHUNK = 1 << 15   # keys per span at least: below, handing work to a thread costs more than it saves
SPLIT = 4             # spans per thread (when the batch is large enough)
_POOL: list = []      # [workers, executor]: one process-wide pool


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process-wide pool, grown to at least `workers` threads (a forked child starts without one)."""
    with _POOL_LOCK:
        if not _POOL or _POOL[0] < workers:
            if _POOL:
                _POOL[1].shutdown(wait=False)
            _POOL[:] = [workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recsys_hash_remap")]
        return _POOL[1]


def _forget_pool_in_child() -> None:
    """After fork the copied pool has no threads (it would never run a job) and its lock may be held."""
    global _POOL_LOCK
    _POOL_LOCK = threading.Lock()
    _POOL.clear()


_POOL_LOCK = threading.Lock()
os.register_at_fork(after_in_child=_forget_pool_in_child)


def remap_rows(
    keys: torch.Tensor, cols: List[List[int]], dense: torch.Tensor, slots: torch.Tensor, bits: int, max_probe: int,
    where: str, premap: Optional[torch.Tensor] = None, pre_bits: int = 0, pre_max_probe: int = 0,
) -> torch.Tensor:
    """Keys [n] -> rows [n, len(cols)]: numpy kernels in eager mode on CPU (fast), torch ops when scripted or on GPU."""
    if torch.jit.is_scripting() or keys.device.type != "cpu" or dense.device.type != "cpu":
        return apply_spec_torch(keys, cols, dense, slots, bits, max_probe, where, premap, pre_bits, pre_max_probe)
    return apply_spec_numpy(keys, cols, dense, slots, bits, max_probe, where, premap, pre_bits, pre_max_probe)
