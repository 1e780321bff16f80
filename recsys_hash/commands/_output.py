"""Output convention for every command: tables and summaries on stdout; with --json the last stdout line is one JSON
object and the tables go to stderr; progress and errors always on stderr."""
from __future__ import annotations

import json
import sys
from typing import Any, Callable, Optional

from rich.console import Console

#: Progress, errors and (under --json) tables: stderr, so that stdout stays machine-readable.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
#: Tables and summaries without --json (`datasets list > file` writes the table).
out_console = Console(width=None if sys.stdout.isatty() else 160)


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "__fspath__"):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def emit(result: dict[str, Any], as_json: bool, render: Optional[Callable[[Console], None]] = None) -> None:
    """Render the human view (stdout; stderr under --json) and, with --json, print `result` as the last stdout line."""
    if render is not None:
        render(console if as_json else out_console)
    if as_json:
        sys.stdout.write(json.dumps(result, default=_default, sort_keys=True) + "\n")
        sys.stdout.flush()


def fail(exc: BaseException, as_json: bool, code: int = 1, **context: Any) -> None:
    """Report a boundary error: one red line on stderr, the JSON error object with --json, exit code `code`."""
    import typer

    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)   # '[nlsh]' is text
    if as_json:
        emit({**context, "error": str(exc), "error_type": type(exc).__name__}, True)
    raise typer.Exit(code=code)


def guard(fn: Callable[[], Any], as_json: bool = False, **context: Any) -> Any:
    """Run a command body; the library's boundary errors go through `fail` (no traceback)."""
    import signal

    from recsys_hash.errors import RecsysHashError, TrainingInterrupted

    try:
        return fn()
    except (RecsysHashError, ValueError, FileNotFoundError) as exc:
        fail(exc, as_json, **context)
    except TrainingInterrupted as exc:          # the shell's convention: 128 + the signal's number
        fail(exc, as_json, 128 + getattr(signal, exc.signal_name or "SIGINT", signal.SIGINT), **context)


def parse_list(text: str, cast: Callable[[str], Any] = str, what: str = "list") -> list:
    """'a, b,c' -> [cast('a'), cast('b'), cast('c')]; empty items dropped; a bad item raises ValueError naming `what`."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"{what} is empty")
    try:
        return [cast(t) for t in items]
    except ValueError as exc:
        raise ValueError(f"{what} {text!r}: {exc}") from None
