"""`recsys-hash recall` end to end on a small folder in the LightGCN line format."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys_hash.cli import app

runner = CliRunner()


@pytest.fixture
def lightgcn_folder(tmp_path):
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    with open(tmp_path / "train.txt", "w") as tr, open(tmp_path / "test.txt", "w") as te:
        for u in range(n_users):
            items = rng.choice(np.arange(u % 3, n_items, 3), size=6, replace=False)
            tr.write(" ".join(map(str, [u, *items[:5]])) + "\n")
            te.write(" ".join(map(str, [u, items[5]])) + "\n")
    return tmp_path


def _json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_recall_json(lightgcn_folder):
    res = runner.invoke(app, ["recall", "--dataset-path", str(lightgcn_folder), "--model", "mf", "--strategy",
                              "modulo", "--budget", "0.5", "--epochs", "2", "--dim", "8", "--k", "5,10",
                              "--batch-size", "64", "--threads", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = _json(res)
    assert {"recall@20", "ndcg@20", "recall@5", "ndcg@10", "rows_user", "rows_item", "full_rows", "params",
            "train_s", "eval_s"} <= set(out)
    assert out["rows_user"] == 20 and out["rows_item"] == 15 and out["full_rows"] == 70
    assert 0.0 <= out["recall@10"] <= 1.0


def test_recall_popular_and_row_count_budget(lightgcn_folder):
    res = runner.invoke(app, ["recall", "--dataset-path", str(lightgcn_folder), "--model", "popular", "--json"])
    assert res.exit_code == 0, res.output
    assert _json(res)["params"] == 0
    res = runner.invoke(app, ["recall", "--dataset-path", str(lightgcn_folder), "--strategy", "modulo",
                              "--budget", "7", "--epochs", "1", "--dim", "4", "--json"])
    assert res.exit_code == 0, res.output
    assert _json(res)["rows_user"] == 7 and _json(res)["rows_item"] == 7


def test_recall_bad_input(lightgcn_folder):
    res = runner.invoke(app, ["recall", "--json"])
    assert res.exit_code != 0 and "give --dataset NAME or --dataset-path DIR" in res.output
    res = runner.invoke(app, ["recall", "--dataset-path", str(lightgcn_folder), "--budget", "abc"])
    assert res.exit_code != 0 and "is not a number" in res.output
    res = runner.invoke(app, ["recall", "--dataset-path", str(lightgcn_folder), "--model", "popular", "--k", "100",
                              "--json"])
    assert res.exit_code == 1
    assert "k=100 is larger than the number of items (30)" in _json(res)["error"]


def test_strategy_params_parse():
    from recsys_hash.commands._options import parse_params

    assert parse_params(["cluster_share=0.25", "oov=hash", "num_hashes=3"]) == {
        "cluster_share": 0.25, "oov": "hash", "num_hashes": 3}
    # Python's spellings of the JSON constants are read as them too (binarize=True used to reach the strategy as text)
    assert parse_params(["binarize=True", "b=false", "resolution=None", "c=null"]) == {
        "binarize": True, "b": False, "resolution": None, "c": None}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_params(["cluster_share"])


def test_unknown_strategy_param_is_a_clear_error():
    from recsys_hash.ids.registry import check_params

    check_params("graphhash", {"cluster_share": 0.25})
    with pytest.raises(ValueError, match="strategy 'modulo' takes no parameter bogus; it takes: input_hash_size"):
        check_params("modulo", {"bogus": 1})
    with pytest.raises(ValueError, match="strategy 'graphhash' takes no parameter seed"):   # --seed sets it
        check_params("graphhash", {"seed": 3})


def test_params_reach_the_fitted_strategy():
    from recsys_hash.data.types import Interactions
    from recsys_hash.models.experiment import fit_strategy

    inter = Interactions(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]), 3, 3)
    full = fit_strategy("full", inter, 1.0, seed=0, oov="hash")
    assert full["item"].oov == "hash" and full["user"].oov == "hash"
    hashed = fit_strategy("double", inter, 2, seed=0, num_hashes=3)
    assert hashed["item"].rows_per_id == 3
    with pytest.raises(ValueError, match="strategy 'full' keeps every row: its budget is 1.0, got 0.5"):
        fit_strategy("full", inter, 0.5, seed=0)
    with pytest.raises(ValueError, match="strategy 'full' takes no parameter bogus"):
        fit_strategy("full", inter, 1.0, seed=0, bogus=1)
