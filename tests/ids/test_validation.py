"""Wrong input at the remapper boundary: constructor parameters, seeds, mixed and empty ID columns, unseen keys."""
import numpy as np
import pytest

from recsys_hash.data.types import Interactions
from recsys_hash.errors import InvalidIdError
from recsys_hash.ids import create, strategy_names
from recsys_hash.ids.registry import check_params

GRAPH = Interactions(np.array([0, 0, 1, 2, 3, 3]), np.array([0, 1, 1, 2, 2, 0]), n_users=4, n_items=3)


@pytest.mark.parametrize("name", strategy_names())
def test_num_rows_bool_rejected(name):
    with pytest.raises(ValueError, match=rf"^{name}: num_rows must be a positive integer, got True$"):
        create(name, num_rows=True)


@pytest.mark.parametrize("name", strategy_names())
@pytest.mark.parametrize("seed", [-1, True, 1.5, "3", 2**64])
def test_bad_seed_one_clear_error_for_every_strategy(name, seed):
    bound = "2\\^32" if "graphhash" in name else "2\\^64"
    with pytest.raises(ValueError, match=rf"^{name}: seed must be a non-negative integer below {bound}, got {seed!r}$"):
        create(name, num_rows=10, seed=seed)


def test_graph_seed_bound_is_louvains():
    with pytest.raises(ValueError, match=r"^graphhash: seed must be a non-negative integer below 2\^32, got 4294967296$"):
        create("graphhash", num_rows=2, seed=2**32)
    rem = create("graphhash", num_rows=2, seed=np.uint32(2**32 - 1)).fit(interactions=GRAPH, side="user")
    assert rem.seed == 2**32 - 1 and type(rem.seed) is int
    assert create("universal", num_rows=10, seed=np.int64(7)).seed == 7


def test_unknown_parameter_names_strategy_and_accepted_ones():
    with pytest.raises(ValueError, match=r"^strategy 'modulo' takes no parameter bogus; "
                                         r"it takes: num_rows, seed, input_hash_size$"):
        create("modulo", num_rows=10, bogus=1)
    with pytest.raises(ValueError, match=r"^strategy 'full' takes no parameter a, b; it takes: num_rows, oov, "):
        create("full", b=1, a=2)
    with pytest.raises(ValueError, match=r"^strategy 'qr' takes no parameter num_rows; it takes: combiner, input_"):
        check_params("qr", {"num_rows": 4})                   # the CLI's rule: budget and seed come from options
    with pytest.raises(ValueError, match=r"^strategy 'qr' takes no parameter x; it takes: combiner, seed, input_"):
        check_params("qr", {"seed": 1, "x": 0}, exclude=("num_rows",))


@pytest.mark.parametrize("name, kw, message", [
    ("graphhash", {"cluster_share": "abc"}, "cluster_share must be 'auto' or a number in (0, 1], got 'abc'"),
    ("graphhash", {"cluster_share": 0}, "cluster_share must be in (0, 1], got 0"),
    ("graphhash", {"cluster_share": True}, "cluster_share must be in (0, 1], got True"),
    ("double_graphhash", {"resolution": "x"}, "resolution must be a positive number, got 'x'"),
    ("graphhash", {"resolution": float("nan")}, "resolution must be a positive number, got nan"),
    ("graphhash", {"max_search_runs": "a"}, "max_search_runs must be a positive integer, got 'a'"),
    ("graphhash", {"max_search_runs": 2.5}, "max_search_runs must be a positive integer, got 2.5"),
    ("graphhash", {"search_tol": "a"}, "search_tol must be in (0, 1], got 'a'"),
    ("graphhash", {"search_tol": 0.0}, "search_tol must be in (0, 1], got 0.0"),
    ("graphhash", {"binarize": "no"}, "binarize must be True or False, got 'no'"),
    ("graphhash", {"backend": ["x"]}, "unknown backend ['x']; choose one of sknetwork, networkit, networkx"),
    ("frequency", {"frequent_share": "x"}, "frequent_share must be in [0, 1), got 'x'"),
    ("double_frequency", {"frequent_share": 1}, "frequent_share must be in [0, 1), got 1"),
    ("double", {"num_hashes": True}, "num_hashes must be a positive integer, got True"),
    ("full", {"oov_buckets": True}, "oov_buckets must be a positive integer, got True"),
    ("full", {"oov_buckets": 2.0}, "oov_buckets must be a positive integer, got 2.0"),
    ("modulo", {"input_hash_size": "9"}, "input_hash_size must be a positive integer, got '9'"),
    ("universal", {"input_hash_size": 0}, "input_hash_size must be a positive integer, got 0"),
])
def test_constructor_parameters_checked_by_name(name, kw, message):
    with pytest.raises(ValueError, match="^" + name + ": " + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]") + "$"):
        create(name, **kw)


@pytest.mark.parametrize("name", ["modulo", "full", "frequency"])
def test_mixed_types_in_a_python_list_rejected(name):
    fitted = create(name, num_rows=10).fit(["a", "b", "c"])
    with pytest.raises(InvalidIdError, match=rf"^{name}.transform: IDs mix types: int 1 at position 1 among str IDs$"):
        fitted.transform(["a", 1])
    with pytest.raises(InvalidIdError, match=rf"^{name}.fit: IDs mix types: str 'b' at position 2 among int IDs$"):
        create(name, num_rows=10).fit([3, 4, "b"])
    with pytest.raises(InvalidIdError, match=rf"^{name}.fit: IDs mix types: bool True at position 0 among int IDs$"):
        create(name, num_rows=10).fit([True, 4])
    with pytest.raises(InvalidIdError, match=rf"^{name}.fit: IDs mix types: bytes b'x' at position 1 among str IDs$"):
        create(name, num_rows=10).fit(("a", b"x"))
    assert fitted.transform(("a", "c")).tolist() == fitted.transform(np.array(["a", "c"], dtype=object)).tolist()
    ints = create(name, num_rows=10).fit([3, np.int64(4), 5])
    assert ints.transform([np.int32(3), 5]).tolist() == ints.transform(np.array([3, 5])).tolist()


@pytest.mark.parametrize("name", ["modulo", "double", "full", "qr"])
def test_empty_python_list_is_an_empty_id_column(name):
    for fit_keys in (np.arange(5), np.array(["a", "b"], dtype=object)):
        rem = create(name, num_rows=10).fit(fit_keys)
        out = rem.transform([])
        assert out.dtype == np.int64 and out.shape == ((0,) if rem.rows_per_id == 1 else (0, rem.rows_per_id))
        assert rem.transform(()).shape == out.shape
    with pytest.raises(InvalidIdError, match=rf"^{name}.fit: got no IDs to fit on$"):
        create(name, num_rows=10).fit([])


@pytest.mark.parametrize("name, kw", [("full", {}), ("full", {"num_rows": 3})])
def test_unseen_string_key_reported_by_itself(name, kw):
    rem = create(name, **kw).fit(np.array(["apple", "banana", "kiwi"], dtype=object))
    with pytest.raises(InvalidIdError, match=r"^full.transform: unseen ID 'cherry' at position 2 \(oov='error'\)"):
        rem.transform(["apple", "kiwi", "cherry"])
    with pytest.raises(InvalidIdError, match=r"^full.transform: unseen ID 42 at position 1 \(oov='error'\)"):
        create(name, **kw).fit(np.array([3, 5, 7])).transform(np.array([3, 42]))


def test_graphhash_sparse_ids_clear_error():
    sparse = Interactions(np.array([0, 2**40]), np.array([0, 1]), n_users=2**40 + 1, n_items=2)
    with pytest.raises(ValueError, match=r"^graphhash.fit: n_users=1099511627777 is far beyond the 2 interactions"
                                         r" \(at most 16777216 or 64 per interaction\); the graph needs compact ID"
                                         r" indices: map raw IDs to 0..n-1 first"):
        create("graphhash", num_rows=2).fit(interactions=sparse, side="user")
    items = Interactions(np.array([0, 1]), np.array([0, 2**62]), n_users=2, n_items=2**62 + 1)
    with pytest.raises(ValueError, match=r"^graphhash.fit_sides: n_items=4611686018427387905 is far beyond"):
        create("graphhash").fit_sides(items, {"user": 1, "item": 1})
