"""NLSH loss on hand-computed triplets; SimHash index vs exact top-k."""
import numpy as np
import pytest
import torch

from recsys_hash.blocking.index import SimHashIndex, exact_topk
from recsys_hash.blocking.loss import nlsh_loss


def test_nlsh_loss_hand_computed():
    p = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    q = torch.tensor([[3.0, 4.0], [0.3, 0.4]])          # d+ = 5, 0.5
    r = torch.tensor([[0.6, 0.8], [6.0, 8.0]])          # d- = 1, 10
    # R = 1, c = 2: triplet 1: relu(5-1) + relu(2-1) = 5; triplet 2: relu(0.5-1) + relu(2-10) = 0
    assert float(nlsh_loss(p, q, r, radius=1.0, c=2.0)) == pytest.approx(2.5)
    # equals the paper's max(R, d+) - min(cR, d-) + (c-1)R: (5 - 1 + 1) and (1 - 2 + 1)
    assert float(nlsh_loss(p[:1], q[:1], r[:1], 1.0, 2.0)) == pytest.approx(max(1, 5) - min(2, 1) + 1)


def test_nlsh_loss_hinges_are_independent():
    p = torch.zeros(1, 2, requires_grad=True)
    q = torch.tensor([[0.1, 0.0]])                      # inside R: no pull
    r = torch.tensor([[0.5, 0.0]])                      # inside cR: pushed
    loss = nlsh_loss(p, q, r, radius=0.2, c=4.0)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(0.3)
    assert p.grad.tolist() == [[1.0, 0.0]]              # only the non-match hinge acts (push away from r)


def test_nlsh_loss_rejects_bad_parameters():
    x = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="c must be > 1"):
        nlsh_loss(x, x, x, radius=1.0, c=1.0)
    with pytest.raises(ValueError, match="radius R must be > 0"):
        nlsh_loss(x, x, x, radius=0.0)


def test_simhash_finds_every_exact_neighbour_within_its_radius():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((300, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    query = base[:50] + 0.15 * rng.standard_normal((50, 32)).astype(np.float32) / np.sqrt(32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    cos = query @ base.T
    idx = SimHashIndex(tables=32, bits=10, seed=0).fit(base)
    rows, vals = idx.search(query, k=3)
    exact_rows, exact_vals = exact_topk(base, query, 3, use_faiss=False)
    within = exact_vals >= 0.9                             # neighbours within angular radius acos(0.9)
    assert within[:, 0].all()
    assert (rows[within] == exact_rows[within]).all()
    np.testing.assert_allclose(vals[within], exact_vals[within], rtol=1e-5)
    assert idx.scored_fraction() < 0.5
    assert (cos[np.arange(50), rows[:, 0]] >= 0.9).all()
    chunked = idx.search(query, k=3, chunk=7)                 # query chunks change nothing
    np.testing.assert_array_equal(chunked[0], rows)
    np.testing.assert_array_equal(chunked[1], vals)


def test_simhash_pads_short_lists_and_checks_k():
    idx = SimHashIndex(tables=1, bits=8, multiprobe=False, seed=1).fit(np.eye(4, dtype=np.float32))
    rows, vals = idx.search(-np.ones((1, 4), dtype=np.float32), k=2)
    assert rows.shape == (1, 2) and (rows == -1).all() and np.isinf(vals).all()
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        idx.search(np.eye(4, dtype=np.float32), k=0)


def test_exact_topk_breaks_ties_to_the_smaller_row():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    rows, vals = exact_topk(x, np.array([[1.0, 0.0]], dtype=np.float32), 2, use_faiss=False)
    assert rows.tolist() == [[0, 1]] and vals.tolist() == [[1.0, 1.0]]
