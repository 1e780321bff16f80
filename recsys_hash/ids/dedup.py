"""`dedup`: consolidate duplicate IDs into entities, then hand the entity IDs to another strategy.

Duplicate pairs (e.g. entity blocking's matches, `recsys_hash.blocking.consolidate`) are joined into entities by
connected components; each entity's ID is its smallest member ID (stable: it depends on the entity's members only,
never on pair order). `dedup` alone is dedup then `full`; `dedup+X` (any registered X) fits X on the consolidated
IDs (frequencies and graphs count entities; graph strategies see interactions whose items were consolidated) and
maps every member of an entity to exactly X(entity)'s rows, through one `RemapSpec`, so the TorchRec module and the
saved artifact work as for X:
- single-row X: X's own table plus one entry per duplicate member -> X(entity) (one lookup per ID, as fast as X);
- multi-row X (double, double_frequency, double_graphhash, qr): X's spec behind a pre-map stage, duplicate
  member -> entity ID, applied to the key before every column (one more lookup per ID).

    >>> r = create("dedup+graphhash", num_rows=500, duplicates=[[3, 9], [9, 12]]).fit(interactions=inter, side="item")
    >>> r.transform(np.array([3, 9, 12]))       # one row, shared by the three IDs
"""
from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any, ClassVar, Optional

import numpy as np

from recsys_hash.errors import InvalidIdError
from recsys_hash.ids.keytable import DENSE_FACTOR, EMPTY, KeyTable
from recsys_hash.ids.registry import get_strategy, register
from recsys_hash.ids.remap_spec import FUSE_MAX, Column, RemapSpec, SpecRemapper, apply_spec

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
        # the next strategy judges the budget (graphhash takes a fraction of the vocabulary, others a count)
        fraction = isinstance(num_rows, (float, np.floating)) and not isinstance(num_rows, bool)
        super().__init__(None if fraction else num_rows, seed=seed, input_hash_size=input_hash_size)
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
        # the next strategy, unfitted: checks its parameters now and tells rows_per_id before fit
        self._template = inner(num_rows=num_rows, seed=seed, input_hash_size=input_hash_size, **params)
        self.num_rows = self._template.num_rows if fraction else self.num_rows
        self.members_, self.entities_ = entity_map(np.zeros((0, 2), np.int64) if duplicates is None else duplicates)
        self.columns_: list[Column] = []
        self.combiner_, self.premap_ = "sum", False

    @classmethod
    def compose(cls, then: str, name: Optional[str] = None) -> type["DedupRemapper"]:
        """The class of `dedup+<then>`: its signature lists dedup's parameters and the next strategy's."""
        inner = get_strategy(then)
        if issubclass(inner, DedupRemapper):
            raise ValueError("dedup composes in front of another strategy; give every duplicate pair to one dedup")
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
        self.inner_ = inner
        self.num_rows_ = inner.table_rows
        spec = inner.remap_spec()
        self.columns_, self.combiner_ = list(spec.columns), spec.combiner
        t_keys, t_rows = table_items(spec.table) if spec.table is not None else (None, None)
        dup = (self.members_ != self.entities_) & mine
        self.premap_ = bool(dup.any()) and len(self.columns_) > 1
        if dup.any() and not self.premap_:
            t_keys, t_rows = self._fold(spec, t_keys, t_rows, self.members_[dup], self.entities_[dup])
        self._finish(t_keys, t_rows)

    def _fold(self, spec: RemapSpec, t_keys, t_rows, members: np.ndarray, entities: np.ndarray):
        """Single-row X: members -> X(entity) become entries of X's table (the one column then looks them up first).
        A member whose entity misses an "error" column gets no entry: it is unseen as its entity is."""
        col = spec.columns[0]
        if col.family == "error":
            hit = spec.table.lookup(entities) >= 0
            members, entities = members[hit], entities[hit]
        rows = apply_spec(spec, entities, "fit")
        if t_keys is None:
            t_keys, t_rows = (np.zeros(0, np.int64),) * 2
        keep = ~np.isin(t_keys, members)        # a member X's table also holds (graphhash's vocabulary): replaced
        self.columns_ = [col._replace(lookup=True)]
        return np.concatenate([t_keys[keep], members]), np.concatenate([t_rows[keep], rows])

    def _num_columns(self) -> int:
        return len(self.columns_) if self.columns_ else self._template.rows_per_id

    def _premap_table(self) -> KeyTable:
        """Duplicate member -> entity ID; a direct (dense) table when the fitted IDs are dense below the largest
        member (one `take` per ID), as `RemapSpec.fused_dense` decides, else the hash layout."""
        dup = self.members_ != self.entities_
        keys = self.members_[dup]
        top = int(keys.max()) + 1
        dense = top <= FUSE_MAX and top <= DENSE_FACTOR * max(self.fit_keys_.size, keys.size)
        # KeyTable.build goes dense iff max key < dense_factor * n: top + 1 forces the dense layout, 0 the hash one
        return KeyTable.build(keys, self.entities_[dup], dense_factor=top + 1 if dense else 0)

    def _build_spec(self, keys, rows) -> RemapSpec:
        table = None if keys is None else KeyTable.build(keys, rows)
        return RemapSpec(list(self.columns_), self.num_rows_, table=table, combiner=self.combiner_, name=self.name,
                         premap=self._premap_table() if self.premap_ else None)

    def _get_state(self) -> dict[str, np.ndarray]:
        state = super()._get_state()
        state.update(entity_members=self.members_, entity_ids=self.entities_)
        return state

    def _get_meta(self) -> dict[str, Any]:
        return {"columns": [c.as_ints() for c in self.columns_], "combiner": self.combiner_, "premap": self.premap_}

    def _set_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        if "column" in extra:           # saved before multi-row compositions: one folded column, no pre-map
            extra = {"columns": [extra["column"]], "combiner": "sum", "premap": False}
        self.columns_ = [Column.from_ints(c) for c in extra["columns"]]
        self.combiner_, self.premap_ = str(extra["combiner"]), bool(extra["premap"])
        if len(self.columns_) != self._template.rows_per_id:
            raise ValueError(f"{len(self.columns_)} columns saved, but {self.then} with these parameters maps "
                             f"each ID to {self._template.rows_per_id} rows")
        self.members_, self.entities_ = arrays.pop("entity_members"), arrays.pop("entity_ids")
        self.inner_ = None
        super()._set_state(arrays, extra)

    def serving_arrays(self) -> dict[str, np.ndarray]:
        """The compiled table serves, and the entity map when it is the spec's pre-map (multi-row X); otherwise
        the entity map is kept for the record only."""
        self._check_fitted("serving_arrays")
        out = SpecRemapper._get_state(self)
        if self.premap_:
            out.update(entity_members=self.members_, entity_ids=self.entities_)
        return out


#: plain `dedup` = dedup, then `full` (one row per entity)
Dedup = register(DedupRemapper.compose("full", name="dedup"))
