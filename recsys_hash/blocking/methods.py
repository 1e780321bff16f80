"""Imports every built-in blocking method so each registers itself (one module, one line here)."""
from recsys_hash.blocking import baselines, nlsh  # noqa: F401
