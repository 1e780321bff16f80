"""SimHash index with tables / bits chosen from the indexed rows ("auto"): target met where a fixed b is not,
seeded, the estimate transfers to held-out queries, the collision arithmetic, and bad input."""
import numpy as np
import pytest

from recsys_hash.blocking.index import SimHashIndex, collision_probability, exact_topk, tables_for_recall


def clustered(seed: int, n_clusters: int = 12, per: int = 40, d: int = 32, spread: float = 0.35) -> np.ndarray:
    """Tight clusters around random centres, L2-normalised float32 [n_clusters * per, d]."""
    rng = np.random.default_rng(seed)
    x = np.repeat(rng.standard_normal((n_clusters, d)), per, axis=0) + spread * rng.standard_normal((n_clusters * per, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    base = clustered(0)
    rng = np.random.default_rng(1)
    query = base[rng.choice(len(base), 120, replace=False)] + 0.05 * rng.standard_normal((120, 32)).astype(np.float32)
    return base, query


@pytest.fixture(scope="module")
def auto(data):
    return SimHashIndex(tables="auto", bits="auto", seed=0).fit(data[0])


def test_auto_bits_meet_the_target_where_a_fixed_low_bit_count_does_not(data, auto):
    base, query = data
    fixed = SimHashIndex(tables=48, bits=12, seed=0).fit(base)
    fixed.search(query, 3)
    assert fixed.scored_fraction() > 0.2                   # clustered rows: 12 bits score far more than 15%
    assert auto.bits_ > 12 and auto.estimated_fraction_ <= 0.15
    assert auto.tables_ == tables_for_recall(auto.bits_, 0.7, 0.999)
    # the smallest such b: one bit fewer (with its own table count) estimates above the target
    assert SimHashIndex(tables="auto", bits=auto.bits_ - 1, seed=0).fit(base).estimated_fraction_ > 0.15
    rows, _ = auto.search(query, 3)
    assert auto.scored_fraction() < 0.17
    exact_rows, _ = exact_topk(base, query, 3, use_faiss=False)
    assert (rows[:, 0] == exact_rows[:, 0]).mean() >= 0.99


def test_auto_is_seeded_and_equals_the_explicit_index_it_chose(data, auto):
    base, query = data
    again = SimHashIndex(tables="auto", bits="auto", seed=0).fit(base)
    assert (again.tables_, again.bits_, again.estimated_fraction_) == (auto.tables_, auto.bits_, auto.estimated_fraction_)
    explicit = SimHashIndex(tables=auto.tables_, bits=auto.bits_, seed=0).fit(base)
    assert explicit.estimated_fraction_ is None
    np.testing.assert_array_equal(explicit.codes_, auto.codes_)
    np.testing.assert_array_equal(explicit.search(query, 3)[0], auto.search(query, 3)[0])


def test_self_probe_estimate_matches_the_measured_fraction_within_15_percent(data):
    base, _ = data
    query = clustered(0)[::3] + 0.02 * np.random.default_rng(5).standard_normal((160, 32)).astype(np.float32)
    for bits in (10, 13):
        idx = SimHashIndex(tables="auto", bits=bits, seed=3).fit(base)
        idx.search(query, 1)
        assert idx.estimated_fraction_ == pytest.approx(idx.scored_fraction(), rel=0.15)


def test_auto_bits_with_fixed_tables_and_a_loose_target_walk_down():
    x = np.random.default_rng(0).standard_normal((400, 16)).astype(np.float32)   # no clusters: few bits suffice
    idx = SimHashIndex(tables=4, bits="auto", target_fraction=0.5, seed=0).fit(x)
    assert idx.tables_ == 4 and idx.bits_ < 12 and idx.estimated_fraction_ <= 0.5
    assert SimHashIndex(tables=4, bits=idx.bits_ - 1, seed=0).fit(x)._estimate(idx.x_, idx.bits_ - 1) > 0.5


def test_collision_arithmetic_by_hand():
    # cosine cos(pi/4): each bit differs with p = 1/4; 2 bits: same code 9/16, one bit off 2 * 1/4 * 3/4 = 6/16
    assert collision_probability(2, np.cos(np.pi / 4), multiprobe=False) == pytest.approx(9 / 16)
    assert collision_probability(2, np.cos(np.pi / 4)) == pytest.approx(15 / 16)
    # orthogonal pair, 2 bits, no multiprobe: hit 1/4 per table; 0.75^8 = 0.100 > 0.1 >= 0.75^9
    assert tables_for_recall(2, 0.0, 0.9, multiprobe=False) == 9
    assert tables_for_recall(1, 0.0, 0.999) == 1             # one bit with multiprobe probes every bucket


@pytest.mark.parametrize("kw,match", [
    ({"target_fraction": 0.0}, r"target_fraction must be in \(0, 1\], got 0.0"),
    ({"target_fraction": 1.5}, r"target_fraction must be in \(0, 1\], got 1.5"),
    ({"recall": 1.0}, r"recall must be in \(0, 1\), got 1.0"),
    ({"recall_cosine": -1}, r"recall_cosine must be in \(-1, 1\), got -1"),
    ({"bits": "many"}, r"bits must be an integer in \[1, 62\] or 'auto', got 'many'"),
    ({"tables": 0}, r"tables must be an integer in \[1, 1024\] or 'auto', got 0"),
    ({"sample": 0}, "sample must be a positive integer, got 0"),
])
def test_bad_parameters_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        SimHashIndex(**kw)


def test_auto_needs_two_indexed_rows():
    one = np.ones((1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="need at least 2 of them, got 1"):
        SimHashIndex(bits="auto").fit(one)
    with pytest.raises(ValueError, match="need at least 2 of them, got 1"):
        SimHashIndex(tables="auto", bits=8).fit(one)
    assert SimHashIndex(tables=2, bits=4).fit(one).search(one, 1)[0].tolist() == [[0]]   # explicit: as before
