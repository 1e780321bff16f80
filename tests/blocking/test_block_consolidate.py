"""Blocking self-join -> matched pairs -> dedup: the planted duplicate catalogue's entities are recovered."""
import numpy as np

from recsys_hash.blocking import blocking_metrics
from recsys_hash.blocking.blocker import make_blocker, matched_pairs
from recsys_hash.data.synthetic_catalogue import planted_duplicate_catalogue
from recsys_hash.ids import create


def test_catalogue_is_seeded_and_its_duplicates_share_an_entity():
    data, titles, truth = planted_duplicate_catalogue(n_users=50, n_entities=60, seed=3)
    again = planted_duplicate_catalogue(n_users=50, n_entities=60, seed=3)
    assert titles.equals(again[1]) and np.array_equal(data.train.item, again[0].train.item)
    a, b = truth.duplicate_pairs.T
    assert (truth.entity[a] == truth.entity[b]).all() and (a < b).all()
    assert data.n_items == titles.height == truth.entity.size > 60


def test_matched_pairs_consolidate_the_planted_entities():
    _, titles, truth = planted_duplicate_catalogue(n_users=50, n_entities=200, seed=0)
    pairs = matched_pairs(make_blocker("tfidf").fit(titles), k=3, threshold=0.5)
    assert (pairs[:, 0] < pairs[:, 1]).all()
    m = blocking_metrics(pairs, truth.duplicate_pairs, titles["id"], titles["id"], self_join=True)
    assert m.pc > 0.9 and m.pq > 0.7
    rem = create("dedup", duplicates=pairs).fit(titles["id"].to_numpy())
    rows = rem.transform(titles["id"].to_numpy())
    same_row = rows[truth.duplicate_pairs[:, 0]] == rows[truth.duplicate_pairs[:, 1]]
    assert same_row.mean() > 0.9 and rem.table_rows < titles.height
