"""MC-EBC and MC-EC under DistributedModelParallel (2 gloo CPU ranks) equal the unsharded modules: forward and one
SGD step (one spawn checks both; `tests/distributed/_mp.py` holds the harness).

Every strategy family feeds one table of one MC-EBC: single-row (full with a shared OOV row, universal, xxhash,
frequency), multi-row (double, qr, double_frequency), graphhash and double_graphhash (fitted on a planted graph),
dedup, dedup+graphhash and dedup+double (a multi-row strategy behind the spec's pre-map). Each rank gets its own
batch. Checked for row-wise (TorchRec's MC sharder) and table-wise plans, with the DENSE kernel
(KeyedOptimizerWrapper SGD) and the FUSED kernel (SGD applied in backward). The MC-EC (sequence tables: every
single-row family) runs row-wise and table-wise on the FUSED kernel, the only one that shards an EmbeddingCollection
on CPU.

Equivalence asserted, bit for bit: sharded outputs on rank r == unsharded model(batch_r); after one step the
weights gathered from the shards == the unsharded weights after one torch.optim.SGD step (same lr) on
loss = (loss_0 + loss_1) / 2, loss_r = sum(model(batch_r) * C) for a fixed tensor C: TorchRec divides the
embedding gradients coming back through its all-to-all by the world size (comm_ops GRADIENT_DIVISION). Weights,
C and lr are dyadic (k / 16, 0.5), so every sum is exact whatever order the shards add in.
"""
import numpy as np
import pytest
import torch
from torch import nn

from _mp import assert_same, one_step_check, run_ranks

pytestmark = pytest.mark.distributed
EBC_CONFIGS = [("row_wise", "dense"), ("row_wise", "fused"), ("table_wise", "dense"), ("table_wise", "fused")]
EC_CONFIGS = [("row_wise", "fused"), ("table_wise", "fused")]
SINGLE_ROW = ("t_full", "t_universal", "t_xxhash", "t_frequency", "t_graphhash", "t_dedup", "t_dedup_graphhash")
DIM = 4
DUPLICATES = [[9, 3], [12, 9], [20, 5]]


def tables():
    """feature -> fitted remapper, one per strategy family; `ID_RANGE[feature]` draws the batch IDs."""
    from recsys_hash.data.synthetic_graph import planted_bipartite
    from recsys_hash.ids import create

    rng = np.random.default_rng(0)
    graph, _, _ = planted_bipartite(n_users=60, n_items=40, n_communities=4, n_interactions=600, seed=0)
    return {"t_" + name: remapper for name, remapper in {
        "full": create("full", oov="shared_row").fit(rng.integers(0, 2**40, 100)),      # 101 rows (odd)
        "universal": create("universal", num_rows=17, seed=1).fit(np.arange(500)),
        "xxhash": create("xxhash", num_rows=13, seed=2).fit(np.arange(500)),
        "frequency": create("frequency", num_rows=20, seed=1).fit(rng.integers(0, 50, 500)),
        "double": create("double", num_rows=51, seed=3).fit(np.arange(1000)),          # 2 rows per ID
        "qr": create("qr", num_rows=24, seed=4).fit(np.arange(200)),
        "double_frequency": create("double_frequency", num_rows=21, seed=5).fit(rng.integers(0, 80, 500)),
        "graphhash": create("graphhash", num_rows=9, seed=0).fit(interactions=graph, side="user"),
        "double_graphhash": create("double_graphhash", num_rows=11, seed=0).fit(interactions=graph, side="item"),
        "dedup": create("dedup", duplicates=DUPLICATES).fit(np.arange(25)),
        "dedup_graphhash": create("dedup+graphhash", num_rows=7, duplicates=DUPLICATES, seed=0).fit(
            interactions=graph, side="item"),
        "dedup_double": create("dedup+double", num_rows=19, duplicates=DUPLICATES, seed=6).fit(np.arange(25)),
    }.items()}     # table names get a prefix: a ModuleDict key may not shadow nn.Module.double


def batch(rank, tabs, n_rows=6):
    """A KJT over every table: up to 3 IDs per row, each rank its own; includes IDs the remappers never saw."""
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    hi = {"full": None, "universal": 5000, "xxhash": 5000, "frequency": 80, "double": 5000, "qr": 300,
          "double_frequency": 100, "graphhash": 70, "double_graphhash": 50, "dedup": 25, "dedup_graphhash": 40,
          "dedup_double": 25}
    rng = np.random.default_rng(100 + rank)
    values, lengths = [], []
    for name in tabs:
        kind = name[2:]
        lens = rng.integers(0, 4, n_rows)
        lens[rank] = 2                                      # every table gets IDs on every rank
        n = int(lens.sum())
        if hi[kind] is None:
            vals = rng.choice(tabs[name].table_keys_, n)
            vals[0] = 2**41 + rank                          # an unseen ID -> the shared OOV row
        else:
            vals = rng.integers(0, hi[kind], n)
        values.append(vals)
        lengths.append(lens)
    return KeyedJaggedTensor.from_lengths_sync(keys=list(tabs), values=torch.from_numpy(np.concatenate(values)),
                                               lengths=torch.from_numpy(np.concatenate(lengths)))


class PooledModel(nn.Module):
    """[B, tables * DIM] in table order (a table-wise sharded EBC orders its KeyedTensor keys by rank)."""

    def __init__(self, mc_ebc):
        super().__init__()
        self.sparse = mc_ebc
        self.keys = [c.name for c in mc_ebc._embedding_module.embedding_bag_configs()]

    def forward(self, kjt):
        pooled = self.sparse(kjt)[0].to_dict()
        return torch.cat([pooled[k] for k in self.keys], dim=1)


class SequenceModel(nn.Module):
    """[sum of all features' lengths, DIM]: every ID position's embedding, features in table order."""

    def __init__(self, mc_ec):
        super().__init__()
        self.seq = mc_ec
        self.keys = [f for c in mc_ec._embedding_module.embedding_configs() for f in c.feature_names]

    def forward(self, kjt):
        out = self.seq(kjt)[0]
        return torch.cat([out[k].values() for k in self.keys], dim=0)


def _check(rank, world):
    from recsys_hash.integrations import make_mc_ebc, make_mc_ec

    tabs = tables()
    seq_tabs = {t: tabs[t] for t in SINGLE_ROW}
    ebc_batches = [batch(r, tabs) for r in range(world)]
    ec_batches = [batch(r, seq_tabs) for r in range(world)]
    out = {}
    for sharding, kernel in EBC_CONFIGS:
        out.update(one_step_check(lambda: PooledModel(make_mc_ebc(tabs, DIM)), lambda m, b: m(b), ebc_batches,
                                  rank, world, sharding, kernel, tag=f"ebc/{sharding}/{kernel}"))
    for sharding, kernel in EC_CONFIGS:
        out.update(one_step_check(lambda: SequenceModel(make_mc_ec(seq_tabs, DIM)), lambda m, b: m(b), ec_batches,
                                  rank, world, sharding, kernel, tag=f"ec/{sharding}/{kernel}"))
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_ranks(_check, tmp_path_factory.mktemp("collections"))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sharding,kernel", EBC_CONFIGS)
def test_mc_ebc_every_family_sharded_equals_unsharded_forward_and_one_step(results, sharding, kernel):
    n_tables = len(tables())
    for rank, res in enumerate(results):
        tag = f"ebc/{sharding}/{kernel}"
        expected = res[f"{tag}/out_ref"]
        assert expected.shape == (6, n_tables * DIM)
        assert (expected.reshape(6, n_tables, DIM).abs().sum(dim=(0, 2)) > 0).all(), f"{tag}: a table is unused"
        names = assert_same(res, tag, rank)
        assert len(names) == n_tables


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sharding,kernel", EC_CONFIGS)
def test_mc_ec_single_row_families_sharded_equal_unsharded_forward_and_one_step(results, sharding, kernel):
    for rank, res in enumerate(results):
        tag = f"ec/{sharding}/{kernel}"
        assert res[f"{tag}/out_ref"].shape[1] == DIM
        assert len(assert_same(res, tag, rank)) == len(SINGLE_ROW)
