"""Real-data smoke run: Frappe re-split 80/10/10, DLRM with GraphHash user/item tables at 25%, one epoch."""
import pytest

from recsys_hash.data.ctr_sets import load_frappe_ctr, load_ml100k_ctr
from recsys_hash.models.ctr_config import CTRConfig
from recsys_hash.models.train_ctr import CTRTrainConfig, run_ctr

pytestmark = pytest.mark.realdata


def test_frappe_one_epoch_auc_above_0_9(data_root):
    data = load_frappe_ctr(seed=0)
    assert (len(data.train), len(data.valid), len(data.test)) == (69_266, 8_658, 8_658)
    assert data.vocab["user"] == 913 and data.vocab["item"] == 4_082
    assert "re-split 80/10/10 at random with seed 0" in data.split_note
    cfg = CTRConfig().with_strategy("graphhash", 0.25, ["user", "item"])
    res, _, _ = run_ctr(data, cfg, CTRTrainConfig(epochs=1, progress=False), seed=0)
    assert res["auc"] >= 0.9 and res["rows_by_feature"]["user"] == 228 and res["rows_by_feature"]["item"] == 1020
    assert res["graph"]["item"]["ids_in_graph"] == 2_312


def test_ml100k_as_ctr(data_root):
    data = load_ml100k_ctr(seed=0)
    assert data.features == ["user", "age", "gender", "occupation", "zip2", "item", "genre"]
    assert len(data.train) + len(data.valid) + len(data.test) == 100_000
    assert data.vocab["genre"] == 19 and data.vocab["item"] == 1_682
    pos = sum(float(f.labels.sum()) for f in data.splits().values())
    assert pos == 55_375                                       # ratings >= 4 in u.data
