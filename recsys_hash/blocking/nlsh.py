"""NLSH blockers: an encoder trained with the NLSH loss (train split only), queried by exact top-k or a SimHash
index; off-the-shelf MiniLM kNN; and the lexical + neural hybrid (TF-IDF cosine + weight x learned cosine, rank-merged
with the TF-IDF ranking).

    >>> b = make_blocker("nlsh", seed=0).fit(er.table_a, context=[er.table_b], train=er.train, table_b=er.table_b)
    >>> pairs = b.candidates(er.table_b, k=2)
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np
import torch

from recsys_hash.blocking.baselines import TfidfBlocker, sparse_scores, tfidf_vectorizer
from recsys_hash.blocking.blocker import KnnBlocker, register_blocker
from recsys_hash.blocking.encoders import LEARN_MODES, make_encoder
from recsys_hash.blocking.fusion import check_fusion, check_weight, choose_weight, fuse_topk
from recsys_hash.blocking.index import SimHashIndex, exact_topk
from recsys_hash.blocking.serialize import record_ids
from recsys_hash.blocking.train import TrainConfig, positive_rows, train_nlsh

INDEXES = ("exact", "simhash")


@register_blocker
class NLSHBlocker(KnnBlocker):
    """Encoder trained with the NLSH loss, then kNN over its embeddings.

    Args:
        encoder: "charngram" (TF-IDF char-n-gram bag -> learned table; seconds on CPU) or "minilm" (fine-tuned
            all-MiniLM-L6-v2; needs the `nlsh` extra).
        learn: what the char-n-gram encoder trains (`encoders.LEARN_MODES`): "both" (default: per-n-gram
            log-weights plus a linear function of n-gram descriptors shared by every n-gram), "weights", "features"
            or "table" (see `CharNgramEncoder`).
        epochs, lr, batch_size, radius, c, hard_k, weight_decay: training (see `train.TrainConfig`); epochs=0:
            untrained (defaults: char-n-gram 10 epochs at lr 5e-2, MiniLM 2 at 3e-5; weight_decay 0).
        select_epochs, validation, patience: select_epochs=True holds a seeded `validation` share of the train
            split's matches out of a first training whose per-epoch PC@1..10 on them picks the epoch count (best
            mean, at most `epochs`; stop after `patience` epochs without a gain); the final encoder trains that many
            epochs on the whole train split (`epochs_`, `epoch_validation_`). Off by default: on Abt-Buy and
            Amazon-Google it stops at 2 epochs and held-out PC@1 drops (benchmarks/RESULTS.md, bench_blocking).
        index: "exact" (torch matmul / faiss) or "simhash" (`tables` x `bits`, multi-probe).
        tables, bits: the SimHash index's L and b: integers, or "auto" (default): b is the smallest whose self-probe
            estimate of the scored fraction on tableA is <= `target_fraction`, L keeps recall (see `SimHashIndex`);
            the chosen values are `index_.tables_`, `index_.bits_`, `index_.estimated_fraction_`.
    fit(table_a, train=..., table_b=...) learns from the labelled matches of `train` (pass the train split only).
    """

    name = "nlsh"
    supervised = True
    default_encoder = "charngram"

    def __init__(self, attributes=None, style: str = "plain", seed: int = 0, encoder: Optional[str] = None,
                 dim: int = 256, epochs: Optional[int] = None, lr: Optional[float] = None, batch_size: int = 64,
                 radius: float = 0.6, c: float = 1.5, hard_k: int = 10, index: str = "exact", tables="auto",
                 bits="auto", max_length: int = 128, learn: str = "both", progress: bool = True,
                 target_fraction: float = 0.15, select_epochs: bool = False, validation: float = 0.2,
                 patience: Optional[int] = 5, weight_decay: float = 0.0):
        super().__init__(attributes, style, seed)
        if learn not in LEARN_MODES:
            raise ValueError(f"{self.name}: learn must be one of {', '.join(LEARN_MODES)}, got {learn!r}")
        self.learn = learn
        self.encoder = encoder or self.default_encoder
        if index not in INDEXES:
            raise ValueError(f"{self.name}: index must be one of {INDEXES}, got {index!r}")
        if isinstance(validation, bool) or not isinstance(validation, (int, float)) or not 0 < validation < 1:
            raise ValueError(f"{self.name}: validation must be a share in (0, 1), got {validation!r}")
        self.validation, self.select_epochs = float(validation), bool(select_epochs)
        minilm = self.encoder == "minilm"
        self.config = TrainConfig(epochs=(2 if minilm else 10) if epochs is None else int(epochs),
                                  batch_size=batch_size, lr=(3e-5 if minilm else 5e-2) if lr is None else lr,
                                  radius=radius, c=c, hard_k=hard_k, seed=self.seed, progress=progress,
                                  weight_decay=weight_decay, patience=patience)
        self.dim, self.index, self.tables, self.bits, self.max_length = dim, index, tables, bits, max_length
        self.target_fraction = target_fraction
        if index == "simhash":
            self._simhash()                                  # validates tables / bits / target_fraction here

    def _fit(self, texts_a, context, train=None, table_b=None):
        vec = tfidf_vectorizer().fit(texts_a + context) if self.encoder == "charngram" else None
        self._tables = [texts_a, context] if context else None     # n-gram descriptors of learn="both"/"features"
        self.losses_, self.epochs_, self.epoch_validation_ = [], self.config.epochs, None
        if self.config.epochs > 0:
            if table_b is None:
                raise ValueError(f"{self.name}: training needs table_b= (the table the train pairs' rtable_id name)")
            pos_a, pos_b = positive_rows(train, self.ids_a_, record_ids(table_b, "tableB"))
            texts_b = self.texts(table_b, "tableB")
            if self.select_epochs or self._needs_validation():
                self._validation_run(vec, texts_a, texts_b, pos_a, pos_b)
            self.encoder_ = self._new_encoder(vec)
            if self.epochs_ > 0:
                cfg = replace(self.config, epochs=self.epochs_)
                self.losses_ = train_nlsh(self.encoder_, texts_a, texts_b, pos_a, pos_b, cfg,
                                          desc=f"{self.name} ({self.encoder})").losses
        else:
            self.encoder_ = self._new_encoder(vec)
        self.x_a_ = self.encoder_.encode(texts_a)
        if self.index == "simhash":
            self.index_ = self._simhash().fit(self.x_a_)

    def _new_encoder(self, vec):
        return make_encoder(self.encoder, vec, dim=self.dim, seed=self.seed, max_length=self.max_length,
                            learn=self.learn, tables=self._tables)

    def _needs_validation(self) -> bool:
        """Whether fitting needs the validation run even without select_epochs (the hybrid's weight='auto')."""
        return False

    def _validation_run(self, vec, texts_a, texts_b, pos_a, pos_b) -> None:
        """Train without a seeded `validation` share of the train split's matches; with select_epochs, track their
        PC@1..10 per epoch, and the best epoch (`epochs_`, `epoch_validation_`) is the count the final model trains
        for on the whole train split. Only the train split is read."""
        held = np.random.default_rng(self.seed).random(pos_a.size) < self.validation
        if held.all() or not held.any():
            raise ValueError(f"{self.name}: validation={self.validation} holds out {self.validation:.0%} of the train "
                             f"split's {pos_a.size} matches for validation: too few to split (select_epochs=False "
                             "trains on all of them)")
        self.encoder_ = self._new_encoder(vec)
        val = (pos_a[held], pos_b[held])
        log = train_nlsh(self.encoder_, texts_a, texts_b, pos_a[~held], pos_b[~held], self.config,
                         desc=f"{self.name} ({self.encoder}, validation)", val=val if self.select_epochs else None)
        if self.select_epochs:
            self.epochs_ = log.best_epoch
            self.epoch_validation_ = {"pairs": int(held.sum()), "share": self.validation, "best_epoch": log.best_epoch,
                                      "max_epochs": self.config.epochs, "patience": self.config.patience,
                                      "pc_1_10": [[round(v, 6) for v in row] for row in log.val_pc]}
        self._validated(texts_a, texts_b, *val)

    def _validated(self, texts_a, texts_b, val_a, val_b) -> None:
        """Hook: runs with `encoder_` as the validation run left it (at its best epoch with select_epochs); the
        hybrid picks its weight here."""

    def _simhash(self) -> SimHashIndex:
        return SimHashIndex(tables=self.tables, bits=self.bits, seed=self.seed, target_fraction=self.target_fraction)

    def embed(self, texts) -> torch.Tensor:
        return self.encoder_.encode(texts)

    def _search(self, texts_b, k):
        x_b = self.embed(texts_b)
        if self.index == "simhash":
            return self.index_.search(x_b, k)
        return exact_topk(self.x_a_, x_b, k)


@register_blocker
class MiniLMBlocker(NLSHBlocker):
    """Off-the-shelf all-MiniLM-L6-v2 cosine kNN (no fine-tuning): the neural baseline."""

    name = "minilm"
    supervised = False
    default_encoder = "minilm"

    def __init__(self, attributes=None, style: str = "plain", seed: int = 0, index: str = "exact",
                 max_length: int = 128, progress: bool = True):
        super().__init__(attributes, style, seed, encoder="minilm", epochs=0, index=index, max_length=max_length,
                         progress=progress)


@register_blocker
class NLSHMiniLMBlocker(NLSHBlocker):
    """NLSH with all-MiniLM-L6-v2 fine-tuned (needs the `nlsh` extra; minutes per epoch on CPU)."""

    name = "nlsh_minilm"
    default_encoder = "minilm"


@register_blocker
class HybridBlocker(NLSHBlocker):
    """Lexical + neural hybrid, exact top-k: the fused score cosine(TF-IDF char-3-gram) + weight x cosine(NLSH
    char-n-gram embedding), rank-merged with the TF-IDF ranking (`fusion.py`).

    Why the rank merge: a score sum lets the learned part push a record TF-IDF ranks well far down (on Abt-Buy a
    generic query, "lg 27' front-load electric dryer with 7.3 cu. ft. capacity", has its match at TF-IDF rank 10;
    the embedding ranks it 36th, behind other LG dryers of that capacity, and the sum 21st).
    Min-rank fusion reads the fused and the TF-IDF top-k in turn, so the top-k always holds the fused top-ceil(k/2)
    and the TF-IDF top-floor(k/2), and k=1 is the fused top-1. Nothing is fitted for the fusion: weight=1 adds two
    cosines on the same [-1, 1] scale.

    Args: those of NLSHBlocker (the neural part; index is always exact) plus
        weight: the neural cosine's weight, a finite number >= 0 (0 = TF-IDF alone), or "auto": on the NLSH
            validation run (the seeded `validation` share of the train split's matches held out, NLSH at its best
            epoch) the grid weight (`fusion.WEIGHT_GRID`) with the best mean PC@1..10 on those pairs is kept
            (`weight_`, `validation_`); NLSH is then trained again on the whole train split. Only `train` is read.
        fusion: "rank" (default: min-rank merge of the fused and TF-IDF lists) or "score" (the fused score's top-k).
    """

    name = "hybrid"

    def __init__(self, attributes=None, style: str = "plain", seed: int = 0, weight=1.0, fusion: str = "rank",
                 **nlsh):
        nlsh["index"] = "exact"
        super().__init__(attributes, style, seed, **nlsh)
        self.weight = check_weight(weight, self.name)
        self.fusion = check_fusion(fusion, self.name)

    def _fit(self, texts_a, context, train=None, table_b=None):
        self.tfidf_ = TfidfBlocker(self.attributes, self.style, self.seed)
        self.tfidf_.ids_a_ = self.ids_a_
        self.tfidf_._fit(texts_a, context)
        self.weight_, self.validation_ = self.weight, None
        if self.weight == "auto" and (train is None or table_b is None or self.config.epochs == 0):
            raise ValueError(f"{self.name}: weight='auto' needs training (epochs > 0), train= and table_b=")
        super()._fit(texts_a, context, train=train, table_b=table_b)

    def _needs_validation(self) -> bool:
        return self.weight == "auto"

    def _validated(self, texts_a, texts_b, val_a, val_b) -> None:
        """weight='auto': with NLSH at the validation run's best epoch, pick the weight on the held-out matches."""
        if self.weight != "auto":
            return
        rows_b, query = np.unique(val_b, return_inverse=True)
        texts_q = [texts_b[i] for i in rows_b]
        lexical = sparse_scores(self.tfidf_.transform(texts_q), self.tfidf_.x_a_, 0, len(texts_q))
        neural = self.embed(texts_q) @ self.encoder_.encode(texts_a).T
        self.weight_, scores = choose_weight(lexical, neural, query, val_a, self.fusion)
        self.validation_ = {"pairs": int(val_a.size), "share": self.validation, "mean_pc_1_10": scores}

    def _search(self, texts_b, k, chunk: int = 2048):
        q = self.tfidf_.transform(texts_b)
        x_b = self.embed(texts_b)
        outs = [fuse_topk(sparse_scores(q, self.tfidf_.x_a_, s, s + chunk), x_b[s:s + chunk] @ self.x_a_.T,
                          self.weight_, k, self.fusion) for s in range(0, len(texts_b), chunk)]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])
