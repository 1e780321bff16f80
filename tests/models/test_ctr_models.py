"""CTR models over per-feature tables: routing through each feature's strategy, forward/backward, config errors."""
import numpy as np
import pytest
import torch

from recsys_hash.data.ctr_sets import CTRDataset, synthetic_ctr
from recsys_hash.data.types import CTRFrame
from recsys_hash.models.ctr import CTRModel, fit_ctr_tables
from recsys_hash.models.ctr_config import CTRConfig, FeatureSpec, config_from_dict, load_config

GRAPH = ("user", "item")


@pytest.fixture(scope="module")
def data() -> CTRDataset:
    return synthetic_ctr(seed=0, n_rows=6000)


def mixed_config() -> CTRConfig:
    return CTRConfig(features={"user": FeatureSpec("graphhash", 0.25), "item": FeatureSpec("double_frequency", 40),
                               "context": FeatureSpec("modulo", 4)})


def test_each_feature_reaches_its_table_through_its_strategy(data):
    specs = mixed_config().resolve(data.features, data.vocab, GRAPH)
    tables, report = fit_ctr_tables(data, specs, GRAPH, seed=0)
    assert {f: t.name for f, t in tables.items()} == {"user": "graphhash", "item": "double_frequency",
                                                      "context": "modulo", "device": "full"}
    assert report["user"]["graph_edges"] == int(((data.train.labels > 0)).sum())
    model = CTRModel("dlrm", tables, dim=4)
    assert model.table_rows() == {"user": 25, "item": 40, "context": 4, "device": 4}
    # the rows the MC-EBC looks up are exactly each remapper's transform of the batch's codes
    idx = np.arange(32)
    dense, kjt, _ = data.batch("train", idx)
    out = model.sparse.mc_ebc._managed_collision_collection(kjt).to_dict()
    for f, rem in tables.items():
        codes = data.train.categorical[f][idx]
        np.testing.assert_array_equal(out[f].values().numpy(), np.asarray(rem.transform(codes)).reshape(-1))
    np.testing.assert_array_equal(out["context"].values().numpy(), data.train.categorical["context"][idx] % 4)
    assert out["item"].lengths().tolist() == [2] * 32          # double_frequency: two rows per ID, summed


@pytest.mark.parametrize("kind", ["dlrm", "dcn", "deepfm"])
def test_forward_backward_mixed_strategies(data, kind):
    tables, _ = fit_ctr_tables(data, mixed_config().resolve(data.features, data.vocab, GRAPH), GRAPH, seed=0)
    torch.manual_seed(0)
    model = CTRModel(kind, tables, dim=8)
    dense, kjt, labels = data.batch("train", np.arange(64))
    logits = model(dense, kjt)
    assert logits.shape == (64,) and torch.isfinite(logits).all()
    torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None for g in grads.values())
    user_w = model.sparse.mc_ebc._embedding_module.embedding_bags["user"].weight
    touched = np.unique(np.asarray(tables["user"].transform(data.train.categorical["user"][:64])))
    nonzero = np.flatnonzero(user_w.grad.abs().sum(1).numpy())
    np.testing.assert_array_equal(nonzero, touched)            # exactly the rows the strategy maps the batch to


def test_multi_valued_genre_pools_through_the_ebc():
    rng = np.random.default_rng(0)
    n = 40
    cats = {"user": rng.integers(0, 5, n), "item": rng.integers(0, 3, n)}
    offsets, genres = np.array([0, 2, 2, 3]), np.array([0, 1, 1])       # item 0: {0,1}, item 1: {}, item 2: {1}
    frame = lambda i: CTRFrame({k: v[i] for k, v in cats.items()}, np.zeros((len(i), 0), np.float32), [],  # noqa: E731
                               (np.arange(n)[i] % 2).astype(np.float32))
    data = CTRDataset("toy", frame(np.arange(30)), frame(np.arange(30, 35)), frame(np.arange(35, 40)),
                      {"user": 5, "item": 3, "genre": 2}, "user", "item", "toy", {"genre": ("item", offsets, genres)})
    tables, _ = fit_ctr_tables(data, CTRConfig().resolve(data.features, data.vocab, GRAPH), seed=0)
    model = CTRModel("dlrm", tables, dim=4)
    _, kjt, _ = data.batch("train", np.arange(6))
    pooled = model.sparse(kjt).to_dict()["genre"]
    w = model.sparse.mc_ebc._embedding_module.embedding_bags["genre"].weight.detach()
    expect = torch.stack([w[genres[offsets[i]:offsets[i + 1]]].sum(0) for i in cats["item"][:6]])
    torch.testing.assert_close(pooled, expect)


def test_zero_dense_features_feed_a_constant_column(data):
    tables, _ = fit_ctr_tables(data, CTRConfig().resolve(data.features, data.vocab, GRAPH), seed=0)
    model = CTRModel("dlrm", tables, dim=4, n_dense=0)
    assert model.net.dense_arch.model._mlp[0]._linear.in_features == 1
    dense, kjt, _ = data.batch("train", np.arange(3))
    assert dense.shape == (3, 0) and model(dense, kjt).shape == (3,)


def test_toml_config_round_trip(tmp_path):
    path = tmp_path / "ctr.toml"
    path.write_text('model = "dcn"\ndim = 8\n[default]\nstrategy = "full"\n[features.user]\nstrategy = "graphhash"\n'
                    'budget = 0.25\nparams = { cluster_share = 0.5 }\n[graph]\nfields = ["user", "item"]\n'
                    'cold = "hash"\n[train]\nepochs = 3\n')
    cfg = load_config(path)
    assert cfg.model == "dcn" and cfg.dim == 8 and cfg.cold == "hash" and cfg.train == {"epochs": 3}
    assert cfg.features == {"user": FeatureSpec("graphhash", 0.25, {"cluster_share": 0.5})}
    assert cfg.graph_fields == ("user", "item")


@pytest.mark.parametrize("features,match", [
    ({"usr": FeatureSpec("modulo", 0.5)}, r"unknown feature 'usr' in the config; this dataset's features are: "
                                          r"user, item, context, device"),
    ({"user": FeatureSpec("gruphhash", 0.5)}, r"feature 'user': unknown strategy 'gruphhash'; known strategies: "
                                              r".*graphhash"),
    ({"user": FeatureSpec("modulo", 1.5)},
     r"feature 'user': budget '1\.5' is not a fraction in \(0, 1\] or a whole row count >= 2"),
    ({"user": FeatureSpec("modulo", 2.5)}, r"feature 'user': budget '2\.5' is not a fraction in \(0, 1\] or a whole"),
    ({"user": FeatureSpec("modulo", 0.0)}, r"budget '0\.0' is not a fraction in \(0, 1\]"),
    ({"user": FeatureSpec("modulo", 10_000)}, r"budget of 10000 rows exceeds its vocabulary of 100 IDs"),
    ({"user": FeatureSpec("modulo", None)}, r"strategy 'modulo' needs a budget"),
    ({"context": FeatureSpec("graphhash", 0.5)}, r"feature 'context': strategy 'graphhash' clusters the graph of "
                                                 r"'user' x 'item'"),
    ({"user": FeatureSpec("graphhash", 0.5, {"colour": 1})}, r"feature 'user': strategy 'graphhash' takes no "
                                                             r"parameter colour"),
])
def test_bad_config_fails_before_training_naming_the_offender(data, features, match):
    with pytest.raises(ValueError, match=match):
        CTRConfig(features=features).resolve(data.features, data.vocab, GRAPH)


def test_bad_toml_keys_are_named():
    with pytest.raises(ValueError, match=r"unknown key 'modle'; valid keys: default, dim, features, graph, model"):
        config_from_dict({"modle": "dlrm"})
    with pytest.raises(ValueError, match=r"unknown key 'epoch' in \[train\]; valid keys: .*epochs"):
        config_from_dict({"train": {"epoch": 3}})
    with pytest.raises(ValueError, match=r"unknown model 'dlmr'; choose one of dlrm, dcn, deepfm"):
        CTRConfig(model="dlmr").resolve(["user", "item"], {"user": 2, "item": 2}, GRAPH)
