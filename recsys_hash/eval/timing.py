"""Timing helpers: a wall-clock context manager and a thread-count scope for reproducible measurements."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Optional

import torch


class Timer:
    """`with Timer() as t: ...` then `t.seconds`; re-entrant use accumulates."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: Optional[float] = None

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._start


@contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """Run a block with `torch.set_num_threads(n)` (None leaves it alone), restoring the old value."""
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
