"""Hand-written sharding plans (no processes): which ranks own which rows of which table, and the sharders."""
import numpy as np
import pytest
from torch import nn
from torchrec.distributed.embedding import EmbeddingCollectionSharder
from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
from torchrec.distributed.mc_embedding import ManagedCollisionEmbeddingCollectionSharder
from torchrec.distributed.mc_embeddingbag import ManagedCollisionEmbeddingBagCollectionSharder

from recsys_hash.ids import create
from recsys_hash.integrations import make_mc_ebc, make_mc_ec
from recsys_hash.integrations.sharding import model_sharding_plan, row_wise_plan, table_wise_plan


def _full(n):
    return create("full").fit(np.arange(n))


class TwoCollections(nn.Module):
    def __init__(self):
        super().__init__()
        self.sparse = make_mc_ebc({"user": _full(101), "item": create("double", num_rows=51, seed=3).fit(np.arange(9)),
                                   "cat": _full(3)}, 4)
        self.seq = nn.Module()
        self.seq.ec = make_mc_ec({"hist": _full(7)}, 8)


def _layout(module_plan):
    """table -> (sharding type, kernel, [(rank, first row, rows, cols)])"""
    out = {}
    for table, ps in module_plan.items():
        shards = [(int(str(s.placement).split(":")[1].split("/")[0]), s.shard_offsets[0], s.shard_sizes[0],
                   s.shard_sizes[1]) for s in ps.sharding_spec.shards]
        out[table] = (ps.sharding_type, ps.compute_kernel, shards)
    return out


def test_row_wise_plan_splits_every_table_in_ceil_blocks():
    plan, sharders = model_sharding_plan(TwoCollections(), world_size=2)
    assert sorted(plan.plan) == ["seq.ec", "sparse"]
    assert _layout(plan.plan["sparse"]) == {
        "user": ("row_wise", "dense", [(0, 0, 51, 4), (1, 51, 50, 4)]),      # ceil(101 / 2) = 51
        "item": ("row_wise", "dense", [(0, 0, 26, 4), (1, 26, 25, 4)]),
        "cat": ("row_wise", "dense", [(0, 0, 2, 4), (1, 2, 1, 4)]),
    }
    assert _layout(plan.plan["seq.ec"]) == {"hist": ("row_wise", "fused", [(0, 0, 4, 8), (1, 4, 3, 8)])}
    assert [type(s) for s in sharders] == [ManagedCollisionEmbeddingBagCollectionSharder,
                                           ManagedCollisionEmbeddingCollectionSharder]


def test_row_wise_over_three_ranks_and_an_explicit_kernel():
    model = TwoCollections()
    layout = _layout(row_wise_plan(model.sparse, 3, compute_kernel="fused"))
    assert layout["user"] == ("row_wise", "fused", [(0, 0, 34, 4), (1, 34, 34, 4), (2, 68, 33, 4)])


def test_table_wise_plan_puts_tables_round_robin_on_the_inner_collections():
    plan, sharders = model_sharding_plan(TwoCollections(), world_size=2, sharding="table_wise")
    assert sorted(plan.plan) == ["seq.ec._embedding_module", "sparse._embedding_module"]
    assert _layout(plan.plan["sparse._embedding_module"]) == {
        "user": ("table_wise", "dense", [(0, 0, 101, 4)]),
        "item": ("table_wise", "dense", [(1, 0, 51, 4)]),
        "cat": ("table_wise", "dense", [(0, 0, 3, 4)]),
    }
    # the round robin continues across collections: the 4th table of the model goes to rank 1
    assert _layout(plan.plan["seq.ec._embedding_module"]) == {"hist": ("table_wise", "fused", [(1, 0, 7, 8)])}
    assert [type(s) for s in sharders] == [EmbeddingBagCollectionSharder, EmbeddingCollectionSharder]
    assert _layout(table_wise_plan(TwoCollections().sparse, 3, first_rank=2))["item"][2] == [(0, 0, 51, 4)]


def test_plan_of_a_model_with_only_an_ebc_needs_only_its_sharder():
    model = nn.Sequential(make_mc_ebc({"a": _full(5)}, 2))
    plan, sharders = model_sharding_plan(model, 1)
    assert list(plan.plan) == ["0"] and [type(s) for s in sharders] == [ManagedCollisionEmbeddingBagCollectionSharder]
    assert _layout(plan.plan["0"])["a"][2] == [(0, 0, 5, 2)]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"unknown sharding 'column_wise'; choose one of row_wise, table_wise"):
        model_sharding_plan(TwoCollections(), 2, "column_wise")
    with pytest.raises(ValueError, match=r"Linear holds no ManagedCollisionEmbeddingBagCollection or "
                                         r"ManagedCollisionEmbeddingCollection"):
        model_sharding_plan(nn.Linear(2, 2), 2)
    with pytest.raises(ValueError, match=r"model_sharding_plan: world_size must be an integer >= 1, got 0"):
        model_sharding_plan(TwoCollections(), 0)
    with pytest.raises(ValueError, match=r"row_wise_plan: expected a ManagedCollisionEmbeddingBagCollection or "
                                         r"ManagedCollisionEmbeddingCollection, got Linear"):
        row_wise_plan(nn.Linear(2, 2), 2)
    with pytest.raises(ValueError, match=r"^row_wise_plan: an MC-EC shards on CPU only with the FUSED kernel "
                                         r"\(TorchRec's DENSE kernel fails there with 'Split sizes doesn't match"):
        model_sharding_plan(TwoCollections(), 2, compute_kernel="dense")
    with pytest.raises(ValueError, match=r"^table_wise_plan: an MC-EC shards on CPU only with the FUSED kernel"):
        model_sharding_plan(TwoCollections(), 2, "table_wise", compute_kernel="dense")
    assert _layout(row_wise_plan(TwoCollections().seq.ec, 2, device_type="cuda", compute_kernel="dense"))["hist"][1] \
        == "dense"
    with pytest.raises(ValueError, match=r"table_wise_plan: world_size must be an integer >= 1, got True"):
        table_wise_plan(TwoCollections().sparse, True)
