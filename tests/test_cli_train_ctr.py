"""`recsys-hash train-ctr` and `audit --task ctr` end to end on the embedded synthetic CTR set; bad input."""
import json

import pytest
from typer.testing import CliRunner

from recsys_hash.cli import app

runner = CliRunner()
FAST = ["--epochs", "1", "--dim", "4", "--threads", "1", "--no-progress"]


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_train_ctr_json_and_save_read_back_by_audit_model(tmp_path):
    res = runner.invoke(app, ["train-ctr", "--model", "dlrm", "--strategy", "graphhash", "--budget", "0.25",
                              "--seed", "0", "--save", str(tmp_path / "m"), "--json", *FAST])
    assert res.exit_code == 0, res.output
    out = _last_json(res.stdout)
    assert {"auc", "logloss", "gauc", "rows", "full_rows", "params", "train_s", "epochs"} <= set(out)
    assert out["rows"] == 25 + 38 + 8 + 4 and out["full_rows"] == 100 + 150 + 8 + 4 and out["epochs"] == 1
    audit = runner.invoke(app, ["audit-model", str(tmp_path / "m"), "--json"])
    assert audit.exit_code == 0, audit.output
    tables = {t["table"]: t for t in _last_json(audit.stdout)["tables"]}
    assert {t: (r["rows"], r["strategy"]) for t, r in tables.items()} == {
        "user": (25, "graphhash"), "item": (38, "graphhash"), "context": (8, "full"), "device": (4, "full")}


def test_config_file_and_feature_override(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "deepfm"\n[features.item]\nstrategy = "modulo"\nbudget = 30\n')
    res = runner.invoke(app, ["train-ctr", "--config", str(cfg), "--feature", "user=double_frequency:0.5",
                              "--json", *FAST])
    assert res.exit_code == 0, res.output
    out = _last_json(res.stdout)
    assert out["model"] == "deepfm" and out["rows_by_feature"] == {"user": 50, "item": 30, "context": 8, "device": 4}


@pytest.mark.parametrize("args,match", [
    (["--feature", "usr=modulo:0.5"], "unknown feature 'usr' in the config; this dataset's features are: user, item"),
    (["--strategy", "grph", "--budget", "0.5"], "feature 'user': unknown strategy 'grph'; known strategies:"),
    (["--strategy", "modulo", "--budget", "0"], "--budget '0' is not a fraction in (0, 1] or a whole row count >= 2"),
    (["--strategy", "modulo", "--budget", "2.5"], "--budget '2.5' is not a fraction in (0, 1] or a whole row count >= 2"),
    (["--strategy", "modulo", "--budget", "1000"], "budget of 1000 rows exceeds its vocabulary of 100 IDs"),
    (["--dataset", "frappee"], "unknown CTR dataset 'frappee'; choose one of synthetic, frappe, ml-100k, criteo"),
    (["--model", "dlmr"], "unknown model 'dlmr'; choose one of dlrm, dcn, deepfm"),
    (["--seed", "-1"], "seed '-1' must be a whole number >= 0"),
])
def test_bad_input_is_one_error_line_before_training(args, match):
    res = runner.invoke(app, ["train-ctr", *args, "--json", *FAST])
    assert res.exit_code == 1
    err = _last_json(res.stdout)
    assert match in err["error"], err
    assert "Traceback" not in res.output


def test_audit_task_ctr_refuses_the_retrieval_grid(tmp_path):
    res = runner.invoke(app, ["audit", "--task", "ctr", "--strategies", "modulo", "--lr", "0.01", "--out",
                              str(tmp_path), "--json"])
    assert res.exit_code == 1
    assert "--lr/--reg set the retrieval models' grid" in _last_json(res.stdout)["error"]
    res = runner.invoke(app, ["audit", "--task", "ranking", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 1 and "unknown task 'ranking'; choose one of retrieval, ctr" in _last_json(res.stdout)["error"]


def test_audit_task_ctr_on_the_embedded_set(tmp_path):
    res = runner.invoke(app, ["audit", "--task", "ctr", "--strategies", "modulo", "--budgets", "0.25", "--dim", "4",
                              "--epochs", "1", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = _last_json(res.stdout)
    assert out["task"] == "ctr" and out["primary_metric"] == "auc" and out["dataset"] == "synthetic-ctr"
    rows = {r["strategy"]: r for r in out["rows"]}
    assert rows["modulo"]["rows_user"] == 25 and rows["modulo"]["rows_item"] == 38 and 0.5 < rows["full"]["auc"] <= 1
    assert (tmp_path / "report.md").is_file()


def test_train_ctr_on_a_criteo_file_builds_then_reuses_its_cache(tmp_path, write_criteo):
    path = write_criteo(tmp_path / "day_0.tsv", n=600)
    args = ["train-ctr", "--dataset", "criteo", "--dataset-path", str(path), "--cache-dir", str(tmp_path / "c"),
            "--max-rows", "500", "--json", *FAST]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    out = _last_json(first.stdout)
    assert out["n_train"] + out["n_valid"] + out["n_test"] == 500 and len(out["rows_by_feature"]) == 26
    assert f"day_0.tsv (500 rows; cache built, " in out["split"] and str(tmp_path / "c") in out["split"]
    again = _last_json(runner.invoke(app, args).stdout)
    assert "(500 rows; cache reused: " in again["split"] and again["auc"] == out["auc"]
    bad = runner.invoke(app, ["train-ctr", "--max-rows", "10", *FAST])
    assert bad.exit_code == 1 and "max_rows applies to the criteo dataset only, not 'synthetic'" in bad.output


def test_audit_task_ctr_reads_a_criteo_file_through_the_cache(tmp_path, write_criteo, monkeypatch):
    """audit --task ctr on a Criteo file takes the same bounded-memory path as train-ctr: the parsed cache."""
    path = write_criteo(tmp_path / "day_0.tsv", n=400)
    monkeypatch.setenv("RECSYS_HASH_CACHE", str(tmp_path / "cache"))
    res = runner.invoke(app, ["audit", "--task", "ctr", "--dataset", "criteo", "--dataset-path", str(path),
                              "--strategies", "modulo", "--budgets", "0.25", "--dim", "4", "--epochs", "1",
                              "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    assert {r["strategy"] for r in _last_json(res.stdout)["rows"]} == {"full", "modulo"}
    assert list((tmp_path / "cache").glob("*/meta.json")), "the audit did not build the Criteo cache"
