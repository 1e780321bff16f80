"""Loaders of interaction files: exact parsing of tiny hand-written files, and every bad-input message."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_hash.data import (
    data_root, dataset_dir, load_interactions, load_lastfm, load_lightgcn_folder, load_ml100k, read_lightgcn_file,
)
from recsys_hash.errors import DataFormatError, DatasetNotFoundError


def write(folder, name, text, mode="w"):
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def test_data_root_unset_explains_env_var(monkeypatch):
    monkeypatch.delenv("RECSYS_HASH_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match=r"RECSYS_HASH_DATA is not set: set RECSYS_HASH_DATA"):
        data_root()


def test_dataset_dir_missing_folder_names_dataset_path_and_env(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_HASH_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=rf"dataset 'gowalla': expected folder {tmp_path}/recsys/gowalla does not exist.*RECSYS_HASH_DATA"):
        dataset_dir("gowalla")
    (tmp_path / "er" / "abt_buy").mkdir(parents=True)
    assert dataset_dir("abt_buy") == tmp_path / "er" / "abt_buy"


def test_dataset_dir_override_and_unknown_name(monkeypatch, tmp_path):
    monkeypatch.delenv("RECSYS_HASH_DATA", raising=False)
    assert dataset_dir("gowalla", tmp_path) == tmp_path
    with pytest.raises(DatasetNotFoundError, match=r"dataset 'gowalla': folder .*nope .*--dataset-path\) does not exist"):
        dataset_dir("gowalla", tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match=r"unknown dataset 'gowala'; registered datasets: gowalla"):
        dataset_dir("gowala")
    with pytest.raises(DatasetNotFoundError, match=r"expected at \$RECSYS_HASH_DATA/recsys/ml-1m, but RECSYS_HASH_DATA is not set"):
        dataset_dir("ml-1m")


def test_lightgcn_folder_exact_rows_and_vocab(tmp_path):
    write(tmp_path, "train.txt", "0 5 3\n1\n2 0 1 2\n")
    write(tmp_path, "test.txt", "0 7\n4 1\n")
    ds = load_lightgcn_folder(tmp_path, "tiny")
    np.testing.assert_array_equal(ds.train.user, [0, 0, 2, 2, 2])
    np.testing.assert_array_equal(ds.train.item, [5, 3, 0, 1, 2])
    np.testing.assert_array_equal(ds.test.user, [0, 4])
    np.testing.assert_array_equal(ds.test.item, [7, 1])
    assert (ds.n_users, ds.n_items) == (5, 8)  # max id + 1 over train and test; item 7 only in test is kept
    assert ds.train.user.dtype == np.int64 and ds.test.n_items == 8


def test_lightgcn_via_registry_name_with_dataset_path(tmp_path):
    write(tmp_path, "train.txt", "0 1\n1 0\n")
    write(tmp_path, "test.txt", "0 0\n")
    ds = load_interactions("gowalla", dataset_path=tmp_path)
    assert ds.name == "gowalla" and len(ds.train) == 2 and len(ds.test) == 1


@pytest.mark.parametrize("text, line, pattern", [
    ("0 1 2\n1 3 abc\n", 2, r"expected non-negative integer item ids separated by spaces, got 'abc'"),
    ("0 1\n\n1 2\n2 1.5\n", 4, r"expected non-negative integer item ids separated by spaces, got '1.5'"),
    ("0 1\n1 -3\n", 2, r"expected non-negative integer item ids separated by spaces, got '-3'"),
    ("x 1 2\n", 1, r"expected a non-negative integer user id at the start of the line, got 'x'"),
    ("0,1,2\n", 1, r"expected a non-negative integer user id at the start of the line, got '0,1,2' \(wrong delimiter\? the line contains commas; expected whitespace-separated"),
])
def test_lightgcn_malformed_line_names_file_and_line(tmp_path, text, line, pattern):
    write(tmp_path, "train.txt", text)
    write(tmp_path, "test.txt", "0 1\n")
    with pytest.raises(DataFormatError, match=rf"^gowalla/train.txt line {line}: {pattern}"):
        load_lightgcn_folder(tmp_path, "gowalla")


def test_lightgcn_empty_and_missing_files(tmp_path):
    write(tmp_path, "train.txt", "\n\n")
    write(tmp_path, "test.txt", "0 1\n")
    with pytest.raises(DataFormatError, match=r"^ml-1m/train.txt: file is empty, expected at least one data line"):
        load_lightgcn_folder(tmp_path, "ml-1m")
    (tmp_path / "test.txt").unlink()
    write(tmp_path, "train.txt", "0 1\n")
    with pytest.raises(DatasetNotFoundError, match=rf"dataset 'ml-1m': expected file {tmp_path}/test.txt is missing.*RECSYS_HASH_DATA"):
        load_lightgcn_folder(tmp_path, "ml-1m")


def test_lastfm_one_based_crlf_counts(tmp_path):
    write(tmp_path, "data1.txt", b"1\t3\t10\r\n2\t1\t3.2e+02\r\n")
    write(tmp_path, "test1.txt", b"3\t2\t1\r\n")
    ds = load_lastfm(tmp_path)
    np.testing.assert_array_equal(ds.train.user, [0, 1])
    np.testing.assert_array_equal(ds.train.item, [2, 0])
    np.testing.assert_array_equal(ds.train.rating, np.array([10, 320], np.float32))
    assert (ds.n_users, ds.n_items) == (3, 3)


@pytest.mark.parametrize("text, pattern", [
    ("1\t3\t10\n2\t1\n", r"^lastfm/data1.txt line 2: expected 3 tab-separated fields, got 2"),
    ("1 3 10\n", r"^lastfm/data1.txt line 1: expected 3 tab-separated fields, got 1 .*wrong delimiter\? the line contains spaces"),
    ("0\t3\t10\n", r"^lastfm/data1.txt line 1: expected an integer user id \(1-based\), got '0'"),
    ("1\tx3\t10\n", r"^lastfm/data1.txt line 1: expected an integer item id, got 'x3'"),
])
def test_lastfm_bad_rows(tmp_path, text, pattern):
    write(tmp_path, "data1.txt", text)
    write(tmp_path, "test1.txt", "1\t1\t1\n")
    with pytest.raises(DataFormatError, match=pattern):
        load_lastfm(tmp_path)


def _ml100k_folder(tmp_path):
    write(tmp_path, "u.user", "2|30|F|writer|10001\n1|24|M|technician|85711\n3|41|M|other|T8H1N\n")
    genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
              "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
    write(tmp_path, "u.genre", "".join(f"{g}|{k}\n" for k, g in enumerate(genres)) + "\n")
    write(tmp_path, "u.occupation", "other\ntechnician\nwriter\n")
    flags1 = ["0"] * 19
    flags1[1] = flags1[16] = "1"
    flags2 = ["0"] * 19
    flags2[5] = "1"
    write(tmp_path, "u.item", "1|A (1995)|01-Jan-1995||http://x|" + "|".join(flags1) + "\n"
          "2|B (1996)|||http://y|" + "|".join(flags2) + "\n", mode="w")
    write(tmp_path, "u.data", "1\t2\t5\t100\n2\t1\t3\t200\n3\t1\t4\t300\n")
    write(tmp_path, "u1.base", "1\t2\t5\t100\n2\t1\t3\t200\n")
    write(tmp_path, "u1.test", "3\t1\t4\t300\n")


def test_ml100k_features_genres_and_fold(tmp_path):
    _ml100k_folder(tmp_path)
    ds = load_ml100k(tmp_path)
    np.testing.assert_array_equal(ds.train.user, [0, 1])
    np.testing.assert_array_equal(ds.train.item, [1, 0])
    np.testing.assert_array_equal(ds.train.timestamp, [100, 200])
    np.testing.assert_array_equal(ds.train.rating, [5.0, 3.0])
    np.testing.assert_array_equal(ds.test.user, [2])
    assert (ds.n_users, ds.n_items) == (3, 2)
    np.testing.assert_array_equal(ds.user_features["age"], [24, 30, 41])  # rows ordered by user id
    np.testing.assert_array_equal(ds.user_features["gender"], [0, 1, 0])
    np.testing.assert_array_equal(ds.user_features["occupation"], [1, 2, 0])
    np.testing.assert_array_equal(ds.user_features["zip"], [1, 0, 2])  # sorted distinct: 10001, 85711, T8H1N
    offsets, genres = ds.item_multi["genre"]
    np.testing.assert_array_equal(offsets, [0, 2, 3])
    np.testing.assert_array_equal(genres, [1, 16, 5])
    np.testing.assert_array_equal(ds.item_features["release_year"], [1995, -1])
    full = load_ml100k(tmp_path, fold=None)
    assert len(full.train) == 3 and len(full.test) == 0


def test_ml100k_bad_inputs(tmp_path):
    _ml100k_folder(tmp_path)
    with pytest.raises(ValueError, match=r"fold must be one of .* got 'u9'"):
        load_ml100k(tmp_path, fold="u9")
    write(tmp_path, "u1.test", "3\t1\tfour\t300\n")
    with pytest.raises(DataFormatError, match=r"^ml-100k/u1.test line 1: expected an integer rating, got 'four'"):
        load_ml100k(tmp_path)
    write(tmp_path, "u1.test", "3\t9\t4\t300\n")
    with pytest.raises(DataFormatError, match=r"^ml-100k/u1.test line 1: item id 9 is beyond the 2 items of u.item"):
        load_ml100k(tmp_path)
    write(tmp_path, "u.user", "1|24|M|technician\n")
    with pytest.raises(DataFormatError, match=r"^ml-100k/u.user line 1: expected 5 pipe-separated fields, got 4"):
        load_ml100k(tmp_path)


def test_leave_last_out_exact_rows():
    from recsys_hash.data.interactions import leave_last_out
    from recsys_hash.data.types import Sequences

    # user 0: 4 2 4 1 -> train {4, 2} (4 once), test 1; user 1: 3 -> train only; user 2: 0 1 0 -> the last 0 is
    # already a train item: dropped.  user 3: 2 5 -> train 2, test 5.
    seqs = Sequences(users=np.array([0, 1, 2, 3]), offsets=np.array([0, 4, 5, 8, 10]),
                     items=np.array([4, 2, 4, 1, 3, 0, 1, 0, 2, 5]), n_items=6, name="toy")
    ds = leave_last_out(seqs)
    assert ds.name == "toy" and (ds.n_users, ds.n_items) == (4, 6)
    assert sorted(zip(ds.train.user.tolist(), ds.train.item.tolist())) == [(0, 2), (0, 4), (1, 3), (2, 0), (2, 1),
                                                                            (3, 2)]
    assert list(zip(ds.test.user.tolist(), ds.test.item.tolist())) == [(0, 1), (3, 5)]
    empty = Sequences(users=np.array([0, 1]), offsets=np.array([0, 1, 1]), items=np.array([3]), n_items=4, name="e")
    with pytest.raises(DataFormatError, match="user 1 has an empty sequence"):
        leave_last_out(empty)


def test_load_interactions_rejects_other_kinds(tmp_path):
    with pytest.raises(ValueError, match=r"dataset 'frappe' is of kind 'ctr' .*use load_frappe"):
        load_interactions("frappe", dataset_path=tmp_path)


def test_lightgcn_rejects_ids_far_beyond_the_data(tmp_path):
    # an item ID of 9e18 would make n_items = 9e18 + 1 and every table and bincount sized by it
    write(tmp_path, "train.txt", "0 1 2\n1 9000000000000000000\n")
    write(tmp_path, "test.txt", "0 2\n")
    with pytest.raises(DataFormatError, match=r"^gowalla/train.txt line 2: item id 9000000000000000000 is far beyond "
                                              r"the 3 distinct item ids of the dataset; compact ids must be < "
                                              r"max\(16 × distinct ids, 65536\) = 65536"):
        load_lightgcn_folder(tmp_path, "gowalla")
    write(tmp_path, "train.txt", "0 1 2\n1 2\n")
    write(tmp_path, "test.txt", "\n70000 2\n")
    with pytest.raises(DataFormatError, match=r"^gowalla/test.txt line 2: user id 70000 is far beyond the 3 distinct "
                                              r"user ids"):
        load_lightgcn_folder(tmp_path, "gowalla")
    with pytest.raises(DataFormatError, match=r"^t line 2: user id 70000 is far beyond the 1 distinct user ids"):
        read_lightgcn_file(tmp_path / "test.txt", "t")


def test_lightgcn_compact_id_bound_is_16_times_the_distinct_ids(tmp_path):
    write(tmp_path, "test.txt", "0 1\n")
    write(tmp_path, "train.txt", "0 65535\n")                                   # the floor: 65,536 rows at most
    assert load_lightgcn_folder(tmp_path).n_items == 65536
    write(tmp_path, "train.txt", "0 65536\n")
    with pytest.raises(DataFormatError, match=r"line 1: item id 65536 is far beyond the 2 distinct item ids"):
        load_lightgcn_folder(tmp_path)
    many = " ".join(str(k) for k in range(4999))                             # 0..4998 and one more: 5,000 distinct
    write(tmp_path, "train.txt", f"0 {many} 79999\n")
    assert load_lightgcn_folder(tmp_path).n_items == 80000                     # 16 × 5,000
    write(tmp_path, "train.txt", f"0 {many}\n1 80000\n")
    with pytest.raises(DataFormatError, match=r"^custom/train.txt line 2: item id 80000 is far beyond the 5000 "
                                              r"distinct item ids of the dataset; compact ids must be < "
                                              r"max\(16 × distinct ids, 65536\) = 80000"):
        load_lightgcn_folder(tmp_path)


def test_lastfm_rejects_far_ids_as_written_and_negative_counts(tmp_path):
    write(tmp_path, "data1.txt", "1\t3\t10\n2\t9000000000000000000\t4\n")
    write(tmp_path, "test1.txt", "1\t1\t1\n")
    with pytest.raises(DataFormatError, match=r"^lastfm/data1.txt line 2: item id 9000000000000000000 is far beyond "
                                              r"the 3 distinct item ids"):
        load_lastfm(tmp_path)
    write(tmp_path, "data1.txt", "1\t3\t10\n")
    write(tmp_path, "test1.txt", "1\t1\t1\n\n2\t2\t-5\n")
    with pytest.raises(DataFormatError, match=r"^lastfm/test1.txt line 3: expected a non-negative play count, "
                                              r"got '-5'"):
        load_lastfm(tmp_path)
    write(tmp_path, "test1.txt", "1\t1\t0\n")                                   # a count of 0 is a count
    assert load_lastfm(tmp_path).test.rating.tolist() == [0.0]


def test_ml100k_rating_ids_beyond_u_item_name_line_and_id(tmp_path):
    _ml100k_folder(tmp_path)
    write(tmp_path, "u1.base", "1\t2\t5\t100\n2\t3\t3\t200\n")
    with pytest.raises(DataFormatError, match=r"^ml-100k/u1.base line 2: item id 3 is beyond the 2 items of "
                                              r"u.item"):
        load_ml100k(tmp_path)
    write(tmp_path, "u1.base", "1\t2\t5\t100\n4\t1\t3\t200\n")
    with pytest.raises(DataFormatError, match=r"^ml-100k/u1.base line 2: user id 4 is beyond the 3 users of u.user"):
        load_ml100k(tmp_path)


BOM = b"\xef\xbb\xbf"


def test_utf8_bom_is_stripped_by_every_text_loader(tmp_path):
    write(tmp_path / "lg", "train.txt", BOM + b"0 5 3\n1 2\n")
    write(tmp_path / "lg", "test.txt", BOM + b"0 1\n")
    ds = load_lightgcn_folder(tmp_path / "lg")
    assert ds.train.user.tolist() == [0, 0, 1] and ds.train.item.tolist() == [5, 3, 2] and ds.test.user.tolist() == [0]
    write(tmp_path / "fm", "data1.txt", BOM + b"1\t3\t10\r\n2\t1\t4\r\n")
    write(tmp_path / "fm", "test1.txt", BOM + b"3\t2\t1\n")
    fm = load_lastfm(tmp_path / "fm")
    assert fm.train.user.tolist() == [0, 1] and fm.train.item.tolist() == [2, 0] and fm.test.user.tolist() == [2]
    _ml100k_folder(tmp_path / "ml")
    (tmp_path / "ml" / "u.user").write_bytes(BOM + (tmp_path / "ml" / "u.user").read_bytes())
    (tmp_path / "ml" / "u.item").write_bytes(BOM + (tmp_path / "ml" / "u.item").read_bytes())   # latin-1 file
    ml = load_ml100k(tmp_path / "ml")
    assert ml.user_features["age"].tolist() == [24, 30, 41] and ml.item_features["release_year"].tolist() == [1995, -1]
