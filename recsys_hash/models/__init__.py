"""Retrieval models over compressed tables (MF-BPR, LightGCN), their BPR training and recall experiments."""
from recsys_hash.models.experiment import MODELS, Split, fit_strategy, make_split, run_recall
from recsys_hash.models.retrieval import MF, LightGCN, bpr_loss, build_model, normalized_adjacency
from recsys_hash.models.sampling import carve_validation, epoch_batches, sample_negatives
from recsys_hash.models.tables import CompressedEmbeddings, fit_remappers, side_rows
from recsys_hash.models.train_retrieval import TrainConfig, TrainResult, train_bpr
from recsys_hash.models.trainer import load_checkpoint, save_checkpoint

__all__ = [
    "MODELS", "MF", "CompressedEmbeddings", "LightGCN", "Split", "TrainConfig", "TrainResult", "bpr_loss",
    "build_model", "carve_validation", "epoch_batches", "fit_remappers", "fit_strategy", "load_checkpoint",
    "make_split", "normalized_adjacency", "run_recall", "sample_negatives", "save_checkpoint", "side_rows",
    "train_bpr",
]
