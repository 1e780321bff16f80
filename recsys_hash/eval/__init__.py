"""Evaluation: Recall/NDCG@K, full-ranking evaluation with training items masked, timing helpers."""
from recsys_hash.eval.metrics import csr_from_pairs, hits_from_topk, parse_ks, per_user_metrics, ranking_metrics
from recsys_hash.eval.ranking import (
    RankingResult, Scorer, embedding_scorer, evaluate_ranking, popularity_scorer, rank_items, stable_topk,
)
from recsys_hash.eval.timing import Timer, torch_threads

__all__ = [
    "RankingResult", "Scorer", "Timer", "csr_from_pairs", "embedding_scorer", "evaluate_ranking", "hits_from_topk",
    "parse_ks", "per_user_metrics", "popularity_scorer", "rank_items", "ranking_metrics", "stable_topk",
    "torch_threads",
]
