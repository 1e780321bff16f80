"""The audit end to end: CLI bad input fails before training; a small real run; graphhash beats modulo on planted data."""
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys_hash.audit import AuditConfig, run_audit
from recsys_hash.audit.evaluators import RetrievalEvaluator, default_dataset
from recsys_hash.cli import app

runner = CliRunner()


def _flat(text: str) -> str:
    """Rich wraps long messages at the terminal width; compare on single-spaced text."""
    return " ".join(text.split())


def _lightgcn_folder(path, n_users=60, n_items=40, per_user=8, seed=0):
    rng = np.random.default_rng(seed)
    for name, k in (("train.txt", per_user), ("test.txt", 2)):
        lines = [" ".join(map(str, [u, *sorted(rng.choice(n_items, k, replace=False))])) for u in range(n_users)]
        (path / name).write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("args,msg", [
    (["--strategies", "modulo,bogus"], "unknown strategy 'bogus'"),
    (["--budgets", "0.25,1.5"], r"budget '1.5' is not a fraction in \(0, 1\] or a whole row count >= 2"),
    (["--budgets", "0"], r"budget '0' is not a fraction in \(0, 1\] or a whole row count >= 2"),
    (["--budgets", "abc"], "budget 'abc' is not a number"),
    (["--budgets", "0.5,0.50"], "budget 0.5 is given twice"),
    (["--strategies", "modulo,qr,modulo"], "strategy 'modulo' is given twice"),
    (["--seeds", "1,2,1"], "seed 1 is given twice"),
    (["--epochs", "0"], r"--epochs must be a positive number of epochs, got 0"),
    (["--epochs", "-3"], r"--epochs must be a positive number of epochs, got -3"),
])
def test_bad_arguments_fail_before_training(tmp_path, args, msg):
    res = runner.invoke(app, ["audit", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 1, res.output
    assert re.search(msg, _flat(res.output)), res.output
    assert not (tmp_path / "o" / "audit.json").exists()


def test_unwritable_output_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = runner.invoke(app, ["audit", "--out", str(blocker / "sub"), "--dataset-path", str(tmp_path)])
    assert res.exit_code == 1
    assert f"output folder {blocker / 'sub'} is not writable" in _flat(res.output)


def test_audit_on_a_folder_json_and_files(tmp_path):
    (tmp_path / "data").mkdir()
    data = _lightgcn_folder(tmp_path / "data")
    out = tmp_path / "out"
    res = runner.invoke(app, ["audit", "--dataset-path", str(data), "--strategies", "modulo,frequency",
                              "--budgets", "0.5", "--dim", "8", "--epochs", "2", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert [r["strategy"] for r in result["rows"]] == ["full", "modulo", "frequency"]
    full, modulo = result["rows"][0], result["rows"][1]
    assert (full["rows_user"], full["rows_item"]) == (60, 40) and (modulo["rows_user"], modulo["rows_item"]) == (30, 20)
    assert full["param_bytes"] == (60 + 40) * 8 * 4 and modulo["param_bytes"] == (30 + 20) * 8 * 4
    # serving bytes = parameters + mapping: full keeps keys + rows (int64) of all 100 IDs and one 32 B hash rule per
    # side, modulo only its two rules
    assert (full["mapping_bytes"], full["serving_bytes"]) == (100 * 16 + 64, 3200 + 1664)
    assert (modulo["mapping_bytes"], modulo["serving_bytes"]) == (64, 1600 + 64)
    assert modulo["compression_ratio"] == pytest.approx(4864 / 1664) and modulo["param_compression_ratio"] == 2.0
    assert modulo["item_ids_per_row_max"] == 2 and modulo["item_ids_per_row_mean"] == pytest.approx(2.0)
    assert 0 <= modulo["recall@20"] <= 1 and result["floor"]["name"] == "most-popular"
    for name in ("report.md", "audit.json", "quality_vs_memory.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "quality_vs_memory.png").read_bytes()[:4] == b"\x89PNG"


def test_default_audit_ranks_graphhash_above_modulo():
    """The planted communities make clustering informative and hashing not: graphhash must win clearly."""
    evaluator = RetrievalEvaluator(default_dataset(), epochs=8)
    result = run_audit(evaluator, AuditConfig(strategies=["modulo", "graphhash"], budgets=[0.25], dim=16,
                                              include_full=False))
    by = {r["strategy"]: r for r in result.rows}
    assert by["graphhash"]["recall@20"] > 3 * by["modulo"]["recall@20"]
    assert by["graphhash"]["recall@20"] > result.floor["recall@20"]
    assert by["graphhash"]["rows_item"] == by["modulo"]["rows_item"] == 500


def test_epochs_none_means_the_default_and_zero_is_refused():
    from recsys_hash.audit.evaluators import DEFAULT_EPOCHS

    data = default_dataset()
    assert RetrievalEvaluator(data).config.epochs == DEFAULT_EPOCHS == 20
    assert RetrievalEvaluator(data, epochs=3).config.epochs == 3
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="--epochs must be a positive number of epochs"):
            RetrievalEvaluator(data, epochs=bad)
