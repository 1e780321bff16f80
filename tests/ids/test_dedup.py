"""dedup: duplicate pairs -> entities (connected components, smallest member ID), composed in front of X."""
import numpy as np
import pytest
import torch
from torchrec.sparse.jagged_tensor import JaggedTensor

from recsys_hash.data.types import Interactions
from recsys_hash.ids import IdRemapper, create, get_strategy
from recsys_hash.ids.dedup import entity_map
from recsys_hash.integrations.mc_module import RemapperMCModule

PAIRS = [[9, 3], [12, 9], [20, 5], [7, 7]]      # entities {3, 9, 12} -> 3, {5, 20} -> 5, {7} -> 7


def test_entity_map_components_and_stable_ids():
    members, entities = entity_map(PAIRS)
    assert members.tolist() == [3, 5, 7, 9, 12, 20]
    assert entities.tolist() == [3, 5, 7, 3, 3, 5]
    shuffled = np.array(PAIRS)[::-1][:, ::-1]
    assert entity_map(shuffled)[1].tolist() == entities.tolist()


def test_plain_dedup_gives_each_entity_one_row():
    r = create("dedup", duplicates=PAIRS).fit(np.arange(25))
    rows = r.transform(np.array([3, 9, 12, 5, 20, 0, 24]))
    assert rows.tolist() == [3, 3, 3, 5, 5, 0, 21]           # full over the 22 entities, rank order
    assert r.table_rows == 22


def test_dedup_then_graphhash_through_the_mc_module(tmp_path):
    rng = np.random.default_rng(0)
    user, item = rng.integers(40, size=600), rng.integers(30, size=600)
    inter = Interactions(user, item, n_users=40, n_items=30)
    r = create("dedup+graphhash", num_rows=12, duplicates=PAIRS, seed=0).fit(interactions=inter, side="item")
    keys = np.arange(30)
    rows = r.transform(keys)
    assert rows[3] == rows[9] == rows[12] and rows[5] == rows[20] and rows.max() < r.table_rows
    # equal to graphhash fitted on the consolidated interactions, applied to each ID's entity
    merged = np.where(np.isin(item, [9, 12]), 3, np.where(item == 20, 5, item))
    plain = create("graphhash", num_rows=12, seed=0).fit(interactions=Interactions(user, merged, 40, 30), side="item")
    entity = np.where(np.isin(keys, [9, 12]), 3, np.where(keys == 20, 5, keys))
    np.testing.assert_array_equal(rows, plain.transform(entity))
    mc = RemapperMCModule(r)
    out = mc({"item": JaggedTensor(values=torch.tensor([12, 3, 20, 0]), lengths=torch.tensor([4]))})
    assert out["item"].values().tolist() == rows[[12, 3, 20, 0]].tolist()
    loaded = IdRemapper.load(r.save(tmp_path / "dedup.safetensors"))
    assert loaded.name == "dedup+graphhash"
    np.testing.assert_array_equal(loaded.transform(keys), rows)
    np.testing.assert_array_equal(loaded.members_, [3, 5, 7, 9, 12, 20])
    scripted = torch.jit.script(RemapperMCModule(loaded))
    out = scripted({"item": JaggedTensor(values=torch.tensor([9, 20]), lengths=torch.tensor([2]))})
    assert out["item"].values().tolist() == rows[[9, 20]].tolist()


def test_dedup_user_side_keeps_user_ids():
    inter = Interactions(np.arange(10) % 4, np.arange(10) % 6, n_users=4, n_items=6)
    r = create("dedup+full", duplicates=[[0, 1]]).fit(interactions=inter, side="user")
    assert r.transform(np.array([0, 1])).tolist() == [0, 1]


def test_dedup_composition_errors():
    with pytest.raises(ValueError, match="unknown strategy 'dedup\\+nothing'"):
        get_strategy("dedup+nothing")
    with pytest.raises(ValueError, match="dedup: duplicates must be integer ID pairs of shape \\[n, 2\\]"):
        create("dedup", duplicates=[1, 2, 3])
    with pytest.raises(ValueError, match="strategy 'dedup\\+universal' takes no parameter oov"):
        create("dedup+universal", num_rows=4, oov="hash")
