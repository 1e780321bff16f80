"""The wheel installs into a user's existing stack: built offline, installed `--no-deps` into a fresh venv that sees
this environment's packages, imported from outside the source tree, with the dataset registry inside it; its core
requirements name no fbgemm build and pin no torch."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "datasets" / "registry.json"
pytestmark = pytest.mark.slow


def _run(cmd: list, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline from a copy of the source (links kept as links), so the checkout gets no build/."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("recsys_hash", "datasets"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, "."], src)
    (whl,) = out.glob("recsys_hash-*.whl")
    return whl


def _requirements(whl: Path) -> list[Requirement]:
    with zipfile.ZipFile(whl) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        lines = zf.read(meta).decode().splitlines()
    return [Requirement(line.split(":", 1)[1].strip()) for line in lines if line.startswith("Requires-Dist:")]


def _extra(req: Requirement) -> str | None:
    """The extra a requirement belongs to; None for a core dependency."""
    m = re.search(r'extra == "([^"]+)"', str(req.marker or ""))
    return m.group(1) if m else None


def test_wheel_core_requirements_name_no_fbgemm_and_pin_no_torch(wheel):
    reqs = _requirements(wheel)
    core = {r.name.lower(): r for r in reqs if _extra(r) is None}
    assert not [n for n in core if "fbgemm" in n], f"core requirements name an fbgemm build: {sorted(core)}"
    assert "torchrec" not in core                        # its metadata pulls the CUDA fbgemm-gpu
    torch_ops = {s.operator for s in core["torch"].specifier}
    assert torch_ops and not torch_ops & {"==", "==="}, f"torch must be a range, got {core['torch']}"
    assert all(r.specifier for n, r in core.items() if n in ("torch", "numpy", "polars", "pandas"))
    # the pinned CPU stack that `make` installs lives in the `cpu` extra
    cpu = {r.name.lower(): r for r in reqs if _extra(r) == "cpu"}
    assert {s.operator for s in cpu["torch"].specifier} == {"=="}
    assert {s.operator for s in cpu["fbgemm-gpu-cpu"].specifier} == {"=="}


def test_wheel_ships_the_registry_as_a_real_file(wheel):
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("recsys_hash/data/registry.json")
        assert not stat.S_ISLNK(info.external_attr >> 16), "registry.json is stored as a link"
        assert zf.read(info) == REGISTRY.read_bytes()


def test_wheel_installs_no_deps_into_a_venv_holding_the_stack(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip())
    # the venv sees this environment's packages (torch, torchrec, ...) after its own; the editable install's finder
    # (a .pth in this environment) is not run, so `recsys_hash` can only come from the wheel
    stack = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_stack.pth").write_text("".join(f"{p}\n" for p in stack))
    # --ignore-installed: never touch this environment's own recsys_hash record, which the venv can see
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", "--no-warn-script-location", wheel],
         tmp_path)
    probe = ("import json, recsys_hash; from recsys_hash.data import registry; "
             "print(json.dumps({'file': recsys_hash.__file__, 'registry': str(registry.REGISTRY_PATH), "
             "'names': registry.names()}))")
    got = json.loads(_run([py, "-c", probe], tmp_path).stdout.strip().splitlines()[-1])
    pkg = site.resolve() / "recsys_hash"
    assert Path(got["file"]).resolve().parent == pkg
    reg = Path(got["registry"])
    assert reg == pkg / "data" / "registry.json" and not reg.is_symlink()
    assert got["names"] == list(json.loads(REGISTRY.read_text())["datasets"])
    # the console script runs on the stack it found
    out = _run([venv / "bin" / "recsys-hash", "datasets", "list", "--json"], tmp_path).stdout.strip().splitlines()[-1]
    assert [d["name"] for d in json.loads(out)["datasets"]] == got["names"]
