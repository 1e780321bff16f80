"""The step split of distributed training (no processes): every step's rows reach exactly one rank, in order."""
import numpy as np
import pytest
import torch

from recsys_hash.distributed.context import DistContext, init_from_env, part_sizes, rank_part, step_bounds


def test_step_bounds_global_steps_and_short_last_step_joins_the_one_before():
    assert list(step_bounds(10, 2, 2)) == [(0, 4), (4, 8), (8, 10)]
    assert list(step_bounds(9, 2, 2)) == [(0, 4), (4, 9)]             # 1 row left < 2 ranks: joins the step before
    assert list(step_bounds(9, 4, 1)) == [(0, 4), (4, 8), (8, 9)]     # one process: a plain batching
    assert list(step_bounds(3, 8, 3)) == [(0, 3)]


def test_step_bounds_refuses_fewer_rows_than_ranks():
    with pytest.raises(ValueError, match="2 rows cannot feed 3 ranks"):
        list(step_bounds(2, 4, 3))


def test_rank_parts_cover_the_step_in_order_padded_to_one_size_with_zero_weight():
    rows = np.arange(100, 107)
    assert part_sizes(7, 3).tolist() == [3, 2, 2]
    parts = [rank_part(rows, r, 3) for r in range(3)]
    assert [p[0].tolist() for p in parts] == [[100, 101, 102], [103, 104, 104], [105, 106, 106]]
    assert [p[1].tolist() for p in parts] == [[1, 1, 1], [1, 1, 0], [1, 1, 0]]
    real = np.concatenate([p[0][p[1] > 0] for p in parts])
    assert real.tolist() == rows.tolist()


def test_init_from_env_outside_torchrun_names_what_is_missing(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="runs under torchrun.*lacks RANK, WORLD_SIZE, LOCAL_RANK"):
        init_from_env()


def test_adam_tables_on_cpu_are_refused_before_sharding():
    from recsys_hash.distributed.sharded import shard_for_training

    ctx = DistContext(rank=0, world=2, device=torch.device("cpu"), backend="gloo")
    with pytest.raises(ValueError, match="fused adam kernel needs a GPU; use --emb-optimizer adagrad"):
        shard_for_training(torch.nn.Linear(2, 2), ctx, "adam", 0.1)
    with pytest.raises(ValueError, match="must be one of adagrad, sgd, adam, got 'rmsprop'"):
        shard_for_training(torch.nn.Linear(2, 2), ctx, "rmsprop", 0.1)
    with pytest.raises(ValueError, match="Linear has no managed-collision embedding collection to shard"):
        shard_for_training(torch.nn.Linear(2, 2), ctx, "adagrad", 0.1)


def test_model_fingerprint_sees_the_id_mapping_and_the_weights():
    from recsys_hash.distributed.sharded import _fingerprint
    from recsys_hash.ids import create
    from recsys_hash.models.ctr import CTRModel

    def model(seed, rows):
        tables = {"user": create("universal", num_rows=rows, seed=seed).fit(np.arange(50)),
                  "item": create("full").fit(np.arange(30))}
        torch.manual_seed(0)
        return CTRModel("dlrm", tables, dim=4, hidden=8)

    base = _fingerprint(model(1, 16))
    assert _fingerprint(model(1, 16)) == base
    assert _fingerprint(model(2, 16)) != base                 # another hash seed: same shapes, other rows
    other = model(1, 16)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    assert _fingerprint(other) != base


def test_trainer_shardings_are_the_plan_helpers():
    from recsys_hash.integrations.sharding import SHARDINGS
    from recsys_hash.models.train_ctr import SHARDINGS as TRAINER_SHARDINGS

    assert TRAINER_SHARDINGS == SHARDINGS
