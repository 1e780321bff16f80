"""The Blocker interface (`fit(table_a)`, `candidates(table_b, k)`, `self_join(k)`) and the method registry the
CLI and the benchmark read. A candidate set is int64 [m, 2] of (tableA id, tableB id), distinct, sorted.

    >>> b = make_blocker("tfidf").fit(er.table_a, context=[er.table_b])
    >>> pairs = b.candidates(er.table_b, k=5)        # each tableB record's 5 nearest tableA records
"""
from __future__ import annotations

import abc
from typing import Any, ClassVar, Optional, Sequence

import numpy as np

from recsys_hash.blocking.index import check_k
from recsys_hash.blocking.metrics import knn_pairs, unique_pairs
from recsys_hash.blocking.serialize import record_ids, serialize_records
from recsys_hash.errors import NotFittedError

_BLOCKERS: dict[str, type["Blocker"]] = {}


def register_blocker(cls):
    _BLOCKERS[cls.name] = cls
    return cls


def blocker_names() -> list[str]:
    import recsys_hash.blocking.methods  # noqa: F401  (registers every built-in method)

    return sorted(_BLOCKERS)


def make_blocker(name: str, **params: Any) -> "Blocker":
    """A blocking method by name; unknown names raise listing the known ones."""
    names = blocker_names()
    if name not in _BLOCKERS:
        raise ValueError(f"unknown blocking method {name!r}; known methods: {', '.join(names)}")
    return _BLOCKERS[name](**params)


class Blocker(abc.ABC):
    """Base: serialise records (attributes, style), learn state from tableA, propose pairs for query records.

    Args:
        attributes: columns to serialise (default: every column but `id`).
        style: "plain" (values joined) or "tagged" (`[COL] a [VAL] v`).
        seed: seeds every random choice.
    """

    name: ClassVar[str] = ""
    #: True when `fit` reads labelled pairs (`train=`); the caller must pass the train split only.
    supervised: ClassVar[bool] = False

    def __init__(self, attributes: Optional[Sequence[str]] = None, style: str = "plain", seed: int = 0):
        self.attributes, self.style, self.seed = attributes, style, int(seed)
        self.ids_a_: Optional[np.ndarray] = None

    def texts(self, table, where: str) -> list[str]:
        return serialize_records(table, self.attributes, self.style, where)

    def fit(self, table_a, *, context: Sequence[Any] = (), train=None, table_b=None) -> "Blocker":
        """Index tableA. context: other tables whose text may inform unsupervised statistics (vocabulary, IDF);
        train / table_b: labelled pairs and the other table, read by supervised methods only."""
        self.ids_a_ = record_ids(table_a, "tableA")
        self.texts_a_ = self.texts(table_a, "tableA")
        ctx = [t for i, tab in enumerate(context) for t in self.texts(tab, f"context table {i}")]
        self._fit(self.texts_a_, ctx, train=train, table_b=table_b)
        return self

    def candidates(self, table_b, k: Optional[int]) -> np.ndarray:
        """Candidate (a_id, b_id) pairs for every tableB record (k: per-record budget, see each method)."""
        self._check_fitted()
        k = None if k is None else check_k(k, f"{self.name}.candidates")
        ids_b = record_ids(table_b, "tableB")
        return unique_pairs(self._candidates(self.texts(table_b, "tableB"), ids_b, k))

    def self_join(self, k: int) -> np.ndarray:
        """Likely duplicates inside tableA: (id, id') pairs with id < id' (each record's k nearest others)."""
        self._check_fitted()
        k = check_k(k, f"{self.name}.self_join")
        pairs = self._candidates(self.texts_a_, self.ids_a_, k + 1)
        pairs = np.sort(pairs, axis=1)
        return unique_pairs(pairs[pairs[:, 0] != pairs[:, 1]])

    def _check_fitted(self) -> None:
        if self.ids_a_ is None:
            raise NotFittedError(f"{self.name}: call fit(table_a) first")

    @abc.abstractmethod
    def _fit(self, texts_a: list[str], context: list[str], train=None, table_b=None) -> None: ...

    @abc.abstractmethod
    def _candidates(self, texts_b: list[str], ids_b: np.ndarray, k: Optional[int]) -> np.ndarray: ...


class KnnBlocker(Blocker):
    """A blocker whose candidates are each query record's k most similar tableA records."""

    def search(self, table_b, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(tableA rows int64 [n_b, k], scores float32 [n_b, k]) of each tableB record, best first; -1 = none."""
        self._check_fitted()
        return self._search(self.texts(table_b, "tableB"), check_k(k, f"{self.name}.search"))

    def _candidates(self, texts_b, ids_b, k):
        if k is None:
            raise ValueError(f"{self.name}: a kNN blocker needs k")
        rows, _ = self._search(texts_b, k)
        return knn_pairs(rows, self.ids_a_, ids_b)

    @abc.abstractmethod
    def _search(self, texts_b: list[str], k: int) -> tuple[np.ndarray, np.ndarray]: ...


def matched_pairs(blocker: KnnBlocker, k: int = 5, threshold: float = 0.8) -> np.ndarray:
    """Consolidation input: (id, id') pairs, id < id', of tableA records whose score (cosine for the kNN methods;
    fused for hybrid) reaches `threshold` among each record's k nearest others -> int64 [m, 2]."""
    blocker._check_fitted()
    k = check_k(k, f"{blocker.name}.matched_pairs")
    rows, scores = blocker._search(blocker.texts_a_, k + 1)
    q = np.repeat(np.arange(rows.shape[0]), rows.shape[1])
    r, s = rows.reshape(-1), scores.reshape(-1)
    keep = (r >= 0) & (r != q) & (s >= threshold)
    pairs = np.sort(np.stack([blocker.ids_a_[q[keep]], blocker.ids_a_[r[keep]]], axis=1), axis=1)
    return unique_pairs(pairs)
