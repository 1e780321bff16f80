"""Exact memory accounting of embedding tables and of the ID->row mappings in front of them."""
from __future__ import annotations

import numpy as np

#: Bytes per element of the embedding dtypes TorchRec tables use.
DTYPE_BYTES = {"float32": 4, "fp32": 4, "float16": 2, "fp16": 2, "bfloat16": 2, "bf16": 2, "int8": 1, "uint8": 1,
               "float64": 8, "int4": 0.5}


def dtype_bytes(dtype: str) -> float:
    key = str(dtype).replace("torch.", "")
    if key not in DTYPE_BYTES:
        raise ValueError(f"unknown embedding dtype {dtype!r}; known: {', '.join(sorted(DTYPE_BYTES))}")
    return DTYPE_BYTES[key]


def table_bytes(rows: int, dim: int, dtype: str = "float32") -> int:
    """Parameter bytes of one [rows, dim] table; int4 rounds each row up to whole bytes."""
    if rows < 0 or dim < 1:
        raise ValueError(f"table_bytes: rows must be >= 0 and dim >= 1, got rows={rows}, dim={dim}")
    per = dtype_bytes(dtype)
    if per < 1:
        return int(rows * int(np.ceil(dim * per)))
    return int(rows * dim * per)


#: Bytes of one hash rule at serving time: (a, b, modulus, offset) as int64. Every row an ID maps to (`rows_per_id`)
#: is given by one rule, counted whether or not its family uses all four integers (modulo uses only the modulus).
HASH_RULE_BYTES = 4 * 8


def mapping_bytes(remapper) -> int:
    """Bytes the remapper keeps at serving time: its ID -> row arrays as stored (lookup keys and rows, int64; GraphHash's
    row per vocabulary ID) plus `HASH_RULE_BYTES` per output column; refit-only state (labels, counts) is excluded."""
    arrays = sum(np.asarray(a).nbytes for a in remapper.serving_arrays().values())
    return int(arrays + HASH_RULE_BYTES * remapper.rows_per_id)
