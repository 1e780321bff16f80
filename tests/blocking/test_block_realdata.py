"""Real ER benchmarks (RECSYS_HASH_DATA): the TF-IDF anchor reproduces, NLSH training improves on its untrained
encoder on Abt-Buy, and consolidation of self-join matches."""
import numpy as np
import pytest

from recsys_hash.blocking.evaluate import evaluate_blocker
from recsys_hash.data.er import load_er

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def abt_buy(data_root):
    return load_er("abt_buy", data_root / "er" / "abt_buy")


def test_tfidf_anchor_reproduces_on_abt_buy(abt_buy):
    res = evaluate_blocker(abt_buy, "tfidf", [1, 4, 5])
    assert round(res["by_k"]["1"]["pc"], 3) == 0.903 and round(res["by_k"]["5"]["pc"], 3) == 0.983
    assert res["k_for_pc_0.97"] == 4 and res["by_k"]["1"]["candidates"] == abt_buy.table_b.height


def test_nlsh_fine_tuning_improves_pc5_over_the_untrained_encoder(abt_buy):
    untrained = evaluate_blocker(abt_buy, "nlsh", [5], epochs=0, dim=128, progress=False)
    trained = evaluate_blocker(abt_buy, "nlsh", [5], epochs=3, dim=128, progress=False)
    assert trained["by_k"]["5"]["pc"] > untrained["by_k"]["5"]["pc"] + 0.005
    assert trained["by_k"]["5"]["pc_test"] >= untrained["by_k"]["5"]["pc_test"]
    assert trained["train"].startswith("train split")
