"""Real-data smoke run: MF-BPR on amazon-electronics recalls far more than a random ranking."""
import numpy as np
import pytest

from recsys_hash.data import load_interactions
from recsys_hash.models import TrainConfig, run_recall


def _random_ranker_recall(train, test, k):
    """Expected Recall@k of a uniformly random ranking of each user's unmasked items (exact, per user)."""
    n_train = np.bincount(train.user, minlength=train.n_users)
    n_test = np.bincount(test.user, minlength=test.n_users)
    users = np.flatnonzero(n_test)
    cand = train.n_items - n_train[users]
    return float(np.mean(k * n_test[users] / cand / np.minimum(k, n_test[users])))


@pytest.mark.realdata
def test_mf_on_amazon_electronics_beats_random(data_root):
    data = load_interactions("amazon-electronics", dataset_path=data_root / "recsys" / "amazon-electronics")
    cfg = TrainConfig(epochs=24, batch_size=1024, eval_every=3, patience=2, progress=False)
    out = run_recall(data, model="mf", strategy="full", dim=32, ks=[20], lrs=(0.01,), regs=(0.1,), config=cfg)
    rand = _random_ranker_recall(data.train, data.test, 20)
    assert out["n_users_evaluated"] == 1435 and out["full_rows"] == 1435 + 1522
    assert out["recall@20"] > 5 * rand, (out["recall@20"], rand)
