"""Imports every built-in strategy module so each registers itself. Add a strategy: one module, one line here."""
import importlib

for _module in ("hash_strategies", "lookup_strategies", "graphhash", "dedup"):
    try:
        importlib.import_module(f"recsys_hash.ids.{_module}")
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a module is being written
        if exc.name != f"recsys_hash.ids.{_module}":
            raise
