"""benchmarks/bench_sequence.py's quality summary: mean ± std over seeds and same-seed paired differences."""
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sequence.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_sequence", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_pairs_differences_by_seed():
    bench = _bench()
    auc = {("din", 0): 0.80, ("din", 1): 0.70, ("sdim", 0): 0.79, ("sdim", 1): 0.72, ("twin", 0): 0.75}
    runs = [{"module": m, "seed": s, "auc": a, "gauc": a - 0.1} for (m, s), a in auc.items()]
    out = bench.summarise(runs, ["din", "sdim", "twin", "dare"])
    assert out["din"]["auc"] == {"mean": pytest.approx(0.75), "std": pytest.approx(0.05 * 2 ** 0.5), "n": 2}
    assert out["twin"]["auc"] == {"mean": 0.75, "std": 0.0, "n": 1}
    assert out["sdim"]["gauc"]["mean"] == pytest.approx(0.655)
    # sdim - din per seed: -0.01 and +0.02
    assert out["sdim_minus_din"] == {"mean": pytest.approx(0.005), "std": pytest.approx(0.03 / 2 ** 0.5), "n": 2}
    assert "dare" not in out and "dare_minus_twin" not in out          # no dare runs: no pair
    args = bench.parse_args(["--batch-size", "256", "--att-dim", "16", "--synthetic", "2000,500,500"])
    assert (args.batch_size, args.att_dim, args.synthetic, args.patience) == (256, 16, "2000,500,500", 2)


def _run(module, seed, tau, valid, auc, dataset="ml-100k"):
    return {"dataset": dataset, "module": module, "seed": seed, "tau": tau, "valid_auc": valid, "auc": auc,
            "gauc": auc - 0.1}


def test_tau_is_chosen_per_seed_on_valid_auc_never_on_test():
    bench = _bench()
    runs = [_run("sdim", 0, 3, 0.75, 0.90), _run("sdim", 0, 1, 0.77, 0.70),    # best valid (τ 1), worse test
            _run("sdim", 1, 1, 0.70, 0.71), _run("sdim", 1, 2, 0.70, 0.80),    # tie on valid: the smaller τ
            _run("din", 0, 3, 0.76, 0.72), _run("din", 1, 3, 0.71, 0.73)]
    out = bench.summarise_quality(runs, ["din", "sdim"], [0, 1], {})
    assert sorted((r["module"], r["seed"], r["tau"]) for r in out["runs"]) == [
        ("din", 0, 3), ("din", 1, 3), ("sdim", 0, 1), ("sdim", 1, 1)]
    assert sorted((r["seed"], r["tau"]) for r in out["tau_runs"]) == [(0, 3), (1, 2)]
    s = out["summary"]["ml-100k"]
    assert s["sdim"]["auc"]["mean"] == pytest.approx(0.705) and s["sdim"]["tau_chosen"] == [1, 1]
    assert s["sdim_minus_din"]["mean"] == pytest.approx(((0.70 - 0.72) + (0.71 - 0.73)) / 2)


def test_merge_reads_file_level_tau_and_later_files_win(tmp_path):
    import json

    bench = _bench()
    old = {"tau": 3, "quality": {"runs": [{k: v for k, v in _run("sdim", 0, 3, 0.75, 0.74).items() if k != "tau"},
                                          _run("din", 0, 3, 0.76, 0.76)]}}
    new = {"tau": 3, "quality": {"runs": [_run("sdim", 0, 1, 0.78, 0.77), _run("din", 0, 3, 0.76, 0.75)],
                                 "tau_runs": [_run("sdim", 0, 2, 0.70, 0.70)]}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    q = bench.merge([tmp_path / "old.json", tmp_path / "new.json"])
    assert sorted((r["module"], r["tau"], r["auc"]) for r in q["runs"]) == [("din", 3, 0.75), ("sdim", 1, 0.77)]
    assert sorted(r["tau"] for r in q["tau_runs"]) == [2, 3]                  # the τ 3 run of the old file is kept
    assert q["summary"]["ml-100k"]["sdim_minus_din"]["mean"] == pytest.approx(0.02)
    # a later file's other variant (the auxiliary loss on) replaces the earlier file's runs of that module and seed
    aux = {"tau": 3, "quality": {"runs": [{**_run("din", 0, 3, 0.70, 0.60), "aux_loss": True}]}}
    (tmp_path / "aux.json").write_text(json.dumps(aux))
    q = bench.merge([tmp_path / "old.json", tmp_path / "new.json", tmp_path / "aux.json"])
    assert sorted((r["module"], r["auc"], r["aux_loss"]) for r in q["runs"]) == [("din", 0.60, True),
                                                                                ("sdim", 0.77, False)]
    assert [(r["module"], r["auc"]) for r in q["replaced"]] == [("din", 0.75)]
    args = bench.parse_args(["--taus", "1,2", "--tau", "2"])
    assert (args.taus, args.tau, args.merge) == ("1,2", 2, None)
