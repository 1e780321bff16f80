"""Compiled-kernel plumbing for the ids kernels: numba compilation (optional) and a cache prefetch hint.

`compiled(fn)` is the one place kernels get compiled: nopython, cached on disk, and `nogil`, so a caller may map
contiguous chunks of a batch on several threads at once (the TorchRec module does, see
`integrations.torch_ops.apply_spec_numpy`). `prefetch(array, i)` asks the CPU to start loading element i of a
C-contiguous array (a hint: no fault, no effect on results), so a loop over random slots can overlap its cache
misses; it exists only inside compiled kernels.
"""
from __future__ import annotations

_COMPILED: dict = {}


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
