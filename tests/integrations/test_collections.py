"""MC-EBC / MC-EC built from remappers: exact pooled values, fx + script, DLRM, bad configurations."""
import re

import numpy as np
import pytest
import torch
import torchrec
from torchrec.models.dlrm import DLRM
from torchrec.modules.embedding_configs import PoolingType
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys_hash.ids import create
from recsys_hash.integrations import KeyedTensorAdapter, combine_rows, make_mc_ebc, make_mc_ec


@pytest.fixture
def tables():
    torch.manual_seed(0)
    return {"user": create("full", oov="shared_row").fit(np.arange(100)),
            "item": create("double", num_rows=50, seed=2).fit(np.arange(1000))}


def _kjt():
    return KeyedJaggedTensor.from_lengths_sync(
        keys=["user", "item"], values=torch.tensor([1, 2, 300, 500, 7, 999]), lengths=torch.tensor([1, 2, 0, 3]))


def test_mc_ebc_pools_exact_rows(tables):
    mc = make_mc_ebc(tables, 8)
    kt, _ = mc(_kjt())
    d = kt.to_dict()
    w_user = mc._embedding_module.embedding_bags["user"].weight
    w_item = mc._embedding_module.embedding_bags["item"].weight
    assert torch.allclose(d["user"][1], w_user[2] + w_user[100])               # 300 is unseen -> shared row 100
    rows = torch.from_numpy(tables["item"].transform(np.array([500, 7, 999])).reshape(-1))
    assert torch.allclose(d["item"][1], w_item[rows].sum(0))
    assert torch.equal(d["item"][0], torch.zeros(8))


def test_fx_script_and_dlrm(tables):
    adapter = KeyedTensorAdapter(make_mc_ebc(tables, 8))
    kt = adapter(_kjt())
    gm = torchrec.fx.symbolic_trace(adapter)
    assert torch.equal(gm(_kjt()).values(), kt.values())
    scripted = torch.jit.script(gm)
    assert torch.equal(scripted(_kjt()).values(), kt.values())
    model = DLRM(embedding_bag_collection=adapter, dense_in_features=4, dense_arch_layer_sizes=[8, 8],
                 over_arch_layer_sizes=[4, 1])
    logits = model(torch.randn(2, 4), _kjt())
    assert logits.shape == (2, 1)
    logits.sum().backward()
    assert adapter.mc_ebc._embedding_module.embedding_bags["item"].weight.grad is not None


def test_mismatched_features_rejected(tables):
    adapter = KeyedTensorAdapter(make_mc_ebc(tables, 8))
    bad = KeyedJaggedTensor.from_lengths_sync(keys=["user", "movie"], values=torch.tensor([1, 2]),
                                              lengths=torch.tensor([1, 0, 1, 0]))
    with pytest.raises(ValueError, match=r"lacks features \['item'\] expected by the tables"):
        adapter(bad)
    with pytest.raises(ValueError, match=r"names tables \['movie'\] that are not in tables"):
        make_mc_ebc(tables, 8, feature_names={"movie": ["m"]})
    with pytest.raises(ValueError, match="fed to two tables"):
        make_mc_ebc(tables, 8, feature_names={"user": ["x"], "item": ["x"]})


def test_multi_row_needs_sum(tables):
    with pytest.raises(ValueError, match="only SUM pooling adds them"):
        make_mc_ebc(tables, 8, pooling=PoolingType.MEAN)
    with pytest.raises(ValueError, match="needs SUM pooling"):
        make_mc_ec(tables, 8)
    qr = create("qr", num_rows=20, combiner="product").fit(np.arange(10))
    with pytest.raises(ValueError, match="combiner='product' cannot be expressed"):
        make_mc_ebc({"q": qr}, 8)
    with pytest.raises(ValueError, match="is not fitted"):
        make_mc_ebc({"u": create("modulo", num_rows=5)}, 8)


def test_mc_ec_sequence_rows(tables):
    ec = make_mc_ec({"user": tables["user"]}, 4)
    out, _ = ec(KeyedJaggedTensor.from_lengths_sync(keys=["user"], values=torch.tensor([1, 2, 300]),
                                                    lengths=torch.tensor([1, 2])))
    w = ec._embedding_module.embeddings["user"].weight
    assert torch.equal(out["user"].values(), w[torch.tensor([1, 2, 100])])


def test_combine_rows_sum_and_product():
    w = torch.arange(12, dtype=torch.float32).view(6, 2)
    rows = torch.tensor([[0, 3], [5, 5]])
    assert combine_rows(w, rows, "sum").tolist() == [[6.0, 8.0], [20.0, 22.0]]
    assert combine_rows(w, rows, "product").tolist() == [[0.0, 7.0], [100.0, 121.0]]
    emb = torch.nn.Embedding.from_pretrained(w)
    assert combine_rows(emb, torch.tensor([4])).tolist() == [[8.0, 9.0]]
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 6\)"):
        combine_rows(w, torch.tensor([[0, 6]]))
    with pytest.raises(ValueError, match="combiner must be 'sum' or 'product'"):
        combine_rows(w, rows, "max")


def test_audit_reads_strategy_of_each_table(tables):
    from recsys_hash.audit.model_audit import audit_nn_module

    model = KeyedTensorAdapter(make_mc_ebc(tables, 8))
    rows = {r["table"]: r for r in audit_nn_module(model)}
    assert rows["user"]["strategy"] == "full" and rows["user"]["rows"] == 101
    assert rows["item"]["strategy"] == "double" and rows["item"]["strategy_params"]["num_hashes"] == 2
    assert rows["item"]["rows"] == 50 and "warning" not in rows["item"]
    mods = model.mc_ebc._managed_collision_collection._managed_collision_modules
    assert mods["user"].remapper is tables["user"] and mods["user"].table_name == "user"


@pytest.mark.parametrize("dim", [0, -3, True, 2.5, "8", np.float64(4.0)])
def test_embedding_dim_must_be_a_positive_integer(tables, dim):
    with pytest.raises(ValueError, match="make_mc_ebc: embedding_dim must be an integer >= 1, got " + re.escape(repr(dim))):
        make_mc_ebc(tables, dim)
    with pytest.raises(ValueError, match="make_mc_ec: embedding_dim must be an integer >= 1, got " + re.escape(repr(dim))):
        make_mc_ec({"user": tables["user"]}, dim)


def test_embedding_dim_accepts_numpy_integers(tables):
    ebc = make_mc_ebc(tables, np.int64(3))
    assert [c.embedding_dim for c in ebc._embedding_module.embedding_bag_configs()] == [3, 3]
    assert all(type(c.embedding_dim) is int for c in ebc._embedding_module.embedding_bag_configs())
