"""Modularity clustering of the user-item graph behind one function, `cluster_bipartite`.

Backends:
- "sknetwork" (default, as the GraphHash paper): scikit-network bipartite Louvain maximising Barber's modularity,
  called without its secondary outputs (soft memberships, aggregate graph), which GraphHash never reads: same
  labels as the plain call, ~15% faster on gowalla.
- "networkit" (optional package `networkit`): NetworKit's PLM, an OpenMP parallel Louvain, on users and items taken
  as one node set (refine=False, par="balanced"). It maximises Newman's modularity of that unipartite graph, not
  Barber's, so a resolution gives other cluster counts than scikit-network's; compare Barber modularity at equal
  row counts (bench_graphhash.py --backends). Seeded (networkit.setSeed); on one thread (threads=1, the default)
  the same graph and seed give the same labels every time, also after multi-threaded runs in the process (the thread
  count is set before networkit builds its graph: a parallel build orders it differently and PLM then differs).
  With `threads` > 1 the OpenMP schedule changes the labels from run to run.
- "networkx" (reference, small graphs): networkx Louvain on the bipartite graph; it maximises Newman's modularity,
  so the same resolution gives other clusters. Its Barber modularity is reported like every other result's.
leidenalg (directed RB-configuration = Barber) was measured and rejected: 48.6 s vs 1.27 s on gowalla at r=200.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import scipy.sparse as sp

from recsys_hash.errors import MissingDependencyError
from recsys_hash.graph.modularity import modularity_parts

BACKENDS = ("sknetwork", "networkit", "networkx")


@dataclass(frozen=True)
class GraphClustering:
    """One clustering of the bipartite graph. Labels share one space across sides; -1 marks isolated nodes.

    user_labels: int64 [n_users]; item_labels: int64 [n_items]; labels are 0..n_clusters-1 (largest cluster first
    for sknetwork). modularity: Barber at resolution 1; modularity_at_resolution: the objective actually maximised.
    """

    user_labels: np.ndarray
    item_labels: np.ndarray
    resolution: float
    backend: str
    modularity: float
    modularity_at_resolution: float
    seconds: float
    seed: int = 0
    threads: Optional[int] = None                  # threads the backend ran on (networkit); None: single-threaded
    tries: list[dict[str, Any]] = field(default_factory=list)
    auto: Optional[dict[str, Any]] = None          # the automatic cluster-share choice that produced it, if any

    @property
    def n_clusters(self) -> int:
        return int(max(self.user_labels.max(initial=-1), self.item_labels.max(initial=-1))) + 1

    @property
    def n_user_clusters(self) -> int:
        return int(np.unique(self.user_labels[self.user_labels >= 0]).size)

    @property
    def n_item_clusters(self) -> int:
        return int(np.unique(self.item_labels[self.item_labels >= 0]).size)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no label arrays)."""
        return {
            "backend": self.backend, "resolution": float(self.resolution), "seed": int(self.seed),
            **({"threads": int(self.threads)} if self.threads is not None else {}),
            "modularity": float(self.modularity), "modularity_at_resolution": float(self.modularity_at_resolution),
            "n_clusters": self.n_clusters, "n_user_clusters": self.n_user_clusters,
            "n_item_clusters": self.n_item_clusters, "seconds": float(self.seconds), "tries": list(self.tries),
            **({"auto": self.auto} if self.auto is not None else {}),
        }


def _check_graph(biadjacency: sp.spmatrix) -> sp.csr_matrix:
    if not sp.issparse(biadjacency) or biadjacency.ndim != 2:
        raise ValueError("cluster_bipartite: biadjacency must be a 2-D scipy sparse matrix [n_users, n_items]")
    b = sp.csr_matrix(biadjacency, dtype=np.float64)
    if b.shape[0] < 1 or b.shape[1] < 1:
        raise ValueError(f"cluster_bipartite: a side has no nodes (shape {b.shape})")
    if b.nnz == 0 or not np.any(b.data):
        raise ValueError("cluster_bipartite: the graph has no edges; there is nothing to cluster")
    if not np.all(np.isfinite(b.data)) or (b.data < 0).any():
        raise ValueError("cluster_bipartite: edge weights must be finite and non-negative (found NaN/inf/negative)")
    return b


def _sknetwork(b: sp.csr_matrix, resolution: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sknetwork.clustering import Louvain

    algo = Louvain(resolution=resolution, modularity="dugue", return_probs=False, return_aggregate=False,
                   random_state=seed)
    algo.fit(b, force_bipartite=True)
    return np.asarray(algo.labels_row_, dtype=np.int64), np.asarray(algo.labels_col_, dtype=np.int64)


def _import_networkit():
    try:
        import networkit
    except ImportError as exc:
        raise MissingDependencyError(
            "cluster_bipartite: backend 'networkit' needs the optional package networkit, which is not installed "
            "(pip install networkit); or use backend='sknetwork'"
        ) from exc
    return networkit


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Arbitrary labels int64 [n] -> 0..k-1 numbered largest cluster first, ties by smallest member (deterministic)."""
    uniq, first, inverse, size = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first, -size))
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[order] = np.arange(uniq.size)
    return rank[inverse.ravel()]


def _networkit(b: sp.csr_matrix, resolution: float, seed: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """PLM on the graph [[0, B], [B^T, 0]] (users 0..n_u-1, items n_u..): labels of users and items."""
    nk = _import_networkit()
    n_u, n_i = b.shape
    # Upper triangle of the square adjacency: B's rows, columns shifted past the users; networkit mirrors it.
    indptr = np.concatenate([b.indptr.astype(np.int64), np.full(n_i, b.indptr[-1], dtype=np.int64)])
    upper = sp.csr_matrix((b.data, (b.indices + n_u).astype(b.indices.dtype, copy=False), indptr),
                          shape=(n_u + n_i, n_u + n_i))
    weighted = not bool(np.all(b.data == 1.0))
    before = nk.getMaxNumberOfThreads()
    nk.setNumberOfThreads(threads)       # before the graph build too: a parallel build orders the graph differently
    try:
        graph = nk.graph.GraphFromCsr(upper, directed=False, weighted=weighted)
        del upper, indptr                               # networkit copied the adjacency
        nk.setSeed(seed, False)
        algo = nk.community.PLM(graph, refine=False, gamma=resolution, par="balanced")
        algo.run()
        labels = np.asarray(algo.getPartition().getVector(), dtype=np.int64)
    finally:
        nk.setNumberOfThreads(before)
    del graph, algo                                     # noqa: F821 (bound inside the try)
    labels = _by_size(labels)
    return labels[:n_u], labels[n_u:]


def _networkx(b: sp.csr_matrix, resolution: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import networkx as nx

    n_u, n_i = b.shape
    coo = b.tocoo()
    graph = nx.Graph()
    graph.add_nodes_from(range(n_u + n_i))
    graph.add_weighted_edges_from(zip(coo.row.tolist(), (coo.col + n_u).tolist(), coo.data.tolist()))
    communities = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
    # Deterministic numbering: larger community first, then by smallest member.
    order = sorted(communities, key=lambda c: (-len(c), min(c)))
    sizes = np.array([len(c) for c in order], dtype=np.int64)
    members = np.fromiter((v for c in order for v in c), dtype=np.int64, count=int(sizes.sum()))
    labels = np.empty(n_u + n_i, dtype=np.int64)
    labels[members] = np.repeat(np.arange(len(order), dtype=np.int64), sizes)
    return labels[:n_u], labels[n_u:]


def _compact(user: np.ndarray, item: np.ndarray, b: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Isolated nodes -> -1; other labels renumbered 0..k-1 keeping their order."""
    du = np.diff(b.indptr) > 0
    di = np.bincount(b.indices, minlength=b.shape[1]) > 0
    both = np.concatenate([np.where(du, user, -1), np.where(di, item, -1)])
    keep = both >= 0
    _, inverse = np.unique(both[keep], return_inverse=True)
    both[keep] = inverse
    return both[: b.shape[0]], both[b.shape[0]:]


def check_threads(threads: Optional[int], where: str) -> Optional[int]:
    """None or a positive int (threads of a parallel backend)."""
    if threads is None:
        return None
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"{where}: threads must be a positive integer or None, got {threads!r}")
    return int(threads)


def cluster_bipartite(
    biadjacency: sp.spmatrix, resolution: float = 1.0, *, backend: str = "sknetwork", seed: int = 0,
    threads: Optional[int] = None,
) -> GraphClustering:
    """Cluster users and items of B [n_users, n_items] jointly; report Barber modularity and wall time.

    threads: OpenMP threads of the "networkit" backend (None -> 1: reproducible; more: faster, labels vary from run
    to run); the other backends run on one thread and record threads=None.
    """
    if backend not in BACKENDS:
        raise ValueError(f"cluster_bipartite: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not np.isfinite(resolution) or resolution <= 0:
        raise ValueError(f"cluster_bipartite: resolution must be a positive number, got {resolution!r}")
    threads = check_threads(threads, "cluster_bipartite")
    if backend == "networkit":
        _import_networkit()                            # a missing package is reported before any work
        threads = threads or 1
    else:
        threads = None
    b = _check_graph(biadjacency)
    start = time.perf_counter()
    if backend == "networkit":
        user, item = _networkit(b, float(resolution), int(seed), threads)
    else:
        user, item = (_sknetwork if backend == "sknetwork" else _networkx)(b, float(resolution), int(seed))
    user, item = _compact(user, item, b)
    seconds = time.perf_counter() - start
    fit, diversity = modularity_parts(b, user, item)
    return GraphClustering(
        user_labels=user, item_labels=item, resolution=float(resolution), backend=backend,
        modularity=fit - diversity, modularity_at_resolution=fit - float(resolution) * diversity,
        seconds=seconds, seed=int(seed), threads=threads,
    )
