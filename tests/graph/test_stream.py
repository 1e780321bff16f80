"""Graph build streamed from parquet/CSV files (graph.stream) equals the in-memory build exactly."""
import numpy as np
import polars as pl
import pytest

from recsys_hash.data.synthetic_graph import planted_bipartite
from recsys_hash.data.types import Interactions
from recsys_hash.errors import DataFormatError, InvalidIdError
from recsys_hash.graph.biadjacency import build_biadjacency
from recsys_hash.graph import stream
from recsys_hash.graph.stream import graph_from_file
from recsys_hash.ids.graphhash import GraphHash


@pytest.fixture(scope="module")
def raw():
    """Interactions with duplicate pairs (dedupe off), isolated IDs at both ends, and float weights."""
    inter, _, _ = planted_bipartite(300, 200, 5, 4000, seed=2, dedupe=False)
    rng = np.random.default_rng(0)
    w = rng.integers(0, 8, len(inter)) / 4.0                    # exact binary fractions, some zero
    return Interactions(inter.user, inter.item, 302, 205, rating=w.astype(np.float32))


def _write(df: pl.DataFrame, tmp_path, kind: str):
    path = tmp_path / f"inter.{kind}"
    (df.write_parquet if kind == "parquet" else df.write_csv)(path)
    return path


def _same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype == np.float64
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("kind, part_rows", [("parquet", 4_000_000), ("csv", 4_000_000), ("parquet", 700)])
def test_equals_in_memory_build(raw, tmp_path, kind, part_rows, monkeypatch):
    monkeypatch.setattr(stream, "PART_ROWS", part_rows)            # 700: the build runs in 6 user ranges
    df = pl.DataFrame({"uid": raw.user, "iid": raw.item, "w": raw.rating.astype(np.float64)})
    path = _write(df, tmp_path, kind)
    g = graph_from_file(path, "uid", "iid", n_users=302, n_items=205)
    _same(g.biadjacency, build_biadjacency(raw))
    np.testing.assert_array_equal(g.user_counts, np.bincount(raw.user, minlength=302))
    np.testing.assert_array_equal(g.item_counts, np.bincount(raw.item, minlength=205))
    assert len(g) == len(raw) and g.biadjacency.has_sorted_indices
    _same(graph_from_file(path, "uid", "iid", n_users=302, n_items=205, binarize=True).biadjacency,
          build_biadjacency(raw, binarize=True))
    _same(graph_from_file(path, "uid", "iid", weight="w", n_users=302, n_items=205).biadjacency,
          build_biadjacency(raw, weights="rating"))
    # vocabulary from the data: largest ID + 1
    top = graph_from_file(path, "uid", "iid")
    assert (top.n_users, top.n_items) == (int(raw.user.max()) + 1, int(raw.item.max()) + 1)


def test_hand_computed_small_file(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("user,item,extra\n2,0,a\n0,1,b\n0,1,c\n0,2,d\n")
    g = graph_from_file(path)
    assert g.biadjacency.toarray().tolist() == [[0, 2, 1], [0, 0, 0], [1, 0, 0]]
    assert g.user_counts.tolist() == [3, 0, 1] and g.item_counts.tolist() == [1, 2, 1]


def test_graphhash_fits_from_file_like_from_memory(raw, tmp_path):
    path = _write(pl.DataFrame({"user": raw.user, "item": raw.item}), tmp_path, "parquet")
    g = graph_from_file(path, n_users=302, n_items=205)
    plain = Interactions(raw.user, raw.item, 302, 205)
    a = GraphHash.fit_sides(g, {"user": 40, "item": 30}, cluster_share=1.0)
    b = GraphHash.fit_sides(plain, {"user": 40, "item": 30}, cluster_share=1.0)
    for side, n in (("user", 400), ("item", 300)):
        np.testing.assert_array_equal(a[side].transform(np.arange(n)), b[side].transform(np.arange(n)))
        np.testing.assert_array_equal(a[side].fit_counts_, b[side].fit_counts_)
    one = GraphHash(num_rows=25, cluster_share=1.0).fit(interactions=g, side="item")
    two = GraphHash(num_rows=25, cluster_share=1.0).fit(interactions=plain, side="item")
    np.testing.assert_array_equal(one.transform(np.arange(300)), two.transform(np.arange(300)))
    with pytest.raises(ValueError, match=r"weights='rating' but the graph from .*inter.parquet was built without"):
        GraphHash.fit_sides(g, {"user": 40}, weights="rating")


def test_errors_name_file_and_column(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"interactions file .*nope.parquet does not exist"):
        graph_from_file(tmp_path / "nope.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataFormatError, match=r"bad.parquet: cannot read the interactions"):
        graph_from_file(bad)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match=r"x.json: unknown file type '.json'"):
        graph_from_file(tmp_path / "x.json")
    ok = tmp_path / "ok.csv"
    ok.write_text("u,i,w\n0,1,1.0\n1,0,2.0\n")
    with pytest.raises(DataFormatError, match=r"ok.csv: no column 'user' \(columns: u, i, w\)"):
        graph_from_file(ok)
    with pytest.raises(DataFormatError, match=r"ok.csv: no column 'rating'"):
        graph_from_file(ok, "u", "i", weight="rating")
    with pytest.raises(DataFormatError, match=r"ok.csv: column 'w' must hold integer ID indices, got Float64"):
        graph_from_file(ok, "u", "w")
    with pytest.raises(InvalidIdError, match=r"ok.csv: column 'i' holds ID 1, outside \[0, 1\) \(n_items=1\)"):
        graph_from_file(ok, "u", "i", n_items=1)


@pytest.mark.parametrize("name, text, kwargs, error, match", [
    ("neg.csv", "user,item\n0,1\n-3,0\n", {}, InvalidIdError, r"neg.csv: column 'user' holds negative ID -3"),
    ("holes.csv", "user,item\n0,1\n,0\n", {}, DataFormatError, r"holes.csv: column 'user' has 1 missing values"),
    # a non-integer beyond the rows polars reads to infer the schema
    ("late.csv", "user,item\n" + "0,1\n" * 20_000 + "x,0\n", {}, DataFormatError,
     r"late.csv: cannot read the interactions"),
    ("empty.csv", "user,item\n", {}, ValueError, r"empty.csv: the interaction graph is empty"),
    ("zero.csv", "user,item,w\n0,1,0.0\n", {"weight": "w"}, ValueError, r"zero.csv: every interaction has weight 0"),
    ("nan.csv", "user,item,w\n0,1,NaN\n", {"weight": "w"}, ValueError,
     r"nan.csv: weight column 'w' holds NaN, inf or negative values"),
])
def test_malformed_csv(tmp_path, name, text, kwargs, error, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(error, match=match):
        graph_from_file(tmp_path / name, **kwargs)
