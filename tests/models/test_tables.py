"""CompressedEmbeddings: TorchRec lookups equal the hand-computed combination of table rows."""
import numpy as np
import pytest
import torch

from recsys_hash.models.tables import CompressedEmbeddings, fit_remappers, side_rows
from recsys_hash.ids import create


def _weights(emb, side):
    coll = emb.ebc.embedding_bags if emb.combiner[side] == "sum" else emb.ec.embeddings
    return coll[side].weight.detach()


def test_sum_pooling_over_rows_with_different_batch_sizes():
    rows_u = np.array([[0, 1], [2, 2], [1, 0]])
    rows_i = np.array([[3], [0], [3], [1]])
    emb = CompressedEmbeddings({"user": rows_u, "item": rows_i}, {"user": 3, "item": 4}, dim=5)
    out = emb({"user": torch.tensor([2, 0]), "item": torch.tensor([0, 1, 2, 3, 3])})
    wu, wi = _weights(emb, "user"), _weights(emb, "item")
    assert out["user"].shape == (2, 5) and out["item"].shape == (5, 5)
    assert torch.allclose(out["user"], torch.stack([wu[1] + wu[0], wu[0] + wu[1]]))
    assert torch.allclose(out["item"], wi[torch.tensor([3, 0, 3, 1, 1])])
    assert torch.allclose(emb.all_embeddings("user")[1], 2 * wu[2])
    only_items = emb({"item": torch.tensor([2])})
    assert set(only_items) == {"item"} and torch.allclose(only_items["item"][0], wi[3])


def test_product_combiner_multiplies_rows():
    rows = np.array([[0, 2], [1, 2]])
    emb = CompressedEmbeddings({"user": np.array([[0], [1]]), "item": rows}, {"user": 2, "item": 3}, dim=4,
                               combiner={"item": "product"})
    w = _weights(emb, "item")
    out = emb({"user": torch.tensor([0]), "item": torch.tensor([1, 0])})
    assert torch.allclose(out["item"], torch.stack([w[1] * w[2], w[0] * w[2]]))


def test_gradients_reach_shared_rows():
    emb = CompressedEmbeddings({"user": np.array([[0], [0]]), "item": np.array([[0], [1]])},
                               {"user": 1, "item": 2}, dim=3)
    out = emb({"user": torch.tensor([0, 1]), "item": torch.tensor([1])})
    out["user"].sum().backward()
    g = emb.ebc.embedding_bags["user"].weight.grad
    assert torch.allclose(g, torch.full((1, 3), 2.0))


def test_bad_construction_args():
    with pytest.raises(ValueError, match="combiner must be 'sum' or 'product'"):
        CompressedEmbeddings({"user": np.array([[0]])}, {"user": 1}, dim=2, combiner={"user": "max"})
    with pytest.raises(ValueError, match="dim must be >= 1"):
        CompressedEmbeddings({"user": np.array([[0]])}, {"user": 1}, dim=0)


def test_from_fitted_remappers_budget_and_multirow(planted):
    train = planted.train
    for name, k in (("modulo", 1), ("double", 2), ("qr", 2)):
        rem = fit_remappers(name, train, 0.25, seed=3)
        assert rem["user"].table_rows == 30 and rem["item"].table_rows == 20     # round(0.25 * 120), round(0.25 * 80)
        rows, table_rows, comb = side_rows(rem["item"], train.n_items)
        assert rows.shape == (train.n_items, k) and rows.max() < table_rows
        emb = CompressedEmbeddings.from_remappers(rem, {"user": train.n_users, "item": train.n_items}, dim=8)
        assert emb.rows_per_id["item"] == k
        assert emb.all_embeddings("item").shape == (train.n_items, 8)


def test_qr_product_remapper_is_supported(planted):
    rem = {s: create("qr", num_rows=12, combiner="product").fit(interactions=planted.train, side=s)
           for s in ("user", "item")}
    emb = CompressedEmbeddings.from_remappers(rem, {"user": planted.n_users, "item": planted.n_items}, dim=4)
    assert emb.combiner == {"user": "product", "item": "product"}
    w = emb.ec.embeddings["item"].weight.detach()
    rows = torch.from_numpy(side_rows(rem["item"], planted.n_items)[0])
    assert torch.allclose(emb.all_embeddings("item"), w[rows[:, 0]] * w[rows[:, 1]])
