"""Graceful interruption of a training run: SIGINT/SIGTERM are caught while `TrainLoop.run` trains, the current
optimiser step finishes, the loop writes its checkpoint (with the step reached inside the epoch) and raises
`TrainingInterrupted`. A resume skips the completed steps of that epoch and continues as the uninterrupted run.

`StepCounter` is what a `train_epoch(epoch, advance)` callback receives as `advance`:

    >>> for batch in advance.skip(batches):          # drops the steps done before an interruption
    ...     loss_sum = step(batch)
    ...     advance(len(batch), loss=loss_sum)        # one completed step; sums survive an interruption
    >>> return {"loss": advance.sums["loss"] / n}
"""
from __future__ import annotations

import itertools
import signal
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

#: the signals a training run turns into a checkpoint and a clean stop
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopEpoch(BaseException):
    """Raised by `StepCounter` after a completed step once a stop was asked for; `TrainLoop.run` catches it.
    A BaseException, so that no `except Exception` inside a train_epoch callback swallows it."""


class SignalCatcher:
    """Context manager: while inside, SIGINT/SIGTERM only set `pending` (the first signal's number); a second
    signal raises KeyboardInterrupt at once. The previous handlers are restored on exit. Disabled, or off the main
    thread (where Python cannot install handlers), it catches nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.pending: Optional[int] = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.pending is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name} while stopping: training aborted")
        self.pending = signum

    def __enter__(self) -> "SignalCatcher":
        if self.enabled and threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                previous = signal.getsignal(sig)
                if previous is None:                 # a handler installed outside Python: leave it alone
                    continue
                signal.signal(sig, self._handle)
                self._previous[sig] = previous
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.pending).name if self.pending is not None else ""


class StepCounter:
    """`advance` for a train_epoch callback: call it once per completed optimiser step with the step's rows and
    any per-step sums (e.g. loss=batch loss * rows); `sums` holds their running totals for the epoch.

    Args:
        on_rows: progress callback (rows of the step).
        stop_requested: checked after each step; when true the counter raises `StopEpoch`.
        start_step: steps of this epoch already done before an interruption (`skip` drops them).
        sums: the running totals saved with those steps.
    """

    def __init__(self, on_rows: Callable[[int], None], stop_requested: Callable[[], bool], start_step: int = 0,
                 sums: Optional[Mapping[str, float]] = None) -> None:
        self.on_rows, self.stop_requested = on_rows, stop_requested
        self.start_step = self.step = int(start_step)
        self.sums: dict[str, float] = {k: float(v) for k, v in (sums or {}).items()}
        self.skipped = self.start_step == 0

    def __call__(self, rows: int, **sums: float) -> None:
        self.step += 1
        for key, value in sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.on_rows(rows)
        if self.stop_requested():
            raise StopEpoch()

    def skip(self, batches: Iterable[Any]) -> Iterator[Any]:
        """`batches` without the first `start_step` ones; they are still drawn (islice consumes them), so a
        sampler that draws as it goes stays in step with the uninterrupted run."""
        self.skipped = True
        return itertools.islice(batches, self.start_step, None)
