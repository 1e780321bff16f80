"""Planted-community bipartite interactions: users and items in k communities, power-law popularity inside each.

Each interaction draws a user (power-law activity), then with probability `p_in` an item of the user's community,
otherwise an item of a uniformly drawn community; inside a community items are drawn with weight
(rank + 1) ** -popularity_exponent. Everything is vectorised and seeded.
"""
from __future__ import annotations

import numpy as np

from recsys_hash.data.pairs import unique_pairs
from recsys_hash.data.types import Interactions

#: Default size for demos and audits: clusters in well under a second, and its planted communities make
#: graph clustering clearly better than blind hashing at the same row budget.
#: The embedded default dataset (demo and default audit): big enough for 40 communities with power-law popularity,
#: small enough that the whole default audit trains in a few minutes on 2 cores.
DEFAULT_PLANTED = dict(n_users=3000, n_items=2000, n_communities=40, n_interactions=90_000, p_in=0.9,
                       popularity_exponent=0.8, seed=0)


def _powerlaw_sampler(labels: np.ndarray, k: int, exponent: float, rng: np.random.Generator):
    """Members of each community with weight (rank+1)^-exponent -> a function (communities [n]) -> members [n]."""
    order = np.lexsort((rng.random(labels.size), labels))           # members grouped by community, random rank
    lab = labels[order]
    start = np.searchsorted(lab, np.arange(k))
    rank = np.arange(lab.size) - start[lab]
    w = (rank + 1.0) ** (-exponent)
    csum = np.cumsum(w)
    before = np.concatenate([[0.0], csum])[start]
    total = np.bincount(lab, w, minlength=k)
    # Cumulative weight normalised to [c, c+1) inside community c: one searchsorted samples every community.
    cum = lab + (csum - before[lab]) / total[lab]

    def sample(comm: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(cum, comm + rng.random(comm.size), side="right")
        return order[np.minimum(pos, lab.size - 1)]

    return sample


def planted_bipartite(
    n_users: int,
    n_items: int,
    n_communities: int,
    n_interactions: int,
    p_in: float = 0.9,
    popularity_exponent: float = 0.8,
    seed: int = 0,
    dedupe: bool = True,
) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """-> (Interactions, user_labels int64 [n_users], item_labels int64 [n_items]).

    Community sizes are balanced (ID i is in community perm(i) % k). With dedupe, repeated pairs are kept once,
    so len(interactions) <= n_interactions; users or items never drawn stay in the vocabulary without edges.
    """
    for name, v in (("n_users", n_users), ("n_items", n_items), ("n_communities", n_communities),
                    ("n_interactions", n_interactions)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"planted_bipartite: {name} must be a positive integer, got {v!r}")
    if n_communities > min(n_users, n_items):
        raise ValueError(f"planted_bipartite: n_communities={n_communities} exceeds min(n_users, n_items)")
    if not 0.0 <= p_in <= 1.0:
        raise ValueError(f"planted_bipartite: p_in must be in [0, 1], got {p_in!r}")
    if not popularity_exponent >= 0:
        raise ValueError(f"planted_bipartite: popularity_exponent must be >= 0, got {popularity_exponent!r}")
    rng = np.random.default_rng(seed)
    k = int(n_communities)
    user_labels = (rng.permutation(n_users) % k).astype(np.int64)
    item_labels = (rng.permutation(n_items) % k).astype(np.int64)
    user_sampler = _powerlaw_sampler(user_labels, k, popularity_exponent, rng)
    item_sampler = _powerlaw_sampler(item_labels, k, popularity_exponent, rng)
    user = user_sampler(rng.integers(0, k, n_interactions))
    inside = rng.random(n_interactions) < p_in
    comm = np.where(inside, user_labels[user], rng.integers(0, k, n_interactions))
    item = item_sampler(comm)
    if dedupe:
        user, item = unique_pairs(user, item, n_users, n_items)
    inter = Interactions(user=user.astype(np.int64), item=item.astype(np.int64), n_users=int(n_users),
                         n_items=int(n_items), name=f"planted-{k}")
    return inter, user_labels, item_labels


def default_planted(seed: int = 0) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """The embedded default dataset (see DEFAULT_PLANTED)."""
    return planted_bipartite(**dict(DEFAULT_PLANTED, seed=seed))
