"""Artifacts under faults: a write that fails midway never leaves a half file under the final name (the old one
stays intact, no temp file is left), the write is durable (file fsync, rename, folder fsync), and every truncation
or corruption is refused with ArtifactError naming the file. (Checksum, version and kind checks on intact headers:
tests/test_artifacts.py.)"""
import errno
import json
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from recsys_hash.artifacts import FORMAT_VERSION, load_artifact, save_artifact
from recsys_hash.errors import ArtifactError
from recsys_hash.ids import IdRemapper, create
from recsys_hash.models.trainer import LoopConfig, TrainLoop

ARRAYS = {"x": np.arange(10, dtype=np.int64), "y": np.ones((3, 2))}


@pytest.fixture
def old(tmp_path):
    """An artifact already on disk: (path, its bytes)."""
    path = save_artifact(tmp_path / "a.safetensors", "thing", ARRAYS, {"v": 1})
    return path, path.read_bytes()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != "a.safetensors")


class _HalfWriter:
    """A file object that writes half of what it is given, then fails like a full disk (or as `exc`)."""

    def __init__(self, f, exc):
        self.f, self.exc = f, exc

    def write(self, blob):
        self.f.write(blob[: len(blob) // 2])
        self.f.flush()
        raise self.exc

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()


def _fail_write(monkeypatch, exc):
    real = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _HalfWriter(real(fd, *a, **k), exc))


def _fail_fsync(monkeypatch, exc):
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(exc))


def _fail_replace(monkeypatch, exc):
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(exc))


@pytest.mark.parametrize("fail", [_fail_write, _fail_fsync, _fail_replace])
def test_a_write_failing_midway_keeps_the_old_file_and_leaves_no_temp_file(old, monkeypatch, fail):
    path, before = old
    fail(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(ArtifactError, match=rf"^cannot write artifact {path}: No space left on device$"):
        save_artifact(path, "thing", {"x": np.arange(1000)}, {"v": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before and _leftovers(path.parent) == []
    assert load_artifact(path, "thing")[1] == {"v": 1, "kind": "thing"}


def test_an_interrupt_midway_keeps_the_old_file_and_leaves_no_temp_file(old, monkeypatch):
    path, before = old
    _fail_write(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        save_artifact(path, "thing", {"x": np.arange(1000)}, {"v": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before and _leftovers(path.parent) == []


def test_the_write_is_durable_file_fsync_then_rename_then_folder_fsync(old, monkeypatch):
    path, _ = old
    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(a, b):
        calls.append(("replace", os.path.realpath(b)))
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_artifact(path, "thing", ARRAYS, {"v": 2})
    folder = os.path.realpath(path.parent)
    assert [c[0] for c in calls] == ["fsync", "replace", "fsync"]
    assert os.path.dirname(calls[0][1]) == folder and os.path.basename(calls[0][1]).startswith(".a.safetensors.")
    assert calls[1:] == [("replace", os.path.realpath(path)), ("fsync", folder)]


def test_every_truncation_is_refused_naming_the_file(tmp_path):
    path = create("full", oov="hash", oov_buckets=3).fit(np.array([5, 9, 2**40])).save(tmp_path / "r.safetensors")
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    for n in range(len(data)):                       # every prefix: empty, in the length, header, arrays, last byte
        cut.write_bytes(data[:n])
        with pytest.raises(ArtifactError, match=f"^artifact {cut} is corrupted or not a recsys_hash artifact"):
            IdRemapper.load(cut)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, 10_000), value=st.integers(0, 255))
def test_a_changed_byte_is_refused_or_changes_nothing(tmp_path, pos, value):
    """Any one byte changed: ArtifactError naming the file, or (a blank of the header's padding turned into other
    JSON whitespace) the very same arrays and metadata."""
    path = tmp_path / "b.safetensors"
    if not path.exists():
        save_artifact(path, "thing", ARRAYS, {"v": 1})
    data = bytearray(path.read_bytes())
    pos %= len(data)
    data[pos] = value
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    try:
        arrays, meta = load_artifact(bad, "thing")
    except ArtifactError as exc:
        assert str(exc).startswith(f"artifact {bad} ")
        return
    assert meta == {"v": 1, "kind": "thing"} and set(arrays) == set(ARRAYS)
    assert all(np.array_equal(arrays[k], ARRAYS[k]) for k in ARRAYS)


def test_trailing_bytes_and_garbage_headers_are_refused(tmp_path, old):
    path, data = old
    for blob in (data + b"\0", data + b"x" * 100, (2**63).to_bytes(8, "little") + b"{}", b"\xff" * 64, b"short"):
        bad = tmp_path / "g.safetensors"
        bad.write_bytes(blob)
        with pytest.raises(ArtifactError, match=f"^artifact {bad} is corrupted or not a recsys_hash artifact"):
            load_artifact(bad)


def _rewrite_header(path, change):
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    st_header = json.loads(data[8: 8 + n])
    header = json.loads(st_header["__metadata__"]["recsys_hash"])
    change(header)
    st_header["__metadata__"]["recsys_hash"] = json.dumps(header)
    raw = json.dumps(st_header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n:])


@pytest.mark.parametrize("version, shown", [(None, "None"), ("2", "'2'"), (True, "True"), (0, "0")])
def test_a_missing_or_mistyped_version_is_reported(old, version, shown):
    path, _ = old
    _rewrite_header(path, lambda h: h.update(format_version=version))
    with pytest.raises(ArtifactError, match=rf"^artifact {path} has format version {shown}; this library reads "
                                            rf"version {FORMAT_VERSION} only$"):
        load_artifact(path)


def test_a_missing_checksum_is_a_checksum_failure(old):
    path, _ = old
    _rewrite_header(path, lambda h: h.pop("sha256"))
    with pytest.raises(ArtifactError, match=rf"^artifact {path} failed its checksum: .*\(expected sha256 None, got "):
        load_artifact(path)


def test_resuming_from_a_truncated_checkpoint_names_it(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    opts = {"sgd": torch.optim.SGD(model.parameters(), lr=0.1)}

    def train_epoch(epoch, advance):
        for _ in advance.skip(range(2)):
            advance(1, loss=0.0)
        return {"loss": 0.0}

    ckpt = tmp_path / "c.safetensors"
    TrainLoop(LoopConfig(epochs=1, progress=False, checkpoint=str(ckpt)), "toy").run(model, opts, train_epoch, None, "m")
    ckpt.write_bytes(ckpt.read_bytes()[:-7])
    loop = TrainLoop(LoopConfig(epochs=2, progress=False, checkpoint=str(ckpt), resume=True), "toy")
    with pytest.raises(ArtifactError, match=f"^artifact {ckpt} is corrupted or not a recsys_hash artifact"):
        loop.run(model, opts, train_epoch, None, "m")

