"""Record serialisation and blocking metrics on hand-built examples."""
import numpy as np
import polars as pl
import pytest

from recsys_hash.blocking import blocking_metrics, serialize_records, smallest_k
from recsys_hash.errors import DataFormatError


def table(**cols):
    return pl.DataFrame(cols)


def test_tagged_and_plain_serialisation_skip_missing_values():
    t = table(id=[0, 1], name=["sony tv", "bose"], price=[None, " 9.5 "], brand=["", "bose"])
    assert serialize_records(t) == ["[COL] name [VAL] sony tv", "[COL] name [VAL] bose [COL] price [VAL] 9.5 "
                                    "[COL] brand [VAL] bose"]
    assert serialize_records(t, style="plain") == ["sony tv", "bose 9.5 bose"]
    assert serialize_records(t, attributes=["price", "name"], style="plain") == ["sony tv", "9.5 bose"]


def test_record_keys_are_not_attributes():
    t = table(id=[0], rec_id=["rec-12-dup-0"], name=["ann"])
    assert serialize_records(t, style="plain") == ["ann"]


def test_serialisation_bad_input_is_named():
    t = table(id=[0, 1], name=["a", "b"])
    with pytest.raises(DataFormatError, match=r"attribute\(s\) \['title'\] not in the table"):
        serialize_records(t, attributes=["title"])
    with pytest.raises(DataFormatError, match="record id 7 has no non-empty value among attributes"):
        serialize_records(table(id=[3, 7], name=["x", "  "]))
    with pytest.raises(DataFormatError, match="record ids must be unique; id 5 appears 2 times"):
        serialize_records(table(id=[5, 5], name=["x", "y"]))
    with pytest.raises(DataFormatError, match="record id 1, attribute 'name': value is not valid UTF-8 text"):
        serialize_records(table(id=[0, 1], name=[b"ok", b"caf\xe9"]))
    with pytest.raises(DataFormatError, match="no 'id' column"):
        serialize_records(table(name=["x"]))


def test_metrics_hand_computed():
    # A = {10, 11, 12}, B = {0, 1}; gold: (10, 0), (12, 1); candidates: (10, 0), (11, 0), (11, 1), (10, 0) repeated
    m = blocking_metrics([[10, 0], [11, 0], [11, 1], [10, 0]], [[10, 0], [12, 1]], [10, 11, 12], [0, 1])
    assert (m.candidates, m.true_pairs_found, m.gold_pairs, m.total_pairs) == (3, 1, 2, 6)
    assert m.pc == pytest.approx(0.5) and m.pq == pytest.approx(1 / 3) and m.rr == pytest.approx(0.5)
    assert m.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert m.query_side == "tableB queries tableA" and m.gold == "all labelled positives"


def test_self_join_metrics_count_a_pair_and_its_mirror_once():
    m = blocking_metrics([[2, 1], [1, 2], [3, 3]], [[1, 2]], [1, 2, 3], [1, 2, 3], self_join=True)
    assert (m.candidates, m.pc, m.total_pairs) == (1, 1.0, 3)


def test_gold_naming_unknown_ids_is_an_error():
    with pytest.raises(DataFormatError, match="gold pairs: pair 1 names id 99, which does not exist in tableB"):
        blocking_metrics([[10, 0]], [[10, 0], [10, 99]], [10], [0])


def test_smallest_k():
    assert smallest_k({1: 0.9, 2: 0.97, 5: 0.99}, 0.97) == 2
    assert smallest_k({1: 0.9}, 0.97) is None


def test_non_utf8_table_file_is_a_clear_loader_error(tmp_path):
    from recsys_hash.data.er import read_magellan

    (tmp_path / "tableA.csv").write_bytes(b"id,name\n0,caf\xe9\n")
    (tmp_path / "tableB.csv").write_bytes(b"id,name\n0,cafe\n")
    with pytest.raises(DataFormatError, match="shop/tableA.csv: malformed CSV: invalid utf-8"):
        read_magellan(tmp_path, "shop")
