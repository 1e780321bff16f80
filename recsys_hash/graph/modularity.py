"""Barber's bipartite modularity of a user/item labelling, vectorised over the edges of the biadjacency.

Q = (1/m) * sum_{u,i} (B_ui - gamma * k_u d_i / m) * [c_u == c_i], with m the total edge weight, k_u / d_i the
weighted user / item degrees. Label -1 means "no cluster" (an isolated node); such nodes contribute nothing.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def modularity_parts(biadjacency: sp.spmatrix, user_labels: np.ndarray, item_labels: np.ndarray
                     ) -> tuple[float, float]:
    """(fit, diversity) with Q(gamma) = fit - gamma * diversity: share of edge weight inside clusters and
    sum_c K_u(c) D_i(c) / m^2. Labels: user int64 [n_users], item int64 [n_items], -1 = no cluster."""
    b = sp.csr_matrix(biadjacency)                             # no copy for a CSR input
    user_labels = np.asarray(user_labels, dtype=np.int64)
    item_labels = np.asarray(item_labels, dtype=np.int64)
    if user_labels.shape != (b.shape[0],) or item_labels.shape != (b.shape[1],):
        raise ValueError(
            f"barber_modularity: labels of shape {user_labels.shape}/{item_labels.shape} do not match "
            f"the biadjacency {b.shape}"
        )
    m = float(b.data.sum())
    if m <= 0:
        raise ValueError("barber_modularity: the graph has no edge weight")
    # edge weight inside clusters, over blocks of rows (~_EDGE_BLOCK edges each): the per-edge label arrays of a
    # 31M-edge graph would otherwise add ~1 GB to the peak memory of a fit
    fit = 0.0
    indptr = b.indptr
    starts = np.searchsorted(indptr, np.arange(0, b.nnz, _EDGE_BLOCK), side="right") - 1
    bounds = np.unique(np.concatenate([starts, [b.shape[0]]]))
    for r0, r1 in zip(bounds[:-1], bounds[1:]):
        e0, e1 = int(indptr[r0]), int(indptr[r1])
        lu = np.repeat(user_labels[r0:r1], np.diff(indptr[r0:r1 + 1]))
        li = item_labels[b.indices[e0:e1]]
        fit += float(b.data[e0:e1][(lu == li) & (lu >= 0)].sum())
    fit /= m
    k = int(max(user_labels.max(initial=-1), item_labels.max(initial=-1))) + 1
    if k == 0:
        return fit, 0.0
    deg_u = np.asarray(b.sum(axis=1), dtype=np.float64).ravel()
    deg_i = np.bincount(b.indices, b.data, minlength=b.shape[1])
    ok_u, ok_i = user_labels >= 0, item_labels >= 0
    ku = np.bincount(user_labels[ok_u], deg_u[ok_u], minlength=k)    # per-cluster user degree
    di = np.bincount(item_labels[ok_i], deg_i[ok_i], minlength=k)
    return fit, float(np.dot(ku, di)) / (m * m)


_EDGE_BLOCK = 1 << 22


def barber_modularity(
    biadjacency: sp.spmatrix, user_labels: np.ndarray, item_labels: np.ndarray, resolution: float = 1.0
) -> float:
    """Barber modularity of labels user [n_users] / item [n_items] (shared label space) on B [n_users, n_items]."""
    fit, diversity = modularity_parts(biadjacency, user_labels, item_labels)
    return fit - float(resolution) * diversity
