"""benchmarks/bench_graphhash.py writes where --out says, so runs of different sizes keep their own result files;
RESULTS.md cites only result files that exist."""
import importlib.util
import json
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_graphhash", BENCH / "bench_graphhash.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_out_names_the_result_file(tmp_path):
    bench = _bench()
    assert Path(bench.parse_args([]).out) == BENCH / "results" / "bench_graphhash.json"
    args = bench.parse_args(["--sizes", "1e7", "--out", str(tmp_path / "sub" / "g10m.json")])
    bench.save({"edges": 3, "synthetic": []}, args.out)
    assert json.loads((tmp_path / "sub" / "g10m.json").read_text()) == {"edges": 3, "synthetic": []}


def test_results_md_cites_existing_result_files():
    text = (BENCH / "RESULTS.md").read_text()
    cited = set(re.findall(r"results/([\w.-]+\.(?:json|md))", text))
    assert {"bench_remap.json", "bench_graphhash.json", "bench_graphhash_10m.json"} <= cited
    assert [name for name in sorted(cited) if not (BENCH / "results" / name).is_file()] == []


def test_backends_modularity_read_at_equal_rows():
    at = _bench().modularity_at_rows
    tries = [{"n_user_clusters": 50, "n_item_clusters": 50, "modularity": 0.30},
             {"n_user_clusters": 200, "n_item_clusters": 200, "modularity": 0.10}]
    # log-linear between 100 and 400 rows: 200 rows is halfway
    assert at(tries, 200) == {"modularity": 0.2, "rows": 200, "bracketed": True, "between": [100, 400]}
    assert at(tries, 100)["modularity"] == 0.30
    assert at(tries, 1000) == {"modularity": 0.10, "rows": 400, "bracketed": False}    # not bracketed: the nearest
