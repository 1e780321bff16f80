"""SDIM: exact against a slow loop reference, the (1 - θ/π)^τ collision law, BSE serving == training, bad input."""
import math

import numpy as np
import pytest
import torch

from recsys_hash.sequence import SDIM, JaggedSeq, SimHash


def loop_sdim(values, lengths, target, proj, tau, sum_values=None):
    """Slow reference straight from the paper: per row, per group, sum colliding behaviours, normalise, average."""
    sum_values = values if sum_values is None else sum_values
    m = proj.shape[1]
    out = torch.zeros(len(lengths), sum_values.shape[1], dtype=values.dtype)
    start = 0
    for b, n in enumerate(lengths):
        tbits = [float(target[b] @ proj[:, j]) > 0 for j in range(m)]
        for g in range(m // tau):
            acc = torch.zeros(sum_values.shape[1], dtype=values.dtype)
            for i in range(start, start + n):
                if all((float(values[i] @ proj[:, g * tau + j]) > 0) == tbits[g * tau + j] for j in range(tau)):
                    acc = acc + sum_values[i]
            norm = float(acc.norm())
            out[b] += (acc / norm if norm > 0 else acc) / (m // tau)
        start += n
    return out


def test_sdim_equals_the_loop_reference_on_ragged_rows_including_empty_and_single(jagged):
    seq, target = jagged([5, 0, 1, 12, 3], dim=6)
    sdim = SDIM(6, m=12, tau=3, seed=4).double()
    got = sdim(seq, target)
    ref = loop_sdim(seq.values, [5, 0, 1, 12, 3], target, sdim.hash.projections, 3)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    assert torch.equal(got[1], torch.zeros(6, dtype=torch.float64))          # no behaviours -> 0
    # one behaviour: e/|e| times the fraction of groups whose signature matches the target's (no off-by-one mask)
    e = seq.values[5]
    frac = float((sdim.hash.codes(e) == sdim.hash.codes(target[2])).double().mean())
    torch.testing.assert_close(got[2], e / e.norm() * frac, rtol=0, atol=1e-12)


def test_decoupled_sdim_hashes_one_table_and_sums_the_other(jagged):
    seq, target = jagged([4, 7, 0], dim=5)
    repr_seq, _ = jagged([4, 7, 0], dim=9, seed=1)
    sdim = SDIM(5, m=6, tau=2, seed=0).double()
    got = sdim(seq, target, sum_values=repr_seq)
    ref = loop_sdim(seq.values, [4, 7, 0], target, sdim.hash.projections, 2, sum_values=repr_seq.values)
    assert got.shape == (3, 9)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)


def test_collision_probability_of_a_group_approaches_one_minus_theta_over_pi_to_the_tau():
    d, tau = 16, 3
    g = torch.Generator().manual_seed(0)
    q = torch.randn(d, generator=g)
    r = torch.randn(d, generator=g)
    r = r - (r @ q) / (q @ q) * q                                            # orthogonal to q
    for theta in (0.3, 1.0, 2.0):
        s = math.cos(theta) * q / q.norm() + math.sin(theta) * r / r.norm()  # angle theta to q
        rates = []
        for seed in range(200):
            h = SimHash(d, m=48, tau=tau, seed=seed)
            # SDIM weight of the single behaviour s against target q: fraction of colliding groups
            out = SDIM(d, m=48, tau=tau, seed=seed)(JaggedSeq.of(s[None], torch.tensor([1])), q[None])
            rates.append(float(out[0] @ s))                                  # s is unit length
            assert rates[-1] == pytest.approx(float((h.codes(s) == h.codes(q)).float().mean()), abs=1e-6)
        expected = (1 - theta / math.pi) ** tau
        assert np.mean(rates) == pytest.approx(expected, abs=0.02), (theta, np.mean(rates), expected)


def test_bse_serving_equals_the_training_path():
    g = torch.Generator().manual_seed(1)
    history = torch.randn(300, 16, generator=g)
    candidates = torch.randn(50, 16, generator=g)
    sdim = SDIM(16, seed=2)
    tables = sdim.build_tables(history)
    assert tables.shape == (16, 8, 16)
    served = sdim.serve(tables, candidates)
    # training path: every row brings the same sequence, the candidates are the targets
    batch = JaggedSeq.of(history.repeat(50, 1), torch.full((50,), 300))
    torch.testing.assert_close(served, sdim(batch, candidates), rtol=1e-5, atol=1e-6)
    sd = sdim.double()
    torch.testing.assert_close(sd.serve(sd.build_tables(history.double()), candidates.double()),
                               sd(JaggedSeq.of(history.double().repeat(50, 1), torch.full((50,), 300)),
                                  candidates.double()), rtol=0, atol=1e-12)
    # decoupled: hash one table, sum the other
    repr_h = torch.randn(300, 8, generator=g)
    served = sd.serve(sd.build_tables(history.double(), repr_h.double()), candidates.double())
    trained = sd(JaggedSeq.of(history.double().repeat(50, 1), torch.full((50,), 300)), candidates.double(),
                 sum_values=JaggedSeq.of(repr_h.double().repeat(50, 1), torch.full((50,), 300)))
    torch.testing.assert_close(served, trained, rtol=0, atol=1e-12)
    # an empty history serves zeros
    assert torch.equal(sdim.serve(sdim.build_tables(history[:0]), candidates), torch.zeros(50, 16))


def test_projections_are_seeded_buffers_saved_with_the_model_and_never_trained():
    a, b = SDIM(8, seed=3), SDIM(8, seed=3)
    assert torch.equal(a.hash.projections, b.hash.projections)
    assert not torch.equal(a.hash.projections, SDIM(8, seed=4).hash.projections)
    assert list(a.state_dict()) == ["hash.projections"] and not list(a.parameters())
    c = SDIM(8, seed=9)
    c.load_state_dict(a.state_dict())
    assert torch.equal(c.hash.projections, a.hash.projections)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"tau=5 must divide m=48"):
        SDIM(8, m=48, tau=5)
    sdim = SDIM(4, m=6, tau=3)
    with pytest.raises(ValueError, match=r"lengths sum to 5 but there are 4 sequence values"):
        JaggedSeq.of(torch.zeros(4, 4), torch.tensor([2, 3]))
    with pytest.raises(ValueError, match=r"offsets \[0, 3, 4\] do not match lengths \[2, 2\]"):
        JaggedSeq.of(torch.zeros(4, 4), torch.tensor([2, 2]), offsets=torch.tensor([0, 3, 4]))
    with pytest.raises(ValueError, match=r"SDIM: target must be \[B=2, d=4\], got shape \(3, 4\)"):
        sdim(JaggedSeq.of(torch.zeros(4, 4), torch.tensor([2, 2])), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"SDIM.serve: tables must be \[2, 8, d\]"):
        sdim.serve(torch.zeros(3, 8, 4), torch.zeros(1, 4))
