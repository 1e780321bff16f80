"""The benchmark helpers that merge and reuse results: which run wins, which lr/reg is reused, what a tuning variant
means, which MF runs the offline scorer check reads. Hand-built result files; nothing is trained except the offline
check's tied-row ALS scorer, against a dense per-row solve and on a planted two-block graph."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCH))                      # recall_table imports bench_recall by name
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recall_run(strategy, budget, seed, recall, lr=0.005, reg=0.001, ds="toy"):
    return {"dataset": ds, "model": "mf", "strategy": strategy, "budget": budget, "seed": seed, "recall@20": recall,
            "ndcg@20": recall / 2, "rows_user": 10, "rows_item": 20, "full_rows": 100, "lr": lr, "reg": reg,
            "train_s": 1.0}


def _write(path: Path, runs: list[dict]) -> str:
    path.write_text(json.dumps({"runs": runs}))
    return str(path)


def test_reuse_grid_takes_the_first_file_holding_a_cell(tmp_path):
    bench = _load("bench_recall")
    a = _write(tmp_path / "a.json", [_recall_run("graphhash", 0.25, 0, 0.3, lr=0.01, reg=0.0001),
                                     {"dataset": "toy", "model": "mf", "strategy": "most_popular", "budget": None,
                                      "seed": 0, "lr": None}])
    b = _write(tmp_path / "b.json", [_recall_run("graphhash", 0.25, 0, 0.2, lr=0.001, reg=0.001),
                                     _recall_run("full", 1.0, 0, 0.5, lr=0.005, reg=0.0001)])
    assert bench.chosen_settings([a, b]) == {("toy", "mf", "graphhash", 0.25): (0.01, 0.0001),
                                             ("toy", "mf", "full", 1.0): (0.005, 0.0001)}


def test_merged_runs_let_a_later_file_replace_a_seed_and_summarise_every_seed(tmp_path):
    table = _load("recall_table")
    first = _write(tmp_path / "first.json", [_recall_run("graphhash", 0.25, 0, 0.10),
                                             _recall_run("graphhash:cluster_share=1.0", 0.25, 0, 0.20),
                                             _recall_run("frequency", 0.25, 0, 0.05),
                                             _recall_run("full", 1.0, 0, 0.40)])
    later = _write(tmp_path / "later.json", [_recall_run("graphhash", 0.25, 0, 0.30),   # a rerun of seed 0
                                             _recall_run("graphhash", 0.25, 1, 0.10)])
    runs, rows = table.merge_runs([first, later])
    assert len(runs) == 5
    gh = next(r for r in rows if r["strategy"] == "graphhash")
    assert gh["seeds"] == 2 and gh["recall@20"] == pytest.approx(0.20)              # (0.30 + 0.10) / 2
    assert gh["vs_oracle"] == pytest.approx(1.0) and gh["gain_over_best_hashing"] == pytest.approx(3.0)
    goals = table.goals(rows).splitlines()
    assert goals[2] == ("| toy | 25% | 0.2000 ± 0.1414 (2 seeds) | 1.0: 0.2000 (1 seed) | 1.000 | frequency: 0.0500 "
                        "(1 seed) | 4.000 | 0.4000 (1 seed) | 0.500 |")


def test_ctr_merge_keeps_the_later_run_of_a_seed(tmp_path):
    bench = _load("bench_ctr")
    run = lambda strategy, seed, auc: {"dataset": "d", "model": "dlrm", "strategy": strategy, "seed": seed,
                                       "auc": auc, "gauc": auc, "logloss": 1 - auc, "train_s": 1.0, "rows": 5,
                                       "full_rows": 10}
    (tmp_path / "a.json").write_text(json.dumps({"mc_train_step_ratio": 1.2, "runs": [
        run("double_frequency", 0, 0.80), run("graphhash", 0, 0.70), run("double_frequency", 1, 0.82)]}))
    (tmp_path / "b.json").write_text(json.dumps({"mc_train_step_ratio": 1.1, "runs": [
        run("graphhash", 0, 0.90), run("graphhash", 1, 0.86)]}))
    merged = bench.merge_files([str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert merged["mc_train_step_ratio"] == 1.1 and len(merged["runs"]) == 4
    gh = next(r for r in merged["summary"] if r["strategy"] == "graphhash")
    assert gh["auc"] == pytest.approx(0.88) and gh["auc_vs_double_frequency"] == pytest.approx(0.07)


def test_tuning_variants_parse_and_unknown_settings_are_named():
    tune = _load("tune_ctr")
    assert tune.parse_variant("graphhash:cluster_share=0.5;binarize=True|hidden=128;emb_l2=0.003") == (
        "graphhash", {"cluster_share": 0.5, "binarize": True}, {"hidden": 128, "emb_l2": 0.003})
    assert tune.parse_variant("full") == ("full", {}, {})
    with pytest.raises(ValueError, match=r"variant 'full\|hiden=3': unknown training setting 'hiden'"):
        tune.parse_variant("full|hiden=3")


def test_recall_table_help_prints_its_usage_instead_of_reading_a_file(capsys):
    table = _load("recall_table")
    table.main(["--help"])
    assert "python benchmarks/recall_table.py --runs A.json B.json" in capsys.readouterr().out


def test_als_side_solves_each_rows_system():
    loop = _load("auto_proxy_loop")
    rng = np.random.default_rng(0)
    comp = sp.random(7, 5, density=0.5, random_state=1, format="csr") * 4
    other = rng.standard_normal((5, 3))
    s_self, s_other = rng.integers(1, 4, 7).astype(float), rng.integers(1, 5, 5).astype(float)
    alpha0, lam = 0.3, 0.05
    got = loop._als_side(comp, np.zeros((7, 3)), other, s_self, s_other, alpha0, lam, steps=3)   # CG: exact in d steps
    gram = sum(s_other[b] * np.outer(other[b], other[b]) for b in range(5))
    dense = comp.toarray()
    for a in range(7):
        reg = lam * (dense[a].sum() + alpha0 * s_self[a] * s_other.sum())
        mat = alpha0 * s_self[a] * gram + sum(dense[a, b] * np.outer(other[b], other[b]) for b in range(5)) \
            + reg * np.eye(3)
        want = np.linalg.solve(mat, dense[a] @ other)
        np.testing.assert_allclose(got[a], want, rtol=1e-6, atol=1e-9)


def test_ials_scorer_ranks_the_held_out_block_first():
    """Two planted blocks (users 0-19 x items 0-9, users 20-39 x items 10-19), one row per ID, one carved edge per
    user inside its block: the only unmasked item of the user's block is the carved one, so a fitted scorer puts
    it first (Recall@1 = 1 for every user). With every item on one row, the 11 unmasked items tie: 1/11."""
    loop = _load("auto_proxy_loop")
    dense = np.zeros((40, 20))
    dense[:20, :10] = dense[20:, 10:] = 1
    held = np.zeros_like(dense)
    users = np.arange(40)
    held[users, (users % 10) + 10 * (users >= 20)] = 1
    fit, held = sp.csr_matrix(dense - held), sp.csr_matrix(held)
    recall = loop.ials_score_rows(fit, held, users, np.arange(20), users, k=1, dim=4, per_user=True)
    assert recall.tolist() == [1.0] * 40
    one_row = np.zeros(20, dtype=np.int64)
    assert np.isclose(loop.ials_score_rows(fit, held, users, one_row, users, k=1, dim=4), 1 / 11)


def test_mf_points_keeps_one_learning_rate(tmp_path):
    loop = _load("auto_proxy_loop")
    run = {"dataset": "toy", "model": "mf", "seed": 0, "budget": 0.25, "clustering": {"item": {"resolution": 2.0}}}
    runs = [dict(run, strategy="graphhash", lr=0.005, **{"recall@20": 0.1}),
            dict(run, strategy="graphhash:cluster_share=1.0", lr=0.001, **{"recall@20": 0.2}),
            dict(run, strategy="graphhash", lr=0.001, seed=1, **{"recall@20": 0.3})]
    (tmp_path / "bench_recall_auto9_toy.json").write_text(json.dumps({"runs": runs}))
    assert [p[2] for p in loop.mf_points("toy", tmp_path)[0.25]] == [0.1, 0.2]
    assert [p[2] for p in loop.mf_points("toy", tmp_path, lr=0.001)[0.25]] == [0.2]
