"""CTR models (DLRM, DCNv2, DeepFM over per-feature MC-EBC tables) under DistributedModelParallel on 2 gloo CPU
ranks: the MC-EBC sharded by `model_sharding_plan`, the dense part data-parallel (DDP).

Equivalence asserted: rank r's logits == the unsharded model's logits on batch_r bit for bit (dyadic weights), and
after one SGD step every parameter (embedding tables gathered from the shards, dense weights) equals, within
rtol 1e-5 / atol 1e-6 (the MLP gradients are summed in another order), the unsharded model's after one
torch.optim.SGD step on (loss_0 + loss_1) / 2, loss_r = sum(logits_r * C_r): DDP averages dense gradients over the
ranks and TorchRec divides the embedding gradients of its all-to-all by the world size. Tables are a graphhash
(planted graph), a double_frequency (two rows per ID), a modulo and a full table.
"""
import numpy as np
import pytest

from _mp import assert_same, one_step_check, run_ranks

pytestmark = pytest.mark.distributed
CONFIGS = [("dlrm", "row_wise"), ("dlrm", "table_wise"), ("dcn", "row_wise"), ("dcn", "table_wise"),
           ("deepfm", "row_wise"), ("deepfm", "table_wise")]
BATCH = 16


def _check(rank, world):
    from recsys_hash.data.ctr_sets import synthetic_ctr
    from recsys_hash.models.ctr import CTRModel, fit_ctr_tables
    from recsys_hash.models.ctr_config import CTRConfig, FeatureSpec

    data = synthetic_ctr(seed=0, n_rows=3000)
    cfg = CTRConfig(features={"user": FeatureSpec("graphhash", 0.25), "item": FeatureSpec("double_frequency", 40),
                              "context": FeatureSpec("modulo", 4)})
    tables, _ = fit_ctr_tables(data, cfg.resolve(data.features, data.vocab, ("user", "item")), seed=0)
    batches = [data.batch("train", np.arange(r * BATCH, (r + 1) * BATCH)) for r in range(world)]
    out = {}
    for kind, sharding in CONFIGS:
        out.update(one_step_check(lambda: CTRModel(kind, tables, dim=4, n_dense=data.n_dense, hidden=8, dcn_rank=2),
                                  lambda m, b: m(b[0], b[1]), batches, rank, world, sharding,
                                  tag=f"{kind}/{sharding}", scale=1 / 64))
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_ranks(_check, tmp_path_factory.mktemp("ctr"))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind,sharding", CONFIGS)
def test_ctr_model_sharded_equals_unsharded_forward_and_one_step(results, kind, sharding):
    for rank, res in enumerate(results):
        assert res[f"{kind}/{sharding}/out"].shape == (BATCH,)
        names = assert_same(res, f"{kind}/{sharding}", rank, exact_step=False)
        tables = {n for n in names if ".embedding_bags." in n}
        assert len(tables) == 4 and len(names) > 4, names        # 4 tables + the dense part
