"""Imports every built-in strategy module so each registers itself. Add a strategy: one module, one line here."""
from recsys_hash.ids import graphhash, hash_strategies, lookup_strategies  # noqa: F401
from recsys_hash.ids import dedup  # noqa: F401,E402  (composes the others: imported last)
