"""One name registry for every IdRemapper strategy; the CLI, the audit and the benchmarks read it."""
from __future__ import annotations

from typing import Any, TypeVar

from recsys_hash.ids.base import IdRemapper

_REGISTRY: dict[str, type[IdRemapper]] = {}
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
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known strategies: {', '.join(strategy_names())}") from None


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


def check_params(name: str, params: dict[str, Any], exclude: tuple[str, ...] = ("num_rows", "seed")) -> None:
    """Raise ValueError naming any parameter strategy `name` does not take (and those it does).

    `exclude`: constructor parameters not accepted here; by default num_rows and seed, which commands take from
    the budget and --seed (`create` passes `exclude=()`).
    """
    import inspect

    accepted = [p for p in inspect.signature(get_strategy(name).__init__).parameters
                if p != "self" and p not in exclude]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"strategy {name!r} takes no parameter {', '.join(unknown)}; it takes: {', '.join(accepted)}")
