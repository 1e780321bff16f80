"""GraphHash on CTR data: where IDs with no positive training row go (cold policies partial_fit and cold_rows)."""
import numpy as np
import pytest

from recsys_hash.data.ctr_sets import CTRDataset
from recsys_hash.data.types import CTRFrame
from recsys_hash.ids.hashing import universal_hash, universal_params
from recsys_hash.models.ctr import fit_ctr_tables
from recsys_hash.models.ctr_config import CTRConfig, FeatureSpec, config_from_dict

GRAPH = ("user", "item")


def _toy() -> CTRDataset:
    """6 users, 10 items: items 0-4 are clicked (two user communities), items 5-9 only ever shown unclicked."""
    users = np.array([0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 3])
    items = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 3, 4, 5, 6, 7, 8, 9, 5, 6, 7])
    labels = np.array([1] * 12 + [0] * 8, np.float32)
    frame = CTRFrame({"user": users, "item": items}, np.zeros((20, 0), np.float32), [], labels, name="toy")
    return CTRDataset("toy", frame, frame, frame, {"user": 6, "item": 10}, "user", "item", "toy")


def test_cold_rows_hold_the_ids_without_a_positive_row():
    data = _toy()
    cfg = CTRConfig(features={"item": FeatureSpec("graphhash", 5)}, cold="cold_rows", cold_share=0.4)
    tables, report = fit_ctr_tables(data, cfg.resolve(data.features, data.vocab, GRAPH), GRAPH, cfg.cold, seed=0,
                                    cold_share=cfg.cold_share)
    rows = np.asarray(tables["item"].transform(np.arange(10)))
    assert tables["item"].table_rows == 5
    assert set(rows[:5]) <= {0, 1, 2}                                         # clusters: 5 - round(5 * 0.4) rows
    a, b = universal_params(1)[0]
    np.testing.assert_array_equal(rows[5:], 3 + universal_hash(np.arange(5, 10), a, b, 2))
    assert report["item"]["cold_rows"] == 2 and report["item"]["cold_placed"] == 5
    assert report["item"]["ids_in_graph"] == 5 and report["item"]["cold_hashed"] == 0


def test_partial_fit_policy_places_cold_ids_among_the_clusters():
    data = _toy()
    cfg = CTRConfig(features={"item": FeatureSpec("graphhash", 5)})
    assert cfg.cold == "partial_fit"                                          # the default policy
    tables, report = fit_ctr_tables(data, cfg.resolve(data.features, data.vocab, GRAPH), GRAPH, cfg.cold, seed=0)
    clustered = set(np.asarray(tables["item"].transform(np.arange(5))).tolist())
    assert set(np.asarray(tables["item"].transform(np.arange(5, 10))).tolist()) <= clustered
    assert report["item"]["cold_rows"] == 0 and report["item"]["cold_placed"] == 5


def test_cold_share_is_checked_and_read_from_toml():
    assert config_from_dict({"graph": {"cold": "cold_rows", "cold_share": 0.2}}).cold_share == 0.2
    with pytest.raises(ValueError, match=r"graph cold_share must be in \(0, 1\), got 1\.0"):
        CTRConfig(cold_share=1.0).resolve(["user", "item"], {"user": 2, "item": 2}, GRAPH)
    with pytest.raises(ValueError, match=r"graph cold policy must be one of partial_fit, cold_rows, hash, got 'x'"):
        CTRConfig(cold="x").resolve(["user", "item"], {"user": 2, "item": 2}, GRAPH)


def test_graph_features_default_to_all_cluster_rows_and_binary_edges_on_ctr_data():
    """GraphHash's retrieval-scored "auto" share and count-weighted edges are not the CTR defaults (both cost
    validation AUC on Frappe); a spec that sets either keeps its value."""
    data = _toy()
    cfg = CTRConfig(features={"item": FeatureSpec("graphhash", 5)})
    tables, report = fit_ctr_tables(data, cfg.resolve(data.features, data.vocab, GRAPH), GRAPH, cfg.cold, seed=0)
    assert tables["item"].cluster_share == 1.0 and report["item"]["cluster_share"] == 1.0
    assert tables["item"].binarize is True and report["item"]["binarize"] is True
    auto = CTRConfig(features={"item": FeatureSpec("graphhash", 5, {"cluster_share": "auto", "binarize": False}),
                               "user": FeatureSpec("double_graphhash", 4)})
    tables, report = fit_ctr_tables(data, auto.resolve(data.features, data.vocab, GRAPH), GRAPH, auto.cold, seed=0)
    assert tables["item"].cluster_share == "auto" and report["item"]["cluster_share"] == "auto"
    assert tables["item"].binarize is False and report["item"]["binarize"] is False
    assert tables["user"].cluster_share == 1.0 and tables["user"].binarize is True
