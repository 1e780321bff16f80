"""Report schema, Markdown, Pareto front and the PNG plot."""
import json

import pytest

from recsys_hash.audit.report import pareto_front, to_markdown, write_report
from recsys_hash.audit.runner import AuditConfig, AuditResult


def _result():
    rows = []
    # graphhash keeps an 800 B mapping, modulo 32 B: by serving bytes modulo is no longer dominated
    for strategy, budget, nbytes, mapping, recall in [
        ("full", 1.0, 4000, 1600, 0.30), ("modulo", 0.25, 1000, 32, 0.05), ("modulo", 0.1, 400, 32, 0.02),
        ("graphhash", 0.25, 1000, 800, 0.20), ("graphhash", 0.1, 400, 800, 0.15),
    ]:
        rows.append({"strategy": strategy, "budget": budget, "rows_user": nbytes // 40, "rows_item": nbytes // 40,
                     "param_bytes": nbytes, "mapping_bytes": mapping, "serving_bytes": nbytes + mapping,
                     "compression_ratio": 5600 / (nbytes + mapping), "param_compression_ratio": 4000 / nbytes,
                     "recall@20": recall, "item_weighted_shared_row_rate": 0.75,
                     "ndcg@20": recall / 2, "fit_s": 0.1, "train_s": 1.0, "seeds": [0],
                     "user_ids_per_row_mean": 1.0, "user_ids_per_row_max": 1, "item_ids_per_row_mean": 2.0,
                     "item_ids_per_row_max": 3, "item_weighted_collision_rate": 0.5,
                     "item_popularity_weighted_collision_rate": 0.2})
    return AuditResult(dataset="toy", task="retrieval", primary_metric="recall@20",
                       config={"dim": 8, "dtype": "float32", "seeds": [0]}, rows=rows,
                       floor={"name": "most-popular", "recall@20": 0.01})


def test_pareto_front_hand_computed():
    pts = [(4000, 0.30), (1000, 0.05), (400, 0.02), (1000, 0.20), (400, 0.15)]
    assert pareto_front(pts) == [4, 3, 0]
    assert pareto_front([(1, 1.0), (1, 1.0)]) == [0, 1]   # equal points dominate neither


def test_markdown_lists_every_row_and_front():
    md = to_markdown(_result(), "plot.png")
    assert md.count("\n| ") == 1 + 5
    # the front is on serving bytes (5600, 1032, 432, 1800, 1200), not on parameters (which would drop modulo)
    assert "Pareto front (smallest serving bytes for their quality): modulo@0.1, modulo@0.25, graphhash@0.1, " \
           "graphhash@0.25, full@1" in md
    header = md.split("\n| ")[1]
    for title in ("serving bytes", "params", "mapping", "compression (serving)", "compression (params)",
                  "interactions on shared item rows"):
        assert f" {title} |" in f" {header}", title
    assert "| modulo | 0.1 | 10 | 10 | 432 B | 400 B | 32 B | 12.96x | 10.00x |" in md
    assert "full reference's serving bytes" in md
    assert "![quality vs memory](plot.png)" in md and "most-popular: recall@20 = 0.0100" in md


def test_write_report_outputs(tmp_path):
    paths = write_report(_result(), tmp_path)
    png = paths["plot"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    data = json.loads(paths["json"].read_text())
    assert set(data) == {"dataset", "task", "primary_metric", "config", "rows", "floor"}
    assert [r["strategy"] for r in data["rows"]] == ["full", "modulo", "modulo", "graphhash", "graphhash"]


@pytest.mark.parametrize("kwargs,msg", [
    ({"strategies": ["modulo", "nope"]}, "unknown strategy 'nope'; known strategies: .*modulo"),
    ({"budgets": [0.25, 0.0]}, r"budget 0.0 is outside \(0, 1\]"),
    ({"budgets": [1.5]}, r"budget 1.5 is outside \(0, 1\]"),
    ({"budgets": []}, "at least one budget"),
    ({"dtype": "float8"}, "unknown embedding dtype"),
    ({"budgets": [0.25, 0.1, 0.25]}, "audit: budget 0.25 is given twice"),
    ({"budgets": [0.5, 0.5]}, "audit: budget 0.5 is given twice"),
    ({"strategies": ["qr", "modulo", "qr"]}, "audit: strategy 'qr' is given twice"),
    ({"seeds": [0, 1, 0]}, "audit: seed 0 is given twice"),
])
def test_config_validation(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        AuditConfig(**kwargs).validate()
