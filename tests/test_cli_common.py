"""What every command shares: one error line (+ the JSON error object) for bad input, the same option names and
meanings in `recall` and `audit`, `--version` / `-h` / `strategies`, tables on stdout and progress on stderr."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from recsys_hash.cli import app

runner = CliRunner()


@pytest.fixture
def folder(tmp_path):
    """40 users x 30 items in the LightGCN line format (train.txt, test.txt)."""
    rng = np.random.default_rng(0)
    with open(tmp_path / "train.txt", "w") as tr, open(tmp_path / "test.txt", "w") as te:
        for u in range(40):
            items = rng.choice(np.arange(u % 3, 30, 3), size=6, replace=False)
            tr.write(" ".join(map(str, [u, *items[:5]])) + "\n")
            te.write(" ".join(map(str, [u, items[5]])) + "\n")
    return tmp_path


def _one_error(res, *fragments: str) -> dict:
    """Exit 1, exactly one (red) error line on stderr, the JSON error object as the last stdout line."""
    assert res.exit_code == 1, (res.exit_code, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for frag in fragments:
        assert frag in out["error"] and frag in lines[0], (frag, out["error"])
    return out


def _audit(folder, tmp_path, *args):
    return runner.invoke(app, ["audit", "--dataset-path", str(folder), "--out", str(tmp_path / "out"), *args, "--json"])


# ------------------------------------------------------------------ item 1: clear errors, never a traceback
@pytest.mark.parametrize("budget", ["inf", "nan", "-1", "0", "1.5", "-inf", "2.5"])
def test_bad_budget_is_one_error_line(folder, tmp_path, budget):
    expected = f"budget {budget!r} is not a fraction in (0, 1] or a whole row count >= 2"
    _one_error(runner.invoke(app, ["recall", "--dataset-path", str(folder), "--budget", budget, "--json"]), expected)
    _one_error(_audit(folder, tmp_path, "--budgets", f"0.5,{budget}"), expected)
    assert not (tmp_path / "out" / "audit.json").exists()


def test_parameter_of_the_wrong_type_is_named(folder, tmp_path):
    res = runner.invoke(app, ["recall", "--dataset-path", str(folder), "--strategy", "graphhash", "--budget", "0.5",
                              "--param", "cluster_share=abc", "--epochs", "1", "--json"])
    out = _one_error(res, "cluster_share")
    assert out["error_type"] in ("ValueError", "InvalidParameterError") and "'abc'" in out["error"]
    res = _audit(folder, tmp_path, "--strategies", "graphhash", "--budgets", "0.5", "--param", "cluster_share=abc",
                 "--epochs", "1")
    _one_error(res, "cluster_share")


@pytest.mark.parametrize("argv", [
    ["recall", "--strategy", "modulo", "--budget", "0.5", "--seed", "-1"],
    ["recall", "--strategy", "qr", "--budget", "0.5", "--seed", "-3"],
    ["audit", "--strategies", "modulo", "--budgets", "0.5", "--seeds", "0,-1"],
])
def test_negative_seed_is_rejected_naming_the_option(folder, tmp_path, argv):
    res = runner.invoke(app, [*argv, "--dataset-path", str(folder), "--out", str(tmp_path / "o"), "--epochs", "1",
                              "--json"] if argv[0] == "audit" else
                        [*argv, "--dataset-path", str(folder), "--epochs", "1", "--json"])
    _one_error(res, "--seed", "must be a whole number >= 0")


def test_resume_without_checkpoint_names_both_options(folder):
    res = runner.invoke(app, ["recall", "--dataset-path", str(folder), "--resume", "--json"])
    _one_error(res, "--resume continues from --checkpoint FILE")


# ------------------------------------------------------------------ item 2: --dataset NAME + --dataset-path DIR
@pytest.mark.realdata
def test_dataset_path_is_read_in_the_registered_format(data_root, tmp_path, monkeypatch):
    monkeypatch.delenv("RECSYS_HASH_DATA")   # only --dataset-path may be read
    path = str(data_root / "recsys" / "ml-100k")
    res = runner.invoke(app, ["recall", "--dataset", "ml-100k", "--dataset-path", path, "--model", "popular", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert (out["dataset"], out["n_users"], out["n_items"]) == ("ml-100k", 943, 1682)
    from recsys_hash.audit.evaluators import make_evaluator

    ev = make_evaluator("ml-100k", path)
    assert ev.vocab() == {"user": 943, "item": 1682} and ev.name == "ml-100k"


def test_dataset_path_alone_is_a_lightgcn_folder(folder):
    from recsys_hash.audit.evaluators import load_retrieval_data

    data = load_retrieval_data(None, folder)
    assert (data.name, data.n_users, data.n_items, len(data.train), len(data.test)) == (folder.name, 40, 30, 200, 40)
    with pytest.raises(ValueError, match="give --dataset NAME or --dataset-path DIR"):
        load_retrieval_data(None, None)


# ------------------------------------------------------------------ item 3: the same options in recall and audit
SHARED = {"strategy": ("--strategy", "--strategies"), "budget": ("--budget", "--budgets"),
          "seed": ("--seed", "--seeds"), "param": ("--param",), "lr": ("--lr",), "reg": ("--reg",),
          "epochs": ("--epochs",), "threads": ("--threads",), "dataset": ("--dataset",),
          "dataset_path": ("--dataset-path",), "as_json": ("--json",)}


def _params(command: str) -> dict:
    cmd = get_command(app).commands[command]
    return {p.name: p for p in cmd.params}


def test_recall_and_audit_share_option_names_and_defaults():
    recall, audit = _params("recall"), _params("audit")
    for names in SHARED.values():
        r = next(p for p in recall.values() if names[0] in p.opts or names[-1] in p.opts)
        a = next(p for p in audit.values() if names[0] in p.opts or names[-1] in p.opts)
        assert set(names) <= set(r.opts) and set(names) <= set(a.opts), (names, r.opts, a.opts)
        if names[0] not in ("--strategy", "--budget"):
            assert r.default == a.default, (names, r.default, a.default)
    for command in ("recall", "audit"):
        res = runner.invoke(app, [command, "--help"])
        assert res.exit_code == 0
        assert "a fraction in (0, 1] or a whole row count >= 2" in " ".join(res.stdout.replace("│", " ").split())


def test_budget_rule_is_the_same_everywhere(folder, tmp_path):
    from recsys_hash.budget import parse_budget

    assert parse_budget("1") == 1.0 and isinstance(parse_budget("1"), float)
    assert parse_budget("2") == 2 and isinstance(parse_budget("2"), int)
    assert parse_budget("0.25") == 0.25 and parse_budget("7.0") == 7
    # a row count in audit is a row count, as in recall
    res = _audit(folder, tmp_path, "--strategy", "modulo", "--budget", "7", "--epochs", "1", "--dim", "4",
                 "--threads", "1", "--lr", "0.01", "--reg", "0.001", "--seed", "3")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    modulo = out["rows"][1]
    assert (modulo["strategy"], modulo["budget"], modulo["rows_user"], modulo["rows_item"]) == ("modulo", 7, 7, 7)
    assert modulo["seeds"] == [3] and (modulo["lr"], modulo["reg"]) == (0.01, 0.001)
    # recall takes the plural spellings with one value
    res = runner.invoke(app, ["recall", "--dataset-path", str(folder), "--strategies", "modulo", "--budgets", "7",
                              "--seeds", "1", "--epochs", "1", "--dim", "4", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert (out["strategy"], out["rows_user"], out["seed"]) == ("modulo", 7, 1)
    res = runner.invoke(app, ["recall", "--dataset-path", str(folder), "--strategies", "modulo,qr", "--json"])
    _one_error(res, "recall runs one strategy; use `recsys-hash audit` to compare several")


def test_audit_param_applies_to_the_strategies_that_take_it(folder, tmp_path):
    res = _audit(folder, tmp_path, "--strategies", "modulo,graphhash", "--budgets", "0.5", "--param",
                 "cluster_share=0.25", "--epochs", "1", "--dim", "4")
    assert res.exit_code == 0, res.output
    res = _audit(folder, tmp_path, "--strategies", "modulo", "--budgets", "0.5", "--param", "cluster_share=0.25")
    _one_error(res, "--param cluster_share: no audited strategy takes it (modulo)")


# ------------------------------------------------------------------ item 4: --version, -h, strategies
def test_version_h_and_strategies():
    import recsys_hash
    from recsys_hash.ids import get_strategy, strategy_names

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"recsys-hash {recsys_hash.__version__}"
    res = runner.invoke(app, ["-h"])
    assert res.exit_code == 0 and "strategies" in res.stdout and "Usage" in res.stdout
    assert runner.invoke(app, ["recall", "-h"]).exit_code == 0
    res = runner.invoke(app, ["strategies", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout.strip().splitlines()[-1])["strategies"]
    assert [r["name"] for r in rows] == strategy_names()
    by = {r["name"]: r for r in rows}
    assert by["graphhash"]["needs_interactions"] is True and by["modulo"]["needs_interactions"] is False
    assert "cluster_share" in by["graphhash"]["parameters"] and "input_hash_size" in by["modulo"]["parameters"]
    assert "seed" not in by["modulo"]["parameters"] and "num_rows" not in by["modulo"]["parameters"]
    assert by["modulo"]["description"] == get_strategy("modulo").__doc__.strip().splitlines()[0]
    res = runner.invoke(app, ["strategies"])
    assert res.exit_code == 0 and "graphhash" in res.stdout and "cluster_share" in res.stdout
    assert "[own, own]" in res.stdout          # descriptions are printed as text, not read as rich markup


# ------------------------------------------------------------------ item 5: stdout / stderr
def test_tables_go_to_stdout_without_json():
    res = runner.invoke(app, ["datasets", "list"])
    assert res.exit_code == 0 and "gowalla" in res.stdout and res.stderr == ""
    res = runner.invoke(app, ["datasets", "list", "--json"])
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["datasets"] and "gowalla" in res.stderr


def test_recall_table_on_stdout(folder):
    res = runner.invoke(app, ["recall", "--dataset-path", str(folder), "--model", "popular"])
    assert res.exit_code == 0 and "recall@20" in res.stdout and "recall@20" not in res.stderr


def test_audit_progress_on_stderr_with_eta_and_no_source_suffix(folder, tmp_path):
    res = _audit(folder, tmp_path, "--strategies", "modulo", "--budgets", "0.5", "--epochs", "2", "--dim", "4")
    assert res.exit_code == 0, res.output
    json.loads(res.stdout.strip().splitlines()[-1])
    assert "[1/2] full @ 1" in res.stderr and "[2/2] modulo @ 0.5" in res.stderr and "ETA" in res.stderr
    assert "audit.py:" not in res.stderr and "runner.py:" not in res.stderr


def test_evaluator_reports_every_epoch(folder):
    from recsys_hash.audit.evaluators import make_evaluator

    seen = []
    ev = make_evaluator(None, folder, epochs=3, on_epoch=seen.append)
    res = ev.evaluate(ev.fit_tables("modulo", 0.5, 0), dim=4, seed=0)
    # patience 3 cannot stop a 3-epoch run early; then the final model retrains for the best epoch count
    assert seen == [1, 2, 3] + list(range(1, res["best_epoch"] + 1))
    assert ev.epochs_per_cell == 6


# ------------------------------------------------------------------ item 6: no noise
def test_building_a_kjt_prints_no_fx_tracing_notice(capfd):
    import torch
    from torch.fx import _symbolic_trace

    from recsys_hash.models.tables import CompressedEmbeddings

    _symbolic_trace.is_fx_tracing_warning.cache_clear()     # the notice is printed once per process
    emb = CompressedEmbeddings({"user": np.arange(3)[:, None], "item": np.arange(2)[:, None]},
                               {"user": 3, "item": 2}, dim=4)
    emb({"user": torch.tensor([0, 2]), "item": torch.tensor([1])})
    assert "is_fx_tracing" not in capfd.readouterr().err
