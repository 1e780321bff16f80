"""GraphHash and DoubleGraphHash: users and items share embedding rows by modularity clustering of their graph.

    >>> rem = create("graphhash", num_rows=0.25)                     # 25% of each side's vocabulary
    >>> sides = type(rem).fit_sides(interactions, {"user": 0.25, "item": 0.25})   # one clustering, both sides
    >>> sides["item"].transform(np.array([3, 10**9]))                 # int64 [2]; unseen IDs hash into range

IDs are compact indices in [0, n_users) / [0, n_items) (as the loaders produce); a vocabulary far beyond the
interactions (raw 64-bit keys) is a ValueError asking to map them to 0..n-1 first (see `graph.biadjacency`).
Rows: one per cluster of the side (exactly the budget when `num_rows` is given; resolution mode otherwise).
IDs outside the fitted vocabulary, and isolated IDs (in the vocabulary, no edge), take a seeded universal-hash row
in [0, rows); `partial_fit` places new IDs by their neighbours' majority cluster; `refit` re-clusters and renumbers
the new clusters by maximum overlap with the old rows, reporting how many IDs kept their row (`refit_report_`).
"""
from __future__ import annotations

from typing import Any, ClassVar, Optional, Union

import numpy as np

from recsys_hash.errors import InvalidIdError
from recsys_hash.graph.biadjacency import build_biadjacency
from recsys_hash.graph.auto import choose_clustering
from recsys_hash.graph.budget import resolve_budget, search_resolution, side_rows
from recsys_hash.graph.clustering import BACKENDS, GraphClustering, check_threads, cluster_bipartite
from recsys_hash.graph.incremental import majority_vote, match_rows
from recsys_hash.graph.stream import FileGraph
from recsys_hash.ids.base import IdRemapper
from recsys_hash.ids.hashing import universal_hash, universal_params
from recsys_hash.ids.registry import register
from recsys_hash.ids.validate import check_int, check_number

SIDES = ("user", "item")
#: `cluster_share` value that chooses the share on the training graph (the default).
AUTO = "auto"


def _other(side: str) -> str:
    return "item" if side == "user" else "user"


def _vocab(interactions: Any, side: str) -> int:
    return int(interactions.n_users if side == "user" else interactions.n_items)


@register
class GraphHash(IdRemapper):
    """One row per cluster of the user-item graph (Barber-modularity Louvain), seeded hash for unknown IDs.

    Args:
        num_rows: rows for this side: an int count, a float fraction in (0, 1] of the side's vocabulary, or None
            (resolution mode: as many rows as clusters at `resolution`, as in the paper).
        resolution: Louvain resolution in resolution mode (None -> 1.0; the paper uses 200 on gowalla); with a
            budget, the start of the resolution search (None -> a heuristic from the budget).
        backend: "sknetwork" (default: Barber-modularity Louvain, as the paper), "networkit" (NetworKit's parallel
            PLM, optional package `networkit`; Newman modularity on users+items as one graph, so a resolution gives
            other counts: budgets are searched the same way) or "networkx" (reference, small graphs).
        threads: OpenMP threads of the "networkit" backend (None -> 1: the same mapping for the same seed). More
            threads are faster but the mapping then varies from run to run. Ignored by the single-threaded backends.
        binarize: count duplicate interaction pairs once instead of summing them as weights.
        weights: None (each interaction weighs 1) or "rating" (use the interactions' ratings).
        cluster_share: with a budget, the share of each side's rows filled with clusters; the remaining rows (and
            any shortfall of Louvain) become private rows of the highest-degree IDs (hot IDs learn their own
            embedding, the tail shares its cluster's). "auto" (default) chooses it on the training graph alone
            (`graph.auto.choose_clustering`: a few Louvain runs on 90% of the edges, each scored by the Recall@20
            two proxies over its rows get on the other 10% for up to 6,000 users of the lighter half, rank-32
            PureSVD and item-row kNN; kNN ranks them only when its best beats PureSVD's by more than a standard
            error and by 1.25x (gowalla); the fewest clusters within half a standard error of the best score
            win; chosen share, resolution, proxy and scores in `clustering_summary_["auto"]`). A number in (0, 1]
            fixes it: measured with MF-BPR, 0.1 suits ml-1m (dense: high resolutions give near-random clusters),
            1.0 (the paper's all-cluster rows) gowalla, 0.25-0.5 amazon-beauty, where "auto" reaches 0.95x of 0.5 at
            25% over 3 seeds; see benchmarks/RESULTS.md. `resolution` is then the start of the budget search.
        max_search_runs / search_tol: Louvain runs allowed and relative count tolerance of the budget search.
        seed: seeds Louvain and the hash fallback.
    """

    name: ClassVar[str] = "graphhash"
    needs_interactions: ClassVar[bool] = True
    seed_bits: ClassVar[int] = 32            # Louvain (scikit-network) takes a 32-bit random state

    def __init__(self, num_rows: Union[int, float, None] = None, *, resolution: Optional[float] = None,
                 backend: str = "sknetwork", threads: Optional[int] = None, binarize: bool = False,
                 weights: Optional[str] = None,
                 cluster_share: Union[float, str] = "auto", max_search_runs: int = 3, search_tol: float = 0.1, seed: int = 0,
                 input_hash_size: Optional[int] = None):
        fraction = isinstance(num_rows, (float, np.floating))
        if fraction and not (0.0 < num_rows <= 1.0):
            raise ValueError(f"{self.name}: a fractional num_rows must be in (0, 1], got {num_rows!r}")
        super().__init__(None if fraction else num_rows, seed=seed, input_hash_size=input_hash_size)
        self.num_rows = float(num_rows) if fraction else self.num_rows
        if not isinstance(backend, str) or backend not in BACKENDS:
            raise ValueError(f"{self.name}: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if resolution is not None:
            resolution = check_number(self.name, "resolution", resolution, 0.0, np.inf, lo_open=True, hi_open=True)
        if weights is not None and not (isinstance(weights, str) and weights == "rating"):
            raise ValueError(f"{self.name}: weights must be None or 'rating', got {weights!r}")
        if not isinstance(binarize, (bool, np.bool_)):
            raise ValueError(f"{self.name}: binarize must be True or False, got {binarize!r}")
        if not (isinstance(cluster_share, str) and cluster_share == AUTO):
            if isinstance(cluster_share, str):
                raise ValueError(f"{self.name}: cluster_share must be 'auto' or a number in (0, 1], "
                                 f"got {cluster_share!r}")
            cluster_share = float(check_number(self.name, "cluster_share", cluster_share, 0.0, 1.0, lo_open=True))
        max_search_runs = check_int(self.name, "max_search_runs", max_search_runs)
        search_tol = check_number(self.name, "search_tol", search_tol, 0.0, 1.0, lo_open=True)
        self.resolution = None if resolution is None else float(resolution)
        self.backend = backend
        self.threads = check_threads(threads, self.name)
        self.binarize = bool(binarize)
        self.weights = weights
        self.cluster_share = cluster_share
        self.max_search_runs = int(max_search_runs)
        self.search_tol = float(search_tol)
        self.side_: Optional[str] = None
        self.refit_report_: Optional[dict[str, Any]] = None
        self.partial_fit_report_: Optional[dict[str, int]] = None
        self._hash = universal_params(self.seed, 2)
        self._spec = None

    # ------------------------------------------------------------------ joint fitting
    @classmethod
    def fit_sides(cls, interactions: Any, rows: dict[str, Any], **params: Any) -> dict[str, "GraphHash"]:
        """Fit both sides ({"user": m_u, "item": m_i}, values as `num_rows`) from ONE clustering run/search.

        interactions: `Interactions`, or a `graph.stream.FileGraph` (`graph_from_file(path, user=, item=)`: the graph
        streamed from a parquet/CSV file without holding the raw interactions)."""
        bad = set(rows) - set(SIDES)
        if not rows or bad:
            raise ValueError(f"{cls.name}.fit_sides: rows must map 'user'/'item' to budgets, got keys {sorted(rows)}")
        remappers = {side: cls(num_rows=m, **params) for side, m in rows.items()}
        first = next(iter(remappers.values()))
        graph = first._graph(interactions, f"{cls.name}.fit_sides")
        targets = {s: resolve_budget(r.num_rows, _vocab(interactions, s), s) for s, r in remappers.items()}
        clustering = first._cluster(graph, targets)
        for side, rem in remappers.items():
            rem.key_kind_ = "int"
            rem._remember(interactions, side, replace=True)
            rem._adopt(side, graph, clustering, targets[side])
        return remappers

    @classmethod
    def refit_sides(cls, remappers: dict[str, "GraphHash"], interactions: Any) -> dict[str, dict[str, Any]]:
        """`refit` fitted remappers of both sides from ONE clustering; returns each side's refit report."""
        first = next(iter(remappers.values()))
        graph = first._graph(interactions, f"{cls.name}.refit_sides")
        targets = {s: resolve_budget(r.num_rows, _vocab(interactions, s), s) for s, r in remappers.items()}
        clustering = first._cluster(graph, targets)
        for side, rem in remappers.items():
            rem._remember(interactions, side, replace=True)
        return {side: rem._refit_from(graph, clustering, targets[side]) for side, rem in remappers.items()}

    # ------------------------------------------------------------------ incremental updates
    def partial_fit(self, interactions: Any) -> "GraphHash":
        """Place IDs without a cluster row by their neighbours' majority cluster; fitted IDs keep their rows.

        IDs with no neighbour of known cluster keep their seeded hash row (reported as `hashed`).
        """
        self._check_fitted("partial_fit")
        side, where = self.side_, f"{self.name}.partial_fit"
        coo = self._side_matrix(self._graph(interactions, where), side).tocoo()
        own, oth, w = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        self._grow(_vocab(interactions, side), _vocab(interactions, _other(side)))
        self._remember(interactions, side, replace=False)
        # 1) unknown IDs of the other side learn a cluster label from their known neighbours on this side
        unknown = self.other_labels_[oth] < 0
        owners, win = majority_vote(oth[unknown], self.labels_[own[unknown]], w[unknown])
        self.other_labels_[owners] = win
        # 2) unknown IDs of this side take the row of the cluster most of their neighbours belong to
        new = ~self.known_[own]
        lab = self.other_labels_[oth[new]]
        has_row = (lab >= 0) & (lab < self.label_rows_.size)
        lab = np.where(has_row, lab, -1)
        lab[has_row] = np.where(self.label_rows_[lab[has_row]] >= 0, lab[has_row], -1)
        owners, win = majority_vote(own[new], lab, w[new])
        self.labels_[owners] = win
        self.rows_[owners] = self.label_rows_[win]
        self.known_[owners] = True
        self._spec = None
        n_new = int(np.unique(own[new]).size)
        self.partial_fit_report_ = {"assigned": int(owners.size), "hashed": n_new - int(owners.size)}
        return self

    def refit(self, interactions: Any) -> "GraphHash":
        """Re-cluster on all interactions; new clusters take the old row they overlap most (`refit_report_`)."""
        self._check_fitted("refit")
        graph = self._graph(interactions, f"{self.name}.refit")
        target = resolve_budget(self.num_rows, _vocab(interactions, self.side_), self.side_)
        self._remember(interactions, self.side_, replace=True)
        self._refit_from(graph, self._cluster(graph, {self.side_: target}), target)
        return self

    def reserve_rows(self, ids: Any, extra: int, seed: int = 0) -> int:
        """Grow the table by `extra` rows and move `ids` (fitted vocabulary indices, e.g. IDs the graph never saw)
        onto them with a seeded universal hash of their own: the other IDs keep their rows [0, n), the moved ones land
        in [n, n + extra), IDs beyond the vocabulary keep the hash over all rows. Returns the number of IDs moved.

            >>> gh.reserve_rows(np.flatnonzero(~gh.known_), extra=100, seed=0)     # cold IDs off the clusters' rows
        """
        self._check_fitted("reserve_rows")
        if isinstance(extra, bool) or not isinstance(extra, (int, np.integer)) or extra < 1:
            raise ValueError(f"{self.name}.reserve_rows: extra must be an integer >= 1, got {extra!r}")
        keys = np.asarray(ids)
        if keys.size and (keys.dtype.kind not in "iu" or keys.min() < 0 or keys.max() >= self.rows_.size):
            raise ValueError(f"{self.name}.reserve_rows: ids must be integer indices of the fitted vocabulary "
                             f"[0, {self.rows_.size}), got dtype {keys.dtype} in "
                             f"[{keys.min() if keys.size else ''}, {keys.max() if keys.size else ''}]")
        keys = keys.astype(np.int64)
        base = int(self.num_rows_)
        rows = np.array(self.rows_, dtype=np.int64)
        a, b = universal_params(seed + 1)[0]        # not the table's own hash: moved IDs must not follow its rows
        rows[keys] = base + universal_hash(keys, a, b, int(extra))
        self.rows_, self.num_rows_ = rows, base + int(extra)
        self._spec = None                           # the lookup table is rebuilt from rows_ on next use
        return int(keys.size)

    def remap_spec(self):
        """The fitted mapping as a `RemapSpec` (what the TorchRec `RemapperMCModule` runs): a dense table of the
        vocabulary's rows, with the seeded universal hash for IDs beyond it (and as the second column if double)."""
        from recsys_hash.ids.keytable import KeyTable
        from recsys_hash.ids.remap_spec import Column, RemapSpec

        self._check_fitted("remap_spec")
        if self._spec is None:
            m = int(self.num_rows_)
            cols = [Column("universal", mod=m, a=self._hash[0][0], b=self._hash[0][1], lookup=True)]
            if self.rows_per_id == 2:
                cols.append(Column("universal", mod=m, a=self._hash[1][0], b=self._hash[1][1]))
            table = KeyTable.build(np.arange(self.rows_.size, dtype=np.int64), self.rows_)
            self._spec = RemapSpec(cols, m, table=table, name=self.name, dense_keys=int(self.rows_.size))
        return self._spec

    # ------------------------------------------------------------------ IdRemapper hooks
    def fit(self, ids: Any = None, *, interactions: Any = None, side: Optional[str] = None) -> "GraphHash":
        """As `IdRemapper.fit`; `interactions` may also be a `graph.stream.FileGraph` (a graph built from a file)."""
        if not isinstance(interactions, FileGraph):
            return super().fit(ids, interactions=interactions, side=side)
        if side not in SIDES:
            raise ValueError(f"{self.name}.fit: side must be 'user' or 'item' with interactions, got {side!r}")
        graph = self._graph(interactions, f"{self.name}.fit")
        target = resolve_budget(self.num_rows, _vocab(interactions, side), side)
        self.key_kind_ = "int"
        self._remember(interactions, side, replace=True)
        self._adopt(side, graph, self._cluster(graph, {side: target}), target)
        return self

    def _fit(self, keys: np.ndarray, *, interactions: Any = None, side: Optional[str] = None) -> None:
        if keys.dtype == object:
            raise InvalidIdError(f"{self.name}.fit: GraphHash works on integer ID indices, got string keys")
        graph = self._graph(interactions, f"{self.name}.fit")
        target = resolve_budget(self.num_rows, _vocab(interactions, side), side)
        self._adopt(side, graph, self._cluster(graph, {side: target}), target)

    def _transform(self, keys: np.ndarray) -> np.ndarray:
        return self._cluster_rows(keys)

    def _cluster_rows(self, keys: np.ndarray) -> np.ndarray:
        """Fitted IDs -> their row; IDs beyond the vocabulary -> seeded hash row. int64 [n] in [0, num_rows_)."""
        inside = keys < self.rows_.size
        out = np.empty(keys.shape, dtype=np.int64)
        out[inside] = self.rows_[keys[inside]]
        if not inside.all():
            out[~inside] = universal_hash(keys[~inside], *self._hash[0], self.num_rows_)
        return out

    def stats(self, ids: Any = None) -> dict[str, float]:
        """Collision statistics plus the clustering's choice for this side: `cluster_share` (cluster rows over
        the side's rows; the rest are private rows of hot IDs) and the Louvain `resolution`."""
        out = super().stats(ids)
        out.update(cluster_share=float(self.cluster_share_), resolution=float(self.clustering_summary_["resolution"]))
        return out

    def serving_arrays(self) -> dict[str, np.ndarray]:
        """Serving needs the ID -> row table only; labels and flags are kept for partial_fit / refit."""
        self._check_fitted("serving_arrays")
        return {"rows": self.rows_}

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"rows": self.rows_, "known": self.known_.astype(np.uint8), "labels": self.labels_,
                "other_labels": self.other_labels_, "label_rows": self.label_rows_}

    def _set_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.rows_ = arrays["rows"].astype(np.int64)
        self.known_ = arrays["known"].astype(bool)
        self.labels_ = arrays["labels"].astype(np.int64)
        self.other_labels_ = arrays["other_labels"].astype(np.int64)
        self.label_rows_ = arrays["label_rows"].astype(np.int64)
        self.side_ = extra["side"]
        self.clustering_summary_ = extra["clustering"]
        self.cluster_share_ = float(self.clustering_summary_.get("cluster_share", 1.0))
        self._spec = None
        if self.side_ not in SIDES or self.rows_.shape != self.known_.shape or (
            self.rows_.size and (self.rows_.min() < 0 or self.rows_.max() >= self.num_rows_)
        ):
            raise ValueError("rows/known arrays are inconsistent with side and num_rows")

    def _get_meta(self) -> dict[str, Any]:
        return {"side": self.side_, "clustering": self.clustering_summary_, "vocab": int(self.rows_.size),
                "n_clustered_ids": int(self.known_.sum()), "refit": self.refit_report_}

    # ------------------------------------------------------------------ internals
    def _graph(self, interactions: Any, where: str):
        if interactions is None:
            raise ValueError(f"{where}: needs interactions=...")
        for side in SIDES:
            if _vocab(interactions, side) == 1:
                raise ValueError(f"{where}: the {side} side has a single ID; there is nothing to share rows between "
                                 f"(use strategy 'full')")
        if isinstance(interactions, FileGraph):                 # built from a file (graph.stream)
            if (self.weights == "rating") != interactions.weighted:
                raise ValueError(f"{where}: weights={self.weights!r} but the graph from {interactions.path} was built "
                                 f"{'with' if interactions.weighted else 'without'} a weight column: use "
                                 f"weights='rating' exactly when graph_from_file(..., weight=...) was given one")
            graph = interactions.biadjacency
            if self.binarize and not np.all(graph.data == 1.0):
                graph = graph.copy()
                graph.data[:] = 1.0
            return graph
        return build_biadjacency(interactions, weights=self.weights, binarize=self.binarize, where=where)

    @staticmethod
    def _side_matrix(graph, side: str):
        return graph if side == "user" else graph.T.tocsr()

    def _cluster(self, graph, targets: dict[str, Optional[int]]) -> GraphClustering:
        if all(t is None for t in targets.values()):
            return cluster_bipartite(graph, self.resolution or 1.0, backend=self.backend, seed=self.seed,
                                     threads=self.threads)
        if self.cluster_share == AUTO:
            wanted = {s: t for s, t in targets.items() if t is not None}
            return choose_clustering(graph, wanted, backend=self.backend, seed=self.seed, threads=self.threads)
        wanted = {s: max(1, int(round(t * self.cluster_share))) for s, t in targets.items() if t is not None}
        return search_resolution(graph, wanted, start=self.resolution, backend=self.backend, seed=self.seed,
                                 max_runs=self.max_search_runs, tol=self.search_tol, threads=self.threads)

    def _adopt(self, side: str, graph, clustering: GraphClustering, target: Optional[int],
               prior: Optional[np.ndarray] = None) -> None:
        """Take this side's rows from a joint clustering (exactly `target` rows if given)."""
        labels = clustering.user_labels if side == "user" else clustering.item_labels
        other = clustering.item_labels if side == "user" else clustering.user_labels
        rows = side_rows(labels, self._side_matrix(graph, side), other, target, prior)
        self.side_ = side
        self.num_rows_ = int(target) if target is not None else max(int(rows.max()) + 1, 1)
        self.known_ = rows >= 0
        self.labels_ = labels.copy()
        self.other_labels_ = other.copy()
        hashed = np.flatnonzero(rows < 0)
        rows[hashed] = universal_hash(hashed, *self._hash[0], self.num_rows_)
        self.rows_ = rows
        self._spec = None
        self._update_label_rows()
        n_side = clustering.n_user_clusters if side == "user" else clustering.n_item_clusters
        self.cluster_share_ = min(1.0, n_side / target) if target else 1.0
        self.clustering_summary_ = dict(clustering.summary(), side_rows=self.num_rows_, target_rows=target,
                                        cluster_share=self.cluster_share_)

    def _update_label_rows(self) -> None:
        """label_rows_[label] = the row most of this side's members of that joint cluster sit on (-1: none)."""
        n_labels = int(max(self.labels_.max(initial=-1), self.other_labels_.max(initial=-1))) + 1
        member = np.flatnonzero((self.labels_ >= 0) & self.known_)
        owners, win = majority_vote(self.labels_[member], self.rows_[member])
        self.label_rows_ = np.full(n_labels, -1, dtype=np.int64)
        self.label_rows_[owners] = win

    def _remember(self, interactions: Any, side: str, replace: bool) -> None:
        """Record the side's distinct IDs and counts (`fit_keys_` / `fit_counts_`, read by `stats` and audits)."""
        if isinstance(interactions, FileGraph):
            counts = interactions.user_counts if side == "user" else interactions.item_counts
        else:
            col = np.asarray(interactions.user if side == "user" else interactions.item, dtype=np.int64)
            counts = np.bincount(col, minlength=_vocab(interactions, side))    # IDs are validated indices
        keys = np.flatnonzero(counts)
        counts = counts[keys]
        if not replace and self.fit_keys_ is not None:
            both = np.concatenate([self.fit_keys_, keys])
            keys, inverse = np.unique(both, return_inverse=True)
            counts = np.bincount(inverse.ravel(), np.concatenate([self.fit_counts_, counts])).astype(np.int64)
        self.fit_keys_, self.fit_counts_ = keys, counts

    def _grow(self, n_own: int, n_other: int) -> None:
        """Extend the vocabularies; new IDs keep the hash row `transform` already gave them."""
        if n_own > self.rows_.size:
            ids = np.arange(self.rows_.size, n_own, dtype=np.int64)
            self.rows_ = np.concatenate([self.rows_, universal_hash(ids, *self._hash[0], self.num_rows_)])
            self._spec = None
            self.known_ = np.concatenate([self.known_, np.zeros(ids.size, dtype=bool)])
            self.labels_ = np.concatenate([self.labels_, np.full(ids.size, -1, dtype=np.int64)])
        if n_other > self.other_labels_.size:
            pad = np.full(n_other - self.other_labels_.size, -1, dtype=np.int64)
            self.other_labels_ = np.concatenate([self.other_labels_, pad])

    def _refit_from(self, graph, clustering: GraphClustering, target: Optional[int]) -> dict[str, Any]:
        old_rows, old_known = self.rows_, self.known_
        n_side = graph.shape[0 if self.side_ == "user" else 1]
        # IDs that owned a private row keep priority for one, so their trained rows carry over.
        n = min(n_side, old_rows.size)
        held = np.bincount(old_rows[:n][old_known[:n]], minlength=self.num_rows_)
        prior = np.ones(n_side, dtype=np.int64)
        prior[:n] = np.where(old_known[:n] & (held[old_rows[:n]] == 1), 0, 1)
        self._adopt(self.side_, graph, clustering, target, prior)
        n = min(old_rows.size, self.rows_.size)
        old = np.where(old_known[:n], old_rows[:n], -1)
        new = np.where(self.known_[:n], self.rows_[:n], -1)
        perm, kept = match_rows(old, new, self.num_rows_)
        self.rows_ = np.where(self.known_, perm[self.rows_], self.rows_)
        self._spec = None
        self.label_rows_ = np.where(self.label_rows_ >= 0, perm[np.maximum(self.label_rows_, 0)], -1)
        compared = int(np.count_nonzero((old >= 0) & (new >= 0)))
        self.refit_report_ = {"kept": kept, "compared": compared,
                              "share": kept / compared if compared else 1.0, "rows": self.num_rows_}
        return self.refit_report_


@register
class DoubleGraphHash(GraphHash):
    """Two rows per ID in one table of the clusters' size: (cluster row, seeded universal-hash row), summed."""

    name: ClassVar[str] = "double_graphhash"

    @property
    def rows_per_id(self) -> int:
        return 2

    def _transform(self, keys: np.ndarray) -> np.ndarray:
        second = universal_hash(keys, *self._hash[1], self.num_rows_)
        return np.stack([self._cluster_rows(keys), second], axis=1)
