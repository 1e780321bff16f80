"""Compiled-kernel plumbing for the ids kernels: numba compilation (optional) and a cache prefetch hint.

`compiled(fn)` is the one place kernels get compiled: nopython, cached on disk, and `nogil`, so a caller may map
contiguous chunks of a batch on several threads at once (the TorchRec module does, see
`integrations.torch_ops.apply_spec_numpy`). `prefetch(array, i)` asks the CPU to start loading element i of a
C-contiguous array (a hint: no fault, no effect on results), so a loop over random slots can overlap its cache
misses; it exists only inside compiled kernels.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

_COMPILED: dict = {}
_PARALLEL: dict = {}
_LOCAL = threading.local()
#: chunks per kernel thread in a parallel kernel (a delayed thread holds up one chunk only)
CHUNKS_PER_THREAD = 4
#: a parallel kernel runs only on batches of at least this many keys (below, a launch costs more than it saves)
PARALLEL_MIN = 1 << 16
_STATE = {"forked": False, "layer_checked": False, "usable": True}


def _forked() -> None:
    _STATE["forked"] = True        # GNU OpenMP is not fork-safe: a forked child keeps to one thread


os.register_at_fork(after_in_child=_forked)


@contextmanager
def kernel_threads(threads: int) -> Iterator[None]:
    """Within the block, this thread's compiled kernels that have a parallel twin use `threads` threads on large
    batches (see `parallel_threads`)."""
    before = getattr(_LOCAL, "threads", 1)
    _LOCAL.threads = int(threads)
    try:
        yield
    finally:
        _LOCAL.threads = before


def parallel_threads(n: int) -> int:
    """Threads for a parallel kernel over `n` keys on this thread: 1 unless inside `kernel_threads(t > 1)`, the
    batch is large, the process is not a forked child, and numba runs its parallel loops on the OpenMP runtime
    (the one torch uses: its worker threads then take the loop's chunks instead of spin-waiting beside them)."""
    threads = getattr(_LOCAL, "threads", 1)
    if threads < 2 or n < PARALLEL_MIN or _STATE["forked"] or not _STATE["usable"]:
        return 1
    import numba

    return max(1, min(threads, numba.config.NUMBA_NUM_THREADS))


def run_parallel(driver, threads: int, *args) -> None:
    """Run a `compiled_parallel` driver on `threads` numba threads; after the first launch, keep using parallel
    kernels only if numba chose the OpenMP threading layer (shared with torch)."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        driver(*args)
    finally:
        numba.set_num_threads(before)
    if not _STATE["layer_checked"]:
        _STATE["layer_checked"] = True
        _STATE["usable"] = numba.threading_layer() == "omp"


def run_kernel(kernel, chunked, n: int, *args) -> None:
    """`kernel(*args)` over `n` keys, or, where `parallel_threads(n)` > 1, its parallel twin `chunked` (a driver
    whose prange runs `kernel` on contiguous chunks, compiled by `compiled_parallel`) with the chunk bounds."""
    threads = parallel_threads(n)
    driver = compiled_parallel(chunked) if threads > 1 else None
    if driver is None:
        kernel(*args)
    else:
        run_parallel(driver, threads, *args, chunk_bounds(n, threads))


def chunk_bounds(n: int, threads: int):
    """int64 [chunks + 1] bounds of contiguous chunks of `n` keys for a parallel driver."""
    import numpy as np

    chunks = max(1, min(threads * CHUNKS_PER_THREAD, n))
    return np.linspace(0, n, chunks + 1).astype(np.int64)


def compiled_parallel(fn):
    """`fn` (a driver whose outer loop is a numba `prange`) compiled with parallel=True, or None without numba."""
    if fn not in _PARALLEL:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            _PARALLEL[fn] = None
        else:
            _PARALLEL[fn] = numba.njit(cache=True, nogil=True, parallel=True)(fn)
    return _PARALLEL[fn]


def compiled(fn):
    """`fn` compiled with numba (nopython, nogil, cached on disk), or None when numba is not installed."""
    if fn not in _COMPILED:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency; the numpy kernels are the fallback
            _COMPILED[fn] = None
        else:
            _COMPILED[fn] = numba.njit(cache=True, nogil=True)(fn)
    return _COMPILED[fn]


def _prefetch_stub(array, index) -> None:
    """Stands in for the hint when numba is missing (no compiled kernel calls it then)."""


try:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - numba is a dependency
    prefetch = _prefetch_stub
else:
    @intrinsic
    def prefetch(typingctx, array, index):
        """llvm.prefetch(read, high locality) of &array.data[index] for a C-contiguous array."""
        if not isinstance(array, types.Array) or array.layout != "C" or not isinstance(index, types.Integer):
            return None
        sig = types.void(array, index)

        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = builder.module.globals.get("llvm.prefetch.p0i8") or ir.Function(builder.module, fnty, "llvm.prefetch.p0i8")
            ptr = builder.bitcast(builder.gep(data, [args[1]]), i8p)
            builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return sig, codegen
