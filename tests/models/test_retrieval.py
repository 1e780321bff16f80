"""MF / LightGCN forward passes against dense reference computations; the BPR loss by hand."""
import numpy as np
import pytest
import torch

from recsys_hash.data.types import Interactions
from recsys_hash.models.retrieval import MF, LightGCN, bpr_loss, normalized_adjacency
from recsys_hash.models.tables import CompressedEmbeddings


def _emb(n_u, n_i, rows_u=None, rows_i=None, dim=4):
    rows_u = np.arange(n_u)[:, None] if rows_u is None else rows_u
    rows_i = np.arange(n_i)[:, None] if rows_i is None else rows_i
    torch.manual_seed(0)
    return CompressedEmbeddings({"user": rows_u, "item": rows_i},
                                {"user": int(rows_u.max()) + 1, "item": int(rows_i.max()) + 1}, dim)


def test_normalized_adjacency_hand_example():
    # users 0,1; items 0,1,2 -> nodes u0,u1,i0,i1,i2 = 0..4; edges u0-i0, u0-i1, u1-i1 (duplicate u0-i0 ignored)
    train = Interactions(np.array([0, 0, 1, 0]), np.array([0, 1, 1, 0]), 2, 3)
    a = normalized_adjacency(train).to_dense()
    deg = np.array([2, 1, 1, 2, 0])
    expect = np.zeros((5, 5))
    for u, i in ((0, 0), (0, 1), (1, 1)):
        v = 1 / np.sqrt(deg[u] * deg[2 + i])
        expect[u, 2 + i] = expect[2 + i, u] = v
    assert np.allclose(a.numpy(), expect)


def test_mf_batch_and_final_embeddings():
    emb = _emb(3, 4, rows_i=np.array([[0], [1], [1], [2]]))
    mf = MF(emb)
    (u, p, n), ego = mf.batch_embeddings(torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([2, 0]))
    w = emb.ebc.embedding_bags["item"].weight
    assert torch.allclose(p, w[torch.tensor([1, 2])]) and torch.allclose(n, w[torch.tensor([1, 0])])
    assert ego[0] is u
    U, I = mf.final_embeddings()
    assert U.shape == (3, 4) and torch.allclose(I[2], w[1])


def test_lightgcn_matches_dense_propagation():
    rng = np.random.default_rng(1)
    n_u, n_i = 6, 5
    train = Interactions(rng.integers(0, n_u, 15), rng.integers(0, n_i, 15), n_u, n_i)
    emb = _emb(n_u, n_i, rows_i=np.array([[0], [1], [0], [2], [1]]))
    adj = normalized_adjacency(train)
    model = LightGCN(emb, adj, layers=2)
    ego = torch.cat([emb.all_embeddings("user"), emb.all_embeddings("item")]).detach()
    dense = adj.to_dense()
    expect = (ego + dense @ ego + dense @ dense @ ego) / 3
    U, I = model.final_embeddings()
    assert torch.allclose(torch.cat([U, I]), expect, atol=1e-6)
    (u, p, n), (u0, p0, n0) = model.batch_embeddings(torch.tensor([1]), torch.tensor([4]), torch.tensor([0]))
    assert torch.allclose(p[0], expect[n_u + 4], atol=1e-6) and torch.allclose(p0[0], ego[n_u + 4])
    loss = bpr_loss((u, p, n), (u0, p0, n0), 0.1)
    loss.backward()
    assert emb.ebc.embedding_bags["item"].weight.grad.abs().sum() > 0


def test_lightgcn_rejects_bad_arguments():
    emb = _emb(2, 2)
    adj = normalized_adjacency(Interactions(np.array([0]), np.array([1]), 2, 2))
    with pytest.raises(ValueError, match="layers >= 1"):
        LightGCN(emb, adj, layers=0)
    adj3 = normalized_adjacency(Interactions(np.array([0]), np.array([1]), 2, 3))
    with pytest.raises(ValueError, match=r"adjacency has shape \(5, 5\), expected \(4, 4\)"):
        LightGCN(emb, adj3)


def test_bpr_loss_by_hand():
    u = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[2.0, 1.0]])
    n = torch.tensor([[0.5, 3.0]])
    # softplus(0.5 - 2) + reg * (1 + 5 + 9.25) / 2
    expect = np.log1p(np.exp(-1.5)) + 0.1 * 15.25 / 2
    assert float(bpr_loss((u, p, n), (u, p, n), 0.1)) == pytest.approx(expect, rel=1e-6)


def test_lightgcn_gradient_equals_dense_reference():
    rng = np.random.default_rng(2)
    n_u, n_i = 5, 4
    train = Interactions(rng.integers(0, n_u, 12), rng.integers(0, n_i, 12), n_u, n_i)
    emb = _emb(n_u, n_i, rows_u=np.array([[0], [1], [1], [2], [0]]))
    model = LightGCN(emb, normalized_adjacency(train), layers=3)
    U, I = model.final_embeddings()
    (U.sum() * 2 + I.pow(2).sum()).backward()
    sparse_grad = emb.ebc.embedding_bags["user"].weight.grad.clone()
    emb.zero_grad()
    dense = normalized_adjacency(train).to_dense()
    ego = torch.cat([emb.all_embeddings("user"), emb.all_embeddings("item")])
    acc, cur = ego, ego
    for _ in range(3):
        cur = dense @ cur
        acc = acc + cur
    final = acc / 4
    (final[:n_u].sum() * 2 + final[n_u:].pow(2).sum()).backward()
    assert torch.allclose(sparse_grad, emb.ebc.embedding_bags["user"].weight.grad, atol=1e-6)
