import numpy as np
import pytest

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.data.types import Interactions
from recsys_hash.ids.graphhash import GraphHash
from recsys_hash.ids.hashing import universal_hash, universal_params

# Two bicliques: users {0,1} x items {0,1} and users {2,3} x items {2,3}.
BASE_U = [0, 0, 1, 1, 2, 2, 3, 3]
BASE_I = [0, 1, 0, 1, 2, 3, 2, 3]


def inter(u, i, n_users, n_items):
    return Interactions(np.array(u), np.array(i), n_users, n_items)


def test_partial_fit_known_answers():
    base = inter(BASE_U, BASE_I, 4, 4)
    rem = GraphHash(resolution=1.0, seed=2).fit(interactions=base, side="user")
    assert rem.table_rows == 2
    row_a, row_b = rem.transform(np.array([0, 2]))
    assert row_a != row_b
    before = rem.transform(np.arange(8))
    new = inter(
        [4, 4, 4, 5, 6, 0, 7, 7, 7, 7, 7, 1, 1],
        [2, 3, 0, 4, 5, 5, 0, 0, 0, 2, 3, 2, 3], n_users=8, n_items=6)
    rem.partial_fit(new)
    rows = rem.transform(np.arange(8))
    assert rows[:4].tolist() == before[:4].tolist()          # existing IDs keep their rows (user 1 too)
    assert rows[4] == row_b                                   # 2 neighbours in B vs 1 in A
    assert rows[6] == row_a                                   # new item 5 learns A from known user 0
    assert rows[7] == row_a                                   # duplicate pairs weigh: 3 x A vs 2 x B
    assert rows[5] == before[5] == universal_hash(np.array([5]), *universal_params(2, 2)[0], 2)[0]
    assert rem.partial_fit_report_ == {"assigned": 3, "hashed": 1}
    assert rem.fit_keys_.tolist() == list(range(8)) and rem.fit_counts_.tolist() == [3, 4, 2, 2, 3, 1, 1, 5]
    assert rem.known_[[4, 6, 7]].all() and not rem.known_[5]


def test_partial_fit_item_side():
    rem = GraphHash(resolution=1.0).fit(interactions=inter(BASE_U, BASE_I, 4, 4), side="item")
    rem.partial_fit(inter([2, 3, 0], [4, 4, 5], 4, 6))
    assert rem.transform(np.array([4, 5])).tolist() == rem.transform(np.array([2, 0])).tolist()


def _blocks(sizes, extra=0):
    """Disjoint bicliques of the given sizes; the first block gets `extra` more users and items at the end."""
    u, i, off, n = [], [], 0, sum(sizes)
    for s in sizes:
        uu, ii = np.meshgrid(np.arange(off, off + s), np.arange(off, off + s))
        u.append(uu.ravel()), i.append(ii.ravel())
        off += s
    if extra:
        grown = np.r_[np.arange(sizes[0]), np.arange(n, n + extra)]
        uu, ii = np.meshgrid(grown, grown)
        u.append(uu.ravel()), i.append(ii.ravel())
    return inter(np.concatenate(u), np.concatenate(i), n + extra, n + extra)


def test_refit_keeps_rows_when_cluster_order_changes():
    rem = GraphHash(resolution=1.0).fit(interactions=_blocks([3, 4, 5]), side="user")
    old = rem.transform(np.arange(12))
    assert old[0] == 2                                        # smallest block: last row
    rem.refit(_blocks([3, 4, 5], extra=4))                    # block 0 becomes the largest (7 users)
    new = rem.transform(np.arange(16))
    assert new[:12].tolist() == old.tolist() and (new[12:] == old[0]).all()
    assert rem.refit_report_ == {"kept": 12, "compared": 12, "share": 1.0, "rows": 3}


def test_refit_keeps_private_rows():
    # budget 6 over 3 bicliques (items 0-2, 3-6, 7-11): 3 cluster rows + 3 private rows for the hottest
    # non-anchor items; all of block 3 have degree 5, so item 7 anchors it and items 8, 9, 10 get private rows
    base = _blocks([3, 4, 5])
    rem = GraphHash(num_rows=6).fit(interactions=base, side="item")
    old = rem.transform(np.arange(12))
    assert np.unique(old).size == 6 and old[7] == old[11]
    assert len({old[8], old[9], old[10]} | {old[7], old[0], old[3]}) == 6
    more = Interactions(np.r_[base.user, [7, 8, 9, 10]], np.r_[base.item, [11, 11, 11, 11]], 12, 12)
    rem.refit(more)                                          # item 11 is now the hottest of its block
    assert rem.table_rows == 6 and rem.transform(np.arange(12)).tolist() == old.tolist()
    assert rem.refit_report_["share"] == 1.0
    fresh = GraphHash(num_rows=6).fit(interactions=more, side="item").transform(np.arange(12))
    assert fresh[11] == fresh[10] != fresh[7]                # a plain fit would give item 7 a private row instead


def test_refit_stability_on_planted_graph():
    inter_all, _, _ = planted_bipartite(1000, 800, 10, 15_000, seed=6)
    rng = np.random.default_rng(0)
    first = inter_all.subset(rng.random(len(inter_all)) < 0.95)
    sides = GraphHash.fit_sides(first, {"user": 10, "item": 10})
    same = GraphHash.refit_sides(sides, first)
    assert same["user"]["share"] == 1.0 and same["item"]["share"] == 1.0
    reports = GraphHash.refit_sides(sides, inter_all)            # 5% more interactions
    for side, rem in sides.items():
        assert rem.table_rows == 10
        assert reports[side]["share"] >= 0.95 and reports[side]["compared"] > 0.9 * 800


@pytest.mark.parametrize("method", ["partial_fit", "refit"])
def test_incremental_needs_fit(method):
    with pytest.raises(Exception, match="call fit first"):
        getattr(GraphHash(), method)(inter(BASE_U, BASE_I, 4, 4))
