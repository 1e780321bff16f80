"""Where IDs become rows: the IdRemapper interface, every strategy, and the name registry."""
from recsys_hash.ids.base import IdRemapper
from recsys_hash.ids.registry import create, get_strategy, register, strategy_names

# Built-in strategies register themselves on import (keep this list in sync with the modules).
from recsys_hash.ids import strategies  # noqa: E402,F401

__all__ = ["IdRemapper", "create", "get_strategy", "register", "strategy_names"]
