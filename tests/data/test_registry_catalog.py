"""Dataset registry contents, checksum verification and `dataset_stats` on a user folder."""
from __future__ import annotations

import hashlib
import re

import pytest

from recsys_hash.data import registry
from recsys_hash.data import check_dataset, dataset_stats, file_sha256, verify_dataset
from recsys_hash.errors import ChecksumError, DatasetNotFoundError


def test_registry_entries_are_complete():
    names = registry.names()
    assert {"gowalla", "ml-1m", "ml-100k", "lastfm", "amazon-electronics", "frappe", "amazon-beauty", "criteo-sample",
            "avazu-sample", "abt_buy", "amazon_google", "dblp_acm", "febrl4"} <= set(names)
    for n in names:
        e = registry.get(n)
        assert e["kind"] in registry.KINDS and e["folder"].split("/")[0] in ("recsys", "er")
        assert e["source"] and e["licence"] and e["format"]
        assert all(re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) for f in e["files"].values())
        assert e["kind"] == "sample" or any(f["required"] for f in e["files"].values())
    assert registry.get("gowalla")["expected"] == {"n_users": 29858, "n_items": 40981, "n_train": 810128, "n_test": 217242}
    with pytest.raises(KeyError, match=r"unknown dataset 'x'"):
        registry.get("x")


def test_checksum_mismatch_names_file_expected_actual(tmp_path):
    (tmp_path / "train.txt").write_text("0 1\n")
    (tmp_path / "test.txt").write_text("0 0\n")
    actual = {"train.txt": hashlib.sha256(b"0 1\n").hexdigest(), "test.txt": hashlib.sha256(b"0 0\n").hexdigest()}
    assert file_sha256(tmp_path / "train.txt") == actual["train.txt"]
    expected = {f: registry.get("amazon-electronics")["files"][f]["sha256"] for f in actual}
    checks = {c["file"]: c for c in verify_dataset("amazon-electronics", tmp_path)}
    for f in actual:
        assert (checks[f]["status"], checks[f]["expected"], checks[f]["actual"]) == ("mismatch", expected[f], actual[f])
    assert checks["LICENSE"]["status"] == "missing" and not checks["LICENSE"]["required"]
    # Files are checked in registry order (LICENSE, test.txt, train.txt): the first mismatch is test.txt.
    with pytest.raises(ChecksumError, match=rf"^amazon-electronics/test.txt: sha256 mismatch, expected {expected['test.txt']}, "
                                            rf"actual {actual['test.txt']} \(file: {tmp_path}/test.txt\)"):
        check_dataset("amazon-electronics", tmp_path)


def test_missing_required_file_in_check(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=rf"dataset 'lastfm': expected file {tmp_path}/data1.txt is missing"):
        check_dataset("lastfm", tmp_path)


def test_dataset_stats_on_user_folder(tmp_path):
    (tmp_path / "train.txt").write_text("0 1 2\n3 0\n")
    (tmp_path / "test.txt").write_text("1 4\n")
    assert dataset_stats("gowalla", tmp_path) == {"name": "gowalla", "n_users": 4, "n_items": 5, "n_train": 3, "n_test": 1}
