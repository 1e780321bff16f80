"""The IdRemapper interface: how a raw ID (int64 or string key) becomes one or more embedding rows.

Every strategy is a subclass registered by name (see `registry.py`). scikit-learn conventions:
parameters in the constructor, learned state in attributes ending with `_`, `fit` / `transform`.

    >>> from recsys_hash.ids import create
    >>> r = create("modulo", num_rows=1000).fit(np.arange(10_000))
    >>> rows = r.transform(np.array([5, 12_345]))     # int64 [2], each in [0, 1000)
"""
from __future__ import annotations

import abc
import inspect
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np

from recsys_hash.artifacts import decode_strings, encode_strings, load_artifact, save_artifact
from recsys_hash.errors import ArtifactError, InvalidIdError, NotFittedError
from recsys_hash.ids.validate import as_keys, check_int, check_seed, key_kind

ARTIFACT_KIND = "id_remapper"


class IdRemapper(abc.ABC):
    """Base class. Subclasses implement `_fit`, `_transform`, `_get_state`, `_set_state`.

    Args:
        num_rows: embedding-table rows the strategy may use (its budget); some strategies derive it.
        seed: seeds every random choice (hash parameters, tie breaks): an integer in [0, 2^seed_bits).
        input_hash_size: if set, integer IDs must lie in [0, input_hash_size).
    """

    name: ClassVar[str] = ""
    #: True when `fit` needs interactions (both sides of the graph), not just an ID column.
    needs_interactions: ClassVar[bool] = False
    #: False for strategies that only differ from another one given extra inputs (e.g. `dedup` needs duplicate
    #: pairs; without them it is `full`): the audit's default list leaves them out.
    in_default_audit: ClassVar[bool] = True
    #: seeds must lie in [0, 2^seed_bits) (hash seeds are 64-bit; Louvain's random state is 32-bit).
    seed_bits: ClassVar[int] = 64

    def __init__(self, num_rows: Optional[int] = None, *, seed: int = 0, input_hash_size: Optional[int] = None):
        self.num_rows = None if num_rows is None else check_int(self.name, "num_rows", num_rows)
        self.seed = check_seed(self.name, seed, self.seed_bits)
        self.input_hash_size = (None if input_hash_size is None
                                else check_int(self.name, "input_hash_size", input_hash_size))
        self.key_kind_: Optional[str] = None
        self.num_rows_: Optional[int] = None
        self.fit_keys_: Optional[np.ndarray] = None
        self.fit_counts_: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ public API
    @property
    def rows_per_id(self) -> int:
        """Rows each ID maps to (their embeddings are summed); 1 for single-row strategies."""
        return 1

    @property
    def is_fitted(self) -> bool:
        return self.num_rows_ is not None

    @property
    def table_rows(self) -> int:
        """Rows of the embedding table this strategy feeds (valid after fit)."""
        self._check_fitted("table_rows")
        return int(self.num_rows_)

    def fit(self, ids: Any = None, *, interactions: Any = None, side: Optional[str] = None) -> "IdRemapper":
        """Learn the mapping from an ID column (repeats count as frequency) or from interactions + side."""
        if interactions is not None:
            if side not in ("user", "item"):
                raise ValueError(f"{self.name}.fit: side must be 'user' or 'item' with interactions, got {side!r}")
            if ids is None:
                ids = interactions.user if side == "user" else interactions.item
        elif self.needs_interactions:
            raise ValueError(f"{self.name}.fit needs interactions=... and side=...; an ID column is not enough")
        if ids is None:
            raise ValueError(f"{self.name}.fit: give an ID column or interactions")
        keys = as_keys(ids, f"{self.name}.fit", self.input_hash_size)
        if keys.size == 0:
            raise InvalidIdError(f"{self.name}.fit: got no IDs to fit on")
        self.key_kind_ = key_kind(keys)
        # Remember what was seen (distinct keys and their counts): `stats()` and audits read it.
        self.fit_keys_, self.fit_counts_ = np.unique(keys, return_counts=True)
        self._fit(keys, interactions=interactions, side=side)
        if self.num_rows_ is None or self.num_rows_ < 1:
            raise RuntimeError(f"{self.name}._fit did not set num_rows_")  # programming error
        return self

    def transform(self, ids: Any) -> Any:
        """Raw keys -> rows: int64 [n] (or [n, rows_per_id]); torch in -> torch out, numpy otherwise."""
        self._check_fitted("transform")
        torch_in = _is_tensor(ids)
        keys = as_keys(ids, f"{self.name}.transform", self.input_hash_size)
        if keys.size and key_kind(keys) != self.key_kind_:
            raise InvalidIdError(
                f"{self.name}.transform: fitted on {self.key_kind_} keys, got {key_kind(keys)} keys"
            )
        rows = self._transform(keys) if keys.size else np.zeros(
            (0,) if self.rows_per_id == 1 else (0, self.rows_per_id), dtype=np.int64
        )
        if torch_in:
            import torch

            return torch.from_numpy(np.ascontiguousarray(rows))
        return rows

    def fit_transform(self, ids: Any = None, **kwargs: Any) -> Any:
        return self.fit(ids, **kwargs).transform(ids if ids is not None else _side_column(kwargs))

    def stats(self, ids: Any = None) -> dict[str, float]:
        """Collision statistics over an ID column (repeats = frequency); default: the IDs seen in fit."""
        from recsys_hash.ids.stats import collision_stats

        self._check_fitted("stats")
        if ids is None:
            uniq, counts = self.fit_keys_, self.fit_counts_
        else:
            keys = as_keys(ids, f"{self.name}.stats", self.input_hash_size)
            uniq, counts = np.unique(keys, return_counts=True)
        return collision_stats(self.transform(uniq), counts, self.table_rows)

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style), saved with the artifact."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self" and hasattr(self, p)}

    def save(self, path: str | Path) -> Path:
        self._check_fitted("save")
        meta = {
            "strategy": self.name,
            "params": self.get_params(),
            "key_kind": self.key_kind_,
            "num_rows": int(self.num_rows_),
            "rows_per_id": self.rows_per_id,
            "extra": self._get_meta(),
        }
        arrays = dict(self._get_state())
        if self.key_kind_ == "str":
            arrays["_fit_keys_utf8"], arrays["_fit_keys_offsets"] = encode_strings(self.fit_keys_)
        else:
            arrays["_fit_keys"] = np.asarray(self.fit_keys_, dtype=np.int64)
        arrays["_fit_counts"] = np.asarray(self.fit_counts_, dtype=np.int64)
        return save_artifact(path, ARTIFACT_KIND, arrays, meta)

    @classmethod
    def load(cls, path: str | Path) -> "IdRemapper":
        """Load any remapper (called on the base) or check the strategy (called on a subclass)."""
        from recsys_hash.ids.registry import get_strategy

        arrays, meta = load_artifact(path, ARTIFACT_KIND)
        name = meta.get("strategy")
        if cls is not IdRemapper and name != cls.name:
            raise ArtifactError(f"artifact {path} holds strategy {name!r}, not {cls.name!r}")
        try:
            klass = get_strategy(name)
            obj = klass(**meta["params"])
            obj.key_kind_ = meta["key_kind"]
            obj.num_rows_ = int(meta["num_rows"])
            if obj.key_kind_ == "str":
                obj.fit_keys_ = decode_strings(arrays.pop("_fit_keys_utf8"), arrays.pop("_fit_keys_offsets"))
            else:
                obj.fit_keys_ = arrays.pop("_fit_keys")
            obj.fit_counts_ = arrays.pop("_fit_counts")
            obj._set_state(arrays, meta.get("extra", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"artifact {path} has inconsistent contents for strategy {name!r}: {exc}") from exc
        return obj

    @classmethod
    def fit_sides(cls, interactions: Any, rows: dict[str, int], **params: Any) -> dict[str, "IdRemapper"]:
        """Fit one remapper per side ({"user": m_u, "item": m_i}); graph strategies override to share work."""
        return {
            side: cls(num_rows=m, **params).fit(interactions=interactions, side=side) for side, m in rows.items()
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # ------------------------------------------------------------------ subclass hooks
    @abc.abstractmethod
    def _fit(self, keys: np.ndarray, *, interactions: Any = None, side: Optional[str] = None) -> None:
        """Learn state from validated keys; must set `self.num_rows_`."""

    @abc.abstractmethod
    def _transform(self, keys: np.ndarray) -> np.ndarray:
        """Validated non-empty keys -> int64 rows [n] or [n, rows_per_id], all in [0, num_rows_)."""

    def serving_arrays(self) -> dict[str, np.ndarray]:
        """Arrays the mapping needs at serving time (what memory audits count); refit-only state excluded."""
        self._check_fitted("serving_arrays")
        return self._get_state()

    def _get_state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        return None

    def _get_meta(self) -> dict[str, Any]:
        return {}

    def _check_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}.{what}: call fit first")


def _is_tensor(x: Any) -> bool:
    try:
        import torch

        return isinstance(x, torch.Tensor)
    except ImportError:  # pragma: no cover
        return False


def _side_column(kwargs: dict[str, Any]) -> Any:
    inter, side = kwargs.get("interactions"), kwargs.get("side")
    return inter.user if side == "user" else inter.item
