"""Avazu as a CTR dataset (`train-ctr --dataset avazu`): a user's CSV or folder, and the registry's schema sample."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys_hash.cli import app
from recsys_hash.data.ctr_sets import AVAZU_ITEM, AVAZU_USER, load_ctr_dataset

HEADER = ("id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,device_id,"
          "device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21")


def _avazu_csv(path, n=8000, seed=0):
    """Avazu-format rows whose click depends on the device IP and the creative: 40 IPs, 30 creatives, click rate
    0.05 + 0.4 [IP even] + 0.4 [creative < 10]."""
    rng = np.random.default_rng(seed)
    ip, ad = rng.integers(0, 40, n), rng.integers(0, 30, n)
    click = (rng.random(n) < 0.05 + 0.4 * (ip % 2 == 0) + 0.4 * (ad < 10)).astype(int)
    lines = [HEADER]
    for i in range(n):
        lines.append(f"{10**18 + i},{click[i]},1410210{i % 10},1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,"
                     f"07d7df22,a99f214a,{ip[i]:08x},44956a24,1,2,{15000 + ad[i]},320,50,1722,0,35,-1,79")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_avazu_csv_splits_with_device_ip_and_creative_as_user_and_item(tmp_path):
    data = load_ctr_dataset("avazu", _avazu_csv(tmp_path / "train.csv"), seed=1)
    assert (data.user_field, data.item_field) == (AVAZU_USER, AVAZU_ITEM) == ("device_ip", "C14")
    assert (len(data.train), len(data.valid), len(data.test)) == (6400, 800, 800)
    assert data.vocab["device_ip"] == 40 and data.vocab["C14"] == 30 and data.vocab["site_id"] == 1
    assert "id" not in data.features and "click" not in data.features and "hour" in data.features
    assert data.n_dense == 0
    folder = load_ctr_dataset("avazu", tmp_path, seed=1)                 # a folder: its first .csv/.txt
    assert np.array_equal(folder.train.labels, data.train.labels)


def test_train_ctr_learns_the_planted_pairs_on_avazu(tmp_path):
    path = _avazu_csv(tmp_path / "train.csv")
    res = CliRunner().invoke(app, ["train-ctr", "--dataset", "avazu", "--dataset-path", str(path), "--strategy",
                                   "double", "--budget", "0.5", "--epochs", "4", "--threads", "1", "--no-progress",
                                   "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["dataset"] == "avazu" and out["strategies"]["device_ip"] == "double"
    assert out["auc"] > 0.7                        # chance 0.5; the true click probability itself scores 0.80


def test_avazu_without_the_user_or_item_column_names_them(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,click,site_id\n1,0,a\n2,1,b\n3,0,a\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['device_ip', 'C14'\]"):
        load_ctr_dataset("avazu", path)


@pytest.mark.realdata
def test_the_registry_avazu_sample_loads_as_a_ctr_set():
    data = load_ctr_dataset("avazu")
    assert len(data.train) + len(data.valid) + len(data.test) == 100
    assert data.split_note.startswith("avazu-sample/deepctr_avazu_sample.txt (schema sample) (100 rows)")
    assert len(data.features) == 22 and data.vocab["C1"] >= 1
