"""Exact byte accounting and collision statistics on hand-built mappings."""
import numpy as np
import pytest

from recsys_hash.audit.memory import table_bytes
from recsys_hash.budget import resolve_budget
from recsys_hash.ids.stats import collision_stats


@pytest.mark.parametrize(
    "rows,dim,dtype,expected",
    [(1000, 64, "float32", 256_000), (1000, 64, "fp16", 128_000), (10, 3, "int8", 30), (7, 3, "int4", 14),
     (0, 8, "float32", 0), (29_858, 64, "float32", 7_643_648)],
)
def test_table_bytes_exact(rows, dim, dtype, expected):
    assert table_bytes(rows, dim, dtype) == expected


def test_table_bytes_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="unknown embedding dtype 'float8'"):
        table_bytes(10, 4, "float8")


def test_collision_stats_hand_built_single_row():
    # ids 0,1 share row 0; id 2 alone on row 1; id 3 alone on row 2; row 3 unused.
    rows = np.array([0, 0, 1, 2])
    counts = np.array([3, 1, 2, 4])
    s = collision_stats(rows, counts, num_rows=4)
    assert s["rows_used"] == 3
    assert s["ids_per_row_mean"] == pytest.approx(4 / 3)
    assert s["ids_per_row_max"] == 2
    assert s["collision_rate"] == pytest.approx(0.5)             # ids 0 and 1 of 4
    assert s["weighted_collision_rate"] == pytest.approx(4 / 10)  # 3 + 1 of 10 occurrences
    # id0: 1/4 of its row's traffic is others'; id1: 3/4 -> (3*0.25 + 1*0.75) / 10
    assert s["popularity_weighted_collision_rate"] == pytest.approx(0.15)


def test_collision_stats_multi_row_counts_identical_tuples_only():
    rows = np.array([[0, 1], [0, 2], [0, 1]])   # ids 0 and 2 are indistinguishable; id 1 differs by its 2nd row
    s = collision_stats(rows, np.array([1, 1, 2]), num_rows=3)
    assert s["collision_rate"] == pytest.approx(2 / 3)
    assert s["weighted_collision_rate"] == pytest.approx(3 / 4)
    assert s["ids_per_row_max"] == 3 and s["rows_used"] == 3


def test_collision_stats_private_rows_are_zero():
    s = collision_stats(np.arange(5), np.ones(5), 5)
    assert s["collision_rate"] == 0 and s["weighted_collision_rate"] == 0
    assert s["popularity_weighted_collision_rate"] == 0 and s["ids_per_row_max"] == 1


@pytest.mark.parametrize("budget,vocab,rows", [(0.25, 100, 25), (0.1, 29_858, 2_986), (1.0, 7, 7), (1e-9, 7, 1),
                                               (5, 7, 5), (np.int64(5), 7, 5), (np.float32(0.5), 10, 5)])
def test_resolve_budget(budget, vocab, rows):
    assert resolve_budget(budget, vocab, "item") == rows


@pytest.mark.parametrize("budget,msg", [(0.0, r"item budget fraction must be in \(0, 1\], got 0.0"),
                                        (1.5, r"fraction must be in \(0, 1\]"), (float("nan"), r"fraction must be in"),
                                        (0, r"item budget must be >= 1 row, got 0"),
                                        (11, "item budget of 11 rows exceeds the item vocabulary of 10 IDs"),
                                        (True, "must be an int count or a float fraction")])
def test_resolve_budget_rejects(budget, msg):
    with pytest.raises(ValueError, match=msg):
        resolve_budget(budget, 10, "item")


# mapping_bytes: what a remapper keeps at serving time, in bytes. Every output column (row an ID maps to) is one hash
# rule of 4 int64 (a, b, modulus, offset) = 32 B; lookup strategies add their exact table: keys + rows, int64 each.
RULE = 4 * 8


@pytest.mark.parametrize("name,params,expected", [
    ("modulo", {}, RULE),
    ("universal", {}, RULE),
    ("xxhash", {}, RULE),
    ("double", {}, 2 * RULE),
    ("double", {"num_hashes": 3}, 3 * RULE),
    ("qr", {}, 2 * RULE),
])
def test_mapping_bytes_of_hashing_is_its_rules_only(name, params, expected):
    from recsys_hash.audit.memory import mapping_bytes
    from recsys_hash.ids import create

    remapper = create(name, num_rows=100, **params).fit(np.arange(10_000))   # no table grows with the vocabulary
    assert mapping_bytes(remapper) == expected


def test_mapping_bytes_of_full_is_keys_and_rows_of_the_vocabulary():
    from recsys_hash.audit.memory import mapping_bytes
    from recsys_hash.ids import create

    assert mapping_bytes(create("full").fit(np.arange(7))) == 7 * (8 + 8) + RULE
    sparse = create("full").fit(np.array([5, 10**12, 7, 7]))                   # 3 distinct keys, sparse range
    assert mapping_bytes(sparse) == 3 * 16 + RULE
    assert mapping_bytes(create("full").fit(np.array(["a", "b", "c", "d"]))) == 4 * 16 + RULE  # int64 key hashes


@pytest.mark.parametrize("name,columns", [("frequency", 1), ("double_frequency", 2)])
def test_mapping_bytes_of_frequency_is_the_frequent_keys(name, columns):
    from recsys_hash.audit.memory import mapping_bytes
    from recsys_hash.ids import create

    ids = np.repeat(np.arange(40), np.arange(40) + 1)             # 40 distinct IDs, distinct counts
    remapper = create(name, num_rows=10, frequent_share=0.5).fit(ids)
    assert remapper.num_frequent == 5                             # floor(10 * 0.5) keys own a row
    assert mapping_bytes(remapper) == 5 * 16 + columns * RULE


@pytest.mark.parametrize("name,columns", [("graphhash", 1), ("double_graphhash", 2)])
def test_mapping_bytes_of_graphhash_is_one_row_per_vocabulary_id(name, columns):
    from recsys_hash.audit.memory import mapping_bytes
    from recsys_hash.data.types import Interactions
    from recsys_hash.ids import get_strategy

    user = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 5])
    item = np.array([0, 1, 0, 1, 2, 3, 2, 3, 4, 5])
    inter = Interactions(user, item, n_users=7, n_items=9)     # user 6 and items 6..8 have no interaction
    sides = get_strategy(name).fit_sides(inter, {"user": 3, "item": 4})
    assert mapping_bytes(sides["user"]) == 7 * 8 + columns * RULE     # rows_: int64 per vocabulary ID
    assert mapping_bytes(sides["item"]) == 9 * 8 + columns * RULE


def test_collision_stats_multi_row_ids_on_shared_rows_but_distinguishable():
    # qr-like: 4 IDs on 4 rows, each row holds 2 IDs, but every (remainder, quotient) pair is distinct.
    rows = np.array([[0, 2], [1, 2], [0, 3], [1, 3]])
    s = collision_stats(rows, np.array([1, 2, 3, 4]), num_rows=4)
    assert s["collision_rate"] == 0 and s["weighted_collision_rate"] == 0       # no two embeddings identical
    assert s["shared_row_rate"] == 1.0 and s["weighted_shared_row_rate"] == 1.0  # every ID shares a row


def test_collision_stats_shared_rows_weighted_by_occurrences():
    rows = np.array([0, 0, 1, 2])      # ids 0, 1 share row 0
    s = collision_stats(rows, np.array([3, 1, 2, 4]), num_rows=4)
    assert s["shared_row_rate"] == pytest.approx(0.5) and s["weighted_shared_row_rate"] == pytest.approx(0.4)
