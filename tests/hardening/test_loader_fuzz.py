"""Fuzzing every loader of recsys_hash.data with malformed, truncated and adversarial files: a valid tiny dataset
per format, one file of it mutated (emptied, header only, cut at any byte, binary garbage, non-UTF-8 bytes, a token
replaced by NaN/inf/negative/huge/empty values, a field dropped or added, lines duplicated or dropped, CRLF) ->
the loader returns or raises one of the library's typed errors (RecsysHashError: DataFormatError,
DatasetNotFoundError, ...), whose message names the dataset/file. Nothing else escapes: no polars, numpy, json,
unicode, index or overflow error reaches the user. Deterministic (derandomized hypothesis)."""
import json
import os
import re
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys_hash.data import (
    load_beauty, load_er, load_frappe, load_interactions, load_lastfm_trust, load_lightgcn_folder, load_ml100k,
    read_avazu, read_criteo, read_din, read_dmr, read_event_log, read_libffm, read_mind_train, read_mind_valid,
)
from recsys_hash.data.ctr_sets import load_criteo_ctr, load_ctr_dataset
from recsys_hash.data.seq_sets import load_seq_dataset
from recsys_hash.data.seqctr import DMR_ITEM, DMR_USER, load_seqctr_sample
from recsys_hash.errors import DataFormatError, RecsysHashError

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _libfm(label, start):
    return " ".join([str(label)] + [f"{start + 10 * k}:1" for k in range(10)])


def _criteo(label, i1, c1):
    return "\t".join([str(label), i1] + [str(k) for k in range(2, 14)] + [c1] + ["ff"] * 24 + [""])


def _dmr(n_hist, label):
    valid = np.zeros(50, np.int64)
    valid[50 - n_hist:] = 1
    hist = np.where(valid == 1, np.arange(50) + 1, 0)
    cols = [*hist % 4 + valid, *(hist + 100) * valid, *(hist + 200) * valid, *valid, *(valid * (np.arange(50) % 2))]
    cols += list(range(1000, 1000 + len(DMR_USER))) + list(range(2000, 2000 + len(DMR_ITEM)))
    return ",".join([str(c) for c in cols] + ["0.5", "3", str(label)])


ML100K = {
    "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n",
    "u.item": "".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x/{i}|" + "|".join("1" if g == i else "0"
                                                                                    for g in range(19)) + "\n"
                      for i in (1, 2, 3, 4)),
    "u.genre": "".join(f"g{k}|{k}\n" for k in range(19)),
    "u.occupation": "technician\nother\nwriter\n",
    "u1.base": "1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t3\t4\t878542960\n3\t4\t1\t878542961\n",
    "u1.test": "2\t1\t4\t874965759\n3\t2\t2\t874965760\n",
}
#: ml-100k as sequences needs u.data with 20 events per user (80/10/10 in time)
ML100K["u.data"] = "".join(f"{u}\t{1 + (u + k) % 4}\t{1 + k % 5}\t{874965700 + 10 * k}\n" for u in (1, 2, 3)
                           for k in range(20))
ER_TABLES = {"tableA.csv": 'id,title,year\n0,"deep nets, fast",1999\n1,hashing,2001\n',
             "tableB.csv": "id,title,year\n0,hashing tricks,2001\n1,deep nets fast,1999\n2,other,2000\n"}
MAGELLAN = {**ER_TABLES, "train_pairs.csv": "ltable_id,rtable_id,label\n0,1,1\n1,2,0\n",
            "valid_pairs.csv": "ltable_id,rtable_id,label\n1,0,1\n", "test_pairs.csv": "ltable_id,rtable_id,label\n0,2,0\n"}
JOINED = {**ER_TABLES, **{f"{s}.csv": "label,left_id,left_title,right_id,right_title\n1,0,x,1,y\n0,1,x,2,y\n"
                          for s in ("train", "valid", "test")}}
EVENT_LOG = "user_id,item_id,time,label\n2,20,5,2\n1,10,3,1\n1,11,1,2\n2,21,7,1\n"

#: name -> (files of a valid dataset, the loader call on its folder)
CASES = {
    "frappe-libfm": ({"frappe.validation.libfm": f"{_libfm(-1, 0)}\n{_libfm(1, 3)}\n",
                      "frappe.test.libfm": f"{_libfm(1, 5)}\n"}, lambda d: load_frappe(d)),
    "lightgcn-lines": ({"train.txt": "0 5 3\n1 0\n2 0 1 2\n", "test.txt": "0 4\n1 1\n"},
                       lambda d: load_lightgcn_folder(d)),
    "gowalla-registry": ({"train.txt": "0 1 2\n1 0\n", "test.txt": "0 0\n"},
                         lambda d: load_interactions("gowalla", d)),
    "lastfm-triplets": ({"data1.txt": "1\t3\t10\n2\t1\t3.2e+02\n", "test1.txt": "3\t2\t1\n"},
                        lambda d: load_interactions("lastfm", d)),
    "lastfm-trust": ({"trustnetwork.txt": "1\t2\n2\t3\n"}, lambda d: load_lastfm_trust(d)),
    "ml-100k": (ML100K, lambda d: load_ml100k(d)),
    "ml-100k-seq": (ML100K, lambda d: load_seq_dataset("ml-100k", d, max_len=5)),
    "beauty": ({"Beauty.txt": "1 1 2 3\n2 3\n3 2 4 1 4\n",
                "Beauty_item2attributes.json": json.dumps({"3": [7], "1": [5, 6], "4": []})},
               lambda d: load_beauty(d)),
    "beauty-seq": ({"Beauty.txt": "1 1 2 3\n2 3 1\n3 2 4 1 4\n",
                    "Beauty_item2attributes.json": json.dumps({"3": [7], "1": [5, 6], "4": []})},
                   lambda d: load_seq_dataset("amazon-beauty", d, max_len=3)),
    "criteo-tsv": ({"day_0": "\n".join([_criteo(0, "5", "0a1b2c3d"), _criteo(1, "", "10"), _criteo(0, "-1", "")])
                    + "\n"}, lambda d: read_criteo(d / "day_0")),
    "criteo-streamed": ({"day_0": "\n".join([_criteo(0, "5", "0a1b"), _criteo(1, "", "10")] * 3) + "\n"},
                        lambda d: list(read_criteo(d / "day_0", chunk_rows=4))),
    "criteo-csv-header": ({"c.csv": "label," + ",".join([f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)])
                           + "\n" + _criteo(0, "1", "05db9164").replace("\t", ",") + "\n"
                           + _criteo(1, "", "aa").replace("\t", ",") + "\n"}, lambda d: read_criteo(d / "c.csv")),
    "criteo-ctr-set": ({"day_0.tsv": "\n".join([_criteo(k % 2, str(k), f"{k:x}") for k in range(12)]) + "\n"},
                       lambda d: load_criteo_ctr(d)),
    "criteo-ctr-cached": ({"day_0.tsv": "\n".join([_criteo(k % 2, str(k), f"{k:x}") for k in range(12)]) + "\n"},
                          lambda d: load_criteo_ctr(d, cache_dir=d / ".cache")),
    "criteo-ctr-registry": ({"day_0.txt": "\n".join([_criteo(k % 2, str(k), f"{k:x}") for k in range(12)]) + "\n"},
                            lambda d: load_ctr_dataset("criteo", d)),
    "avazu": ({"a.csv": "id,click,hour,site_id,device_model\n7,0,14102100,1fbe01fe,iPhone 5\n8,1,14102101,00ff,\n"},
              lambda d: read_avazu(d / "a.csv")),
    "libffm": ({"a.ffm": "1 0:10:0.5 2:30:1\n0 2:31:0.25 1:20:2\n-1\n"}, lambda d: read_libffm(d / "a.ffm")),
    "libffm-bags": ({"a.ffm": "1 0:10:0.5 2:30:1\n0 2:31:0.25 1:20:2 2:32:0.25\n-1\n"},
                    lambda d: read_libffm(d / "a.ffm", multi_valued=[2], with_values=True)),
    "din": ({"din.txt": "1 2 3;10 20 30;4;40;1\n5;50;6;60;0\n;;7;70;1\n"}, lambda d: read_din(d / "din.txt")),
    "dmr": ({"dmr.txt": "\n".join([_dmr(2, 1), _dmr(0, 0), _dmr(50, 1)]) + "\n"}, lambda d: read_dmr(d / "dmr.txt")),
    "mind-train": ({"train.txt": "1,10,1\n0,5,0\n1,11,0\n0,6,1\n"}, lambda d: read_mind_train(d / "train.txt")),
    "mind-valid": ({"part-0": "user_id:7 target_item:0 hist_item:1 hist_item:2 eval_item:3\n"
                              "user_id:8 target_item:0 eval_item:5 hist_item:4 eval_item:6\n"},
                   lambda d: read_mind_valid(d / "part-0")),
    "event-log": ({"log.csv": EVENT_LOG}, lambda d: read_event_log(d / "log.csv")),
    "seqctr-sample": ({"torchrechub_amazon_books_sample.csv": EVENT_LOG},
                      lambda d: load_seqctr_sample("torchrechub_amazon_books_sample.csv", d)),
    "magellan": (MAGELLAN, lambda d: load_er("abt_buy", d)),
    "magellan-joined": (JOINED, lambda d: load_er("amazon_google", d)),
    "febrl": ({"dataset4a.csv": "rec_id, given_name, postcode\nrec-1-org, ann, 0812\nrec-0-org, bob, 2000\n",
               "dataset4b.csv": "rec_id, given_name, postcode\nrec-0-dup-0, bbo, 2000\nrec-1-dup-0, ann, 0812\n",
               "matches.csv": "ltable_id,rtable_id\nrec-0-org,rec-0-dup-0\nrec-1-org,rec-1-dup-0\n"},
              lambda d: load_er("febrl4", d)),
}

#: tokens that replace a field: NaN/inf, negative, past int64, empty, control and non-ASCII text
TOKENS = ["nan", "NaN", "inf", "-inf", "1e400", "-1", "-9223372036854775809", "9223372036854775807",
          "9223372036854775808", "99999999999999999999999999", "", " ", "0", "0x1F", "1.5", "\x00", "é", "😀",
          '"', '"unterminated', "a,b", "1:2:3", ":", ";", "|", "\t"]
SEPARATORS = re.compile(rb"[ \t,;|:]")


def _mutate(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["empty", "header", "cut", "garbage", "non_utf8", "token", "drop_field", "add_field",
                                 "dup_line", "drop_line", "crlf", "nul", "no_newline"]), label="mutation")
    lines = data.split(b"\n")
    line = draw(st.integers(0, max(len(lines) - 1, 0)), label="line")
    if kind == "empty":
        return b""
    if kind == "header":
        return lines[0] + b"\n"
    if kind == "cut":
        return data[: draw(st.integers(0, len(data)), label="at")]
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200), label="garbage")
    if kind == "non_utf8":
        at = draw(st.integers(0, len(data)), label="at")
        return data[:at] + draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\x80abc", b"\xed\xa0\x80"])) + data[at:]
    if kind == "nul":
        at = draw(st.integers(0, len(data)), label="at")
        return data[:at] + b"\x00" + data[at:]
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    if kind == "no_newline":
        return data.rstrip(b"\n")
    if kind == "dup_line":
        return b"\n".join(lines[: line + 1] + [lines[line]] + lines[line + 1:])
    if kind == "drop_line":
        return b"\n".join(lines[:line] + lines[line + 1:])
    seps = [m.start() for m in SEPARATORS.finditer(lines[line])]
    text = lines[line]
    if kind == "token":                                        # replace the text between two separators
        bounds = [-1] + seps + [len(text)]
        k = draw(st.integers(0, len(bounds) - 2), label="field")
        token = draw(st.sampled_from(TOKENS), label="token").encode()
        text = text[: bounds[k] + 1] + token + text[bounds[k + 1]:]
    elif kind == "drop_field" and seps:
        at = seps[draw(st.integers(0, len(seps) - 1), label="sep")]
        nxt = next((s for s in seps if s > at), len(text))
        text = text[:at] + text[nxt:]
    elif kind == "add_field":
        at = seps[draw(st.integers(0, len(seps) - 1), label="sep")] if seps else len(text)
        sep = text[at: at + 1] if seps else b" "
        text = text[:at] + sep + b"7" + text[at:]
    return b"\n".join(lines[:line] + [text] + lines[line + 1:])


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())


@pytest.mark.parametrize("case", sorted(CASES))
def test_valid_seed_loads(case, tmp_path):
    """The unmutated files load (so a mutation is what a failure comes from)."""
    files, load = CASES[case]
    _write(tmp_path, files)
    assert load(tmp_path) is not None


def check_escape(exc: BaseException) -> None:
    """Re-raise `exc` unless the CLI reports it as a one-line error: a RecsysHashError, or a plain ValueError /
    FileNotFoundError the library raised itself (its last frame is in recsys_hash, e.g. 'criteo/valid: the split
    is empty'); a numpy/polars/json/unicode error escaping from a library call is re-raised."""
    if isinstance(exc, RecsysHashError):
        assert str(exc).strip(), "an error without a message"
        return
    last = traceback.extract_tb(exc.__traceback__)[-1].filename
    if type(exc) in (ValueError, FileNotFoundError) and f"{os.sep}recsys_hash{os.sep}" in last:
        return
    raise exc


@pytest.mark.parametrize("case", sorted(CASES))
@FUZZ
@given(data=st.data())
def test_mutated_files_raise_only_typed_errors(case, tmp_path_factory, data):
    files, load = CASES[case]
    folder = tmp_path_factory.mktemp(case)
    target = data.draw(st.sampled_from(sorted(files)), label="file")
    mutated = {**files, target: _mutate(files[target].encode(), data.draw)}
    _write(folder, mutated)
    try:
        load(folder)
    except Exception as exc:                    # hypothesis prints the mutated input of a failing example
        check_escape(exc)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_missing_file_or_folder_is_named(case, tmp_path):
    """DatasetNotFoundError for datasets, FileNotFoundError naming the path for single files (the CLI reports both);
    every file the loader reads, removed in turn, is named (files a call does not read change nothing)."""
    files, load = CASES[case]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load(tmp_path / "nowhere")
    named = 0
    for name in sorted(files):
        _write(tmp_path, files)
        (tmp_path / name).unlink()
        try:
            load(tmp_path)
        except FileNotFoundError as exc:
            assert name in str(exc) or "holds no .txt/.tsv/.csv file" in str(exc), str(exc)
            named += 1
    assert named >= 1


ATTRIBUTE_CASES = [
    ('{"99999999999999999999": [1]}', "expected integer item id keys, got '99999999999999999999'"),
    ('{"1.0": [1]}', "expected integer item id keys, got '1.0'"),
    ('{"1": 5}', "item '1': expected a list of attribute ids, got 5"),
    ('{"1": {}}', "item '1': expected a list of attribute ids, got {}"),
    ('{"1": [99999999999999999999]}', "item '1': expected non-negative integer attribute ids, got 99999999999999999999"),
    ('{"1": [2], "2": [1.5]}', "item '2': expected non-negative integer attribute ids, got 1.5"),
    ('{"1": [true]}', "item '1': expected non-negative integer attribute ids, got true"),
    ('{"1": [-1]}', "item '1': expected non-negative integer attribute ids, got -1"),
    ('{"1": [[1]]}', r"item '1': expected non-negative integer attribute ids, got \[1\]"),
    ('{"1": [null]}', "item '1': expected non-negative integer attribute ids, got null"),
    ('{"1": [1e400]}', "item '1': expected non-negative integer attribute ids, got Infinity"),
    ('{"1": [NaN]}', "item '1': expected non-negative integer attribute ids, got NaN"),
]


@pytest.mark.parametrize("doc, message", ATTRIBUTE_CASES)
def test_adversarial_item_attributes_are_named(doc, message, tmp_path):
    files = dict(CASES["beauty"][0], **{"Beauty_item2attributes.json": doc})
    _write(tmp_path, files)
    with pytest.raises(DataFormatError, match=r"^amazon-beauty/Beauty_item2attributes.json: " + message + "$"):
        load_beauty(tmp_path)


def test_non_utf8_attributes_name_the_byte(tmp_path):
    _write(tmp_path, dict(CASES["beauty"][0], **{"Beauty_item2attributes.json": b'\xef\xbb\xbf{"1": [\xff]}'}))
    with pytest.raises(DataFormatError, match=r"^amazon-beauty/Beauty_item2attributes.json: expected UTF-8 JSON, "
                                              r"got byte b'\\xff' at byte offset 10$"):
        load_beauty(tmp_path)


def test_a_folder_given_as_criteo_file_is_named(tmp_path):
    with pytest.raises(DataFormatError, match=rf"^x: {tmp_path} is a folder; expected a Criteo file$"):
        read_criteo(tmp_path, name="x")


@pytest.mark.parametrize("root", ["a-file", "missing", "", "relative/dir", "broken"])
@pytest.mark.parametrize("call", ["load_interactions", "load_er", "verify", "check", "stats"])
def test_dataset_registry_paths_under_a_bad_root(root, call, tmp_path, monkeypatch):
    """RECSYS_HASH_DATA a file, missing, unset, relative, or a tree with a folder / dangling link in place of
    files: every registry path raises a RecsysHashError naming the dataset (or what is wrong in the file)."""
    from recsys_hash.data import catalog

    (tmp_path / "a-file").write_text("x")
    broken = tmp_path / "broken"
    (broken / "recsys" / "gowalla").mkdir(parents=True)
    (broken / "recsys" / "gowalla" / "train.txt").write_bytes(b"\xff\xfe garbage\n")
    (broken / "recsys" / "gowalla" / "test.txt").mkdir()
    (broken / "er" / "abt_buy").mkdir(parents=True)
    (broken / "er" / "abt_buy" / "tableA.csv").symlink_to(tmp_path / "nowhere")
    if root:
        monkeypatch.setenv("RECSYS_HASH_DATA", root if root == "relative/dir" else str(tmp_path / root))
    else:
        monkeypatch.delenv("RECSYS_HASH_DATA", raising=False)
    fn = {"load_interactions": lambda: load_interactions("gowalla"), "load_er": lambda: load_er("abt_buy"),
          "verify": lambda: catalog.verify_dataset("abt_buy"), "check": lambda: catalog.check_dataset("gowalla"),
          "stats": lambda: catalog.dataset_stats("gowalla")}[call]
    if call == "verify" and root == "broken":       # verify reports instead of raising: the dangling link is missing
        status = {c["file"]: c["status"] for c in fn()}
        assert status["tableA.csv"] == status["tableB.csv"] == "missing"
        return
    with pytest.raises(RecsysHashError, match=r"gowalla|abt_buy"):
        fn()


@pytest.mark.parametrize("name", ["nope", "../etc", "", None, 5])
def test_unknown_dataset_names_are_refused(name):
    from recsys_hash.data import dataset_dir

    with pytest.raises(RecsysHashError, match=r"^unknown dataset .*; registered datasets: gowalla"):
        dataset_dir(name)
