import numpy as np
import pytest

from recsys_hash.data.synthetic_graph import DEFAULT_PLANTED, default_planted, planted_bipartite


def test_shapes_balance_and_determinism():
    inter, lu, li = planted_bipartite(300, 200, 5, 4000, seed=7)
    assert inter.n_users == 300 and inter.n_items == 200 and 0 < len(inter) <= 4000
    assert np.bincount(lu).tolist() == [60] * 5 and np.bincount(li).tolist() == [40] * 5
    pairs = inter.user * 200 + inter.item
    assert np.unique(pairs).size == pairs.size                         # deduplicated
    again, lu2, _ = planted_bipartite(300, 200, 5, 4000, seed=7)
    np.testing.assert_array_equal(again.user, inter.user)
    np.testing.assert_array_equal(lu2, lu)
    other, _, _ = planted_bipartite(300, 200, 5, 4000, seed=8)
    assert not np.array_equal(other.user, inter.user)
    raw, _, _ = planted_bipartite(300, 200, 5, 4000, seed=7, dedupe=False)
    assert len(raw) == 4000


def test_p_in_and_power_law():
    inter, lu, li = planted_bipartite(400, 300, 4, 20_000, p_in=1.0, popularity_exponent=1.2, seed=1, dedupe=False)
    assert (lu[inter.user] == li[inter.item]).all()
    mixed, lu, li = planted_bipartite(400, 300, 4, 20_000, p_in=0.5, seed=1, dedupe=False)
    share = (lu[mixed.user] == li[mixed.item]).mean()
    assert 0.5 + 0.5 / 4 - 0.02 < share < 0.5 + 0.5 / 4 + 0.02      # p_in + (1 - p_in) / k
    counts = np.sort(np.bincount(inter.item, minlength=300))[::-1]
    assert counts[0] > 10 * max(counts[-1], 1)                      # heavy head, light tail
    flat, _, _ = planted_bipartite(400, 300, 4, 20_000, popularity_exponent=0.0, seed=1, dedupe=False)
    c = np.bincount(flat.item, minlength=300)
    assert c.max() < 2 * c.mean()


def test_default_dataset():
    inter, lu, li = default_planted()
    assert inter.n_users == DEFAULT_PLANTED["n_users"] and lu.max() + 1 == DEFAULT_PLANTED["n_communities"]
    assert len(inter) > 50_000


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_users=0), "n_users must be a positive integer"),
    (dict(n_communities=500), "n_communities=500 exceeds"),
    (dict(p_in=1.5), r"p_in must be in \[0, 1\]"),
    (dict(popularity_exponent=-1.0), "popularity_exponent must be >= 0"),
    (dict(n_interactions=2.5), "n_interactions must be a positive integer"),
])
def test_bad_arguments(kwargs, match):
    args = dict(n_users=100, n_items=100, n_communities=4, n_interactions=100) | kwargs
    with pytest.raises(ValueError, match=match):
        planted_bipartite(**args)
