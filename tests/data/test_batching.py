"""KJT / jagged batching equals the source rows exactly (checked against per-row reference loops)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys_hash.data.batching import (
    CTRDataset, ctr_batch_to_kjt, ctr_loader, gather_jagged, jagged_sequences, multi_valued_kjt, sequence_kjt,
)
from recsys_hash.data.types import CTRFrame, Sequences
from recsys_hash.errors import InvalidIdError


def _frame(n=50, seed=0):
    rng = np.random.default_rng(seed)
    cats = {"user": rng.integers(-1, 10, n), "item": rng.integers(0, 6, n), "ctx": rng.integers(-1, 3, n)}
    return CTRFrame(categorical=cats, dense=rng.normal(size=(n, 2)).astype(np.float32), dense_names=["a", "b"],
                    labels=(rng.random(n) < 0.5).astype(np.float32))


GENRES = (np.array([0, 2, 2, 3, 6, 6, 7]), np.array([4, 1, 9, 2, 3, 5, 8]))  # 6 items; item 1 and 4 have no genre


def test_ctr_kjt_equals_rows():
    frame = _frame()
    idx = np.array([5, 0, 17, 17, 49])
    dense, kjt, labels = ctr_batch_to_kjt(frame, idx, multi={"genre": ("item", *GENRES)})
    assert kjt.keys() == ["user", "item", "ctx", "genre"]
    torch.testing.assert_close(dense, torch.from_numpy(frame.dense[idx]))
    torch.testing.assert_close(labels, torch.from_numpy(frame.labels[idx]))
    per_key = {k: v.to_dense() for k, v in kjt.to_dict().items()}
    for key in ("user", "item", "ctx"):
        jt = per_key[key]
        for b, row in enumerate(idx):
            raw = frame.categorical[key][row]
            expect = [] if raw < 0 else [raw]
            assert jt[b].tolist() == expect, (key, b)
    off, vals = GENRES
    for b, row in enumerate(idx):
        item = frame.categorical["item"][row]
        assert per_key["genre"][b].tolist() == vals[off[item]:off[item + 1]].tolist()


def test_multi_valued_kjt_and_bad_keys():
    kjt = multi_valued_kjt({"genre": GENRES, "g2": GENRES}, {"genre": np.array([3, -1, 0]), "g2": np.array([5, 1, 2])})
    d = kjt.to_dict()
    assert [t.tolist() for t in d["genre"].to_dense()] == [[2, 3, 5], [], [4, 1]]
    assert [t.tolist() for t in d["g2"].to_dense()] == [[8], [], [9]]
    with pytest.raises(ValueError, match=r"multi_valued_kjt: field 'g2' has 1 rows, expected 3"):
        multi_valued_kjt({"genre": GENRES, "g2": GENRES}, {"genre": np.array([3, -1, 0]), "g2": np.array([5])})
    with pytest.raises(InvalidIdError, match=r"multi-valued field 'genre': key 6 at batch row 1 outside \[0, 6\)"):
        multi_valued_kjt({"genre": GENRES}, np.array([0, 6]))


def test_gather_jagged_matches_slices():
    rng = np.random.default_rng(1)
    lens = rng.integers(0, 7, 30)
    off = np.concatenate([[0], np.cumsum(lens)])
    vals = rng.integers(0, 1000, off[-1])
    rows = rng.integers(0, 30, 40)
    for max_len in (None, 3):
        got_len, got = gather_jagged(off, vals, rows, max_len)
        ref = [vals[off[r]:off[r + 1]][-max_len if max_len else None:] if max_len else vals[off[r]:off[r + 1]] for r in rows]
        assert got_len.tolist() == [len(x) for x in ref]
        assert got.tolist() == np.concatenate(ref).tolist()


def test_jagged_sequences_keeps_most_recent():
    s = Sequences(users=np.array([10, 11, 12]), offsets=np.array([0, 4, 4, 6]), items=np.array([1, 2, 3, 4, 5, 6]), n_items=7)
    jt = jagged_sequences(s, [0, 1, 2], max_len=3)
    assert jt.lengths().tolist() == [3, 0, 2] and jt.values().tolist() == [2, 3, 4, 5, 6]
    kjt = sequence_kjt(s, np.array([2, 0]))
    assert kjt.keys() == ["history"] and kjt.values().tolist() == [5, 6, 1, 2, 3, 4]
    with pytest.raises(IndexError, match=r"jagged_sequences: row index out of range for 3 rows"):
        jagged_sequences(s, [3])


def test_loader_covers_rows_once_and_is_seeded():
    frame = _frame(n=37)
    loader = ctr_loader(CTRDataset(frame), batch_size=8, shuffle=True, seed=5)
    batches = list(loader)
    assert [b.labels.shape[0] for b in batches] == [8, 8, 8, 8, 5]
    dense = torch.cat([b.dense_features for b in batches])
    order = [int(np.flatnonzero((frame.dense == d.numpy()).all(1))[0]) for d in dense]
    assert sorted(order) == list(range(37)) and order != list(range(37))
    again = [b.dense_features for b in ctr_loader(frame, batch_size=8, shuffle=True, seed=5)]
    torch.testing.assert_close(torch.cat(again), dense)
    assert len(list(ctr_loader(frame, batch_size=8, drop_last=True))) == 4
