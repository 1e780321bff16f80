"""Row-wise sharded MC-EBC (DistributedModelParallel, 2 gloo CPU ranks) equals the unsharded module exactly."""
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

pytestmark = pytest.mark.distributed
WORLD = 2


def _tables():
    from recsys_hash.ids import create

    rng = np.random.default_rng(0)
    return {
        "user": create("full", oov="shared_row").fit(rng.integers(0, 2**40, 100)),       # 101 rows (odd)
        "item": create("double", num_rows=51, seed=3).fit(np.arange(1000)),             # 2 rows per ID
        "cat": create("frequency", num_rows=20, seed=1).fit(rng.integers(0, 50, 500)),
    }


class _Model(nn.Module):
    def __init__(self, mc_ebc):
        super().__init__()
        self.sparse = mc_ebc

    def forward(self, kjt):
        return self.sparse(kjt)[0].values()


def _batch(rank, tables):
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    rng = np.random.default_rng(100 + rank)
    user_keys = tables["user"].table_keys_
    values, lengths = [], []
    for name, hi in (("user", None), ("item", 5000), ("cat", 80)):
        lens = rng.integers(0, 4, 6)
        n = int(lens.sum())
        vals = rng.choice(user_keys, n) if hi is None else rng.integers(0, hi, n)
        if name == "user" and n:
            vals[0] = 2**41 + rank                                   # an unseen ID -> the shared row
        values.append(vals)
        lengths.append(lens)
    return KeyedJaggedTensor.from_lengths_sync(keys=["user", "item", "cat"],
                                               values=torch.from_numpy(np.concatenate(values)),
                                               lengths=torch.from_numpy(np.concatenate(lengths)))


def _worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from torchrec.distributed.mc_embeddingbag import ManagedCollisionEmbeddingBagCollectionSharder
        from torchrec.distributed.model_parallel import DistributedModelParallel
        from torchrec.distributed.types import ShardingEnv, ShardingPlan

        from recsys_hash.integrations import make_mc_ebc
        from recsys_hash.integrations.sharding import row_wise_plan

        torch.manual_seed(0)
        tables = _tables()
        reference = _Model(make_mc_ebc(tables, 4)).eval()
        # small dyadic weights: every pooled sum is exact in float32 whatever order the shards add in,
        # so torch.equal below checks that each ID reached exactly the same rows
        with torch.no_grad():
            for p in reference.parameters():
                p.copy_(torch.randint(-64, 64, p.shape) / 16.0)
        full_weights = {k: v.clone() for k, v in reference.state_dict().items() if k.endswith(".weight")}
        sharded_src = _Model(make_mc_ebc(tables, 4))
        plan = ShardingPlan({"sparse": row_wise_plan(sharded_src.sparse, WORLD)})
        model = DistributedModelParallel(
            sharded_src, env=ShardingEnv.from_process_group(dist.group.WORLD), plan=plan,
            sharders=[ManagedCollisionEmbeddingBagCollectionSharder()], device=torch.device("cpu"),
        )
        copied = 0
        for key, value in model.state_dict().items():
            name = key.replace("module.", "", 1) if key.startswith("module.") else key
            if name in full_weights and hasattr(value, "local_shards"):
                for shard in value.local_shards():
                    r0, c0 = shard.metadata.shard_offsets
                    rows, cols = shard.metadata.shard_sizes
                    shard.tensor.copy_(full_weights[name][r0 : r0 + rows, c0 : c0 + cols])
                    copied += 1
        assert copied >= 3, f"rank {rank}: copied {copied} shards"
        batch = _batch(rank, tables)
        with torch.no_grad():
            expected = reference(batch)
            got = model(batch)
        torch.save({"expected": expected, "got": got}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_row_wise_sharded_forward_equals_unsharded(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        res = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert res["expected"].shape == (6, 12)
        assert res["expected"].abs().sum() > 0
        assert torch.equal(res["got"], res["expected"]), f"rank {rank}: sharded != unsharded"
