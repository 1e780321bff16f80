"""Jagged batches for the sequence-module tests (seeded)."""
import pytest
import torch

from recsys_hash.sequence.jagged import JaggedSeq


def _jagged(lengths, dim=8, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths, dtype=torch.int64)
    values = torch.randn(int(lengths.sum()), dim, generator=g, dtype=dtype)
    target = torch.randn(lengths.numel(), dim, generator=g, dtype=dtype)
    return JaggedSeq.of(values, lengths), target


@pytest.fixture
def jagged():
    """jagged(lengths, dim=8, seed=0, dtype=float64) -> (JaggedSeq of random values, targets [B, dim])."""
    return _jagged
