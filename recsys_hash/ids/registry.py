"""One name registry for every IdRemapper strategy; the CLI, the audit and the benchmarks read it."""
from __future__ import annotations

from typing import Any, TypeVar

from recsys_hash.ids.base import IdRemapper

_REGISTRY: dict[str, type[IdRemapper]] = {}
_COMPOSED: dict[str, type[IdRemapper]] = {}
T = TypeVar("T", bound=type[IdRemapper])


def register(cls: T) -> T:
    """Class decorator: make a strategy available under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"strategy name {cls.name!r} is already registered by {_REGISTRY[cls.name].__name__}")
    _REGISTRY[cls.name] = cls
    return cls


def get_strategy(name: str) -> type[IdRemapper]:
    """The class of strategy `name`; `A+B` composes (A's class must offer `compose(B)`, e.g. `dedup+graphhash`)."""
    _load_builtin()
    if name in _REGISTRY:
        return _REGISTRY[name]
    head, plus, rest = name.partition("+") if isinstance(name, str) else ("", "", "")
    if plus and head in _REGISTRY and hasattr(_REGISTRY[head], "compose") and rest:
        if name not in _COMPOSED:
            try:
                _COMPOSED[name] = _REGISTRY[head].compose(rest)
            except ValueError as exc:
                raise ValueError(f"unknown strategy {name!r}: {exc}") from None
        return _COMPOSED[name]
    raise ValueError(f"unknown strategy {name!r}; known strategies: {', '.join(strategy_names())}"
                     + ("" if not plus else " (compose as dedup+NAME)"))


def strategy_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def create(name: str, **params: Any) -> IdRemapper:
    """A strategy by name; an unknown parameter is a ValueError naming the strategy and the ones it takes."""
    check_params(name, params, exclude=())
    return get_strategy(name)(**params)


def _load_builtin() -> None:
    # Importing the package registers every built-in strategy exactly once.
    import recsys_hash.ids  # noqa: F401


def strategy_params(name: str, exclude: tuple[str, ...] = ("num_rows", "seed")) -> dict[str, Any]:
    """Constructor parameters of strategy `name` with their defaults (None where required), minus `exclude`.

    By default num_rows and seed are left out: commands take them from the budget and --seed.
    """
    import inspect

    sig = inspect.signature(get_strategy(name).__init__).parameters
    return {p: (None if v.default is inspect.Parameter.empty else v.default)
            for p, v in sig.items() if p != "self" and p not in exclude}


def check_params(name: str, params: dict[str, Any], exclude: tuple[str, ...] = ("num_rows", "seed")) -> None:
    """Raise ValueError naming any parameter strategy `name` does not take (and those it does).

    `exclude`: constructor parameters not accepted here (see `strategy_params`; `create` passes `exclude=()`).
    """
    accepted = list(strategy_params(name, exclude))
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"strategy {name!r} takes no parameter {', '.join(unknown)}; it takes: {', '.join(accepted)}")
