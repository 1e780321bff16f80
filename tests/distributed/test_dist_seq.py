"""Long-sequence CTR models (SDIM, TWIN, DARE over MC-EmbeddingCollections; DARE reads two collections of
different dims) under DistributedModelParallel on 2 gloo CPU ranks: every MC-EC sharded by `model_sharding_plan`
(FUSED kernel: SGD applied in backward), the sequence module and MLP data-parallel (DDP).

Equivalence asserted: rank r's logits (TWIN / DARE: followed by their auxiliary full-attention head's logits, on by
default) == the unsharded model's logits on batch_r bit for bit (dyadic weights), and
after one step every parameter (tables gathered from the shards, dense weights) equals, within rtol 1e-5 /
atol 1e-6, the unsharded model's after one torch.optim.SGD step (same lr) on (loss_0 + loss_1) / 2,
loss_r = sum(logits_r * C_r) (DDP averages dense gradients; TorchRec divides the embedding gradients of its
all-to-all by the world size). The item table is a universal hash (17 rows for 40 item IDs), the category table full.
"""
import numpy as np
import pytest

from _mp import assert_same, one_step_check, run_ranks

pytestmark = pytest.mark.distributed
CONFIGS = [("sdim", "row_wise"), ("sdim", "table_wise"), ("twin", "row_wise"), ("twin", "table_wise"),
           ("dare", "row_wise"), ("dare", "table_wise")]
N_ITEMS, N_CATE = 40, 5


def _batch(rank, hist_lengths):
    import torch
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    rng = np.random.default_rng(10 + rank)
    b, n = len(hist_lengths), int(sum(hist_lengths))
    vals = [rng.integers(N_ITEMS, size=b), rng.integers(N_ITEMS, size=n), rng.integers(N_CATE, size=b),
            rng.integers(N_CATE, size=n)]
    lens = [np.ones(b), hist_lengths, np.ones(b), hist_lengths]
    kjt = KeyedJaggedTensor(keys=["target_item", "hist_item", "target_cate", "hist_cate"],
                            values=torch.from_numpy(np.concatenate(vals).astype(np.int64)),
                            lengths=torch.from_numpy(np.concatenate(lens).astype(np.int64)))
    return torch.zeros(b, 0), kjt


def _logits(model, batch):
    """The model's logits, then (twin / dare: their auxiliary full-attention head is on) the auxiliary logits."""
    import torch

    logits = model(batch[0], batch[1])
    aux = getattr(model, "module", model).pop_auxiliary_logits()
    return logits if aux is None else torch.cat([logits, aux])


def _check(rank, world):
    from recsys_hash.ids import create
    from recsys_hash.models.seq_ctr import LongSeqCTR, SeqModelConfig

    tables = {"item": create("universal", num_rows=17, seed=1).fit(np.arange(N_ITEMS)),
              "cate": create("full").fit(np.arange(N_CATE))}
    batches = [_batch(r, hist) for r, hist in enumerate(([0, 3, 9, 1], [6, 2, 0, 12]))]
    out = {}
    for module, sharding in CONFIGS:
        cfg = SeqModelConfig(module=module, dim=8, k=3, m=12, tau=3, hidden=(8,))
        out.update(one_step_check(lambda: LongSeqCTR(cfg, tables), _logits, batches, rank, world,
                                  sharding, tag=f"{module}/{sharding}", scale=1 / 64))
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_ranks(_check, tmp_path_factory.mktemp("seq"))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("module,sharding", CONFIGS)
def test_sequence_model_sharded_equals_unsharded_forward_and_one_step(results, module, sharding):
    for rank, res in enumerate(results):
        assert res[f"{module}/{sharding}/out"].shape == ((8,) if module in ("twin", "dare") else (4,))
        names = assert_same(res, f"{module}/{sharding}", rank, exact_step=False)
        tables = sorted(n.split(".")[0] + "/" + n.split(".")[-2] for n in names if ".embeddings." in n)
        expect = ["repr_ec/cate", "repr_ec/item"] + (["att_ec/cate", "att_ec/item"] if module == "dare" else [])
        assert tables == sorted(expect), names
