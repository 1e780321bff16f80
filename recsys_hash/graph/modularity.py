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
    b = sp.coo_matrix(biadjacency)
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
    lu, li = user_labels[b.row], item_labels[b.col]
    inside = (lu == li) & (lu >= 0)
    fit = float(b.data[inside].sum()) / m
    k = int(max(user_labels.max(initial=-1), item_labels.max(initial=-1))) + 1
    if k == 0:
        return fit, 0.0
    ok_u, ok_i = lu >= 0, li >= 0
    ku = np.bincount(lu[ok_u], b.data[ok_u], minlength=k)      # per-cluster user degree, summed over edges
    di = np.bincount(li[ok_i], b.data[ok_i], minlength=k)
    return fit, float(np.dot(ku, di)) / (m * m)


def barber_modularity(
    biadjacency: sp.spmatrix, user_labels: np.ndarray, item_labels: np.ndarray, resolution: float = 1.0
) -> float:
    """Barber modularity of labels user [n_users] / item [n_items] (shared label space) on B [n_users, n_items]."""
    fit, diversity = modularity_parts(biadjacency, user_labels, item_labels)
    return fit - float(resolution) * diversity
