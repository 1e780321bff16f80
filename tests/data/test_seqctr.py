"""Sequence-CTR sample readers (DIN, DMR, MIND, torch-rechub logs) on tiny files: exact jagged values and errors."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_hash.data import (
    SequenceCTRFrame, load_seqctr_sample, read_din, read_dmr, read_event_log, read_mind_train, read_mind_valid,
    rechub_samples,
)
from recsys_hash.data.seqctr import DMR_COLUMNS, DMR_ITEM, DMR_USER
from recsys_hash.errors import DataFormatError, DatasetNotFoundError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def jag(sf: SequenceCTRFrame, key: str):
    offsets, values = sf.history[key]
    return offsets.tolist(), values.tolist()


def test_din_exact(tmp_path):
    sf = read_din(write(tmp_path, "din.txt", "1 2 3;10 20 30;4;40;1\n5;50;6;60;0\n;;7;70;1\n"))
    assert len(sf) == 3 and sf.name == "din.txt"
    assert jag(sf, "hist_item") == ([0, 3, 4, 4], [1, 2, 3, 5])
    assert jag(sf, "hist_cate") == ([0, 3, 4, 4], [10, 20, 30, 50])
    assert sf.frame.categorical["target_item"].tolist() == [4, 6, 7]
    assert sf.frame.categorical["target_cate"].tolist() == [40, 60, 70]
    assert sf.labels.tolist() == [1.0, 0.0, 1.0] and sf.frame.dense.shape == (3, 0)
    assert sf.lengths("hist_item").tolist() == [3, 1, 0] and sf.sequence("hist_cate", 1).tolist() == [50]


@pytest.mark.parametrize("line, pattern", [
    ("1 2;10;4;40;1", r"line 2: ragged history, 2 items but 1 categories; expected one category per history item"),
    ("1 2,10 20,4,40,1", r"line 2: expected 5 semicolon-separated fields, got 1 in .* \(wrong delimiter\? the line "
                         r"contains commas; expected semicolon-separated fields\)"),
    ("1 x;10 20;4;40;1", r"line 2: expected a non-negative integer item id in the history list, got 'x'"),
    ("1;10;4.5;40;1", r"line 2: expected a non-negative integer target item id, got '4.5'"),
    ("1;10;4;-3;1", r"line 2: expected a non-negative integer target cate id, got '-3'"),
    ("1;10;4;40;2", r"line 2: expected a label in \{0, 1\}, got '2'"),
])
def test_din_bad_lines(tmp_path, line, pattern):
    path = write(tmp_path, "din.txt", "1;10;4;40;1\n" + line + "\n")
    with pytest.raises(DataFormatError, match=r"^din.txt " + pattern):
        read_din(path)


def _dmr_row(n_hist, label=1, price="0.5", mask_override=None, cell=None, sep=","):
    """A DMR line with the last `n_hist` history positions valid (left padding), item k of history = k+1."""
    h = 50
    valid = np.zeros(h, np.int64)
    valid[h - n_hist:] = 1
    hist = np.where(valid == 1, np.arange(h) + 1, 0)
    cols = [*hist % 4 + valid, *(hist + 100) * valid, *(hist + 200) * valid, *valid, *(valid * (np.arange(h) % 2))]
    cols += list(range(1000, 1000 + len(DMR_USER))) + list(range(2000, 2000 + len(DMR_ITEM)))
    cols = [str(c) for c in cols] + [price, "3", str(label)]
    if mask_override is not None:
        cols[150 + mask_override[0]] = mask_override[1]
    if cell is not None:
        cols[cell[0]] = cell[1]
    return sep.join(cols)


def test_dmr_exact(tmp_path):
    sf = read_dmr(write(tmp_path, "dmr.txt", "\n".join([_dmr_row(2, 1, "0.5"), _dmr_row(0, 0, "1.25"),
                                                        _dmr_row(50, 1)]) + "\n"))
    assert len(DMR_COLUMNS) == 267 and len(sf) == 3
    offsets, cate = sf.history["cate_his"]
    assert offsets.tolist() == [0, 2, 2, 52]
    assert cate[:2].tolist() == [149, 150] and cate[2:].tolist() == list(range(101, 151))  # oldest first
    assert sf.history["btag_his"][1][:2].tolist() == [49 % 4 + 1, 50 % 4 + 1]
    assert sf.history["brand_his"][1][:2].tolist() == [249, 250]
    assert sf.history["match_mask"][1][:2].tolist() == [0, 1]
    assert all(sf.history[k][0] is offsets for k in ("btag_his", "brand_his", "match_mask"))
    assert sf.frame.categorical["uid"].tolist() == [1000] * 3 and sf.frame.categorical["brand"].tolist() == [2004] * 3
    assert sf.frame.categorical["pid"].tolist() == [3, 3, 3]
    assert sf.frame.dense_names == ["price"] and sf.frame.dense[:, 0].tolist() == [0.5, 1.25, 0.5]
    assert sf.labels.tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("kwargs, pattern", [
    ({"mask_override": (3, "2")}, r"line 2: expected a history mask value 0 or 1 in column 154 \(mask\[3\]\), got '2'"),
    ({"cell": (250, "u17")}, r"line 2: expected a non-negative integer in column 251 \(uid\), got 'u17'"),
    ({"cell": (60, "3.5")}, r"line 2: expected a non-negative integer in column 61 \(cate_his\[10\]\), got '3.5'"),
    ({"price": "cheap"}, r"line 2: expected a finite number in column 265 \(price\), got 'cheap'"),
    ({"label": 3}, r"line 2: expected a label in \{0, 1\} in column 267 \(label\), got '3'"),
    ({"sep": "\t"}, r"line 2: expected 267 comma-separated fields, got 1 in .*wrong delimiter\? the line contains tabs"),
])
def test_dmr_bad_lines(tmp_path, kwargs, pattern):
    path = write(tmp_path, "dmr.txt", _dmr_row(1) + "\n" + _dmr_row(1, **kwargs) + "\n")
    with pytest.raises(DataFormatError, match=r"^dmr.txt " + pattern):
        read_dmr(path)


def test_dmr_ragged_row(tmp_path):
    path = write(tmp_path, "dmr.txt", _dmr_row(1) + "\n" + _dmr_row(1) + ",7\n")
    with pytest.raises(DataFormatError, match=r"^dmr.txt line 2: expected 267 comma-separated fields, got 268"):
        read_dmr(path)


def test_mind_train_exact_and_bad(tmp_path):
    s = read_mind_train(write(tmp_path, "train.txt", "1,10,1\n0,5,0\n1,11,0\n0,6,1\n"))
    assert s.users.tolist() == [0, 1] and s.offsets.tolist() == [0, 2, 4]
    assert s.items.tolist() == [5, 6, 11, 10] and s.timestamps.tolist() == [0, 1, 0, 1] and s.n_items == 12
    with pytest.raises(DataFormatError, match=r"^train.txt line 2: expected 3 comma-separated fields, got 1 .*"
                                              r"wrong delimiter\? the line contains semicolons"):
        read_mind_train(write(tmp_path, "train.txt", "0,5,0\n0;6;1\n"))
    with pytest.raises(DataFormatError, match=r"^train.txt line 1: expected a non-negative integer item, got 'x'"):
        read_mind_train(write(tmp_path, "train.txt", "0,x,0\n"))


def test_mind_valid_exact(tmp_path):
    sf = read_mind_valid(write(tmp_path, "part-0", "user_id:7 target_item:0 hist_item:1 hist_item:2 eval_item:3\n"
                                                  "user_id:8 target_item:0 eval_item:5 hist_item:4 eval_item:6\n"))
    assert sf.frame.categorical["user_id"].tolist() == [7, 8] and sf.frame.categorical["target_item"].tolist() == [0, 0]
    assert jag(sf, "hist_item") == ([0, 2, 3], [1, 2, 4])
    assert jag(sf, "eval_item") == ([0, 1, 3], [3, 5, 6])
    assert sf.labels.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("line, pattern", [
    ("user_id:9 target_item:0 hist:1", r"line 2: expected 'key:id' with key in user_id, target_item, hist_item, "
                                       r"eval_item, got 'hist:1'"),
    ("user_id:9,target_item:0", r"line 2: expected 'key:id' .*got 'user_id:9,target_item:0'.*wrong delimiter\?"),
    ("target_item:0 hist_item:1", r"line 2: expected exactly one user_id:<id> token, got 0"),
    ("user_id:9 target_item:0 hist_item:y", r"line 2: expected a non-negative integer id after 'key:', got 'y'"),
])
def test_mind_valid_bad_lines(tmp_path, line, pattern):
    path = write(tmp_path, "part-0", "user_id:7 target_item:0 hist_item:1\n" + line + "\n")
    with pytest.raises(DataFormatError, match=r"^part-0 " + pattern):
        read_mind_valid(path)


def test_event_log_labels_and_samples(tmp_path):
    path = write(tmp_path, "log.csv", "user_id,item_id,time,label\n2,20,5,2\n1,10,3,1\n1,11,1,2\n")
    ev = read_event_log(path)
    assert ev["user_id"].tolist() == [2, 1, 1] and ev["label"].tolist() == [1.0, 0.0, 1.0]
    sf = rechub_samples(ev)  # labelled log -> no sampled negatives
    assert sf.frame.categorical["user_id"].tolist() == [1] and sf.frame.categorical["item_id"].tolist() == [10]
    assert jag(sf, "hist_item_id") == ([0, 1], [11]) and sf.labels.tolist() == [0.0]


@pytest.mark.parametrize("text, pattern", [
    ("user_id;item_id;time\n1;2;3\n", r"line 1: expected a comma-separated header with distinct columns user_id, "
                                     r"item_id, time .*wrong delimiter\? the line contains semicolons"),
    ("user_id,item_id,time,label\n1,2,3,0\n", r"line 2: expected a label code in \{1, 2\} \(negative, positive\), got '0'"),
    ("user_id,item_id,time\n1,2\n", r"line 2: expected 3 comma-separated fields, got 2"),
    ("user_id,item_id,time\n1,b2,3\n", r"line 2: expected a non-negative integer item_id, got 'b2'"),
    ("user_id,item_id,time\n", r": file has a header but no data rows"),
])
def test_event_log_bad(tmp_path, text, pattern):
    with pytest.raises(DataFormatError, match=r"^log.csv" + (" " if pattern.startswith("line") else "") + pattern):
        read_event_log(write(tmp_path, "log.csv", text))


def test_load_seqctr_sample_dispatch_and_errors(tmp_path):
    write(tmp_path, "paddlerec_din_amazon_electronics_sample.txt", "1;10;4;40;1\n")
    sf = load_seqctr_sample("paddlerec_din_amazon_electronics_sample.txt", tmp_path)
    assert sf.name == "seqctr-samples/paddlerec_din_amazon_electronics_sample.txt" and len(sf) == 1
    with pytest.raises(DataFormatError, match=r"^seqctr-samples: unknown sample file 'x.txt'; expected one of"):
        load_seqctr_sample("x.txt", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"expected file .*paddlerec_dmr_alimama_sampled_train.txt is missing"):
        load_seqctr_sample("paddlerec_dmr_alimama_sampled_train.txt", tmp_path)


def test_sequence_ctr_frame_validates_offsets():
    from recsys_hash.data import CTRFrame

    frame = CTRFrame(categorical={}, dense=np.zeros((2, 0), np.float32), dense_names=[], labels=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match=r"history 'h' offsets must be non-decreasing, start at 0 and have shape \(3,\)"):
        SequenceCTRFrame(frame, {"h": (np.array([0, 1]), np.array([5]))}, name="x")
    with pytest.raises(ValueError, match=r"history 'h' has 1 values, offsets say 2"):
        SequenceCTRFrame(frame, {"h": (np.array([0, 1, 2]), np.array([5]))}, name="x")


def test_dataset_stats_counts_sample_rows_on_user_folder(tmp_path):
    from recsys_hash.data import dataset_stats

    write(tmp_path, "paddlerec_din_amazon_electronics_sample.txt", "1;10;4;40;1\n2 3;20 30;5;50;0\n")
    write(tmp_path, "paddlerec_mind_amazonbook_train_demo.txt", "0,5,0\n0,6,1\n1,7,0\n")
    write(tmp_path, "torchrechub_amazon_books_sample.csv", "user_id,item_id,time,label\n1,2,3,2\n1,4,5,1\n")
    assert dataset_stats("seqctr-samples", tmp_path) == {"name": "seqctr-samples", "rows": {
        "paddlerec_din_amazon_electronics_sample.txt": 2, "paddlerec_mind_amazonbook_train_demo.txt": 3,
        "torchrechub_amazon_books_sample.csv": 2}}
    crit = tmp_path / "criteo"
    write(crit.mkdir() or crit, "xlearn_criteo_small_test.ffm", "1 0:1:1 16:2:0.5 16:3:0.5\n0 1:4:1\n")
    assert dataset_stats("criteo-sample", crit) == {"name": "criteo-sample", "rows": {"xlearn_criteo_small_test.ffm": 2}}
