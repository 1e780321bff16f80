"""`python -m recsys_hash.data.registry_refresh`: sha256/bytes rebuilt from a data folder, canonical byte-identical output, --check."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_hash.data.registry import REGISTRY_PATH
from recsys_hash.data.registry_refresh import dumps, main, refresh

ROOT = Path(__file__).resolve().parents[2]


def _doc():
    return {"format_version": 1, "datasets": {
        "zeta": {"files": {"b.txt": {"source": "s", "required": True, "bytes": 1, "sha256": "0" * 64},
                           "a.txt": {"sha256": "1" * 64, "bytes": 3, "required": False, "source": ""}},
                 "expected": {"n_z": 1, "n_a": 2}, "folder": "recsys/zeta", "name": "zeta", "kind": "sample",
                 "format": "x", "loader": None, "source": "u", "licence": "l", "note": ""},
        "alpha": {"name": "alpha", "kind": "er", "folder": "er/alpha", "format": "x", "loader": None, "source": "u",
                  "licence": "l", "note": "", "expected": {}, "files": {"t.csv": {"sha256": "2" * 64, "bytes": 0,
                                                                                  "required": True, "source": ""}}},
    }}


def _data(tmp_path):
    z = tmp_path / "data" / "recsys" / "zeta"
    z.mkdir(parents=True)
    (z / "b.txt").write_bytes(b"hello\n")
    (z / "new.bin").write_bytes(b"\x00\x01")
    (z / "NOTES.md").write_text("ignored")
    (z / "PROVENANCE.json").write_text(json.dumps([{"file": "new.bin", "repo": "o/r", "commit": "c1", "path": "d/new.bin"}]))
    return tmp_path / "data"


def test_refresh_updates_reports_and_adds(tmp_path):
    data = _data(tmp_path)
    new, changes = refresh(_doc(), data)
    status = {(c["dataset"], c["file"]): c["status"] for c in changes}
    assert status == {("zeta", "a.txt"): "missing", ("zeta", "b.txt"): "updated", ("alpha", "t.csv"): "missing"}
    b = new["datasets"]["zeta"]["files"]["b.txt"]
    assert b == {"source": "s", "required": True, "bytes": 6, "sha256": hashlib.sha256(b"hello\n").hexdigest()}
    assert new["datasets"]["zeta"]["files"]["a.txt"]["sha256"] == "1" * 64  # missing file: registry value kept
    added, changes = refresh(_doc(), data, names=["zeta"], add_new=True)
    assert {c["file"]: c["status"] for c in changes} == {"a.txt": "missing", "b.txt": "updated", "new.bin": "added"}
    assert added["datasets"]["zeta"]["files"]["new.bin"] == {
        "sha256": hashlib.sha256(b"\x00\x01").hexdigest(), "bytes": 2, "required": False,
        "source": "https://github.com/o/r/blob/c1/d/new.bin"}
    assert added["datasets"]["alpha"] == _doc()["datasets"]["alpha"]  # not selected: untouched
    with pytest.raises(KeyError, match=r"unknown dataset\(s\) nope; registered datasets: zeta, alpha"):
        refresh(_doc(), data, names=["nope"])
    with pytest.raises(FileNotFoundError, match=r"--data-dir .*missing is not a folder"):
        refresh(_doc(), tmp_path / "missing")


def test_output_is_canonical_and_deterministic(tmp_path):
    new, _ = refresh(_doc(), _data(tmp_path))
    text = dumps(new)
    shuffled = json.loads(text)
    shuffled["datasets"]["zeta"] = dict(reversed(list(shuffled["datasets"]["zeta"].items())))
    assert dumps(shuffled) == text  # independent of the input's key order
    doc = json.loads(text)
    assert list(doc["datasets"]) == ["zeta", "alpha"]  # registry order kept
    assert list(doc["datasets"]["zeta"])[:3] == ["name", "kind", "folder"]
    assert list(doc["datasets"]["zeta"]["files"]) == ["a.txt", "b.txt"]
    assert list(doc["datasets"]["zeta"]["files"]["b.txt"]) == ["sha256", "bytes", "required", "source"]
    assert list(doc["datasets"]["zeta"]["expected"]) == ["n_a", "n_z"]
    assert text.endswith("}\n") and text.startswith('{\n "format_version": 1,\n "datasets": {\n  "zeta": {')


def test_main_writes_then_check_passes(tmp_path, capsys):
    data = _data(tmp_path)
    reg = tmp_path / "registry.json"
    reg.write_text(json.dumps(_doc()))
    assert main(["--data-dir", str(data), "--registry", str(reg), "--check"]) == 1  # would change
    assert json.loads(reg.read_text()) == _doc()
    assert main(["--data-dir", str(data), "--registry", str(reg), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["written"], summary["updated"], summary["missing"], summary["unchanged"]) == (True, 1, 2, 0)
    first = reg.read_bytes()
    assert main(["--data-dir", str(data), "--registry", str(reg), "--check"]) == 0
    assert main(["--data-dir", str(data), "--registry", str(reg)]) == 0 and reg.read_bytes() == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".registry.json")]  # no temp file left
    assert main(["--data-dir", str(tmp_path / "none"), "--registry", str(reg), "--json"]) == 2
    assert "is not a folder" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]


def test_module_entry_point_and_committed_registry_is_canonical(tmp_path):
    assert dumps(json.loads(REGISTRY_PATH.read_text())) == REGISTRY_PATH.read_text()
    out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, "-m", "recsys_hash.data.registry_refresh", "--data-dir", str(tmp_path), "--output", str(out),
                          "--json"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["updated"] == 0 and summary["added"] == 0 and summary["missing"] > 0  # empty data folder
    assert out.read_text() == REGISTRY_PATH.read_text()  # nothing found: the registry is rewritten as is
