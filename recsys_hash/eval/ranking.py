"""Full-ranking evaluation: score every item for every test user, mask training items, take the top K.

Ties are broken deterministically by the lower item index (items sharing an embedding row get equal scores,
so this matters for compressed tables). Users are processed in chunks; the result does not depend on the
chunk size. Defined behaviour on odd input (tested):
- users with no test item are not evaluated (excluded from the averages);
- users absent from training are evaluated with whatever their (untrained) embedding gives; counted in
  `n_cold_users`;
- test items never seen in training stay relevant (they lower recall); counted in `n_unseen_test_items`;
- test pairs that are also training pairs are dropped (they are masked, so unreachable); `n_overlap_dropped`;
- k larger than the item count and an empty test set raise ValueError.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from recsys_hash.data.jagged import gather_jagged
from recsys_hash.data.types import Interactions
from recsys_hash.eval.metrics import csr_from_pairs, parse_ks, per_user_metrics, hits_from_topk

#: scorer(users int64 tensor [b]) -> float tensor [b, n_items]
Scorer = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class RankingResult:
    """Mean metrics over evaluated users plus the counts that explain them."""

    metrics: dict[str, float]
    n_users_evaluated: int
    n_cold_users: int = 0
    n_unseen_test_items: int = 0
    n_overlap_dropped: int = 0
    eval_s: float = 0.0
    per_user: Optional[dict[str, np.ndarray]] = field(default=None, repr=False)


def stable_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """int64 [b, k] item indices of the k best scores per row, ties broken by lower index.

    scores: float [b, n] with k <= n. Exact: where a tie straddles the k-th place, the tied items with the
    lowest indices fill the remaining places (one comparison pass over those rows).
    """
    b, n = scores.shape
    extra = 1 if k < n else 0
    vals, idx = torch.topk(scores, k + extra, dim=1, sorted=True)
    if extra:
        thr = vals[:, k - 1]
        straddle = thr == vals[:, k]
        vals, idx = vals[:, :k].contiguous(), idx[:, :k].contiguous()
        if bool(straddle.any()):
            thr_s = torch.where(straddle, thr, torch.full_like(thr, float("nan")))   # NaN never equals
            r, c = torch.nonzero(scores == thr_s[:, None], as_tuple=True)            # by row, then column
            n_above = (vals > thr[:, None]).sum(dim=1)                               # all are in the top k
            counts = torch.bincount(r, minlength=b)
            rank = torch.arange(r.numel()) - (torch.cumsum(counts, 0) - counts)[r]
            keep = rank < (k - n_above)[r]
            idx[r[keep], n_above[r[keep]] + rank[keep]] = c[keep]
    else:
        vals, idx = vals[:, :k], idx[:, :k]
    # order: score descending, then item index ascending (numpy lexsort: torch.sort is slow on short rows)
    idx_np = idx.numpy()
    order = np.lexsort((idx_np, -vals.numpy()), axis=-1)
    return torch.from_numpy(np.take_along_axis(idx_np, order, axis=1))


def _gather_csr(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local row index, column) of every stored entry of `rows` in a CSR matrix, vectorised."""
    counts, cols = gather_jagged(indptr, indices, rows)
    return np.repeat(np.arange(rows.size, dtype=np.int64), counts), cols


def rank_items(scorer: Scorer, users: np.ndarray, k: int, n_items: int,
               mask_indptr: Optional[np.ndarray] = None, mask_indices: Optional[np.ndarray] = None,
               chunk_size: int = 2048) -> np.ndarray:
    """Top-k items int64 [len(users), k] for each user, masked items (CSR over users) excluded first.

    Masked items get -inf, so they only appear when a user has fewer than k unmasked items.
    """
    if k > n_items:
        raise ValueError(f"k={k} is larger than the number of items ({n_items}); use k <= {n_items}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    out = np.empty((users.size, k), dtype=np.int64)
    for start in range(0, users.size, chunk_size):
        cu = users[start : start + chunk_size]
        with torch.no_grad():
            scores = scorer(torch.from_numpy(cu)).float()
            if scores.shape != (cu.size, n_items):
                raise ValueError(f"scorer returned shape {tuple(scores.shape)}, expected ({cu.size}, {n_items})")
            if mask_indptr is not None:
                local, cols = _gather_csr(mask_indptr, mask_indices, cu)
                scores[torch.from_numpy(local), torch.from_numpy(cols)] = float("-inf")
            out[start : start + cu.size] = stable_topk(scores, k).numpy()
    return out


def evaluate_ranking(scorer: Scorer, train: Interactions, test: Interactions, ks: Sequence[int] | str = (20,),
                     chunk_size: int = 2048, keep_per_user: bool = False) -> RankingResult:
    """Recall@k and NDCG@k over all items with training items masked; see the module docstring."""
    t0 = time.perf_counter()
    ks = parse_ks(ks)
    if train.n_users != test.n_users or train.n_items != test.n_items:
        raise ValueError(
            f"train ({train.n_users} users x {train.n_items} items) and test ({test.n_users} x {test.n_items}) "
            "must share vocabularies"
        )
    n_users, n_items = train.n_users, train.n_items
    if len(test) == 0:
        raise ValueError(f"test set {test.name!r} is empty: ranking metrics are undefined")
    if ks[-1] > n_items:
        raise ValueError(f"k={ks[-1]} is larger than the number of items ({n_items}); use k <= {n_items}")
    tr_ptr, tr_idx = csr_from_pairs(train.user, train.item, n_users, n_items)
    te_ptr, te_idx = csr_from_pairs(test.user, test.item, n_users, n_items)
    # drop test pairs that are training pairs (masked, hence unreachable)
    te_users = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(te_ptr))
    overlap = hits_from_topk(te_idx[:, None], te_users, tr_ptr, tr_idx, n_items)[:, 0]
    if overlap.any():
        te_ptr, te_idx = csr_from_pairs(te_users[~overlap], te_idx[~overlap], n_users, n_items)
    n_rel = np.diff(te_ptr)
    users = np.flatnonzero(n_rel > 0).astype(np.int64)
    if users.size == 0:
        raise ValueError(f"test set {test.name!r} has no pair left once training pairs are removed")
    topk = rank_items(scorer, users, ks[-1], n_items, tr_ptr, tr_idx, chunk_size)
    hits = hits_from_topk(topk, users, te_ptr, te_idx, n_items)
    per_user = per_user_metrics(hits, n_rel[users], ks)
    train_items = np.zeros(n_items, dtype=bool)
    train_items[train.item] = True
    has_train = np.diff(tr_ptr) > 0
    return RankingResult(
        metrics={name: float(v.mean()) for name, v in per_user.items()},
        n_users_evaluated=int(users.size),
        n_cold_users=int((~has_train[users]).sum()),
        n_unseen_test_items=int(np.unique(te_idx[~train_items[te_idx]]).size),
        n_overlap_dropped=int(overlap.sum()),
        eval_s=time.perf_counter() - t0,
        per_user={"users": users, **per_user} if keep_per_user else None,
    )


def embedding_scorer(user_emb: torch.Tensor, item_emb: torch.Tensor) -> Scorer:
    """Dot-product scorer over precomputed embeddings: user_emb [n_users, d], item_emb [n_items, d]."""
    item_t = item_emb.detach().t().contiguous()
    user_emb = user_emb.detach()
    return lambda users: user_emb[users] @ item_t


def popularity_scorer(train: Interactions) -> Scorer:
    """Most-popular ranking: every user scores item i by its training degree (the floor to clear)."""
    pop = torch.from_numpy(np.bincount(train.item, minlength=train.n_items).astype(np.float32))
    return lambda users: pop.expand(users.shape[0], -1).clone()
