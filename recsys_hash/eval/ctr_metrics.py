"""CTR metrics: AUC (scikit-learn's `roc_auc_score`), logloss, and GAUC grouped by user.

GAUC = Σ_u n_u · AUC_u / Σ_u n_u over the users u whose rows hold both labels (n_u = their impressions);
a user with only clicks or only non-clicks has no AUC and is left out (reported as `n_groups_dropped`).
Per-user AUCs come from one vectorised Mann-Whitney pass (mid-ranks for ties), equal to scikit-learn's
on every group.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: predictions are clipped to [EPS, 1 - EPS] before the log (scikit-learn's convention for float64).
EPS = 1e-7


def _check(labels, scores, where: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"{where}: labels have {y.size} values but scores {s.size}")
    if y.size == 0:
        raise ValueError(f"{where}: no rows to evaluate")
    bad = np.flatnonzero((y != 0) & (y != 1))
    if bad.size:
        raise ValueError(f"{where}: labels must be 0 or 1, got {float(y[bad[0]])!r} at row {int(bad[0])}")
    nonfinite = np.flatnonzero(~np.isfinite(s))
    if nonfinite.size:
        raise ValueError(f"{where}: score {float(s[nonfinite[0]])!r} at row {int(nonfinite[0])} is not finite")
    return y, s


def auc(labels, scores) -> float:
    """Area under the ROC curve of `scores` (any monotone score: logits or probabilities) against 0/1 labels."""
    from sklearn.metrics import roc_auc_score

    y, s = _check(labels, scores, "auc")
    if y.min() == y.max():
        raise ValueError(f"auc: needs both labels, every row is {int(y[0])}")
    return float(roc_auc_score(y, s))


def logloss(labels, probs) -> float:
    """Mean binary cross-entropy of probabilities `probs` (clipped to [EPS, 1 - EPS])."""
    y, p = _check(labels, probs, "logloss")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"logloss: probabilities must lie in [0, 1], got range [{p.min():.4g}, {p.max():.4g}]")
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


@dataclass(frozen=True)
class GroupAUC:
    """Per-group AUCs: `groups` (sorted ids with both labels), `auc` [g], `weight` [g] (impressions)."""

    groups: np.ndarray
    auc: np.ndarray
    weight: np.ndarray
    n_groups_dropped: int

    @property
    def gauc(self) -> float:
        return float(np.sum(self.auc * self.weight) / np.sum(self.weight)) if self.weight.size else float("nan")


def group_auc(labels, scores, groups) -> GroupAUC:
    """AUC within each group (e.g. user), vectorised: Mann-Whitney U with mid-ranks for tied scores."""
    y, s = _check(labels, scores, "gauc")
    g = np.asarray(groups).reshape(-1)
    if g.shape != y.shape:
        raise ValueError(f"gauc: groups have {g.size} values but labels {y.size}")
    _, g = np.unique(g, return_inverse=True)
    g = g.reshape(-1)
    order = np.lexsort((s, g))
    gs, ss, ys = g[order], s[order], y[order]
    n = gs.size
    # runs of equal (group, score) share the mid-rank of their positions; ranks restart at each group
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (gs[1:] != gs[:-1]) | (ss[1:] != ss[:-1])
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_len = np.diff(np.append(run_start, n))
    group_start = np.searchsorted(gs, gs[run_start])            # first position of each run's group
    mid = (run_start - group_start) + (run_len + 1) / 2.0       # 1-based mid-rank inside the group
    rank = mid[run_id]
    n_groups = int(gs.max()) + 1
    n_pos = np.bincount(gs, weights=ys, minlength=n_groups)
    n_all = np.bincount(gs, minlength=n_groups).astype(np.float64)
    n_neg = n_all - n_pos
    rank_pos = np.bincount(gs, weights=rank * ys, minlength=n_groups)
    both = (n_pos > 0) & (n_neg > 0)
    u = rank_pos[both] - n_pos[both] * (n_pos[both] + 1) / 2.0
    uniq = np.unique(np.asarray(groups).reshape(-1))
    return GroupAUC(groups=uniq[both], auc=u / (n_pos[both] * n_neg[both]), weight=n_all[both],
                    n_groups_dropped=int(n_groups - both.sum()))


def gauc(labels, scores, groups) -> float:
    """Impression-weighted mean of per-group AUC over groups holding both labels (NaN if none does)."""
    return group_auc(labels, scores, groups).gauc


def ctr_metrics(labels, probs, groups=None) -> dict[str, float]:
    """{"auc", "logloss"} (+ "gauc", "gauc_groups") of predicted click probabilities."""
    out = {"auc": auc(labels, probs), "logloss": logloss(labels, probs)}
    if groups is not None:
        res = group_auc(labels, probs, groups)
        out.update(gauc=res.gauc, gauc_groups=int(res.groups.size))
    return out
