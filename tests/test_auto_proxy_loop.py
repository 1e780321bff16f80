"""benchmarks/auto_proxy_loop.py: the tied-row iALS scorer solves its least-squares updates (against a dense
per-row solve) and fits a compressed graph it can represent; --lr keeps only the MF runs of that learning rate."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _loop():
    spec = importlib.util.spec_from_file_location("auto_proxy_loop", BENCH / "auto_proxy_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_als_side_solves_each_rows_system():
    loop = _loop()
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
    loop = _loop()
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
    loop = _loop()
    run = {"dataset": "toy", "model": "mf", "seed": 0, "budget": 0.25, "clustering": {"item": {"resolution": 2.0}}}
    runs = [dict(run, strategy="graphhash", lr=0.005, **{"recall@20": 0.1}),
            dict(run, strategy="graphhash:cluster_share=1.0", lr=0.001, **{"recall@20": 0.2}),
            dict(run, strategy="graphhash", lr=0.001, seed=1, **{"recall@20": 0.3})]
    (tmp_path / "bench_recall_auto9_toy.json").write_text(json.dumps({"runs": runs}))
    assert [p[2] for p in loop.mf_points("toy", tmp_path)[0.25]] == [0.1, 0.2]
    assert [p[2] for p in loop.mf_points("toy", tmp_path, lr=0.001)[0.25]] == [0.2]
