"""Boundary checks: raw ID keys (every remapper's `fit` and `transform` go through `as_keys`) and the
constructor parameters of strategies (`check_int`, `check_number`, `check_seed`: ValueError naming the parameter)."""
from __future__ import annotations

from typing import Any

import numpy as np

from recsys_hash.errors import InvalidIdError

INT_KEYS = "int"
STR_KEYS = "str"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(where: str, name: str, value: Any) -> int:
    """`value` as a Python int >= 1 (bools and floats rejected), else ValueError naming `where` and `name`."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def check_number(where: str, name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False,
                 hi_open: bool = False) -> float:
    """`value` (a real number, not a bool, string or NaN) in [lo, hi], ends open as asked -> float; else ValueError."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        v = float(value)
        ok = (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi)
    if not ok:
        if lo == 0 and lo_open and hi == np.inf:
            kind = "a positive number"
        else:
            kind = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{where}: {name} must be {kind}, got {value!r}")
    return float(value)


def check_seed(where: str, value: Any, bits: int = 64) -> int:
    """A seed: a non-negative int below 2^bits (bools, floats and strings rejected) -> Python int."""
    if not _is_int(value) or not 0 <= value < (1 << bits):
        raise ValueError(f"{where}: seed must be a non-negative integer below 2^{bits}, got {value!r}")
    return int(value)


def key_kind(keys: np.ndarray) -> str:
    return STR_KEYS if keys.dtype.kind in "OUS" else INT_KEYS


def _utf8_ok(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_IS_STR = np.frompyfunc(lambda v: isinstance(v, str), 1, 1)   # elementwise over object arrays, one C-driven pass
_UTF8_OK = np.frompyfunc(_utf8_ok, 1, 1)


def _decode_bytes(arr: np.ndarray, where: str) -> np.ndarray:
    """Bytes ('S') array [n] -> object array of str [n] (utf-8); names the first undecodable value."""
    try:
        return arr.astype(np.str_).astype(object)            # ASCII, the usual case: numpy's fast cast
    except UnicodeDecodeError:
        pass
    try:
        return np.char.decode(arr, "utf-8").astype(object)
    except UnicodeDecodeError:
        pos = int(np.argmin(_UTF8_OK(arr).astype(bool)))
        raise InvalidIdError(f"{where}: bytes ID {bytes(arr[pos])!r} at position {pos} is not valid utf-8") from None


def _check_all_str(arr: np.ndarray, where: str) -> None:
    """Object array [n]: every element must be a str (one pass); names the first other value and its position."""
    if arr.size == 0 or set(map(type, arr)) == {str}:    # fast path: the set of element types, built in C
        return
    ok = _IS_STR(arr).astype(bool)
    if not ok.all():                                     # (str subclasses are accepted too)
        pos = int(np.argmin(ok))
        raise InvalidIdError(
            f"{where}: object arrays of IDs must hold str, got {type(arr[pos]).__name__} {_short(arr[pos])} "
            f"at position {pos}"
        )


def _short(value: Any) -> str:
    """repr of an offending value, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int_type(t: type) -> bool:
    return issubclass(t, (int, np.integer)) and not issubclass(t, (bool, np.bool_))


def _check_one_type(ids: Any, where: str) -> None:
    """A Python list/tuple of IDs: every element of the first one's kind (int, str or bytes), or InvalidIdError
    naming the first other value -- numpy would silently turn ['a', 1] into ['a', '1'] and [True, 4] into [1, 4]."""
    first = ids[0]
    if isinstance(first, (int, np.integer)):                           # bools too: they are never IDs
        ok, label = _is_int_type, "int"
    elif isinstance(first, (str, bytes)):
        kind = str if isinstance(first, str) else bytes
        ok, label = (lambda t: issubclass(t, kind)), kind.__name__
    else:
        return                                                         # numpy's dtype checks below decide
    if all(ok(t) for t in set(map(type, ids))):                       # one C-driven pass, then distinct types only
        return
    pos = next(i for i, v in enumerate(ids) if not ok(type(v)))       # error path only
    value = ids[pos]
    raise InvalidIdError(f"{where}: IDs mix types: {type(value).__name__} {_short(value)} at position {pos} "
                         f"among {label} IDs")


def as_keys(ids: Any, where: str, input_hash_size: int | None = None) -> np.ndarray:
    """Raw keys -> int64 ndarray [n] (non-negative) or object ndarray of str [n].

    Accepts numpy arrays, torch tensors, polars/pandas Series and Python lists/tuples (an empty one is an empty
    int64 column). Rejects bool and float input (NaN included), negative IDs, IDs >= `input_hash_size`, non-str
    objects, lists mixing kinds (['a', 1]), non-utf-8 bytes (bytes arrays are decoded to str) and non-1-D input,
    with a message naming `where` (e.g. "modulo.transform") and the first offending value and position.
    """
    try:
        import torch

        if isinstance(ids, torch.Tensor):
            if ids.dtype == torch.bool or ids.is_floating_point() or ids.is_complex():
                raise InvalidIdError(f"{where}: IDs must be an integer tensor, got dtype {ids.dtype}")
            ids = ids.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    if hasattr(ids, "to_numpy") and not isinstance(ids, np.ndarray):  # polars / pandas Series
        ids = ids.to_numpy()
    if isinstance(ids, (list, tuple)):
        if len(ids) == 0:                                 # an empty ID column, whatever numpy's default dtype
            return np.zeros(0, dtype=np.int64)
        _check_one_type(ids, where)
    arr = np.asarray(ids)
    if arr.ndim == 0:
        raise InvalidIdError(f"{where}: IDs must be a 1-D array, got a scalar {arr!r}")
    if arr.ndim != 1:
        raise InvalidIdError(f"{where}: IDs must be a 1-D array, got shape {arr.shape}")
    kind = arr.dtype.kind
    if kind == "b":
        raise InvalidIdError(f"{where}: IDs must be integers or strings, got a bool array")
    if kind in "fc":
        bad = np.flatnonzero(~np.isfinite(arr)) if kind == "f" else np.array([], dtype=np.int64)
        detail = f" (NaN/inf at position {int(bad[0])})" if bad.size else ""
        raise InvalidIdError(f"{where}: IDs must be integers or strings, got dtype {arr.dtype}{detail}")
    if kind == "S":
        return _decode_bytes(arr, where)
    if kind == "U":
        return arr.astype(object)
    if kind == "O":
        _check_all_str(arr, where)
        return arr
    if kind == "u":
        if arr.size and arr.max() > np.iinfo(np.int64).max:
            pos = int(np.argmax(arr > np.iinfo(np.int64).max))
            raise InvalidIdError(f"{where}: ID {arr[pos]} at position {pos} does not fit in int64")
        arr = arr.astype(np.int64)
    elif kind == "i":
        arr = arr.astype(np.int64, copy=False)
    else:
        raise InvalidIdError(f"{where}: IDs must be integers or strings, got dtype {arr.dtype}")
    if arr.size:
        lo = arr.min()
        if lo < 0:
            pos = int(np.argmax(arr < 0))
            raise InvalidIdError(f"{where}: negative ID {int(arr[pos])} at position {pos}; IDs must be >= 0")
        if input_hash_size is not None:
            hi = arr.max()
            if hi >= input_hash_size:
                pos = int(np.argmax(arr >= input_hash_size))
                raise InvalidIdError(
                    f"{where}: ID {int(arr[pos])} at position {pos} is beyond input_hash_size={input_hash_size}"
                )
    return arr
