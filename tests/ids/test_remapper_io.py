"""Bad input at the boundary, artifact round trips and corruption, and hypothesis properties."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_hash.data.types import Interactions
from recsys_hash.errors import ArtifactError, InvalidIdError
from recsys_hash.ids import IdRemapper, create, strategy_names

MINE = ["modulo", "universal", "xxhash", "double", "qr", "full", "frequency", "double_frequency"]
SEEDED = ["universal", "xxhash", "double", "frequency", "double_frequency"]


def _fit(name, keys, seed=0, **kw):
    if name == "full":
        return create(name, oov="hash", oov_buckets=13, seed=seed, **kw).fit(keys)
    return create(name, num_rows=64, seed=seed, **kw).fit(keys)


@pytest.mark.parametrize("name", MINE)
def test_bad_ids_rejected(name):
    r = _fit(name, np.arange(100), input_hash_size=1000)
    with pytest.raises(InvalidIdError, match="negative ID -3 at position 1"):
        r.transform(np.array([1, -3]))
    with pytest.raises(InvalidIdError, match="ID 1000 at position 0 is beyond input_hash_size=1000"):
        r.transform(np.array([1000]))
    with pytest.raises(InvalidIdError, match="got dtype float64"):
        r.transform(np.array([1.0, 2.0]))
    with pytest.raises(InvalidIdError, match=r"NaN/inf at position 1"):
        r.transform(np.array([1.0, np.nan]))
    with pytest.raises(InvalidIdError, match="integer tensor, got dtype torch.float32"):
        r.transform(torch.tensor([1.0]))
    with pytest.raises(InvalidIdError, match="bool"):
        r.transform(np.array([True]))
    with pytest.raises(InvalidIdError, match="got no IDs to fit on"):
        _fit(name, np.array([], dtype=np.int64))
    empty = r.transform(np.array([], dtype=np.int64))
    assert empty.shape == ((0,) if r.rows_per_id == 1 else (0, r.rows_per_id))


@pytest.mark.parametrize("name", MINE)
def test_save_load_round_trip(name, tmp_path):
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 2**40, 2000)
    r = _fit(name, keys, seed=5)
    path = r.save(tmp_path / f"{name}.safetensors")
    back = IdRemapper.load(path)
    assert type(back) is type(r) and back.get_params() == r.get_params()
    queries = np.concatenate([keys, rng.integers(0, 2**62, 500)])
    np.testing.assert_array_equal(back.transform(queries), r.transform(queries))
    assert type(r).load(path).num_rows_ == r.num_rows_


def test_load_other_strategy_and_corrupted_artifacts(tmp_path):
    path = _fit("full", np.arange(50)).save(tmp_path / "full.safetensors")
    with pytest.raises(ArtifactError, match="holds strategy 'full', not 'frequency'"):
        create("frequency", num_rows=4).load(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF                                         # flip a byte of the key array
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="failed its checksum"):
        IdRemapper.load(bad)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[: len(data) // 2])
    with pytest.raises(ArtifactError, match="corrupted or not a recsys_hash artifact"):
        IdRemapper.load(cut)


def test_string_keyed_round_trip(tmp_path):
    strs = np.array(["u1", "u2", "u3", "u1"], dtype=object)
    r = create("frequency", num_rows=4, seed=2).fit(strs)
    back = IdRemapper.load(r.save(tmp_path / "s.safetensors"))
    q = np.array(["u1", "u3", "new"], dtype=object)
    np.testing.assert_array_equal(back.transform(q), r.transform(q))
    with pytest.raises(InvalidIdError, match="fitted on str keys, got int keys"):
        r.transform(np.array([1]))


keys_st = st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=200)


def _fit_any(name, keys, num_rows, seed):
    """Any registered strategy fitted on `keys` with a budget of `num_rows` -> (remapper, IDs it was fitted on).

    full takes no budget (its unseen keys hash into `num_rows` OOV rows); graph strategies fit a graph whose users
    are the keys' compact indices (at least `num_rows` of them, the extra ones isolated) on 5 items.
    """
    if name in ("full", "dedup"):          # dedup without duplicates is full
        return create(name, oov="hash", oov_buckets=num_rows, seed=seed).fit(keys), keys
    if create(name).needs_interactions:
        users = np.unique(keys, return_inverse=True)[1].ravel()
        inter = Interactions(users, keys % 5, n_users=max(num_rows, int(users.max()) + 1), n_items=5)
        return create(name, num_rows=num_rows, seed=seed).fit(interactions=inter, side="user"), users
    return create(name, num_rows=num_rows, seed=seed).fit(keys), keys


@settings(max_examples=50, deadline=None)
@given(keys=keys_st, unseen=keys_st, num_rows=st.integers(2, 300), seed=st.integers(0, 2**32 - 1),
       name=st.sampled_from(strategy_names()))
def test_rows_in_range_and_deterministic(keys, unseen, num_rows, seed, name):
    keys = np.array(keys, dtype=np.int64)
    rem, fitted = _fit_any(name, keys, num_rows, seed)
    queries = np.concatenate([fitted, np.array(unseen, dtype=np.int64)])
    rows = rem.transform(queries)
    assert rows.shape == ((queries.size,) if rem.rows_per_id == 1 else (queries.size, rem.rows_per_id))
    # a budget is a ceiling; full's rows are its vocabulary plus the OOV rows
    limit = fitted.size + num_rows if name in ("full", "dedup") else num_rows
    assert rem.num_rows_ <= limit and rows.min() >= 0 and rows.max() < rem.num_rows_
    if name == "qr":                                  # remainder rows [0, r), quotient rows [r, num_rows): disjoint
        r = rem.remainder_rows
        assert (rows[:, 0] < r).all() and (rows[:, 1] >= r).all()
    np.testing.assert_array_equal(_fit_any(name, keys, num_rows, seed)[0].transform(queries), rows)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), name=st.sampled_from(SEEDED))
def test_different_seed_different_rows(seed, name):
    keys = np.arange(500, dtype=np.int64) * 7_919 + 11     # frequency: 32 own rows, 468 IDs hashed
    a = _fit(name, keys, seed=seed).transform(keys)
    b = _fit(name, keys, seed=seed + 1).transform(keys)
    assert (a != b).any()
