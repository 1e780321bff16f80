"""Full-ranking evaluation: deterministic ties, masking, chunking, and the defined odd-input behaviour."""
import numpy as np
import pytest
import torch

from recsys_hash.data.types import Interactions
from recsys_hash.eval.ranking import (
    embedding_scorer, evaluate_ranking, popularity_scorer, rank_items, stable_topk,
)


def _slow_topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Reference: per row, sort by (score descending, index ascending)."""
    out = []
    for row in scores:
        order = sorted(range(row.size), key=lambda j: (-row[j], j))
        out.append(order[:k])
    return np.array(out, dtype=np.int64)


def _inter(pairs, n_users, n_items, name="x"):
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return Interactions(arr[:, 0], arr[:, 1], n_users, n_items, name=name)


def _matrix_scorer(mat):
    mat = torch.as_tensor(mat, dtype=torch.float32)
    return lambda users: mat[users]


def test_stable_topk_hand_ties():
    s = torch.tensor([[1.0, 2.0, 2.0, 0.0, 2.0]])
    assert stable_topk(s, 1).tolist() == [[1]]
    assert stable_topk(s, 2).tolist() == [[1, 2]]
    assert stable_topk(s, 4).tolist() == [[1, 2, 4, 0]]
    assert stable_topk(s, 5).tolist() == [[1, 2, 4, 0, 3]]


@pytest.mark.parametrize("k", [1, 3, 7, 30])
def test_stable_topk_matches_slow_reference_with_many_ties(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 4, size=(25, 30)).astype(np.float32)     # heavy ties
    scores[3] = 1.0                                                    # a row that is all one tie
    scores[5, :10] = -np.inf
    got = stable_topk(torch.from_numpy(scores), k).numpy()
    assert np.array_equal(got, _slow_topk(scores, k))


def test_masking_excludes_training_items():
    scores = np.array([[5, 4, 3, 2, 1], [1, 2, 3, 4, 5]], dtype=np.float32)
    mask_ptr = np.array([0, 2, 3])
    mask_idx = np.array([0, 1, 4])                                     # user 0: items 0,1; user 1: item 4
    top = rank_items(_matrix_scorer(scores), np.array([0, 1]), 2, 5, mask_ptr, mask_idx)
    assert top.tolist() == [[2, 3], [3, 2]]
    # when fewer than k items remain, masked items come last (in index order, all at -inf)
    top = rank_items(_matrix_scorer(scores), np.array([0]), 5, 5, mask_ptr, mask_idx)
    assert top.tolist() == [[2, 3, 4, 0, 1]]


def test_evaluate_ranking_hand_example():
    # 3 users x 5 items; user 2 has no test item and is not evaluated
    scores = np.array([[0.9, 0.8, 0.7, 0.1, 0.0], [0.0, 0.5, 0.5, 0.5, 0.9], [1, 1, 1, 1, 1]], dtype=np.float32)
    train = _inter([(0, 0), (1, 4), (2, 1)], 3, 5)
    test = _inter([(0, 2), (0, 4), (1, 3)], 3, 5)
    res = evaluate_ranking(_matrix_scorer(scores), train, test, ks=[1, 2])
    # user 0 ranking after masking item 0: [1, 2, 3, 4]; user 1 after masking item 4: [1, 2, 3, 0] (ties by index)
    # recall@1: u0 0/1, u1 0/1; recall@2: u0 1/min(2,2)=0.5, u1 0/1
    assert res.n_users_evaluated == 2
    assert res.metrics["recall@1"] == pytest.approx(0.0)
    assert res.metrics["recall@2"] == pytest.approx(0.25)
    assert res.metrics["ndcg@2"] == pytest.approx(((1 / np.log2(3)) / (1 + 1 / np.log2(3)) + 0.0) / 2)


def test_chunked_equals_unchunked():
    rng = np.random.default_rng(0)
    n_u, n_i = 37, 23
    train = _inter(np.stack([rng.integers(0, n_u, 200), rng.integers(0, n_i, 200)], 1), n_u, n_i)
    test = _inter(np.stack([rng.integers(0, n_u, 80), rng.integers(0, n_i, 80)], 1), n_u, n_i)
    u = torch.from_numpy(rng.normal(size=(n_u, 4)).astype(np.float32))
    i = torch.from_numpy(rng.normal(size=(n_i, 4)).astype(np.float32))[torch.arange(n_i) % 7]   # tied items
    scorer = embedding_scorer(u, i)
    ref = evaluate_ranking(scorer, train, test, ks=[3, 10], chunk_size=10_000, keep_per_user=True)
    for chunk in (1, 4, 16):
        got = evaluate_ranking(scorer, train, test, ks=[3, 10], chunk_size=chunk, keep_per_user=True)
        assert got.metrics == ref.metrics
        for key in ref.per_user:
            assert np.array_equal(got.per_user[key], ref.per_user[key])
    users = np.arange(n_u)
    assert np.array_equal(rank_items(scorer, users, 5, n_i, chunk_size=3), rank_items(scorer, users, 5, n_i))


def test_popularity_ranks_by_degree_with_index_ties():
    train = _inter([(0, 2), (1, 2), (2, 1), (0, 3), (1, 3), (2, 0)], 4, 5)
    top = rank_items(popularity_scorer(train), np.array([3]), 5, 5)
    assert top.tolist() == [[2, 3, 0, 1, 4]]


def test_k_larger_than_item_count_raises():
    train = _inter([(0, 0)], 1, 3)
    test = _inter([(0, 1)], 1, 3)
    with pytest.raises(ValueError, match=r"k=4 is larger than the number of items \(3\)"):
        evaluate_ranking(_matrix_scorer(np.zeros((1, 3))), train, test, ks=[2, 4])


def test_empty_test_set_raises():
    train = _inter([(0, 0)], 1, 3)
    with pytest.raises(ValueError, match="test set 'empty' is empty"):
        evaluate_ranking(_matrix_scorer(np.zeros((1, 3))), train, _inter([], 1, 3, name="empty"), ks=[1])


def test_test_pairs_all_in_train_raises():
    train = _inter([(0, 0)], 1, 3)
    with pytest.raises(ValueError, match="no pair left once training pairs are removed"):
        evaluate_ranking(_matrix_scorer(np.zeros((1, 3))), train, _inter([(0, 0)], 1, 3), ks=[1])


def test_cold_users_unseen_items_and_overlap_are_defined():
    scores = np.array([[3, 2, 1, 0], [0, 1, 2, 3]], dtype=np.float32)
    train = _inter([(0, 0), (0, 1)], 2, 4)                 # user 1 absent from training; items 2, 3 unseen
    test = _inter([(0, 1), (0, 3), (1, 3), (1, 0)], 2, 4)   # (0, 1) is also a training pair -> dropped
    res = evaluate_ranking(_matrix_scorer(scores), train, test, ks=[1])
    assert res.n_overlap_dropped == 1
    assert res.n_cold_users == 1
    assert res.n_unseen_test_items == 1                      # item 3 (item 0 was seen)
    assert res.n_users_evaluated == 2
    # user 0: ranking [2, 3] after masking -> top1 = 2, test {3} -> 0; user 1 (cold): top1 = 3, test {0, 3} -> 1
    assert res.metrics["recall@1"] == pytest.approx(0.5)


def test_vocabulary_mismatch_raises():
    with pytest.raises(ValueError, match="must share vocabularies"):
        evaluate_ranking(_matrix_scorer(np.zeros((1, 3))), _inter([(0, 0)], 1, 3), _inter([(0, 1)], 1, 4), ks=[1])


def test_scorer_shape_is_checked():
    with pytest.raises(ValueError, match=r"scorer returned shape \(1, 2\), expected \(1, 3\)"):
        rank_items(_matrix_scorer(np.zeros((1, 2))), np.array([0]), 1, 3)
