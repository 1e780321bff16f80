"""benchmarks/bench_remap.py reports the MC-EBC overhead per torch thread count under `mc_ebc_overhead_by_threads`."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench():
    spec = importlib.util.spec_from_file_location("bench_remap", BENCH / "bench_remap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = torch.get_num_threads()
    yield module
    torch.set_num_threads(before)


def test_overhead_by_threads_key(bench, tmp_path, capsys):
    out = tmp_path / "remap.json"
    result = bench.main(["--quick", "--mc-ebc-only", "--threads", "1,2", "--repeats", "1", "--out", str(out), "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result == json.loads(out.read_text())
    by = result["mc_ebc_overhead_by_threads"]
    assert set(by) == {"universal", "full"} and all(set(v) == {"1", "2"} for v in by.values())
    for name in ("universal", "full"):
        for t in ("1", "2"):
            e = result["by_threads"][t]["mc_ebc"][name]
            assert by[name][t] == pytest.approx(e["mc_ebc_s"] / e["ebc_s"] - 1.0)
            assert e["overhead_paired"] > -1.0
    assert result["config"]["torch_threads"] == ["1", "2"] and result["config"]["mc_ebc_only"] is True
    assert "ids_per_s" not in result["by_threads"]["1"]


def test_overhead_estimators(bench, monkeypatch):
    times = iter([1.0, 2.0,  # warm-up pair
                  1.0, 3.0, 2.0, 2.0, 4.0, 5.0])   # pairs (ebc, mc): ratios 3, 1, 1.25
    clock = {"t": 0.0}

    def fake_timer():
        return clock["t"]

    def step():
        clock["t"] += next(times)

    monkeypatch.setattr(bench.time, "perf_counter", fake_timer)
    e = bench.overhead_entry(step, step, 3)
    assert e["ebc_s"] == 2.0 and e["mc_ebc_s"] == 3.0                  # medians of (1, 2, 4) and (3, 2, 5)
    assert e["overhead"] == pytest.approx(0.5) and e["overhead_paired"] == pytest.approx(0.25)
    assert e["overhead_best"] == pytest.approx(1.0)                    # fastest runs: 2 / 1
