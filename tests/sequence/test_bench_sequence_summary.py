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
