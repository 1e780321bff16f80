"""DIN and dot target attention equal padded references; TWIN/DARE top-K never attends padding; DARE gradients."""
import math

import pytest
import torch

from recsys_hash.sequence import DARE, TWIN, DINAttention, DotTargetAttention, JaggedSeq

LENGTHS = [3, 0, 1, 7, 2]


def padded(seq):
    """Reference padding by a Python loop: [B, L, d] zeros + bool mask."""
    lengths = seq.lengths.tolist()
    out = torch.zeros(len(lengths), max(lengths), seq.values.shape[1], dtype=seq.values.dtype)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.bool)
    start = 0
    for b, n in enumerate(lengths):
        out[b, :n] = seq.values[start:start + n]
        mask[b, :n] = True
        start += n
    return out, mask


def test_din_equals_a_padded_reference_folded_or_not(jagged):
    seq, target = jagged(LENGTHS, dim=6)
    torch.manual_seed(0)
    din = DINAttention(6, hidden=(10, 5)).double()
    e, mask = padded(seq)
    t = target[:, None, :].expand_as(e)
    w = din.rest(din.first(torch.cat([e, t, e - t, e * t], -1))).squeeze(-1) * mask
    ref = (w[..., None] * e).sum(1)
    torch.testing.assert_close(din(seq, target), ref, rtol=0, atol=1e-12)
    din.fold = False
    torch.testing.assert_close(din(seq, target), ref, rtol=0, atol=1e-12)
    assert torch.equal(ref[1], torch.zeros(6, dtype=torch.float64))
    # serving one user's history against many candidates = the training path with that history in every row
    hist = seq.values[4:11]
    rows = JaggedSeq.of(hist.repeat(5, 1), torch.full((5,), 7))
    for fold in (True, False):
        din.fold = fold
        torch.testing.assert_close(din.serve(hist, target, chunk=2), din(rows, target), rtol=0, atol=1e-12)


def test_din_flat_ragged_path_matches_the_padded_one_in_values_and_gradients(jagged):
    # a ragged batch runs the folded DIN on the real behaviours only; softmax or not, values and every parameter's
    # and input's gradient equal the straightforward padded MLP (fold=False)
    for softmax in (False, True):
        seq, target = jagged(LENGTHS, dim=6, seed=3)
        assert not seq.uniform
        torch.manual_seed(1)
        din = DINAttention(6, hidden=(10, 5), softmax=softmax).double()
        grads = []
        for fold in (True, False):
            din.fold = fold
            values, tgt = seq.values.clone().requires_grad_(), target.clone().requires_grad_()
            din.zero_grad()
            out = din(JaggedSeq.of(values, seq.lengths), tgt)
            (out * torch.arange(1.0, 7.0, dtype=torch.float64)).sum().backward()
            grads.append([out.detach(), values.grad, tgt.grad, *(p.grad.clone() for p in din.parameters())])
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
        if softmax:        # the row without behaviours stays zero on the flat path too
            assert torch.equal(grads[0][0][1], torch.zeros(6, dtype=torch.float64))


def test_dot_attention_equals_a_padded_reference(jagged):
    seq, target = jagged(LENGTHS, dim=4)
    e, mask = padded(seq)
    s = (e @ target[:, :, None]).squeeze(-1) / 2.0
    ref = torch.zeros_like(target)
    for b in range(len(LENGTHS)):
        if mask[b].any():
            ref[b] = torch.softmax(s[b][mask[b]], 0) @ e[b][mask[b]]
    dot = DotTargetAttention(4)
    torch.testing.assert_close(dot(seq, target), ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(dot.serve(seq.values[4:11], target), dot(
        JaggedSeq.of(seq.values[4:11].repeat(5, 1), torch.full((5,), 7)), target), rtol=0, atol=1e-12)


def test_twin_with_fewer_than_k_valid_behaviours_never_attends_padding(jagged):
    seq, target = jagged(LENGTHS, dim=4)
    twin = TWIN(4, k=4)
    got = twin(seq, target)
    start = 0
    for b, n in enumerate(LENGTHS):
        e = seq.values[start:start + n]
        s = e @ target[b]
        top = s.topk(min(4, n))
        ref = torch.softmax(top.values / 2.0, 0) @ e[top.indices] if n else torch.zeros(4, dtype=e.dtype)
        torch.testing.assert_close(got[b], ref, rtol=0, atol=1e-12)
        start += n
    # poisoning the padding cannot change anything: K (50) exceeds every sequence and the batch maximum
    big = TWIN(4, k=50)(seq, target)
    full = TWIN(4, k=7)(seq, target)
    torch.testing.assert_close(big, full, rtol=0, atol=0)
    assert torch.isfinite(big).all() and torch.equal(big[1], torch.zeros(4, dtype=torch.float64))


def test_dare_searches_the_attention_table_and_pools_the_representation_table(jagged):
    seq_att, t_att = jagged(LENGTHS, dim=3, seed=1)
    seq_rep, _ = jagged(LENGTHS, dim=5, seed=2)
    got = DARE(3, 5, k=2)(seq_att, t_att, seq_rep.values)
    start = 0
    for b, n in enumerate(LENGTHS):
        s = seq_att.values[start:start + n] @ t_att[b]
        top = s.topk(min(2, n))
        w = torch.softmax(top.values / math.sqrt(3), 0)
        ref = (w[:, None] * seq_rep.values[start:start + n][top.indices]).sum(0)
        torch.testing.assert_close(got[b], ref, rtol=0, atol=1e-12)
        start += n
    assert got.shape == (5, 5)


def test_dare_gradients_reach_only_the_selected_rows_of_the_intended_tables():
    torch.manual_seed(0)
    att = torch.nn.Embedding(20, 4)
    rep = torch.nn.Embedding(20, 6)
    ids = torch.tensor([1, 2, 3, 4, 5, 6, 7])                                # rows 0 and 1: lengths 5 and 2
    lengths = torch.tensor([5, 2])
    target = torch.tensor([10, 11])
    dare = DARE(4, 6, k=2)
    seq = JaggedSeq.of(att(ids), lengths)
    h = dare(seq, att(target), rep(ids))
    (h * rep(target)).sum().backward()                                       # the model's target-aware product
    scores = (att.weight[ids[:5]] @ att.weight[10]).detach()
    chosen = set((ids[:5][scores.topk(2).indices]).tolist()) | {6, 7}
    touched_att = set(torch.nonzero(att.weight.grad.abs().sum(1)).flatten().tolist())
    touched_rep = set(torch.nonzero(rep.weight.grad.abs().sum(1)).flatten().tolist())
    assert touched_rep == chosen | {10, 11}
    assert touched_att == chosen | {10, 11}                                  # through the softmax weights only
    # the representation table never steers the search, the attention table never enters h's values
    att.weight.grad = None
    rep.weight.grad = None
    h = dare(JaggedSeq.of(att(ids), lengths), att(target).detach(), rep(ids).detach())
    (h * rep(target).detach()).sum().backward()
    assert rep.weight.grad is None
    assert set(torch.nonzero(att.weight.grad.abs().sum(1)).flatten().tolist()) <= chosen


def test_bad_k_and_targets_are_named():
    with pytest.raises(ValueError, match=r"TWIN: k \(behaviours kept by the search\) must be >= 1, got 0"):
        TWIN(4, k=0)
    seq = JaggedSeq.of(torch.zeros(3, 4), torch.tensor([3]))
    with pytest.raises(ValueError, match=r"DARE: representation values \(2, 2\) must be \[3, d_repr\]"):
        DARE(4, 2)(seq, torch.zeros(1, 4), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"DINAttention: target must be \[B=1, d=4\]"):
        DINAttention(4)(seq, torch.zeros(1, 5))
    with pytest.raises(ValueError, match=r"negative sequence length -1 at row 1"):
        JaggedSeq.of(torch.zeros(3, 4), torch.tensor([4, -1]))


@pytest.mark.parametrize("k", [2, 50])
def test_full_attention_is_a_masked_softmax_over_every_behaviour_and_equals_the_top_k_when_k_covers_all(jagged, k):
    seq_att, t_att = jagged(LENGTHS, dim=3, seed=1)
    seq_rep, _ = jagged(LENGTHS, dim=5, seed=2)
    dare = DARE(3, 5, k=k)
    full = dare.full_attention(seq_att, t_att, seq_rep.values)
    start = 0
    for b, n in enumerate(LENGTHS):
        w = torch.softmax(seq_att.values[start:start + n] @ t_att[b] / math.sqrt(3), 0)
        ref = (w[:, None] * seq_rep.values[start:start + n]).sum(0) if n else torch.zeros(5, dtype=full.dtype)
        torch.testing.assert_close(full[b], ref, rtol=0, atol=1e-12)
        start += n
    if k >= max(LENGTHS):                                   # the search keeps everything: the same h
        torch.testing.assert_close(full, dare(seq_att, t_att, seq_rep.values), rtol=0, atol=1e-12)
    torch.testing.assert_close(TWIN(3, k=k).full_attention(seq_att, t_att), dare.full_attention(seq_att, t_att,
                               seq_att.values), rtol=0, atol=0)
    with pytest.raises(ValueError, match="representation values"):
        dare.full_attention(seq_att, t_att, seq_rep.values[:-1])


def test_full_attention_gives_every_behaviour_an_attention_gradient_the_top_k_does_not():
    torch.manual_seed(0)
    att, rep = torch.nn.Embedding(20, 4), torch.nn.Embedding(20, 6)
    ids, lengths, target = torch.tensor([1, 2, 3, 4, 5, 6, 7]), torch.tensor([5, 2]), torch.tensor([10, 11])
    dare = DARE(4, 6, k=2)
    h = dare.full_attention(JaggedSeq.of(att(ids), lengths), att(target), rep(ids).detach())
    (h * rep(target).detach()).sum().backward()
    assert set(torch.nonzero(att.weight.grad.abs().sum(1)).flatten().tolist()) == set(range(1, 8)) | {10, 11}
