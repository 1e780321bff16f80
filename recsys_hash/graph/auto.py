"""Automatic cluster share: how many of a side's rows are cluster rows, chosen on the training graph alone.

GraphHash fills a row budget B with Louvain clusters and gives the rows Louvain leaves over to the highest-degree
IDs (`budget.side_rows`). How many rows should be clusters is dataset-dependent: on sparse, local graphs (gowalla)
fine clusters win; on dense ones (ml-1m) high resolutions give near-random clusters and a few coarse clusters plus
private rows of hot IDs win; on planted graphs the planted communities win. `choose_clustering` decides by a short
validation on the training graph itself, no model training:

1. carve `holdout` of the edges (seeded) from the training graph;
2. cluster the rest at a short ladder of resolutions: resolution 1 (the modularity optimum's own count) and the
   resolutions predicted to give `shares` x B clusters (log-log interpolation of count against resolution);
3. turn each clustering into exactly B rows per side (split/merge as the remapper does) and score it by the
   Recall@20 two proxy models over those rows get on the carved edges of up to `max_users` sampled users of the
   lighter half (`validation_users`): a rank-`AUTO_RANK` PureSVD of the row-compressed graph (`score_rows`; global,
   low-rank structure) and an item-row cosine kNN scoring each user through its user row (`knn_score_rows`; local
   structure, no rank limit). Both tie the items of a row, as the compressed model does;
4. let PureSVD rank the candidates unless kNN's best candidate beats PureSVD's best by more than one paired standard
   error and by at least `AUTO_SCORER_GAIN`x (`pick_scorer`: kNN then describes the data better; it does on gowalla,
   where PureSVD ranks the candidates against MF's order, and not on ml-1m, lastfm, ml-100k, amazon-electronics,
   amazon-beauty or planted graphs),
   pick the candidate with the fewest clusters within half a standard error of that proxy's best score
   (`one_se_pick`), and re-cluster the whole training graph at that resolution.
Cost: one Louvain run per ladder step on 90% of the graph, one on the whole graph, plus the scoring (a few
sparse products per candidate and proxy): `bench_graphhash.py` reports it as `auto_fit_ratio` against one plain
Louvain run, and the `auto` record splits it into `louvain_seconds` and `score_seconds`.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from recsys_hash.graph.budget import rank_rows, search_resolution, side_rows
from recsys_hash.graph.clustering import GraphClustering, cluster_bipartite

#: Fractions of the budget tried as cluster rows (besides the resolution-1 optimum).
AUTO_SHARES = (0.1, 0.25, 0.5, 1.0)
#: Share of training edges carved for the choice, users scored, top-K of the score, rank of the scorer.
AUTO_HOLDOUT, AUTO_USERS, AUTO_K, AUTO_RANK = 0.1, 6000, 20, 32
#: Louvain tries per share: the count-resolution curve bends (steep at low resolution), so extrapolating from
#: resolution 1 overshoots a small share and one interpolation can land on the same side again (ml-1m).
AUTO_TRIES = 3
#: Degree quantile of the users the choice is scored on (see `validation_users`).
AUTO_TAIL = 0.5
#: Candidates within this many paired standard errors of the best score count as tied (see `one_se_pick`).
AUTO_SE = 0.5
#: Proxy scorers each candidate is scored with (see `_score`), the simplest first; `pick_scorer` chooses the one
#: that ranks.
AUTO_SCORERS = ("svd", "knn")
#: Profiles (distinct user rows) scored at a time: bounds the dense [block, item rows] scores (21 MB at gowalla 25%).
AUTO_BLOCK = 256
#: kNN replaces PureSVD only when its best candidate beats PureSVD's best by more than this many paired standard errors
#: and by at least this factor (see `pick_scorer`).
AUTO_SCORER_SE, AUTO_SCORER_GAIN = 1.0, 1.25


def carve_edges(b: sp.csr_matrix, fraction: float, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split the edges of B into (kept, held out) CSR matrices of B's shape; each user keeps at least one edge."""
    coo = b.tocoo()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xA070]))
    held = rng.random(coo.nnz) < fraction
    # the first edge of every user (in CSR order) always stays, so no user loses its whole neighbourhood
    first = np.zeros(coo.nnz, dtype=bool)
    first[b.indptr[:-1][np.diff(b.indptr) > 0]] = True
    held &= ~first
    keep = sp.csr_matrix((coo.data[~held], (coo.row[~held], coo.col[~held])), shape=b.shape)
    out = sp.csr_matrix((coo.data[held], (coo.row[held], coo.col[held])), shape=b.shape)
    return keep, out


def validation_users(b: sp.csr_matrix, fit: sp.csr_matrix, held: sp.csr_matrix, max_users: int = AUTO_USERS,
                     seed: int = 0, tail: float = AUTO_TAIL) -> np.ndarray:
    """Sorted users the choice is scored on: up to `max_users` (seeded sample) of those with a kept and a carved
    edge whose degree in `b` is at most the `tail` quantile of the degrees of users with two or more edges.

    Why the tail: the carve is uniform over edges, so heavy users are the ones with carved edges, while Recall@20
    averages over users; and the candidates differ mostly in the rows of light users (heavy IDs sit on private
    rows or on fine clusters alike). On gowalla at 25% with seed 0 the whole-sample score ranks 18 clusters +
    private rows first (MF: 0.64x of all-cluster rows) and its lower half ranks all-cluster rows first, as MF does;
    with other seeds and at 16% / 10% it still prefers coarse clusters there (MF: 0.65-0.76x of all-cluster rows).
    On ml-100k, ml-1m, lastfm and amazon-electronics its order stays within a few percent of MF's
    (benchmarks/auto_proxy_loop.py; benchmarks/RESULTS.md, third pass).

    Why `AUTO_USERS` = 6,000: the picks turn on differences of a few tenths of a standard error, and at 2,000 users
    one seed in three took a clustering MF rates far below the others (amazon-beauty 25%, seed 2: resolution 1's 27
    clusters, within half a standard error of the best; gowalla 25%, seed 0: 4,137 clusters level with 7,187). Every
    eligible user of amazon-beauty (~3,400) and 6,000 of gowalla's ~10,000 settle both, and the kNN scoring, whose
    cost grows with the distinct user rows scored, keeps the choice within 10x one plain fit on gowalla.
    """
    deg = np.diff(b.indptr)
    cut = np.quantile(deg[deg >= 2], tail) if np.any(deg >= 2) else 0
    users = np.flatnonzero((held.getnnz(axis=1) > 0) & (fit.getnnz(axis=1) > 0) & (deg <= cut))
    if users.size > max_users:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x05E5]))
        users = np.sort(rng.choice(users, max_users, replace=False))
    return users


def _rows(clustering: GraphClustering, b: sp.csr_matrix, targets: dict[str, int]) -> dict[str, np.ndarray]:
    """Exact-budget rows per side (-1: isolated) as the remapper would build them."""
    out = {}
    for side, target in targets.items():
        own = clustering.user_labels if side == "user" else clustering.item_labels
        other = clustering.item_labels if side == "user" else clustering.user_labels
        mat = b if side == "user" else b.T.tocsr()
        out[side] = side_rows(own, mat, other, target)
    return out


def _spread(rows: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Isolated IDs (-1) take a seeded uniform row, as the remapper hashes them: a cold ID on a hot ID's private
    row shares its score, which the validation must see."""
    out = rows.copy()
    cold = np.flatnonzero(out < 0)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), salt]))
    out[cold] = rng.integers(0, int(rows.max()) + 1, cold.size)
    return out


def score_rows(fit: sp.csr_matrix, held: sp.csr_matrix, user_rows: np.ndarray, item_rows: np.ndarray,
               users: np.ndarray, k: int = AUTO_K, rank: int = AUTO_RANK, seed: int = 0,
               per_user: bool = False):
    """Mean Recall@k on `held` of the rank-`rank` PureSVD scorer of the row-compressed `fit` graph, over `users`
    (`per_user`: float64 [len(users)], each user's Recall@k).

    Scores live on (user row, item row) pairs as a compressed model's do; items sharing a row tie, and a tied row
    straddling the k-th place counts by the fraction of its unmasked items that fits (random tie breaking).
    """
    user_rows, item_rows, pi, comp, size = compress_graph(fit, user_rows, item_rows, seed)
    du = np.asarray(comp.sum(axis=1)).ravel()
    di = np.asarray(comp.sum(axis=0)).ravel()
    norm = sp.diags(1.0 / np.sqrt(np.maximum(du, 1e-12))) @ comp @ sp.diags(1.0 / np.sqrt(np.maximum(di, 1e-12)))
    norm = norm.tocsr()
    rows, back = np.unique(user_rows[users], return_inverse=True)  # users sharing a row share its scores
    r = max(1, min(rank, min(norm.shape) - 1))
    v = _top_right_vectors(norm, r, seed)                          # [n_ir, r]
    left = np.asarray(norm[rows] @ v)                              # [distinct rows scored, r]
    # per-item score of a row: its reconstructed weight over its items (BPR ranks items, not rows)
    right = v.T * (np.sqrt(di) / np.maximum(size, 1.0))[None, :]   # [r, n_ir]
    return profile_recall(lambda lo, hi: left[lo:hi] @ right, rows.size, back, fit, held, pi, size, users, k,
                          per_user)


def knn_score_rows(fit: sp.csr_matrix, held: sp.csr_matrix, user_rows: np.ndarray, item_rows: np.ndarray,
                   users: np.ndarray, k: int = AUTO_K, seed: int = 0, per_user: bool = False,
                   size_power: float = 0.0, profile: str = "row"):
    """`score_rows` with an item-based kNN scorer in place of PureSVD: score(user, item row j) = sum over item rows i
    of w_i cosine(i, j), the cosine of the columns of the row-compressed `fit` graph ([user rows, item rows] edge
    weights), with w the edge weights of the user's row (`profile="row"`, what the choice uses: a compressed model
    knows a user only through its row) or 0/1 over the rows of the user's own training items (`"own"`). No rank
    limit, so it can use many small local clusters that a rank-32 scorer cannot tell apart; items of a row share its
    score, the user's training items are masked, and a tied row straddling the k-th place counts by the fraction of
    its unmasked items that fits, as in `score_rows`.

    `size_power` > 0 divides row j's score by size_j ** size_power (0.5: an item's own cosine if the items of a row
    had disjoint users); the choice uses 0."""
    user_rows, item_rows, pi, comp, size = compress_graph(fit, user_rows, item_rows, seed)
    inv = 1.0 / np.sqrt(np.maximum(np.asarray(comp.multiply(comp).sum(axis=0)).ravel(), 1e-12))
    if profile == "row":                                           # what a compressed model knows of the user:
        rows, back = np.unique(user_rows[users], return_inverse=True)
        mine = comp[rows]                                          # [distinct rows, n_ir] its row's edge weights
    elif profile == "own":
        back = np.arange(users.size)
        mine = _binary_rows(fit[users], pi)                        # [n scored, n_ir] 0/1: the user's own item rows
    else:
        raise ValueError(f"knn_score_rows: profile must be 'row' or 'own', got {profile!r}")
    # sum_i cos(i, j) = ((mine D) comp^T) comp D, a block of profiles at a time: dense only for [block x user rows]
    # and [block x item rows]; the second product, the bulk of the cost, in float32 (half the memory traffic)
    comp_t = comp.T.tocsr()
    lhs = (mine @ sp.diags(inv) @ comp_t).tocsr()                 # [profiles, n_ur]
    rhs = (sp.diags(inv / np.maximum(size, 1.0) ** size_power) @ comp_t).tocsr().astype(np.float32)   # [n_ir, n_ur]

    def block(lo: int, hi: int) -> np.ndarray:
        return (rhs @ np.ascontiguousarray(lhs[lo:hi].toarray().T, dtype=np.float32)).T

    return profile_recall(block, mine.shape[0], back, fit, held, pi, size, users, k, per_user)


def _binary_rows(b_users: sp.csr_matrix, pi: sp.csr_matrix) -> sp.csr_matrix:
    """0/1 [n, item rows]: which item rows hold one of each user's training items (`_seen_counts`, capped at 1)."""
    m = _seen_counts(b_users, pi)
    m.data[:] = 1.0
    return m


def _score(name: str, fit: sp.csr_matrix, held: sp.csr_matrix, user_rows: np.ndarray, item_rows: np.ndarray,
           users: np.ndarray, seed: int) -> np.ndarray:
    """Per-user Recall@20 on `held` of proxy scorer `name`: "svd" (`score_rows`, rank `AUTO_RANK`) or "knn"
    (`knn_score_rows`)."""
    if name == "svd":
        return score_rows(fit, held, user_rows, item_rows, users, seed=seed, per_user=True)
    if name == "knn":
        return knn_score_rows(fit, held, user_rows, item_rows, users, seed=seed, per_user=True)
    raise ValueError(f"choose_clustering: unknown scorer {name!r} (svd or knn)")


def compress_graph(fit: sp.csr_matrix, user_rows: np.ndarray, item_rows: np.ndarray, seed: int = 0):
    """The graph as a compressed model sees it: (user rows, item rows, with isolated IDs spread as `_spread` does;
    pi, the one-hot [items, item rows] map; comp, CSR [user rows, item rows] summed edge weights; float64 [item rows]
    items per row)."""
    user_rows, item_rows = _spread(user_rows, seed, 0xC01D), _spread(item_rows, seed, 0xC01E)
    n_ur, n_ir = int(user_rows.max()) + 1, int(item_rows.max()) + 1
    pu = sp.csr_matrix((np.ones(user_rows.size), (np.arange(user_rows.size), user_rows)), shape=(user_rows.size, n_ur))
    pi = sp.csr_matrix((np.ones(item_rows.size), (np.arange(item_rows.size), item_rows)), shape=(item_rows.size, n_ir))
    comp = (pu.T @ fit @ pi).tocsr()
    return user_rows, item_rows, pi, comp, np.bincount(item_rows, minlength=n_ir).astype(np.float64)


def masked_recall(scores: np.ndarray, fit: sp.csr_matrix, held: sp.csr_matrix, pi: sp.csr_matrix, size: np.ndarray,
                  users: np.ndarray, k: int = AUTO_K, per_user: bool = False):
    """Recall@k on `held` of per-row item scores [len(users), item rows], one row of scores per user (see
    `profile_recall`)."""
    return profile_recall(lambda lo, hi: scores[lo:hi], users.size, np.arange(users.size), fit, held, pi, size, users,
                          k, per_user)


def profile_recall(block_scores, n_profiles: int, back: np.ndarray, fit: sp.csr_matrix, held: sp.csr_matrix,
                   pi: sp.csr_matrix, size: np.ndarray, users: np.ndarray, k: int = AUTO_K, per_user: bool = False):
    """Recall@k on `held` of per-row item scores that depend on a user only through its profile (its user row):
    `block_scores(lo, hi)` gives float [hi - lo, item rows] for profiles lo..hi-1, and users[u] has profile back[u].

    Each row offers its items (`size`) less the user's training items; a row with none left is masked. Rows are taken
    best first, each filling its unmasked items' places, and the row straddling the k-th place counts by the fraction
    of its items that fits (random tie breaking among a row's items). Per profile only the top k + m rows are kept (m:
    the most rows any scored user has masked) and each user drops its masked rows from them, which leaves its top k
    without a dense [users, item rows] matrix: profiles are scored `AUTO_BLOCK` at a time."""
    import torch

    seen = _seen_counts(fit[users], pi)                              # the user's training items per row
    owner = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
    full = seen.data >= size[seen.indices]                           # rows with none of their items left
    width = min(k + int(np.bincount(owner[full], minlength=1).max()), size.size)
    vals = np.empty((n_profiles, width))
    order = np.empty((n_profiles, width), dtype=np.int64)
    for lo in range(0, n_profiles, AUTO_BLOCK):
        hi = min(lo + AUTO_BLOCK, n_profiles)
        v, i = torch.topk(torch.from_numpy(np.ascontiguousarray(block_scores(lo, hi), dtype=np.float64)), width, dim=1)
        vals[lo:hi], order[lo:hi] = v.numpy(), i.numpy()
    vals, order = vals[back], order[back]                            # [users, width], best first
    masked = _lookup(sp.csr_matrix((np.ones(int(full.sum())), (owner[full], seen.indices[full])), shape=seen.shape),
                     order) > 0
    vals[masked] = -np.inf
    keep = np.argsort(-vals, axis=1, kind="stable")[:, :min(k, width)]   # masked rows last, the rest in order
    vals, order = np.take_along_axis(vals, keep, axis=1), np.take_along_axis(order, keep, axis=1)
    a = size[order] - _lookup(seen, order)
    a = np.where(np.isfinite(vals), np.maximum(a, 0), 0)
    before = np.cumsum(a, axis=1) - a
    frac = np.clip((k - before) / np.maximum(a, 1), 0.0, 1.0) * (a > 0)
    held_u = held[users]
    got = (_lookup((held_u @ pi).tocsr(), order) * frac).sum(axis=1)
    recall = got / np.minimum(k, np.maximum(np.asarray(held_u.getnnz(axis=1)).ravel(), 1))
    return recall if per_user else float(np.mean(recall))


def _lookup(m: sp.csr_matrix, cols: np.ndarray) -> np.ndarray:
    """m[i, cols[i, j]] for every (i, j), as float64 [n, w], without densifying `m` (a search over its sorted
    row-major keys)."""
    m = m.tocsr()
    m.sum_duplicates()                                               # canonical: sorted indices, no duplicates
    n, w = cols.shape
    keys = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr)) * m.shape[1] + m.indices
    want = (np.arange(n, dtype=np.int64)[:, None] * m.shape[1] + cols).ravel()
    if keys.size == 0:
        return np.zeros((n, w))
    pos = np.minimum(np.searchsorted(keys, want), keys.size - 1)
    return np.where(keys[pos] == want, m.data[pos], 0.0).reshape(n, w)


def pick_scorer(per_user: dict[str, list[np.ndarray]], se_mult: float = AUTO_SCORER_SE,
                gain: float = AUTO_SCORER_GAIN) -> tuple[str, dict, dict]:
    """The proxy whose ranking of the candidates is trusted: the first of `per_user` (proxy -> each candidate's
    per-user recalls, the simplest proxy first) unless a later proxy's best candidate beats the current choice's best
    by more than `se_mult` paired standard errors over the same users (Breiman's one-standard-error rule applied to
    the proxy: the rank-limited PureSVD is the simpler model) and by at least a factor `gain` of its mean recall.

    The factor keeps the rule from turning on sample size alone: the standard error shrinks with the users scored, so
    a small, steady edge (kNN's best candidate on amazon-beauty: 1.07x PureSVD's best, 0.91 standard errors over
    3,451 users; MF does not follow it there) would pass the first test once enough users are scored. On gowalla,
    where kNN's order is MF's, its best is 1.37-1.71x PureSVD's. Returns (name, each later proxy's margin over the
    choice before it in standard errors, and its best mean over that choice's best mean)."""
    names = list(per_user)
    choice, margins, gains = names[0], {}, {}
    for name in names[1:]:
        a = per_user[choice][int(np.argmax([p.mean() for p in per_user[choice]]))]
        b = per_user[name][int(np.argmax([p.mean() for p in per_user[name]]))]
        d = b - a
        se = max(float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size > 1 else 0.0, 1e-12)   # finite, for JSON
        margin = float(d.mean() / se)
        ratio = float(b.mean() / a.mean()) if a.mean() > 0 else (math.inf if b.mean() > 0 else 1.0)
        margins[name], gains[name] = margin, (ratio if math.isfinite(ratio) else None)
        if margin > se_mult and ratio >= gain:
            choice = name
    return choice, margins, gains


def one_se_pick(per_user: list[np.ndarray], sizes: list[float],
                se_mult: float = AUTO_SE) -> tuple[int, list[float]]:
    """A half-standard-error version of Breiman's one-standard-error rule over candidates scored on the same users:
    among the candidates whose mean recall is within `se_mult` paired standard errors of the best's, the one with
    the fewest clusters (`sizes`; ties: the higher mean, then the first). Returns (index, each candidate's
    standard error against the best).

    The validation is a sample, and MF must learn every extra row from the same data: on ml-1m the 135- and
    357-cluster candidates score 0.1988 and 0.2009 (0.4 standard errors apart) while MF gets 0.187 and 0.177 from
    them. On gowalla the 7,187-cluster candidate beats 18 clusters + private rows by 0.7 standard errors, and MF
    prefers it by 1.6x: a whole standard error would have thrown that away, hence half.
    """
    means = np.array([float(np.mean(p)) for p in per_user])
    top = int(np.argmax(means))
    ses = []
    for p in per_user:
        d = per_user[top] - p
        ses.append(float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size > 1 else 0.0)
    ok = [i for i in range(len(per_user)) if means[top] - means[i] <= se_mult * ses[i] + 1e-12]
    return min(ok, key=lambda i: (sizes[i], -means[i], i)), ses


def _seen_counts(b_users: sp.csr_matrix, pi: sp.csr_matrix) -> sp.csr_matrix:
    """Distinct training items of each user per item row (what the ranking masks): sparse [n, item rows]."""
    ones = b_users.copy()
    ones.data[:] = 1.0
    return (ones @ pi).tocsr()


def _top_right_vectors(mat: sp.csr_matrix, rank: int, seed: int, n_iter: int = 4) -> np.ndarray:
    """Randomised range finder for the top-`rank` right singular vectors of `mat` (seeded): [n_cols, rank]."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5FD]))
    q = rng.standard_normal((mat.shape[1], rank + 8))
    q, _ = np.linalg.qr(q)
    for _ in range(n_iter):
        q, _ = np.linalg.qr(mat.T @ (mat @ q))
    small = mat @ q                                              # [n_rows, rank+8]
    _, _, vt = np.linalg.svd(small, full_matrices=False)
    return (q @ vt.T)[:, :rank]


def _predict(runs: dict[float, float], wanted: float) -> float:
    """Resolution expected to give `wanted` clusters from runs {resolution: count}: log-log interpolation between
    the closest runs below and above `wanted`, else extrapolation from the last two (slope clamped to [0.5, 2])."""
    pts = sorted((math.log(r), math.log(max(c, 1.0))) for r, c in runs.items())
    y = math.log(wanted)
    below = [p for p in pts if p[1] <= y]
    above = [p for p in pts if p[1] > y]
    if below and above:
        (x0, y0), (x1, y1) = below[-1], above[0]
        if y1 > y0 and x1 > x0:
            return math.exp(x0 + (y - y0) * (x1 - x0) / (y1 - y0))
        return math.exp((x0 + x1) / 2)
    (x0, y0) = pts[-1] if below else pts[0]
    near = pts[-2:] if below else pts[:2]
    slope = 0.8
    if len(near) == 2 and near[1][0] > near[0][0]:
        slope = (near[1][1] - near[0][1]) / (near[1][0] - near[0][0])
    slope = min(max(slope, 0.5), 2.0)
    return math.exp(x0 + (y - y0) / slope)


def choose_clustering(b: sp.csr_matrix, targets: dict[str, int], *, backend: str = "sknetwork", seed: int = 0,
                      threads: int | None = None,
                      shares: tuple[float, ...] = AUTO_SHARES, holdout: float = AUTO_HOLDOUT,
                      max_users: int = AUTO_USERS, max_runs: int = 8,
                      scorers: tuple[str, ...] = AUTO_SCORERS) -> GraphClustering:
    """The clustering of `b` (hence cluster rows vs private rows per side) that scored best on carved edges; its
    `auto` field records the choice (chosen share per side, resolution, every candidate's score).

    b: CSR [n_users, n_items] training graph; targets: side -> exact rows of that side's budget. Louvain runs on
    the carved graph: resolution 1, then up to `AUTO_TRIES` per share of `shares` until one lands within 1.5x of
    shares x budget, while fewer than `max_runs` distinct cluster counts are found (runs repeating a count, on a
    plateau of the count curve, are not counted); then one on `b` at the winning resolution.
    """
    from threadpoolctl import threadpool_limits

    scorers = tuple(scorers)
    if not scorers or any(s not in AUTO_SCORERS for s in scorers):
        raise ValueError(f"choose_clustering: scorers must be a non-empty tuple of 'svd', 'knn', got {scorers!r}")
    start = time.perf_counter()
    fit, held = carve_edges(b, holdout, seed)
    users = validation_users(b, fit, held, max_users, seed)
    if users.size == 0:                           # no user has a carved edge: nothing to validate on
        final = search_resolution(b, targets, backend=backend, seed=seed, threads=threads)
        share = {s: min(1.0, (final.n_user_clusters if s == "user" else final.n_item_clusters) / t)
                 for s, t in targets.items()}
        return replace(final, auto={"cluster_share": share, "resolution": final.resolution, "candidates": [],
                                    "reason": "too few edges to carve a validation: all-cluster rows (share 1.0)",
                                    "scorer": None, "scorer_margin_se": {}, "scorer_gain": {},
                                    "louvain_seconds": final.seconds, "score_seconds": {},
                                    "seconds": time.perf_counter() - start})
    geo = math.exp(np.mean([math.log(t) for t in targets.values()]))

    def count(c: GraphClustering) -> float:
        n = {"user": c.n_user_clusters, "item": c.n_item_clusters}
        return math.exp(np.mean([math.log(max(n[s], 1)) for s in targets]))

    runs: dict[float, GraphClustering] = {
        1.0: cluster_bipartite(fit, 1.0, backend=backend, seed=seed, threads=threads)}
    for share in sorted(shares):
        wanted = share * geo
        for _ in range(AUTO_TRIES):
            got = {r: count(c) for r, c in runs.items()}
            # a run that repeats an earlier run's cluster counts (a plateau of the count curve: the planted set keeps
            # its 40 communities from r = 0.4 to ~25) adds no candidate, so only distinct counts use up `max_runs`;
            # AUTO_TRIES per share still bounds the ladder
            distinct = len({(c.n_user_clusters, c.n_item_clusters) for c in runs.values()})
            if distinct >= max_runs or min(abs(math.log(c / wanted)) for c in got.values()) <= math.log(1.5):
                break
            res = float(f"{_predict(got, wanted):.4g}")
            if res in runs:
                break
            runs[res] = cluster_bipartite(fit, res, backend=backend, seed=seed, threads=threads)
    candidates, sizes = [], []
    per_user: dict[str, list[np.ndarray]] = {name: [] for name in scorers}
    score_seconds = dict.fromkeys(scorers, 0.0)
    with threadpool_limits(1):                     # small dense algebra: threads only contend with the caller's
        for res, c in sorted(runs.items()):
            rows = _rows(c, fit, targets)
            ur = rows["user"] if "user" in rows else rank_rows(c.user_labels)
            ir = rows["item"] if "item" in rows else rank_rows(c.item_labels)
            for name in scorers:
                t = time.perf_counter()
                per_user[name].append(_score(name, fit, held, ur, ir, users, seed))
                score_seconds[name] += time.perf_counter() - t
            sizes.append(count(c))
            candidates.append({"resolution": res, "n_user_clusters": c.n_user_clusters,
                               "n_item_clusters": c.n_item_clusters,
                               "scores": {name: float(np.mean(per_user[name][-1])) for name in scorers},
                               "modularity": c.modularity, "seconds": c.seconds})
    scorer, margins, gains = pick_scorer(per_user)
    pick, ses = one_se_pick(per_user[scorer], sizes)
    for cand, se in zip(candidates, ses):
        cand["valid_recall@20"], cand["se_vs_best"] = cand["scores"][scorer], se
    best = (candidates[pick]["valid_recall@20"], candidates[pick]["resolution"])
    final = cluster_bipartite(b, best[1], backend=backend, seed=seed, threads=threads)
    n = {"user": final.n_user_clusters, "item": final.n_item_clusters}
    share = {s: min(1.0, n[s] / t) for s, t in targets.items()}
    seconds = time.perf_counter() - start
    auto = {"cluster_share": share, "resolution": best[1], "valid_recall@20": best[0], "scorer": scorer,
            "scorer_margin_se": margins, "scorer_gain": gains,
            "holdout": holdout,
            "users_scored": int(users.size), "louvain_runs": len(runs) + 1, "candidates": candidates,
            "louvain_seconds": sum(c.seconds for c in runs.values()) + final.seconds, "score_seconds": score_seconds,
            "seconds": seconds}
    return replace(final, seconds=seconds, auto=auto)

