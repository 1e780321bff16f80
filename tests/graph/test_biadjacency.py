import numpy as np
import pytest

from recsys_hash.data.types import Interactions
from recsys_hash.errors import InvalidIdError
from recsys_hash.graph.biadjacency import build_biadjacency, degrees


def inter(user, item, n_users=3, n_items=3, rating=None):
    return Interactions(np.asarray(user), np.asarray(item), n_users, n_items,
                        rating=None if rating is None else np.asarray(rating, dtype=np.float32))


def test_duplicates_sum_as_weights_or_binarise():
    x = inter([0, 0, 0, 2], [1, 1, 2, 0])
    b = build_biadjacency(x)
    assert b.shape == (3, 3)
    assert b.toarray().tolist() == [[0, 2, 1], [0, 0, 0], [1, 0, 0]]
    assert build_biadjacency(x, binarize=True).toarray().tolist() == [[0, 1, 1], [0, 0, 0], [1, 0, 0]]
    du, di = degrees(b)
    assert du.tolist() == [3, 0, 1] and di.tolist() == [1, 2, 1]


def test_rating_and_array_weights_zero_weight_drops_edge():
    x = inter([0, 1, 2], [0, 1, 2], rating=[2.5, 0.0, 1.0])
    assert build_biadjacency(x, weights="rating").toarray().tolist() == [[2.5, 0, 0], [0, 0, 0], [0, 0, 1]]
    b = build_biadjacency(x, weights=np.array([1.0, 3.0, 0.0]))
    assert b.nnz == 2 and b[1, 1] == 3.0


@pytest.mark.parametrize("w, match", [
    ([1.0, np.nan, 1.0], r"weight nan at interaction 1"),
    ([1.0, 1.0, np.inf], r"weight inf at interaction 2"),
    ([-1.0, 1.0, 1.0], r"weight -1.0 at interaction 0"),
    ([1.0, 1.0], r"weights must have shape \(3,\)"),
])
def test_bad_weights(w, match):
    with pytest.raises(ValueError, match=match):
        build_biadjacency(inter([0, 1, 2], [0, 1, 2]), weights=np.array(w))


def test_rating_weights_need_ratings():
    with pytest.raises(ValueError, match="have no ratings"):
        build_biadjacency(inter([0], [0]), weights="rating")


@pytest.mark.parametrize("user, item, match", [
    ([0, -1], [0, 1], r"user ID -1 at position 1 is outside \[0, 3\)"),
    ([0, 1], [0, 3], r"item ID 3 at position 1 is outside \[0, 3\)"),
    ([0.0, 1.0], [0, 1], r"user IDs must be integers, got dtype float64"),
])
def test_bad_ids(user, item, match):
    with pytest.raises(InvalidIdError, match=match):
        build_biadjacency(inter(user, item))


def test_empty_graph_and_empty_side():
    with pytest.raises(ValueError, match="graph is empty"):
        build_biadjacency(inter(np.zeros(0, np.int64), np.zeros(0, np.int64)))
    with pytest.raises(ValueError, match="every interaction has weight 0"):
        build_biadjacency(inter([0], [0]), weights=np.array([0.0]))
    with pytest.raises(ValueError, match="n_items=0"):
        build_biadjacency(inter(np.zeros(0, np.int64), np.zeros(0, np.int64), n_items=0))
