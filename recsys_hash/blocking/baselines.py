"""Lexical blocking baselines, wrapping the libraries users already know (nothing re-implemented):
scikit-learn TF-IDF char-n-gram cosine kNN, datasketch MinHashLSH over word shingles, recordlinkage sorted
neighbourhood."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from recsys_hash.blocking.blocker import Blocker, KnnBlocker, register_blocker
from recsys_hash.blocking.index import topk_dense


def tfidf_vectorizer(analyzer: str = "char_wb", ngram: tuple[int, int] = (3, 3)):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=analyzer, ngram_range=tuple(ngram), dtype=np.float32)


def sparse_scores(q, x, start: int, stop: int) -> torch.Tensor:
    """Dense cosine block (rows start:stop of q) x (all of x) of L2-normalised sparse matrices."""
    return torch.from_numpy(np.asarray((q[start:stop] @ x.T).todense(), dtype=np.float32))


@register_blocker
class TfidfBlocker(KnnBlocker):
    """TF-IDF char-n-gram cosine kNN (scikit-learn). The vocabulary and IDF come from tableA plus `context`.

    Args:
        analyzer: "char_wb" (n-grams inside word boundaries), "char" or "word".
        ngram: (min_n, max_n).
    """

    name = "tfidf"

    def __init__(self, attributes=None, style: str = "plain", seed: int = 0, analyzer: str = "char_wb",
                 ngram: tuple[int, int] = (3, 3), chunk: int = 2048):
        super().__init__(attributes, style, seed)
        self.analyzer, self.ngram, self.chunk = analyzer, tuple(ngram), chunk

    def _fit(self, texts_a, context, train=None, table_b=None):
        self.vectorizer_ = tfidf_vectorizer(self.analyzer, self.ngram).fit(texts_a + context)
        self.x_a_ = self.vectorizer_.transform(texts_a).tocsr()

    def transform(self, texts):
        return self.vectorizer_.transform(texts).tocsr()

    def score_matrix(self, texts_b) -> torch.Tensor:
        """Cosines float32 [n_b, n_a] (dense: fine for the benchmark tables; large tables go through `_search`)."""
        q = self.transform(texts_b)
        return sparse_scores(q, self.x_a_, 0, q.shape[0])

    def _search(self, texts_b, k):
        q = self.transform(texts_b)
        out = [topk_dense(sparse_scores(q, self.x_a_, s, s + self.chunk), k) for s in range(0, q.shape[0], self.chunk)]
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


def word_shingles(texts: list[str]) -> list[list[bytes]]:
    """Lower-cased word tokens of each text, utf-8 encoded (datasketch hashes bytes)."""
    import re

    return [[w.encode("utf-8") for w in set(re.findall(r"\w+", t.lower()))] or [b""] for t in texts]


@register_blocker
class MinHashBlocker(Blocker):
    """datasketch MinHashLSH over word shingles: tableB records query the LSH built on tableA.

    Args:
        threshold: the LSH's Jaccard threshold (sets bands x rows); lower -> more candidates.
        num_perm: MinHash permutations.
    `candidates(table_b, k)`: with k, each query keeps its k candidates of highest estimated Jaccard; k=None
    keeps every LSH candidate (the classic threshold blocker).
    """

    name = "minhash"

    def __init__(self, attributes=None, style: str = "plain", seed: int = 0, threshold: float = 0.1,
                 num_perm: int = 128):
        super().__init__(attributes, style, seed)
        if not 0 < threshold < 1:
            raise ValueError(f"minhash: threshold must be in (0, 1), got {threshold!r}")
        self.threshold, self.num_perm = float(threshold), int(num_perm)

    def _minhashes(self, texts):
        from datasketch import MinHash

        # datasketch's own default seed is 1: seed=0 here reproduces a plain datasketch run
        return MinHash.bulk(word_shingles(texts), num_perm=self.num_perm, seed=self.seed + 1)

    def _fit(self, texts_a, context, train=None, table_b=None):
        from datasketch import MinHashLSH

        self.hash_a_ = self._minhashes(texts_a)
        self.lsh_ = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        with self.lsh_.insertion_session() as session:
            for row, mh in enumerate(self.hash_a_):
                session.insert(row, mh, check_duplication=False)
        self.values_a_ = np.stack([m.hashvalues for m in self.hash_a_])

    def _candidates(self, texts_b, ids_b, k):
        hash_b = self._minhashes(texts_b)
        found = [self.lsh_.query(mh) for mh in hash_b]
        q = np.repeat(np.arange(len(found)), [len(f) for f in found])
        r = np.fromiter((x for f in found for x in f), dtype=np.int64, count=q.size)
        if k is not None and q.size:
            values_b = np.stack([m.hashvalues for m in hash_b])
            jac = (values_b[q] == self.values_a_[r]).mean(axis=1)
            order = np.lexsort((r, -jac, q))
            q, r = q[order], r[order]
            rank = np.arange(q.size) - np.searchsorted(q, q)
            q, r = q[rank < k], r[rank < k]
        return np.stack([self.ids_a_[r], ids_b[q]], axis=1).astype(np.int64)


@register_blocker
class SortedNeighbourhoodBlocker(Blocker):
    """recordlinkage sorted neighbourhood on the serialised text: records of both tables sorted by it, each paired
    with those within the window. `candidates(table_b, k)` uses window = 2k + 1 (k neighbours on each side)."""

    name = "sorted_neighbourhood"

    def _fit(self, texts_a, context, train=None, table_b=None):
        pass

    def _candidates(self, texts_b, ids_b, k):
        import pandas as pd
        import recordlinkage

        window = 2 * (k or 1) + 1
        left = pd.DataFrame({"key": [t.lower() for t in self.texts_a_]}, index=pd.Index(self.ids_a_, name="a"))
        right = pd.DataFrame({"key": [t.lower() for t in texts_b]}, index=pd.Index(ids_b, name="b"))
        with warnings.catch_warnings():                   # recordlinkage's pandas deprecation notices
            warnings.simplefilter("ignore")
            links = recordlinkage.index.SortedNeighbourhood("key", window=window).index(left, right)
        return np.stack([links.get_level_values(0).to_numpy(), links.get_level_values(1).to_numpy()],
                        axis=1).astype(np.int64)

    def self_join(self, k: int) -> np.ndarray:
        raise ValueError("sorted_neighbourhood: self_join is not offered; use a kNN method (tfidf, nlsh, ...)")
