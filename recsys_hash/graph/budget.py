"""Exact row budgets: resolve a budget, search the resolution, then split/merge clusters per side.

Rows of one side are numbered independently of the other side, so each side is adjusted on its own:
- too few clusters: the missing rows become private rows of the highest-degree IDs (each cluster keeps its
  hottest member on the cluster row); hot IDs learn their own embedding, the tail shares its cluster's row;
- too many clusters: the smallest clusters (members, then degree, then label) are merged into the kept cluster
  they are most connected to through the other side (two-step walk weight), or into the smallest kept cluster
  when they share no neighbour with any.
Isolated nodes (no edges) get no cluster row (-1: the remapper hashes them) unless the budget exceeds the
connected nodes, in which case the first isolated IDs fill the remaining rows one each.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import scipy.sparse as sp

from recsys_hash.budget import Budget, resolve_budget  # noqa: F401 (re-exported)
from recsys_hash.graph.clustering import GraphClustering, cluster_bipartite



def rank_rows(labels: np.ndarray) -> np.ndarray:
    """Side labels (-1 = none) -> compact rows 0..k-1 in label order; -1 stays -1."""
    rows = np.full(labels.shape, -1, dtype=np.int64)
    keep = labels >= 0
    _, rows[keep] = np.unique(labels[keep], return_inverse=True)
    return rows


def _split(rows: np.ndarray, degree: np.ndarray, target: int, prior: Optional[np.ndarray] = None) -> np.ndarray:
    """Too few clusters: the missing rows become private rows of the highest-degree members.

    Hot IDs have the data to learn their own embedding; the tail keeps sharing its cluster's row. Each cluster's
    highest-degree member anchors the cluster row, so no cluster row empties. Exactly min(target, connected)
    rows result. prior: optional int64 [n] preference ranked before degree when picking private rows (a refit
    passes 0 for IDs that owned a private row, so they keep one and the overlap matching keeps their rows).
    """
    k = int(rows.max()) + 1
    members = np.flatnonzero(rows >= 0)
    extra = min(target, members.size) - k
    by_degree = members[np.lexsort((members, -degree[members]))]
    anchors = by_degree[np.unique(rows[by_degree], return_index=True)[1]]   # hottest member of each cluster
    rest = np.setdiff1d(members, anchors, assume_unique=True)
    keys = (rest, -degree[rest]) + (() if prior is None else (prior[rest],))
    hot = rest[np.lexsort(keys)][:extra]                                     # (prior,) degree desc, then id
    out = rows.copy()
    out[hot] = k + np.arange(hot.size)
    return out


def _merge(rows: np.ndarray, b_side: sp.csr_matrix, other_labels: np.ndarray, degree: np.ndarray,
           target: int) -> np.ndarray:
    """Merge the smallest clusters into their best-connected kept cluster so exactly `target` rows remain."""
    k = int(rows.max()) + 1
    members = np.flatnonzero(rows >= 0)
    size = np.bincount(rows[members], minlength=k)
    weight = np.bincount(rows[members], degree[members], minlength=k)
    order = np.lexsort((-np.arange(k), weight, size))            # smallest first; ties: higher row first
    donors, kept = order[: k - target], np.sort(order[k - target:])
    # Cluster-to-other-label weights C [k, L] and the two-step affinity donors x kept through other labels.
    n_lab = int(other_labels.max(initial=-1)) + 1
    coo = b_side[members].tocoo()
    olab = other_labels[coo.col]
    ok = olab >= 0
    c_mat = sp.csr_matrix((coo.data[ok], (rows[members][coo.row[ok]], olab[ok])), shape=(k, max(n_lab, 1)))
    lab_w = np.asarray(c_mat.sum(axis=0)).ravel()
    inv = np.divide(1.0, lab_w, out=np.zeros_like(lab_w), where=lab_w > 0)
    aff = (c_mat[donors] @ sp.diags(inv) @ c_mat[kept].T).tocoo()     # sparse [n_donors, n_kept]
    first = np.lexsort((aff.col, -aff.data, aff.row))               # per donor: largest weight, lowest kept row
    hit = first[np.r_[True, aff.row[first][1:] != aff.row[first][:-1]]] if aff.nnz else first
    hit = hit[aff.data[hit] > 0]
    dest = np.full(donors.size, kept[np.lexsort((kept, size[kept]))[0]], dtype=np.int64)  # smallest kept cluster
    dest[aff.row[hit]] = kept[aff.col[hit]]
    new_of_old = np.empty(k, dtype=np.int64)
    new_of_old[kept] = np.arange(kept.size)
    new_of_old[donors] = new_of_old[dest]
    out = rows.copy()
    out[members] = new_of_old[rows[members]]
    return out


def side_rows(labels: np.ndarray, b_side: sp.csr_matrix, other_labels: np.ndarray,
              target: Optional[int], prior: Optional[np.ndarray] = None) -> np.ndarray:
    """Rows int64 [n_side] for one side (-1 = isolated, hashed later); exactly `target` distinct rows if given.

    labels: joint cluster labels of this side; b_side: CSR [n_side, n_other]; other_labels: labels [n_other];
    prior: optional ordering key [n_side] used when splitting (see `_split`).
    """
    rows = rank_rows(labels)
    if target is None:
        return rows
    degree = np.asarray(b_side.sum(axis=1)).ravel()
    k = int(rows.max(initial=-1)) + 1
    if k < target:
        rows = _split(rows, degree, target, prior)
        k = int(rows.max()) + 1
        if k < target:                                             # budget beyond the connected nodes
            isolated = np.flatnonzero(rows < 0)[: target - k]
            rows[isolated] = k + np.arange(isolated.size)
    elif k > target:
        rows = _merge(rows, b_side, other_labels, degree, target)
    return rows


def search_resolution(
    biadjacency: sp.csr_matrix,
    targets: dict[str, int],
    *,
    start: Optional[float] = None,
    backend: str = "sknetwork",
    seed: int = 0,
    max_runs: int = 3,
    tol: float = 0.1,
    threads: Optional[int] = None,
) -> GraphClustering:
    """Secant search on log-resolution for cluster counts near `targets` ({"user": m_u, "item": m_i}).

    Aims at the geometric mean of the targeted sides' count ratios = 1; stops within `tol` (relative) or after
    `max_runs` Louvain runs and returns the closest run (its `tries` lists every run).
    """
    if not targets:
        raise ValueError("search_resolution: give at least one side's target")
    if max_runs < 1:
        raise ValueError(f"search_resolution: max_runs must be >= 1, got {max_runs}")
    geo = math.exp(np.mean([math.log(t) for t in targets.values()]))
    log_r = math.log(start if start is not None else max(geo / 25.0, 0.5))
    tries: list[dict] = []
    best, best_err, prev, slope = None, math.inf, None, 0.8
    for _ in range(max_runs):
        res = cluster_bipartite(biadjacency, math.exp(log_r), backend=backend, seed=seed, threads=threads)
        counts = {"user": res.n_user_clusters, "item": res.n_item_clusters}
        err = float(np.mean([math.log(max(counts[s], 1) / t) for s, t in targets.items()]))
        tries.append({"resolution": res.resolution, "n_user_clusters": counts["user"],
                      "n_item_clusters": counts["item"], "seconds": res.seconds, "modularity": res.modularity})
        if abs(err) < best_err:
            best, best_err = res, abs(err)
        if abs(err) <= math.log1p(tol):
            break
        if prev is not None and abs(log_r - prev[0]) > 1e-9:
            slope = min(max((err - prev[1]) / (log_r - prev[0]), 0.2), 2.0)
        prev = (log_r, err)
        log_r -= err / slope
    assert best is not None
    return GraphClustering(
        user_labels=best.user_labels, item_labels=best.item_labels, resolution=best.resolution,
        backend=best.backend, modularity=best.modularity, modularity_at_resolution=best.modularity_at_resolution,
        seconds=float(sum(t["seconds"] for t in tries)), seed=best.seed, threads=best.threads, tries=tries,
    )
