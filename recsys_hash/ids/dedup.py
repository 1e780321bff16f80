"""`dedup`: consolidate duplicate IDs into entities, then hand the entity IDs to another strategy.

Duplicate pairs (e.g. entity blocking's matches, `recsys_hash.blocking.consolidate`) are joined into entities by
connected components; each entity's ID is its smallest member ID (stable: it depends on the entity's members only,
never on pair order). `dedup` alone is dedup then `full`; `dedup+X` (any single-row strategy X: graphhash,
frequency, universal, ...) fits X on the consolidated IDs (graph strategies on interactions whose items were
consolidated) and compiles one `RemapSpec`: X's own table plus one entry per non-canonical member -> X(entity),
so the TorchRec module and the saved artifact need nothing new.

    >>> r = create("dedup+graphhash", num_rows=500, duplicates=[[3, 9], [9, 12]]).fit(interactions=inter, side="item")
    >>> r.transform(np.array([3, 9, 12]))       # one row, shared by the three IDs
"""
from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any, ClassVar, Optional

import numpy as np

from recsys_hash.errors import InvalidIdError
from recsys_hash.ids.keytable import EMPTY, KeyTable
from recsys_hash.ids.registry import get_strategy, register
from recsys_hash.ids.remap_spec import Column, RemapSpec, SpecRemapper

SIDES = ("user", "item")


def entity_map(pairs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Duplicate pairs int [n, 2] -> (member IDs sorted int64 [m], entity ID of each int64 [m]); entity = the
    smallest ID of its connected component. Only IDs named by a pair appear; every other ID is its own entity."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    arr = np.asarray(pairs)
    if arr.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "iu":
        raise ValueError(f"dedup: duplicates must be integer ID pairs of shape [n, 2], got {arr.dtype} {arr.shape}")
    if arr.min() < 0:
        raise InvalidIdError(f"dedup: duplicates name a negative ID {int(arr.min())}")
    members, inverse = np.unique(arr.astype(np.int64), return_inverse=True)
    inverse = inverse.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(inverse)), (inverse[:, 0], inverse[:, 1])), shape=(members.size,) * 2)
    _, label = connected_components(graph, directed=False)
    smallest = np.full(label.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(smallest, label, members)              # members are sorted: the first is the smallest anyway
    return members, smallest[label]


def table_items(table: KeyTable) -> tuple[np.ndarray, np.ndarray]:
    """Every (key, row) a KeyTable holds, keys ascending: int64 [n] each."""
    if table.dense is not None:
        keys = np.flatnonzero(table.dense[:-1] >= 0).astype(np.int64)
        return keys, table.dense[keys]
    used = table.slots[:, 0] != EMPTY
    keys, rows = table.slots[used, 0], table.slots[used, 1]
    order = np.argsort(keys)
    return keys[order], rows[order]


def consolidate(keys: np.ndarray, members: np.ndarray, entities: np.ndarray) -> np.ndarray:
    """int64 keys -> their entity IDs (keys not in `members` are unchanged)."""
    if members.size == 0:
        return keys
    pos = np.clip(np.searchsorted(members, keys), 0, members.size - 1)
    return np.where(members[pos] == keys, entities[pos], keys)


class DedupRemapper(SpecRemapper):
    """Duplicate IDs -> one entity ID, then `then` (the strategy after the `+`; `full` for plain `dedup`).

    Args:
        num_rows: the budget handed to the next strategy.
        duplicates: int [n, 2] pairs of IDs of the same entity (saved in the artifact, not in the params).
        dedup_side: which side's IDs the pairs name when fitting from interactions ("item" by default);
            the other side keeps its IDs (graph strategies still see the consolidated items).
        **params: the next strategy's parameters.
    """

    name = ""
    then: ClassVar[str] = "full"
    in_default_audit: ClassVar[bool] = False      # without `duplicates` it is its next strategy

    def __init__(self, num_rows: Optional[int] = None, *, duplicates: Any = None, dedup_side: str = "item",
                 seed: int = 0, input_hash_size: Optional[int] = None, **params: Any):
        super().__init__(num_rows, seed=seed, input_hash_size=input_hash_size)
        if dedup_side not in SIDES:
            raise ValueError(f"{self.name}: dedup_side must be 'user' or 'item', got {dedup_side!r}")
        inner = get_strategy(self.then)
        takes = set(inspect.signature(inner.__init__).parameters) - {"self", "num_rows", "seed", "input_hash_size"}
        unknown = sorted(set(params) - takes)
        if unknown:
            raise ValueError(f"strategy {self.name!r} takes no parameter {', '.join(unknown)}; "
                             f"{self.then} takes: {', '.join(sorted(takes))}")
        self.needs_interactions = inner.needs_interactions
        self.dedup_side, self.params = dedup_side, params
        for key, value in params.items():
            setattr(self, key, value)
        self.members_, self.entities_ = entity_map(np.zeros((0, 2), np.int64) if duplicates is None else duplicates)

    @classmethod
    def compose(cls, then: str, name: Optional[str] = None) -> type["DedupRemapper"]:
        """The class of `dedup+<then>`: its signature lists dedup's parameters and the next strategy's."""
        inner = get_strategy(then)
        name = name or f"dedup+{then}"
        own = [p for n, p in inspect.signature(DedupRemapper.__init__).parameters.items() if n != "params"]
        extra = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                 for n, p in inspect.signature(inner.__init__).parameters.items()
                 if n not in ("self", "num_rows", "seed", "input_hash_size") and p.kind != p.VAR_KEYWORD]

        def __init__(self, num_rows=None, **kwargs):
            DedupRemapper.__init__(self, num_rows, **kwargs)

        __init__.__signature__ = inspect.Signature(own + extra)
        return type(f"Dedup_{inner.__name__}", (DedupRemapper,), {
            "name": name, "then": then, "needs_interactions": inner.needs_interactions,
            "__init__": __init__, "__doc__": f"dedup, then {then}: " + (inner.__doc__ or "").split("\n")[0]})

    def get_params(self) -> dict[str, Any]:
        return {"num_rows": self.num_rows, "dedup_side": self.dedup_side, "seed": self.seed,
                "input_hash_size": self.input_hash_size, **self.params}

    def _fit(self, keys: np.ndarray, *, interactions: Any = None, side: Optional[str] = None) -> None:
        if keys.dtype.kind not in "iu":
            raise InvalidIdError(f"{self.name}.fit: dedup consolidates integer IDs, got string keys")
        mine = side is None or side == self.dedup_side
        inner = get_strategy(self.then)(num_rows=self.num_rows, seed=self.seed, input_hash_size=self.input_hash_size,
                                        **self.params)
        if interactions is not None:
            col = "item" if self.dedup_side == "item" else "user"
            mapped = replace(interactions, **{col: consolidate(getattr(interactions, col), self.members_,
                                                               self.entities_)})
            inner.fit(consolidate(keys, self.members_, self.entities_) if mine else keys, interactions=mapped, side=side)
        else:
            inner.fit(consolidate(keys, self.members_, self.entities_))
        if inner.rows_per_id != 1:
            raise ValueError(f"{self.name}: dedup composes in front of single-row strategies; {self.then} maps each "
                             f"ID to {inner.rows_per_id} rows")
        self.inner_ = inner
        self.num_rows_ = inner.table_rows
        spec = inner.remap_spec()
        self.column_ = spec.columns[0]
        t_keys, t_rows = (np.zeros(0, np.int64),) * 2
        if spec.table is not None:
            t_keys, t_rows = table_items(spec.table)
        if mine:
            # non-canonical members whose entity the next strategy has seen: their row is the entity's
            dup = (self.members_ != self.entities_) & np.isin(self.entities_, inner.fit_keys_)
            if dup.any():                   # a member the next strategy's table also holds takes its entity's row
                keep = ~np.isin(t_keys, self.members_[dup])
                t_keys, t_rows = t_keys[keep], t_rows[keep]
                t_keys = np.concatenate([t_keys, self.members_[dup]])
                t_rows = np.concatenate([t_rows, inner.transform(self.entities_[dup])])
        self.column_ = self.column_._replace(lookup=self.column_.lookup or t_keys.size > 0)
        self._finish(t_keys if t_keys.size or spec.table is not None else None, t_rows)

    def _build_spec(self, keys, rows) -> RemapSpec:
        table = None if keys is None else KeyTable.build(keys, rows)
        return RemapSpec([self.column_], self.num_rows_, table=table, name=self.name)

    def _get_state(self) -> dict[str, np.ndarray]:
        state = super()._get_state()
        state.update(entity_members=self.members_, entity_ids=self.entities_)
        return state

    def _get_meta(self) -> dict[str, Any]:
        return {"column": self.column_.as_ints()}

    def _set_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.column_ = Column.from_ints(extra["column"])
        self.members_, self.entities_ = arrays.pop("entity_members"), arrays.pop("entity_ids")
        self.inner_ = None
        super()._set_state(arrays, extra)

    def serving_arrays(self) -> dict[str, np.ndarray]:
        """Only the compiled table serves; the entity map is kept for the record."""
        self._check_fitted("serving_arrays")
        return SpecRemapper._get_state(self)


#: plain `dedup` = dedup, then `full` (one row per entity)
Dedup = register(DedupRemapper.compose("full", name="dedup"))
