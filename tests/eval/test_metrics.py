"""Recall@K / NDCG@K against hand-computed values."""
import math

import numpy as np
import pytest

from recsys_hash.eval.metrics import csr_from_pairs, hits_from_topk, parse_ks, per_user_metrics, ranking_metrics


def test_per_user_metrics_hand_computed():
    hits = np.array([[1, 0, 1, 0], [0, 1, 0, 0]], dtype=bool)
    n_rel = np.array([2, 1])
    m = per_user_metrics(hits, n_rel, [2, 4])
    # user 0: k=2 one hit of min(2, 2)=2; k=4 two hits
    assert m["recall@2"][0] == pytest.approx(0.5)
    assert m["recall@4"][0] == pytest.approx(1.0)
    idcg2 = 1 + 1 / math.log2(3)
    assert m["ndcg@2"][0] == pytest.approx(1 / idcg2)
    assert m["ndcg@4"][0] == pytest.approx((1 + 1 / math.log2(4)) / idcg2)
    # user 1 has fewer test items (1) than k: denominator min(k, 1) = 1, so recall reaches 1
    assert m["recall@2"][1] == pytest.approx(1.0)
    assert m["recall@4"][1] == pytest.approx(1.0)
    assert m["ndcg@2"][1] == pytest.approx(1 / math.log2(3))


def test_recall_denominator_is_min_k_and_test_size():
    hits = np.array([[1, 1, 0, 0, 0]], dtype=bool)
    m = per_user_metrics(hits, np.array([10]), [2, 5])
    assert m["recall@2"][0] == pytest.approx(1.0)      # 2 / min(2, 10)
    assert m["recall@5"][0] == pytest.approx(2 / 5)    # 2 / min(5, 10)


def test_ranking_metrics_from_topk_and_csr():
    # users 0 and 2 have test items; topk rows are ranked lists
    indptr, indices = csr_from_pairs(np.array([0, 0, 2]), np.array([3, 1, 0]), n_users=3, n_items=5)
    assert indptr.tolist() == [0, 2, 2, 3] and indices.tolist() == [1, 3, 0]
    topk = np.array([[3, 2, 1], [4, 0, 2]])
    users = np.array([0, 2])
    assert hits_from_topk(topk, users, indptr, indices, 5).tolist() == [[True, False, True], [False, True, False]]
    m = ranking_metrics(topk, users, indptr, indices, 5, [1, 3])
    assert m["recall@1"] == pytest.approx((1.0 + 0.0) / 2)
    assert m["recall@3"] == pytest.approx((1.0 + 1.0) / 2)
    ndcg3_u0 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    ndcg3_u2 = (1 / math.log2(3)) / 1.0
    assert m["ndcg@3"] == pytest.approx((ndcg3_u0 + ndcg3_u2) / 2)


def test_ranking_metrics_rejects_user_without_test_items_and_empty():
    indptr, indices = csr_from_pairs(np.array([0]), np.array([1]), n_users=2, n_items=3)
    with pytest.raises(ValueError, match="user 1 has no relevant item"):
        ranking_metrics(np.array([[1], [0]]), np.array([0, 1]), indptr, indices, 3, [1])
    with pytest.raises(ValueError, match="empty test set"):
        ranking_metrics(np.zeros((0, 1), dtype=np.int64), np.zeros(0, dtype=np.int64), indptr, indices, 3, [1])


def test_parse_ks():
    assert parse_ks("50, 10,20,10") == [10, 20, 50]
    assert parse_ks(5) == [5]
    with pytest.raises(ValueError, match="comma-separated integers"):
        parse_ks("10,x")
    with pytest.raises(ValueError, match="must be >= 1"):
        parse_ks([0, 5])
    with pytest.raises(ValueError, match="k list is empty"):
        parse_ks("")


def test_k_longer_than_ranked_list_raises():
    with pytest.raises(ValueError, match="k=5 exceeds the ranked list length 2"):
        per_user_metrics(np.ones((1, 2), dtype=bool), np.array([1]), [5])
