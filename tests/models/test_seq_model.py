"""Long-sequence CTR model: every module trains end to end through MC-EmbeddingCollections; learns the planted set;
bad input (IDs out of range, missing targets, ragged categories, empty histories) is named or documented."""
import numpy as np
import pytest
import torch
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys_hash.data.seq_sets import synthetic_seq_ctr
from recsys_hash.errors import InvalidIdError
from recsys_hash.ids import get_strategy
from recsys_hash.models.seq_ctr import SEQUENCE_MODULES, LongSeqCTR, SeqModelConfig
from recsys_hash.models.train_seq import run_seq, seq_train_config
from recsys_hash.models.trainer import seed_everything


def _tables(n_items=30, n_cate=4):
    full = get_strategy("full")
    return {"item": full(seed=0).fit(np.arange(n_items)), "cate": full(seed=0).fit(np.arange(n_cate))}


def _kjt(hist_lengths, n_items=30, n_cate=4, seed=0):
    rng = np.random.default_rng(seed)
    b, n = len(hist_lengths), int(sum(hist_lengths))
    vals = [rng.integers(n_items, size=b), rng.integers(n_items, size=n), rng.integers(n_cate, size=b),
            rng.integers(n_cate, size=n)]
    lens = [np.ones(b), hist_lengths, np.ones(b), hist_lengths]
    return KeyedJaggedTensor(keys=["target_item", "hist_item", "target_cate", "hist_cate"],
                             values=torch.from_numpy(np.concatenate(vals).astype(np.int64)),
                             lengths=torch.from_numpy(np.concatenate(lens).astype(np.int64)))


@pytest.mark.parametrize("module", SEQUENCE_MODULES)
def test_every_module_gives_finite_logits_and_trains_its_tables_with_empty_and_short_histories(module):
    seed_everything(0)
    model = LongSeqCTR(SeqModelConfig(module=module, dim=8, k=3, m=12, tau=3), _tables())
    kjt = _kjt([0, 1, 5, 40])
    logits = model(torch.zeros(4, 0), kjt)
    assert logits.shape == (4,) and torch.isfinite(logits).all()
    logits.sum().backward()
    grads = {id(p): p.grad for p in model.embedding_parameters()}
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values()), module
    assert (model.att_ec is not None) == (module in ("dare", "sdim_decoupled"))
    if model.att_ec is not None:                                 # attention dim defaults to dim // 2
        assert {t.weight.shape[1] for t in model.att_ec._embedding_module.embeddings.values()} == {4}


def test_decoupled_sdim_output_is_plain_sdim_on_the_attention_hash():
    seed_everything(0)
    model = LongSeqCTR(SeqModelConfig(module="sdim_decoupled", dim=8, m=12), _tables())
    kjt = _kjt([3, 7])
    with torch.no_grad():                                        # no straight-through term without gradients
        plain = model(torch.zeros(2, 0), kjt)
    torch.testing.assert_close(model(torch.zeros(2, 0), kjt), plain, rtol=0, atol=1e-6)


def test_dare_feeds_the_mlp_target_pooled_representation_and_their_product_once():
    # as TWIN (and the DARE code's cross feature): [v, h, v ⊙ h] with h = Σ_topK softmax(⟨a_i, a_t⟩/√d_att) r_i,
    # the target-aware representation Σ w_i (r_i ⊙ v) = v ⊙ h entering once, not [v, v ⊙ h, v ⊙ v ⊙ h]
    seed_everything(0)
    model = LongSeqCTR(SeqModelConfig(module="dare", dim=8, att_dim=4, k=3), _tables())
    kjt = _kjt([0, 2, 6])
    seen = {}
    model.mlp.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0].detach()))
    with torch.no_grad():
        model(torch.zeros(3, 0), kjt)
        t_rep, seq_rep, _ = model._embed(model.repr_ec, kjt)
        t_att, seq_att, _ = model._embed(model.att_ec, kjt)
    h = torch.zeros(3, 8)
    for b, (lo, hi) in enumerate([(0, 0), (0, 2), (2, 8)]):
        if hi > lo:
            top = (seq_att.values[lo:hi] @ t_att[b]).topk(min(3, hi - lo))
            h[b] = torch.softmax(top.values / 2.0, 0) @ seq_rep.values[lo:hi][top.indices]
    torch.testing.assert_close(seen["x"], torch.cat([t_rep, h, t_rep * h], dim=1), rtol=0, atol=1e-6)


def test_trains_well_above_chance_on_the_planted_sequences():
    data = synthetic_seq_ctr(seed=0, n_users=800, max_len=200, n_items=500, targets_per_user=8)
    for module in ("sdim", "dare"):
        res, _ = run_seq(data, SeqModelConfig(module=module, dim=16),
                         seq_train_config(epochs=6, emb_lr=0.03, patience=6, progress=False), seed=0)
        assert res["auc"] >= 0.8, (module, res["history"])
        assert res["module"] == module and res["train_s"] > 0 and 0 < res["gauc"] <= 1


def test_bad_input_is_named():
    model = LongSeqCTR(SeqModelConfig(module="sdim", dim=8), _tables())
    bad_id = KeyedJaggedTensor(keys=["target_item", "hist_item", "target_cate", "hist_cate"],
                               values=torch.tensor([1, 2, 99, 0, 1, 1]), lengths=torch.tensor([1, 2, 1, 2]))
    with pytest.raises(InvalidIdError, match=r"unseen ID 99"):
        model(torch.zeros(1, 0), bad_id)
    no_target = KeyedJaggedTensor(keys=["target_item", "hist_item", "target_cate", "hist_cate"],
                                  values=torch.tensor([1, 2, 3, 0, 1, 1, 0]), lengths=torch.tensor([0, 1, 2, 1, 1, 2, 0, 0]))
    with pytest.raises(ValueError, match=r"feature 'target_item' needs exactly one value per row, row 0 has 0"):
        model(torch.zeros(2, 0), no_target)
    ragged = KeyedJaggedTensor(keys=["target_item", "hist_item", "target_cate", "hist_cate"],
                               values=torch.tensor([1, 2, 3, 0, 1]), lengths=torch.tensor([1, 2, 1, 1]))
    with pytest.raises(ValueError, match=r"hist_cate must give one category per hist_item behaviour"):
        model(torch.zeros(1, 0), ragged)
    with pytest.raises(ValueError, match=r"unknown sequence module 'mlp'; choose one of din, dot, sdim"):
        SeqModelConfig(module="mlp")
    with pytest.raises(ValueError, match=r"tau=5 must divide m=48"):
        LongSeqCTR(SeqModelConfig(module="sdim", tau=5), _tables())
    with pytest.raises(ValueError, match=r"tables need an 'item' remapper"):
        LongSeqCTR(SeqModelConfig(), {"cate": _tables()["cate"]})


def test_embedding_l2_needs_a_pooled_sparse_arch():
    data = synthetic_seq_ctr(seed=0, n_users=40, max_len=10, n_items=30, targets_per_user=2)
    assert seq_train_config().emb_l2 == 0.0
    with pytest.raises(ValueError, match=r"emb_l2=0.001 needs a model with a pooled sparse arch .*LongSeqCTR has none"):
        run_seq(data, SeqModelConfig(module="dot", dim=4), seq_train_config(epochs=1, emb_l2=1e-3, progress=False))


@pytest.mark.parametrize("module", ["twin", "dare"])
def test_auxiliary_full_attention_head_trains_in_training_mode_only_and_never_changes_predictions(module):
    seed_everything(0)
    model = LongSeqCTR(SeqModelConfig(module=module, dim=8, k=2, aux_loss=True), _tables())
    seed_everything(0)
    plain = LongSeqCTR(SeqModelConfig(module=module, dim=8, k=2, aux_loss=False), _tables())
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("aux_mlp.")})
    kjt = _kjt([0, 1, 6, 9])
    logits = model(torch.zeros(4, 0), kjt)
    torch.testing.assert_close(logits, plain(torch.zeros(4, 0), kjt), rtol=0, atol=0)
    aux = model.pop_auxiliary_logits()
    assert aux.shape == (4,) and model.pop_auxiliary_logits() is None and plain.pop_auxiliary_logits() is None
    # the auxiliary logits are the aux MLP on [v, h_full, v ⊙ h_full]
    seen = {}
    model.aux_mlp.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0].detach()))
    model(torch.zeros(4, 0), kjt)
    t_rep, seq_rep, _ = model._embed(model.repr_ec, kjt)
    if module == "dare":
        t_att, seq_att, _ = model._embed(model.att_ec, kjt)
        h_full = model.sequence.full_attention(seq_att, t_att, seq_rep.values)
    else:
        h_full = model.sequence.full_attention(seq_rep, t_rep)
    torch.testing.assert_close(seen["x"], torch.cat([t_rep, h_full, t_rep * h_full], 1).detach(), rtol=0, atol=1e-6)
    # its loss reaches the attention rows of behaviours the top-2 search dropped (rows of >= 2 behaviours: a lone
    # behaviour's softmax weight is 1 whatever its score)
    model.zero_grad()
    kjt = _kjt([0, 6, 9])
    model(torch.zeros(3, 0), kjt)
    model.pop_auxiliary_logits().sum().backward()
    ec = model.att_ec if module == "dare" else model.repr_ec
    item_grad = ec._embedding_module.embeddings["item"].weight.grad
    hist = kjt["hist_item"].values()
    assert (item_grad[torch.unique(hist)].abs().sum(1) > 0).all()
    model.eval()
    model(torch.zeros(4, 0), kjt)
    assert model.pop_auxiliary_logits() is None                              # never at prediction time
    with pytest.raises(ValueError, match="aux_loss"):
        SeqModelConfig(module="sdim", aux_loss=True)
    with pytest.raises(ValueError, match="aux_loss must be True, False or None"):
        SeqModelConfig(module="dare", aux_loss="yes")
    # the default: on for the top-K modules, off (and no head) for the others
    assert [SeqModelConfig(module=m).aux_loss for m in SEQUENCE_MODULES] == [m in ("twin", "dare")
                                                                             for m in SEQUENCE_MODULES]
    assert LongSeqCTR(SeqModelConfig(module="sdim", dim=8, m=12), _tables()).aux_mlp is None


def test_trainer_adds_the_auxiliary_bce_to_the_loss():
    data = synthetic_seq_ctr(seed=0, n_users=60, max_len=20, n_items=40, targets_per_user=2)
    losses = {}
    for aux in (False, True):
        res, _ = run_seq(data, SeqModelConfig(module="dare", dim=8, k=3, aux_loss=aux),
                         seq_train_config(epochs=1, patience=None, progress=False), seed=0)
        losses[aux] = res["history"][0]["loss"]
        assert res["aux_loss"] is aux
    # two BCE terms near log 2 each at the start, against one
    assert losses[True] > 1.5 * losses[False] and losses[False] == pytest.approx(np.log(2), abs=0.1)


def test_checkpoints_without_the_auxiliary_head_resume_and_a_change_of_head_is_named(tmp_path):
    from recsys_hash.errors import ArtifactError

    data = synthetic_seq_ctr(seed=0, n_users=60, max_len=20, n_items=40, targets_per_user=2)
    ckpt = str(tmp_path / "dare.safetensors")
    train = dict(epochs=1, patience=None, progress=False, checkpoint=ckpt)
    # a run without the head records no aux_loss field: the form of every checkpoint written before the option
    run_seq(data, SeqModelConfig(module="dare", dim=8, k=3, aux_loss=False), seq_train_config(**train), seed=0)
    from recsys_hash.artifacts import load_artifact

    assert "aux_loss" not in load_artifact(ckpt)[1]["provenance"]["model"]
    with pytest.raises(ArtifactError, match="aux_loss"):                     # the default (head on) is named
        run_seq(data, SeqModelConfig(module="dare", dim=8, k=3), seq_train_config(**{**train, "epochs": 2,
                                                                                     "resume": True}), seed=0)
    res, _ = run_seq(data, SeqModelConfig(module="dare", dim=8, k=3, aux_loss=False),
                     seq_train_config(**{**train, "epochs": 2, "resume": True}), seed=0)
    assert res["epochs"] == 2 and res["aux_loss"] is False
