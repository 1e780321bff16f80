"""Data layer: loaders for every format in the shared datasets, synthetic generators, KJT batching.

Loaders return the typed containers of `recsys_hash.data.types`; every loader takes `dataset_path` to read a user's
own folder in the same format instead of $RECSYS_HASH_DATA/<registry folder>.
"""
from recsys_hash.data.catalog import check_dataset, dataset_stats, file_sha256, verify_dataset
from recsys_hash.data.ctr import (
    FRAPPE_FIELDS,
    concat_ctr,
    load_avazu_sample,
    load_frappe,
    read_avazu,
    read_criteo,
    read_libfm,
    split_ctr,
    take_ctr,
)
from recsys_hash.data.er import load_er, read_febrl, read_magellan
from recsys_hash.data.ffm import XLEARN_CRITEO_BAGS, read_libffm
from recsys_hash.data.history import history_samples, take_seqctr
from recsys_hash.data.interactions import (
    load_interactions,
    load_lastfm,
    load_lastfm_trust,
    load_lightgcn_folder,
    load_ml100k,
    read_lightgcn_file,
)
from recsys_hash.data.paths import data_root, dataset_dir
from recsys_hash.data.seqctr import (
    SEQCTR_FILES,
    load_seqctr_sample,
    read_din,
    read_dmr,
    read_event_log,
    read_mind_train,
    read_mind_valid,
    rechub_samples,
)
from recsys_hash.data.sequences import load_beauty, read_item_attributes, read_sequences
from recsys_hash.data.types import CTRFrame, ERTables, InteractionDataset, Interactions, SequenceCTRFrame, Sequences

__all__ = [
    "CTRFrame", "ERTables", "InteractionDataset", "Interactions", "Sequences", "FRAPPE_FIELDS",
    "check_dataset", "concat_ctr", "data_root", "dataset_dir", "dataset_stats", "file_sha256", "load_avazu_sample",
    "load_beauty", "load_er", "load_frappe", "load_interactions", "load_lastfm", "load_lastfm_trust",
    "load_lightgcn_folder", "load_ml100k", "read_avazu", "read_criteo", "read_febrl", "read_item_attributes",
    "read_libfm", "read_lightgcn_file", "read_magellan", "read_sequences", "split_ctr", "take_ctr", "verify_dataset",
    # sequence-CTR samples and libffm
    "SEQCTR_FILES", "SequenceCTRFrame", "XLEARN_CRITEO_BAGS", "history_samples", "load_seqctr_sample", "read_din",
    "read_dmr", "read_event_log", "read_libffm", "read_mind_train", "read_mind_valid", "rechub_samples", "take_seqctr",
]
