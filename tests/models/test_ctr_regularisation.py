"""CTR training defaults: L2 on the looked-up embeddings (hand-computed first-step loss), initial scale, bad values."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recsys_hash.data.ctr_sets import synthetic_ctr
from recsys_hash.models.ctr import CTRModel, fit_ctr_tables
from recsys_hash.models.ctr_config import CTRConfig
from recsys_hash.models.train_ctr import CTRTrainConfig, train_ctr
from recsys_hash.models.trainer import seed_everything


@pytest.fixture(scope="module")
def data():
    return synthetic_ctr(seed=0, n_rows=1000)


def _model(data, **kw):
    tables, _ = fit_ctr_tables(data, CTRConfig().resolve(data.features, data.vocab, ("user", "item")), seed=0)
    seed_everything(0)
    return CTRModel("dlrm", tables, dim=4, **kw)


def test_embedding_l2_is_added_to_the_loss_of_the_rows_looked_up(data):
    model = _model(data, init_std=0.5)
    n = len(data.train)
    perm = np.random.default_rng(0).permutation(n)      # one batch = the whole split: order does not matter
    dense, kjt, labels = data.batch("train", perm)
    with torch.no_grad():
        bce = float(F.binary_cross_entropy_with_logits(model(dense, kjt), labels))
        l2 = float(model.sparse(kjt).values().pow(2).sum()) / n
    res = train_ctr(model, data, CTRTrainConfig(epochs=1, batch_size=n, emb_l2=0.25, progress=False), seed=0)
    assert res.history[0]["loss"] == pytest.approx(bce + 0.25 * l2, rel=1e-5)
    assert not model.sparse._forward_hooks                   # the capture hook is gone after training


def test_defaults_regularise_the_embeddings_and_init_scale_is_a_setting(data):
    assert CTRTrainConfig().emb_l2 == 1e-3 and CTRTrainConfig().init_std == 0.01
    w = _model(data, init_std=0.5).sparse.mc_ebc._embedding_module.embedding_bags["user"].weight
    assert 0.4 < float(w.detach().std()) < 0.6


def test_bad_regularisation_settings():
    with pytest.raises(ValueError, match=r"train.emb_l2 must be >= 0, got -1"):
        CTRTrainConfig(emb_l2=-1)
    with pytest.raises(ValueError, match=r"train.init_std must be > 0, got 0"):
        CTRTrainConfig(init_std=0)
