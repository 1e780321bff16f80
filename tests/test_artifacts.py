"""Artifact integrity: one sha256 covers kind, format version, metadata and arrays; old versions and bad paths
are refused with the file named."""
import hashlib
import json

import numpy as np
import pytest

from recsys_hash.artifacts import FORMAT_VERSION, load_artifact, save_artifact
from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.errors import ArtifactError
from recsys_hash.ids import IdRemapper, create

KEY = "recsys_hash"


def edit_header(path, change):
    """Rewrite the recsys_hash JSON header of a safetensors file with `change(header)`; the file stays valid."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    st_header = json.loads(data[8: 8 + n])
    header = json.loads(st_header["__metadata__"][KEY])
    change(header)
    st_header["__metadata__"][KEY] = json.dumps(header, sort_keys=True)
    raw = json.dumps(st_header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n:])


def _set(*keys, value):
    def change(header):
        d = header
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return change


@pytest.fixture
def universal(tmp_path):
    return create("universal", num_rows=1000, seed=0).fit(np.arange(5000)).save(tmp_path / "u.safetensors")


def test_edited_seed_is_caught(universal):
    edit_header(universal, _set("meta", "params", "seed", value=1))
    with pytest.raises(ArtifactError, match=rf"^artifact {universal} failed its checksum: its metadata or arrays "
                                            "differ from what was saved"):
        IdRemapper.load(universal)


def test_edited_graphhash_num_rows_is_caught(tmp_path):
    inter, _, _ = planted_bipartite(200, 150, 4, 2000, seed=1)
    path = create("graphhash", num_rows=30, seed=0).fit(interactions=inter, side="item").save(tmp_path / "g.safetensors")
    assert IdRemapper.load(path).num_rows_ == 30
    edit_header(path, _set("meta", "num_rows", value=90))
    with pytest.raises(ArtifactError, match=f"artifact {path} failed its checksum"):
        IdRemapper.load(path)


@pytest.mark.parametrize("change", [
    _set("kind", value="retrieval_checkpoint"),
    _set("meta", "strategy", value="modulo"),
    _set("meta", "key_kind", value="str"),
    _set("format_version", value=float(FORMAT_VERSION)),     # same number, other bytes: still an edit
])
def test_every_header_field_is_covered(universal, change):
    edit_header(universal, change)
    with pytest.raises(ArtifactError, match=f"artifact {universal} failed its checksum"):
        load_artifact(universal)


def test_other_format_version_is_refused(universal):
    edit_header(universal, _set("format_version", value=FORMAT_VERSION + 1))
    with pytest.raises(ArtifactError, match=rf"^artifact {universal} has format version {FORMAT_VERSION + 1}; "
                                            rf"this library reads version {FORMAT_VERSION} only"):
        IdRemapper.load(universal)


def test_version_1_file_is_refused_with_advice(tmp_path):
    # a file as version 1 wrote it: the sha256 covered the arrays only
    arrays = {"x": np.arange(4, dtype=np.int64)}
    h = hashlib.sha256()
    h.update(b"x" + b"int64" + b"(4,)" + arrays["x"].tobytes())
    header = {"kind": "id_remapper", "format_version": 1, "sha256": h.hexdigest(), "meta": {}}
    from safetensors.numpy import save

    path = tmp_path / "old.safetensors"
    path.write_bytes(save(arrays, metadata={KEY: json.dumps(header)}))
    with pytest.raises(ArtifactError, match=rf"artifact {path} has format version 1; this library reads version "
                                            rf"{FORMAT_VERSION} only .*re-create it"):
        load_artifact(path)


def test_round_trip_keeps_meta_and_arrays(tmp_path):
    meta = {"a": [1, 2.5, "x"], "b": {"nested": None}, "t": (3, 4)}
    path = save_artifact(tmp_path / "x.safetensors", "thing", {"w": np.eye(2)}, meta)
    arrays, back = load_artifact(path, "thing")
    np.testing.assert_array_equal(arrays["w"], np.eye(2))
    assert back == {"a": [1, 2.5, "x"], "b": {"nested": None}, "t": [3, 4], "kind": "thing"}
    with pytest.raises(ArtifactError, match=f"artifact {path} holds a 'thing', expected a 'other'"):
        load_artifact(path, "other")


def test_save_to_bad_paths_names_the_path(tmp_path):
    r = create("modulo", num_rows=10).fit(np.arange(20))
    with pytest.raises(ArtifactError, match=f"cannot write artifact {tmp_path}: it is a folder"):
        r.save(tmp_path)
    with pytest.raises(ArtifactError, match="cannot write artifact '': empty path"):
        r.save("")
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(ArtifactError, match=f"cannot write artifact {tmp_path}/plain.txt/r.st: "
                                            f"{tmp_path}/plain.txt is not a folder"):
        r.save(tmp_path / "plain.txt" / "r.st")
    with pytest.raises(ArtifactError, match=f"cannot write artifact {tmp_path}/no/r.st: folder {tmp_path}/no does not exist"):
        r.save(tmp_path / "no" / "r.st")
