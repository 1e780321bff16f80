"""`recsys-hash datasets list|info|verify` through typer's CliRunner and once through the console script."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys_hash.cli import app

runner = CliRunner()


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_help_and_list_json():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "datasets" in res.output
    res = runner.invoke(app, ["datasets", "list", "--json"])
    assert res.exit_code == 0
    names = [d["name"] for d in _last_json(res.stdout)["datasets"]]
    assert "gowalla" in names and "febrl4" in names


def test_info_on_user_folder_and_missing_data(tmp_path, monkeypatch):
    (tmp_path / "train.txt").write_text("0 1 2\n1 0\n")
    (tmp_path / "test.txt").write_text("1 3\n")
    res = runner.invoke(app, ["datasets", "info", "gowalla", "--dataset-path", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    assert _last_json(res.stdout) == {"name": "gowalla", "n_users": 2, "n_items": 4, "n_train": 3, "n_test": 1}
    monkeypatch.delenv("RECSYS_HASH_DATA", raising=False)
    res = runner.invoke(app, ["datasets", "info", "gowalla", "--json"])
    assert res.exit_code == 1
    out = _last_json(res.stdout)
    assert out["error_type"] == "DatasetNotFoundError" and "RECSYS_HASH_DATA is not set" in out["error"]


def test_verify_mismatch_exits_1(tmp_path):
    (tmp_path / "train.txt").write_text("0 1\n")
    (tmp_path / "test.txt").write_text("0 0\n")
    res = runner.invoke(app, ["datasets", "verify", "amazon-electronics", "--dataset-path", str(tmp_path), "--json"])
    assert res.exit_code == 1
    out = _last_json(res.stdout)
    status = {f["file"]: f["status"] for f in out["files"]}
    assert out["ok"] is False and status["train.txt"] == "mismatch" and status["LICENSE"] == "missing"
    assert "checksum mismatch amazon-electronics/train.txt: expected" in res.stderr


@pytest.mark.realdata
def test_console_script_info_gowalla(data_root):
    exe = shutil.which("recsys-hash", path=str(Path(sys.executable).parent)) or "recsys-hash"
    env = dict(os.environ, RECSYS_HASH_DATA=str(data_root))
    res = subprocess.run([exe, "datasets", "info", "gowalla", "--json"], capture_output=True, text=True, env=env,
                         cwd="/", timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {
        "name": "gowalla", "n_users": 29_858, "n_items": 40_981, "n_train": 810_128, "n_test": 217_242}


@pytest.mark.realdata
def test_verify_real_dataset(data_root):
    res = runner.invoke(app, ["datasets", "verify", "ml-100k", "--json"])
    assert res.exit_code == 0 and _last_json(res.stdout)["ok"] is True
