"""CTR, sequence and ER loaders on tiny hand-written files: exact values and bad-input messages."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from recsys_hash.data import (
    FRAPPE_FIELDS, concat_ctr, load_beauty, load_er, load_frappe, read_avazu, read_criteo, read_febrl, split_ctr,
)
from recsys_hash.errors import DataFormatError, DatasetNotFoundError


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def _libfm_line(label, start):
    return " ".join([str(label)] + [f"{start + 10 * k}:1" for k in range(10)])


def test_frappe_libfm_exact(tmp_path):
    write(tmp_path, "frappe.validation.libfm", _libfm_line(-1, 0) + "\n" + _libfm_line(1, 3) + "\n")
    write(tmp_path, "frappe.test.libfm", _libfm_line(1, 5) + "\n")
    out = load_frappe(tmp_path)
    assert set(out) == {"validation", "test"}  # no train file in the folder -> no "train" split
    v = out["validation"]
    assert list(v.categorical) == list(FRAPPE_FIELDS)
    np.testing.assert_array_equal(v.labels, [0.0, 1.0])
    np.testing.assert_array_equal(v.categorical["user"], [0, 3])
    np.testing.assert_array_equal(v.categorical["city"], [90, 93])
    assert v.dense.shape == (2, 0)
    write(tmp_path, "frappe.train.libfm", _libfm_line(1, 1) + "\n")
    assert len(load_frappe(tmp_path)["train"]) == 1


@pytest.mark.parametrize("line, pattern", [
    ("1 1:1 2:1", r"line 2: expected 11 whitespace-separated fields, got 3"),
    ("2 " + " ".join(f"{k}:1" for k in range(10)), r"line 2: expected a label in \{0, 1, -1\}, got '2'"),
    ("1 a:1 " + " ".join(f"{k}:1" for k in range(9)), r"line 2: expected 'index:value' for field 'user', got 'a'"),
])
def test_frappe_bad_rows(tmp_path, line, pattern):
    write(tmp_path, "frappe.validation.libfm", _libfm_line(1, 0) + "\n" + line + "\n")
    write(tmp_path, "frappe.test.libfm", _libfm_line(1, 0) + "\n")
    with pytest.raises(DataFormatError, match=r"^frappe/frappe.validation.libfm " + pattern):
        load_frappe(tmp_path)


def _criteo_row(label, i1="", c1="0a1b2c3d"):
    dense = [i1] + [str(k) for k in range(2, 14)]
    cats = [c1] + ["ff"] * 24 + [""]
    return "\t".join([str(label)] + dense + cats)


def test_read_criteo_headerless_tsv_exact_and_streamed(tmp_path):
    rows = [_criteo_row(0, "5", "0a1b2c3d"), _criteo_row(1, "", "10"), _criteo_row(0, "-1", "")] * 3
    path = write(tmp_path, "day_0", "\n".join(rows) + "\n")
    f = read_criteo(path)
    assert len(f) == 9 and f.dense.shape == (9, 13) and len(f.categorical) == 26
    np.testing.assert_array_equal(f.labels[:3], [0, 1, 0])
    np.testing.assert_array_equal(f.dense[:3, 0], [5.0, 0.0, -1.0])  # missing dense -> 0
    np.testing.assert_array_equal(f.categorical["C1"][:3], [0x0A1B2C3D, 0x10, -1])  # hex keys, missing -> -1
    np.testing.assert_array_equal(f.categorical["C26"], np.full(9, -1))
    chunks = list(read_criteo(path, chunk_rows=4))
    assert [len(c) for c in chunks] == [4, 4, 1]
    np.testing.assert_array_equal(np.concatenate([c.categorical["C1"] for c in chunks]), f.categorical["C1"])
    np.testing.assert_array_equal(np.concatenate([c.dense for c in chunks]), f.dense)


def _hashed_key(value):
    """The key of a non-hex categorical string: top 63 bits of xxh64(utf-8, seed 0), bit 62 set."""
    import xxhash

    return (xxhash.xxh64_intdigest(value.encode("utf-8"), seed=0) >> 1) | (1 << 62)


def test_criteo_categorical_keys_do_not_depend_on_chunk(tmp_path):
    # chunk 1 holds only decimal-looking values, chunk 2 also hex ones: "12345678" must keep one key
    rows = [_criteo_row(0, c1="12345678"), _criteo_row(1, c1="12345678"), _criteo_row(0, c1="12345678"),
            _criteo_row(1, c1="0a1b2c3d")]
    path = write(tmp_path, "day_1", "\n".join(rows) + "\n")
    chunks = list(read_criteo(path, chunk_rows=2))
    assert [c.categorical["C1"].tolist() for c in chunks] == [[0x12345678] * 2, [0x12345678, 0x0A1B2C3D]]
    assert read_criteo(path).categorical["C1"].tolist() == [0x12345678] * 3 + [0x0A1B2C3D]
    # header CSV sample: non-hex strings get a stable xxh64 key, in whichever chunk they appear
    header = ",".join(["label"] + [f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)])
    csv_rows = [_criteo_row(0, c1=v).replace("\t", ",") for v in ("12345678", "a b", "12345678", "a b", "zz")]
    path = write(tmp_path, "s.csv", header + "\n" + "\n".join(csv_rows) + "\n")
    keys = np.concatenate([c.categorical["C1"] for c in read_criteo(path, chunk_rows=2)])
    assert keys.tolist() == [0x12345678, _hashed_key("a b"), 0x12345678, _hashed_key("a b"), _hashed_key("zz")]
    np.testing.assert_array_equal(read_criteo(path).categorical["C1"], keys)


def test_headerless_criteo_rejects_non_hex_categorical(tmp_path):
    rows = [_criteo_row(0), _criteo_row(1, c1="0a1b2c3g")]
    with pytest.raises(DataFormatError, match=r"^k.tsv line 2: expected a hex categorical value in column 'C1', "
                                              r"got '0a1b2c3g'"):
        read_criteo(write(tmp_path, "k.tsv", "\n".join(rows) + "\n"), name="k.tsv")


def test_read_criteo_csv_with_header(tmp_path):
    header = ",".join(["label"] + [f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)])
    path = write(tmp_path, "s.csv", header + "\n" + _criteo_row(1, "7").replace("\t", ",") + "\n")
    f = read_criteo(path)
    assert f.dense_names[0] == "I1" and f.dense[0, 0] == 7.0 and f.labels[0] == 1.0


def test_read_criteo_bad_inputs(tmp_path):
    bad = [_criteo_row(0), _criteo_row(1)[:-3]]
    with pytest.raises(DataFormatError, match=r"^big.tsv line 2: expected 40 tab-separated fields, got 39"):
        read_criteo(write(tmp_path, "big.tsv", "\n".join(bad) + "\n"), name="big.tsv")
    rows = [_criteo_row(0), _criteo_row(1, "x9")]
    with pytest.raises(DataFormatError, match=r"^big.tsv line 2: expected a numeric value in dense column 'I1', got 'x9'"):
        read_criteo(write(tmp_path, "big.tsv", "\n".join(rows) + "\n"), name="big.tsv")
    with pytest.raises(DataFormatError, match=r"^big.tsv line 1: expected a label in \{0, 1\}, got '3'"):
        read_criteo(write(tmp_path, "big.tsv", _criteo_row(3) + "\n"), name="big.tsv")
    with pytest.raises(DataFormatError, match=r"^e.tsv: file is empty"):
        read_criteo(write(tmp_path, "e.tsv", ""), name="e.tsv")


def test_read_avazu_key_parsing(tmp_path):
    text = "id,click,hour,site_id,device_model\n7,0,14102100,1fbe01fe,iPhone 5\n8,1,14102101,00ff,\n"
    f = read_avazu(write(tmp_path, "a.csv", text))
    assert list(f.categorical) == ["hour", "site_id", "device_model"]  # id dropped, click is the label
    np.testing.assert_array_equal(f.labels, [0, 1])
    np.testing.assert_array_equal(f.categorical["hour"], [0x14102100, 0x14102101])  # hex-looking -> base 16
    np.testing.assert_array_equal(f.categorical["site_id"], [0x1FBE01FE, 0xFF])
    dm = f.categorical["device_model"]
    assert dm[1] == -1 and dm[0] == _hashed_key("iPhone 5")  # not hex -> stable xxh64 key; missing -> -1
    with pytest.raises(DataFormatError, match=r"^b.csv line 1: expected a header with a 'click' or 'label' column"):
        read_avazu(write(tmp_path, "b.csv", "a,b\n1,2\n"))


def test_split_and_concat_ctr(tmp_path):
    write(tmp_path, "frappe.validation.libfm", "\n".join(_libfm_line(k % 2, k) for k in range(20)) + "\n")
    write(tmp_path, "frappe.test.libfm", _libfm_line(1, 100) + "\n")
    d = load_frappe(tmp_path)
    both = concat_ctr([d["validation"], d["test"]])
    parts = split_ctr(both, (0.6, 0.2, 0.2), seed=3)
    assert [len(p) for p in parts.values()] == [13, 4, 4]
    users = np.sort(np.concatenate([p.categorical["user"] for p in parts.values()]))
    np.testing.assert_array_equal(users, np.sort(both.categorical["user"]))  # a partition of the rows
    again = split_ctr(both, (0.6, 0.2, 0.2), seed=3)
    np.testing.assert_array_equal(again["test"].categorical["user"], parts["test"].categorical["user"])
    with pytest.raises(ValueError, match=r"fractions must be 3 non-negative numbers summing to 1, got \(0.5, 0.2, 0.2\)"):
        split_ctr(both, (0.5, 0.2, 0.2))


def test_beauty_sequences_and_attributes(tmp_path):
    write(tmp_path, "Beauty.txt", "1 1 2 3\n2 3\n3 2 4 1 4\n")
    write(tmp_path, "Beauty_item2attributes.json", json.dumps({"3": [7], "1": [5, 6], "4": []}))
    s = load_beauty(tmp_path)
    np.testing.assert_array_equal(s.users, [0, 1, 2])
    np.testing.assert_array_equal(s.offsets, [0, 3, 4, 8])
    np.testing.assert_array_equal(s.items, [0, 1, 2, 2, 1, 3, 0, 3])
    assert s.n_items == 4
    offsets, values = s.item_attributes["attribute"]
    np.testing.assert_array_equal(offsets, [0, 2, 2, 3, 3])  # item 0 -> [5, 6], item 1 -> [], item 2 -> [7]
    np.testing.assert_array_equal(values, [5, 6, 7])


def test_beauty_bad_inputs(tmp_path):
    write(tmp_path, "Beauty_item2attributes.json", json.dumps({"x1": [1]}))
    write(tmp_path, "Beauty.txt", "1 1 2\n")
    with pytest.raises(DataFormatError, match=r"^amazon-beauty/Beauty_item2attributes.json: expected integer item id keys, got 'x1'"):
        load_beauty(tmp_path)
    write(tmp_path, "Beauty.txt", "1 1 2\n1 3\n")
    with pytest.raises(DataFormatError, match=r"^amazon-beauty/Beauty.txt: user 1 has more than one line"):
        load_beauty(tmp_path)
    write(tmp_path, "Beauty.txt", "1 1 two\n")
    with pytest.raises(DataFormatError, match=r"^amazon-beauty/Beauty.txt line 1: expected non-negative integer item ids"):
        load_beauty(tmp_path)


def _magellan(tmp_path, joined: bool):
    write(tmp_path, "tableA.csv", 'id,title,year\n0,"deep nets, fast",1999\n1,hashing,2001\n')
    write(tmp_path, "tableB.csv", "id,title,year\n0,hashing tricks,2001\n1,deep nets fast,1999\n2,other,2000\n")
    for split, rows in (("train", [(0, 1, 1), (1, 2, 0)]), ("valid", [(1, 0, 1)]), ("test", [(0, 2, 0)])):
        if joined:
            body = "".join(f"{lab},{a},x,1,{b},y,2\n" for a, b, lab in rows)
            write(tmp_path, f"{split}.csv", "label,left_id,left_title,left_year,right_id,right_title,right_year\n" + body)
        else:
            write(tmp_path, f"{split}.csv", "ltable_id,rtable_id,label\n" + "".join(f"{a},{b},{lab}\n" for a, b, lab in rows))


@pytest.mark.parametrize("joined", [False, True])
def test_magellan_tables_and_gold(tmp_path, joined):
    _magellan(tmp_path, joined)
    er = load_er("abt_buy", dataset_path=tmp_path)
    assert er.table_a.columns == ["id", "title", "year"] and er.table_a["title"][0] == "deep nets, fast"
    assert er.table_a["year"].dtype == pl.String and er.table_a["id"].dtype == pl.Int64
    assert [er.train.height, er.valid.height, er.test.height] == [2, 1, 1]
    np.testing.assert_array_equal(er.gold, [[0, 1], [1, 0]])


def test_magellan_bad_inputs(tmp_path):
    _magellan(tmp_path, False)
    write(tmp_path, "valid.csv", "ltable_id,rtable_id,label\n1,9,1\n")
    with pytest.raises(DataFormatError, match=r"^abt_buy/valid: rtable_id 9 does not exist in tableB"):
        load_er("abt_buy", dataset_path=tmp_path)
    write(tmp_path, "valid.csv", "ltable_id,rtable_id,label\n1,0,yes\n")
    with pytest.raises(DataFormatError, match=r"^abt_buy/valid.csv row 1: expected an integer label, got 'yes'"):
        load_er("abt_buy", dataset_path=tmp_path)
    write(tmp_path, "tableA.csv", "id,title\n0,a\nzero,b\n")
    with pytest.raises(DataFormatError, match=r"^abt_buy/tableA.csv row 2: expected a non-negative integer record id, got 'zero'"):
        load_er("abt_buy", dataset_path=tmp_path)
    write(tmp_path, "tableA.csv", "")
    with pytest.raises(DataFormatError, match=r"^abt_buy/tableA.csv: file is empty"):
        load_er("abt_buy", dataset_path=tmp_path)
    (tmp_path / "test.csv").unlink()
    _magellan(tmp_path / "b", False)
    (tmp_path / "b" / "test.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"dataset 'abt_buy': expected .*test_pairs.csv or .*test.csv"):
        load_er("abt_buy", dataset_path=tmp_path / "b")


def test_febrl_ids_and_links(tmp_path):
    write(tmp_path, "a.csv", "rec_id, given_name, postcode\nrec-1-org, ann, 0812\nrec-0-org, bob, 2000\n")
    write(tmp_path, "b.csv", "rec_id, given_name, postcode\nrec-0-dup-0, bbo, 2000\nrec-1-dup-0, ann, 0812\n")
    write(tmp_path, "m.csv", "ltable_id,rtable_id\nrec-0-org,rec-0-dup-0\nrec-1-org,rec-1-dup-0\n")
    er = read_febrl(tmp_path, "febrl4", "a.csv", "b.csv", "m.csv")
    assert er.table_a.columns == ["id", "rec_id", "given_name", "postcode"]
    assert er.table_a["postcode"].to_list() == ["0812", "2000"]  # stripped, leading zero kept
    np.testing.assert_array_equal(er.gold, [[0, 1], [1, 0]])
    assert er.train.height == 0
    write(tmp_path, "m.csv", "ltable_id,rtable_id\nrec-7-org,rec-0-dup-0\n")
    with pytest.raises(DataFormatError, match=r"^febrl4/m.csv: link rec-7-org -> rec-0-dup-0 names a record missing"):
        read_febrl(tmp_path, "febrl4", "a.csv", "b.csv", "m.csv")


def test_beauty_rejects_ids_far_beyond_the_data(tmp_path):
    write(tmp_path, "Beauty_item2attributes.json", json.dumps({}))
    write(tmp_path, "Beauty.txt", "1 1 2\n2 3 9000000000000000000\n")
    with pytest.raises(DataFormatError, match=r"^amazon-beauty/Beauty.txt line 2: item id 9000000000000000000 is far "
                                              r"beyond the 4 distinct item ids of the dataset"):
        load_beauty(tmp_path)


def test_utf8_bom_is_stripped_in_csv_and_tsv_loaders(tmp_path):
    bom = b"\xef\xbb\xbf"
    header = ",".join(["label"] + [f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)])
    (tmp_path / "s.csv").write_bytes(bom + (header + "\n" + _criteo_row(1, "7").replace("\t", ",") + "\n").encode())
    for f in (read_criteo(tmp_path / "s.csv"), next(read_criteo(tmp_path / "s.csv", chunk_rows=1))):
        assert f.dense_names[0] == "I1" and f.dense[0, 0] == 7.0 and f.labels.tolist() == [1.0]
    (tmp_path / "h.tsv").write_bytes(bom + (_criteo_row(1, "7") + "\n" + _criteo_row(0, "3") + "\n").encode())
    for f in (read_criteo(tmp_path / "h.tsv"), next(read_criteo(tmp_path / "h.tsv", chunk_rows=5))):
        assert f.dense[:, 0].tolist() == [7.0, 3.0] and f.labels.tolist() == [1.0, 0.0]
    (tmp_path / "a.csv").write_bytes(bom + b"id,click,site_id\n7,1,00ff\n")
    assert read_avazu(tmp_path / "a.csv").categorical["site_id"].tolist() == [0xFF]
    (tmp_path / "Beauty.txt").write_bytes(bom + b"1 1 2\n")
    (tmp_path / "Beauty_item2attributes.json").write_bytes(bom + json.dumps({"2": [4]}).encode())
    beauty = load_beauty(tmp_path)
    assert beauty.items.tolist() == [0, 1] and [a.tolist() for a in beauty.item_attributes["attribute"]] == [[0, 0, 1], [4]]
