"""Boundary checks for raw ID keys: every remapper's `fit` and `transform` go through `as_keys`."""
from __future__ import annotations

from typing import Any

import numpy as np

from recsys_hash.errors import InvalidIdError

INT_KEYS = "int"
STR_KEYS = "str"


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
        value = repr(arr[pos])
        value = value if len(value) <= 60 else value[:57] + "..."
        raise InvalidIdError(
            f"{where}: object arrays of IDs must hold str, got {type(arr[pos]).__name__} {value} at position {pos}"
        )


def as_keys(ids: Any, where: str, input_hash_size: int | None = None) -> np.ndarray:
    """Raw keys -> int64 ndarray [n] (non-negative) or object ndarray of str [n].

    Accepts numpy arrays, torch tensors, polars/pandas Series and Python sequences. Rejects bool and
    float input (NaN included), negative IDs, IDs >= `input_hash_size`, non-str objects, non-utf-8 bytes
    (bytes arrays are decoded to str) and non-1-D input, with a message naming `where` (e.g.
    "modulo.transform") and the first offending value and position.
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
