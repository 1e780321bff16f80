"""A Criteo-format file through the on-disk columnar cache (memory-mapped): the same dataset, batches and training as
the in-memory loader; the cache is reused, rebuilt when the source changes or the cache is damaged, and errors name
what and where."""
import json
import os

import numpy as np
import pytest

from recsys_hash.data.ctr_cache import CACHE_VERSION, open_criteo_cache
from recsys_hash.data.ctr_sets import load_criteo_ctr, load_ctr_dataset
from recsys_hash.errors import ArtifactError, DataFormatError

N_ROWS = 3000  # write_criteo's default (tests/conftest.py)


@pytest.fixture(scope="module")
def source(tmp_path_factory, write_criteo):
    return write_criteo(tmp_path_factory.mktemp("criteo") / "day_0.tsv")


def assert_same_dataset(mapped, memory):
    assert mapped.vocab == memory.vocab and mapped.features == memory.features and mapped.n_dense == 13
    assert mapped.split_note.endswith(memory.split_note.split("; ", 1)[1])
    for split, frame in memory.splits().items():
        other = mapped.splits()[split]
        assert len(other) == len(frame)
        np.testing.assert_array_equal(other.labels, frame.labels)
        for f in frame.categorical:
            np.testing.assert_array_equal(other.categorical[f], frame.categorical[f])
            np.testing.assert_array_equal(mapped.column(split, f), memory.column(split, f))
        idx = np.random.default_rng(1).permutation(len(frame))[:257]
        (d1, k1, y1), (d2, k2, y2) = mapped.batch(split, idx), memory.batch(split, idx)
        assert d1.dtype == d2.dtype and (d1 == d2).all() and (y1 == y2).all() and k1.keys() == k2.keys()
        assert (k1.values() == k2.values()).all() and (k1.lengths() == k2.lengths()).all()
        np.testing.assert_array_equal(other.dense[np.arange(len(frame))], frame.dense)


def test_cached_dataset_equals_the_in_memory_loader(source, tmp_path):
    memory = load_criteo_ctr(source, seed=3)
    mapped = load_criteo_ctr(source, seed=3, cache_dir=tmp_path / "cache")
    assert len(mapped.train) + len(mapped.valid) + len(mapped.test) == N_ROWS
    assert_same_dataset(mapped, memory)
    assert mapped.train.dense[np.arange(2)].dtype == np.float32
    assert isinstance(mapped.train.categorical["C1"], np.ndarray)


@pytest.mark.parametrize("full_first", [False, True])
def test_max_rows_takes_the_first_rows_from_a_prefix_or_its_own_cache(source, tmp_path, full_first):
    if full_first:           # a cache of the whole file serves any prefix without parsing again
        load_criteo_ctr(source, cache_dir=tmp_path)
    mapped = load_criteo_ctr(source, seed=1, max_rows=1001, cache_dir=tmp_path)
    assert_same_dataset(mapped, load_criteo_ctr(source, seed=1, max_rows=1001))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 1 and names[0].endswith("-all" if full_first else "-rows1001"), names


def test_training_through_the_cache_gives_the_in_memory_losses(source, tmp_path):
    from recsys_hash.models.ctr_config import CTRConfig, FeatureSpec
    from recsys_hash.models.train_ctr import CTRTrainConfig, run_ctr

    cfg = CTRConfig(dim=4, features={"C1": FeatureSpec("graphhash", 0.5), "C2": FeatureSpec("double_frequency", 0.5)})
    train = CTRTrainConfig(epochs=1, batch_size=256, hidden=8, progress=False, eval_batch=700)
    runs = [run_ctr(d, cfg, train, seed=2)[0] for d in (load_criteo_ctr(source, seed=2, max_rows=1500),
                                                           load_criteo_ctr(source, seed=2, max_rows=1500,
                                                                           cache_dir=tmp_path))]
    for key in ("history", "auc", "gauc", "logloss", "rows", "full_rows", "graph"):
        assert runs[0][key] == runs[1][key], key


def test_cache_is_reused_and_rebuilt_when_the_source_changes(tmp_path, write_criteo):
    path = write_criteo(tmp_path / "d.tsv", n=400, seed=5)
    first = open_criteo_cache(path, tmp_path / "c")
    assert first.status == "built" and first.n_rows == 400
    stamp = {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()}
    again = open_criteo_cache(path, tmp_path / "c")
    assert again.status == "reused" and again.folder == first.folder
    assert {p.name: p.stat().st_mtime_ns for p in again.folder.iterdir()} == stamp
    write_criteo(path, n=450, seed=6)                                       # a longer file
    assert open_criteo_cache(path, tmp_path / "c").status == "rebuilt: the source file changed"
    st = path.stat()
    text = path.read_text()
    path.write_text(("1" if text[0] == "0" else "0") + text[1:])            # same size, same mtime, other label
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert open_criteo_cache(path, tmp_path / "c").status == "rebuilt: the source file changed"
    assert_same_dataset(load_criteo_ctr(path, cache_dir=tmp_path / "c"), load_criteo_ctr(path))
    assert [p.name for p in (tmp_path / "c").iterdir()] == [first.folder.name]      # no stale or temp folder left


@pytest.mark.parametrize("damage, reason", [
    (lambda d: (d / "C7.int64").write_bytes((d / "C7.int64").read_bytes()[:-8]), "C7.int64 has 3192 bytes, expected 3200"),
    (lambda d: (d / "dense.float32").write_bytes(b"\x01" + (d / "dense.float32").read_bytes()[1:]),
     "dense.float32 failed its sha256 check"),
    (lambda d: (d / "meta.json").write_text("{not json"), "meta.json is not valid JSON"),
    (lambda d: (d / "meta.json").unlink(), "meta.json is missing"),
    (lambda d: (d / "meta.json").write_text(json.dumps({**json.loads((d / "meta.json").read_text()),
                                                        "format_version": CACHE_VERSION + 1})),
     f"format version {CACHE_VERSION + 1}, expected {CACHE_VERSION}"),
])
def test_a_damaged_cache_is_detected_and_rebuilt(tmp_path, damage, reason, write_criteo):
    path = write_criteo(tmp_path / "d.tsv", n=400, seed=5)
    cache = open_criteo_cache(path, tmp_path / "c")
    damage(cache.folder)
    again = open_criteo_cache(path, tmp_path / "c")
    assert again.status == f"rebuilt: {reason}"
    assert_same_dataset(load_criteo_ctr(path, cache_dir=tmp_path / "c"), load_criteo_ctr(path))


def test_a_damaged_cache_that_cannot_be_rebuilt_is_refused(tmp_path, monkeypatch, write_criteo):
    import tempfile

    path = write_criteo(tmp_path / "d.tsv", n=100, seed=5)
    folder = open_criteo_cache(path, tmp_path / "c").folder
    (folder / "labels.float32").write_bytes(b"")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", full_disk)
    with pytest.raises(ArtifactError, match=r"^Criteo cache .*d.tsv-\w+-all: labels.float32 has 0 bytes, expected 400; "
                                            r"rebuilding it failed: cannot write the Criteo cache in .*: "
                                            r"No space left on device$"):
        open_criteo_cache(path, tmp_path / "c")


def test_cache_dir_that_is_a_file_is_a_clear_error(tmp_path, write_criteo):
    path = write_criteo(tmp_path / "d.tsv", n=50)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ArtifactError, match=rf"^cannot write the Criteo cache in {tmp_path / 'f'}: .*"):
        load_criteo_ctr(path, cache_dir=tmp_path / "f")


def test_a_malformed_line_names_file_and_line_and_leaves_no_cache(tmp_path, write_criteo):
    path = write_criteo(tmp_path / "bad.tsv", n=2000, bad_line=1500)
    with pytest.raises(DataFormatError, match=r"^bad.tsv line 1500: expected 40 tab-separated fields, got 39"):
        load_criteo_ctr(path, cache_dir=tmp_path / "c", chunk_rows=256)
    assert list((tmp_path / "c").iterdir()) == []
    mapped = load_criteo_ctr(path, max_rows=1499, cache_dir=tmp_path / "c", chunk_rows=256)   # rows before it
    assert len(mapped.train) + len(mapped.valid) + len(mapped.test) == 1499


def test_a_dense_value_beyond_float32_names_the_file_and_line(tmp_path, write_criteo):
    path = write_criteo(tmp_path / "d.tsv", n=30)
    lines = path.read_text().splitlines()
    lines[11] = "\t".join([lines[11].split("\t")[0], "1e39", *lines[11].split("\t")[2:]])
    path.write_text("\n".join(lines) + "\n")
    for cache_dir in (None, tmp_path / "c"):     # log1p of a float32 overflow would be inf: refused at parse
        with pytest.raises(DataFormatError, match=r"^d.tsv line 12: expected a numeric value within float32 range "
                                                  r"in dense column 'I1', got '1e39'$"):
            load_criteo_ctr(path, cache_dir=cache_dir)


def test_bad_max_rows_and_header_only_file(tmp_path, write_criteo):
    path = write_criteo(tmp_path / "d.tsv", n=20)
    with pytest.raises(ValueError, match=r"^criteo: max_rows must be >= 1, got 0$"):
        load_criteo_ctr(path, max_rows=0, cache_dir=tmp_path / "c")
    header = ",".join(["label"] + [f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)])
    (tmp_path / "h.csv").write_text(header + "\n")
    with pytest.raises(DataFormatError, match=r"^h.csv: file has a header but no data rows"):
        load_criteo_ctr(tmp_path / "h.csv", cache_dir=tmp_path / "c")


def test_load_ctr_dataset_passes_the_cache_and_row_limit(source, tmp_path):
    data = load_ctr_dataset("criteo", source, seed=0, cache_dir=tmp_path, max_rows=600)
    assert len(data.train) + len(data.valid) + len(data.test) == 600
    assert "cache built" in data.split_note
    with pytest.raises(ValueError, match=r"^max_rows applies to the criteo dataset only, not 'synthetic'$"):
        load_ctr_dataset("synthetic", max_rows=10)
