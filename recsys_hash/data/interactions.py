"""Interaction loaders: LightGCN line format (gowalla, ml-1m, amazon-electronics), LastFM triplets, MovieLens-100K, and
behaviour sequences read as interactions by leave-last-out (Amazon Beauty)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from recsys_hash.data._text import read_lines, split_columns, to_float, to_int, tokenize
from recsys_hash.data.paths import dataset_dir, dataset_file, registry_entry
from recsys_hash.data.types import InteractionDataset, Interactions, Sequences
from recsys_hash.errors import DataFormatError

PathLike = str | os.PathLike

#: Compact-ID formats size their tables by max id + 1, so one damaged id (9e18) would size a table by it. The rule:
#: every id < max(ID_SPREAD × distinct ids of its kind over the dataset's files, ID_FLOOR); above, the file is refused.
ID_SPREAD = 16
ID_FLOOR = 65_536

#: (file label, 1-based line int64 [n], id int64 [n]) of one id column of one file
IdColumn = tuple[str, np.ndarray, np.ndarray]


def reject_ids_from(bound: int, kind: str, columns: list[IdColumn], why: str, shift: int = 0) -> None:
    """Raise DataFormatError at the first id >= `bound`, naming file, line and the id as written (id + `shift`)."""
    for label, lines, ids in columns:
        bad = np.flatnonzero(ids >= bound)
        if bad.size:
            k = int(bad[0])
            raise DataFormatError(f"{label} line {int(lines[k])}: {kind} id {int(ids[k]) + shift} {why}")


def check_compact_ids(kind: str, columns: list[IdColumn], shift: int = 0) -> None:
    """Refuse ids far beyond the data's size (see ID_SPREAD): they would size tables, not index them."""
    if not columns or max(int(ids.max(initial=-1)) for _, _, ids in columns) < ID_FLOOR:
        return
    values = np.sort(np.concatenate([ids for _, _, ids in columns]))
    distinct = int(np.count_nonzero(values[1:] != values[:-1])) + 1
    bound = max(ID_SPREAD * distinct, ID_FLOOR)
    reject_ids_from(bound, kind, columns, f"is far beyond the {distinct} distinct {kind} ids of the dataset; compact "
                    f"ids must be < max({ID_SPREAD} × distinct ids, {ID_FLOOR}) = {bound} (renumber ids to 0..n-1)",
                    shift)


def read_id_lists(path: PathLike, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lines `uid item item ...` -> (line_users int64 [n_lines], counts int64 [n_lines], items int64 [sum counts],
    line numbers int64 [n_lines], 1-based in the file)."""
    tok = tokenize(read_lines(Path(path), label), None).with_columns(
        pl.col("tok").list.first().alias("uid"), pl.col("tok").list.slice(1).alias("items")
    )
    line_users = to_int(tok, "uid", label, "a non-negative integer user id at the start of the line")
    counts = tok["items"].list.len().to_numpy().astype(np.int64)
    exploded = tok.select("line", "text", "items").explode("items").drop_nulls("items")
    items = to_int(exploded, "items", label, "non-negative integer item ids separated by spaces")
    return line_users, counts, items, tok["line"].to_numpy().astype(np.int64)


def id_list_columns(label: str, line_users: np.ndarray, counts: np.ndarray, items: np.ndarray,
                    lines: np.ndarray) -> tuple[IdColumn, IdColumn]:
    """The (user, item) IdColumns of one `read_id_lists` file, for `check_compact_ids`."""
    return (label, lines, line_users), (label, np.repeat(lines, counts), items)


def read_lightgcn_file(path: PathLike, label: str) -> tuple[np.ndarray, np.ndarray]:
    """One `uid item item ...` file -> (user int64 [n], item int64 [n]); a line with only a uid adds no rows.

    Ids must be compact within the file (see `check_compact_ids`).
    """
    line_users, counts, items, lines = read_id_lists(path, label)
    users_col, items_col = id_list_columns(label, line_users, counts, items, lines)
    check_compact_ids("user", [users_col])
    check_compact_ids("item", [items_col])
    return np.repeat(line_users, counts), items


def _pack(name: str, splits: dict[str, tuple[np.ndarray, ...]], n_users: int | None = None,
          n_items: int | None = None) -> dict[str, Interactions]:
    """Build Interactions sharing vocab sizes = max id + 1 over all splits (unless given)."""
    users = [s[0] for s in splits.values() if s[0].size]
    items = [s[1] for s in splits.values() if s[1].size]
    n_users = n_users if n_users is not None else (int(max(u.max() for u in users)) + 1 if users else 0)
    n_items = n_items if n_items is not None else (int(max(i.max() for i in items)) + 1 if items else 0)
    out = {}
    for split, arrays in splits.items():
        u, i = arrays[0], arrays[1]
        ts = arrays[2] if len(arrays) > 2 else None
        r = arrays[3] if len(arrays) > 3 else None
        out[split] = Interactions(user=u, item=i, n_users=n_users, n_items=n_items, timestamp=ts, rating=r,
                                  name=f"{name}/{split}")
    return out


def load_lightgcn_folder(path: PathLike, name: str = "custom") -> InteractionDataset:
    """A folder with `train.txt` / `test.txt` in LightGCN line format -> InteractionDataset.

    n_users / n_items = max id + 1 over train ∪ test; test items unseen in training are kept. Ids must be compact:
    an id >= max(16 × distinct ids of its kind, 65,536) raises DataFormatError naming file, line and id.
    """
    folder = Path(path)
    parts, user_cols, item_cols = {}, [], []
    for split in ("train", "test"):
        label = f"{name}/{split}.txt"
        line_users, counts, items, lines = read_id_lists(dataset_file(name, folder, f"{split}.txt"), label)
        users_col, items_col = id_list_columns(label, line_users, counts, items, lines)
        user_cols.append(users_col)
        item_cols.append(items_col)
        parts[split] = (np.repeat(line_users, counts), items)
    check_compact_ids("user", user_cols)
    check_compact_ids("item", item_cols)
    s = _pack(name, parts)
    return InteractionDataset(name=name, train=s["train"], test=s["test"])


def _one_based(values: np.ndarray, frame: pl.DataFrame, col: str, label: str, what: str) -> np.ndarray:
    """1-based ids -> 0-based; an id of 0 raises DataFormatError naming the line."""
    zero = np.flatnonzero(values == 0)
    if zero.size:
        line = int(frame["line"][int(zero[0])])
        raise DataFormatError(f"{label} line {line}: expected {what} (1-based), got '0'")
    return values - 1


def _read_triplets(path: Path, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> 0-based user, item int64 [n], play count float32 [n] (>= 0), line int64 [n]."""
    f = split_columns(path, label, "\t", ["user", "item", "count"])
    u = _one_based(to_int(f, "user", label, "an integer user id", "\t"), f, "user", label, "an integer user id")
    i = _one_based(to_int(f, "item", label, "an integer item id", "\t"), f, "item", label, "an integer item id")
    c = to_float(f, "count", label, "a non-negative play count", non_negative=True).astype(np.float32)
    return u, i, c, f["line"].to_numpy().astype(np.int64)


def load_lastfm(dataset_path: PathLike | None = None, name: str = "lastfm") -> InteractionDataset:
    """LightGCN LastFM: `data1.txt` (train) / `test1.txt` (test), tab-separated `user item count`, 1-based ids.

    Ids are shifted to 0-based; `rating` holds the play count (negative counts raise). n_users = 1,892 and
    n_items = 4,489 (max id); only 1,880 user ids occur in the two files (the others have interactions elsewhere in
    HetRec only). Ids must be compact, as in `load_lightgcn_folder`.
    """
    folder = dataset_dir(name, dataset_path)
    parts, user_cols, item_cols = {}, [], []
    for split, fname in (("train", "data1.txt"), ("test", "test1.txt")):
        label = f"{name}/{fname}"
        u, i, c, lines = _read_triplets(dataset_file(name, folder, fname), label)
        user_cols.append((label, lines, u))
        item_cols.append((label, lines, i))
        parts[split] = (u, i, None, c)
    check_compact_ids("user", user_cols, shift=1)
    check_compact_ids("item", item_cols, shift=1)
    s = _pack(name, parts)
    return InteractionDataset(name=name, train=s["train"], test=s["test"])


def load_lastfm_trust(dataset_path: PathLike | None = None, name: str = "lastfm") -> np.ndarray:
    """LastFM social edges `trustnetwork.txt` -> int64 [n_edges, 2] of 0-based user ids."""
    folder = dataset_dir(name, dataset_path)
    label = f"{name}/trustnetwork.txt"
    f = split_columns(dataset_file(name, folder, "trustnetwork.txt"), label, "\t", ["a", "b"])
    a = _one_based(to_int(f, "a", label, "an integer user id", "\t"), f, "a", label, "an integer user id")
    b = _one_based(to_int(f, "b", label, "an integer user id", "\t"), f, "b", label, "an integer user id")
    return np.stack([a, b], axis=1)


ML100K_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


def _read_ml100k_ratings(path: Path, label: str) -> tuple[np.ndarray, ...]:
    f = split_columns(path, label, "\t", ["user", "item", "rating", "ts"])
    u = _one_based(to_int(f, "user", label, "an integer user id", "\t"), f, "user", label, "an integer user id")
    i = _one_based(to_int(f, "item", label, "an integer item id", "\t"), f, "item", label, "an integer item id")
    r = to_int(f, "rating", label, "an integer rating", "\t").astype(np.float32)
    ts = to_int(f, "ts", label, "an integer unix timestamp", "\t")
    return u, i, ts, r, f["line"].to_numpy().astype(np.int64)


def _dense_rows(ids: np.ndarray, n: int, label: str) -> np.ndarray:
    """Check that 0-based row ids are exactly 0..n-1 (any order); returns the permutation putting rows in id order."""
    if ids.size != n or np.unique(ids).size != n or ids.max(initial=-1) != n - 1:
        raise DataFormatError(f"{label}: expected one row per id 1..{n}, got {ids.size} rows with ids "
                              f"{ids.min(initial=0) + 1}..{ids.max(initial=-1) + 1}")
    return np.argsort(ids, kind="stable")


def _codes(values: pl.Series, vocab: list[str] | None = None) -> np.ndarray:
    """Strings -> int64 codes: index in `vocab` (unknown -> -1) or in the sorted distinct values."""
    vocab = vocab if vocab is not None else sorted(values.unique().to_list())
    lut = pl.DataFrame({"v": vocab, "code": np.arange(len(vocab), dtype=np.int64)})
    return pl.DataFrame({"v": values}).join(lut, on="v", how="left", maintain_order="left")["code"].fill_null(-1).to_numpy()


def load_ml100k(dataset_path: PathLike | None = None, fold: str | None = "u1", name: str = "ml-100k") -> InteractionDataset:
    """MovieLens-100K with ratings, timestamps, user features (age, gender, occupation, zip) and item genres.

    fold: "u1".."u5", "ua", "ub" -> train = <fold>.base, test = <fold>.test; None -> train = all of u.data,
    test empty. Ids shifted to 0-based; n_users = 943, n_items = 1,682 (from u.user / u.item).
    item_multi["genre"]: (offsets [n_items+1], genre codes) in u.genre order; item_features["release_year"] (-1 unknown).
    """
    folder = dataset_dir(name, dataset_path)
    if fold is not None and fold not in ML100K_FOLDS:
        raise ValueError(f"load_ml100k: fold must be one of {ML100K_FOLDS} or None, got {fold!r}")
    lab = lambda f: f"{name}/{f}"  # noqa: E731
    users = split_columns(dataset_file(name, folder, "u.user"), lab("u.user"), "|", ["id", "age", "gender", "occupation", "zip"])
    items = split_columns(dataset_file(name, folder, "u.item"), lab("u.item"), "|",
                          ["id", "title", "release", "video", "url"] + [f"g{k}" for k in range(19)], encoding="latin-1")
    genres = split_columns(dataset_file(name, folder, "u.genre"), lab("u.genre"), "|", ["genre", "code"])
    occupations = read_lines(dataset_file(name, folder, "u.occupation"), lab("u.occupation"))["text"].str.strip_chars().to_list()

    uid = to_int(users, "id", lab("u.user"), "an integer user id", "|") - 1
    order = _dense_rows(uid, users.height, lab("u.user"))
    users = users[order]
    user_features = {
        "age": to_int(users, "age", lab("u.user"), "an integer age", "|"),
        "gender": _codes(users["gender"], ["M", "F"]),
        "occupation": _codes(users["occupation"], occupations),
        "zip": _codes(users["zip"]),
    }
    iid = to_int(items, "id", lab("u.item"), "an integer item id", "|") - 1
    items = items[_dense_rows(iid, items.height, lab("u.item"))]
    flag_cols = [f"g{k}" for k in range(19)]
    flags = np.stack([to_int(items, c, lab("u.item"), "a 0/1 genre flag", "|") for c in flag_cols], axis=1)
    if flags.max() > 1:
        raise DataFormatError(f"{lab('u.item')}: genre flags must be 0/1, found {int(flags.max())}")
    item_rows, genre_codes = np.nonzero(flags)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(item_rows, minlength=items.height))]).astype(np.int64)
    year = items["release"].str.extract(r"(\d{4})$").cast(pl.Int64).fill_null(-1).to_numpy()
    n_users, n_items = users.height, items.height
    if genres.height != 19:
        raise DataFormatError(f"{lab('u.genre')}: expected 19 genres, got {genres.height}")

    files = {"train": f"{fold}.base", "test": f"{fold}.test"} if fold else {"train": "u.data"}
    read = {s: _read_ml100k_ratings(dataset_file(name, folder, f), lab(f)) for s, f in files.items()}
    reject_ids_from(n_users, "user", [(lab(files[s]), r[4], r[0]) for s, r in read.items()],
                    f"is beyond the {n_users} users of u.user", shift=1)
    reject_ids_from(n_items, "item", [(lab(files[s]), r[4], r[1]) for s, r in read.items()],
                    f"is beyond the {n_items} items of u.item", shift=1)
    parts = {s: r[:4] for s, r in read.items()}
    if fold is None:
        empty = np.zeros(0, np.int64)
        parts["test"] = (empty, empty, empty, np.zeros(0, np.float32))
    s = _pack(name, parts, n_users=n_users, n_items=n_items)
    return InteractionDataset(
        name=name, train=s["train"], test=s["test"], user_features=user_features,
        item_features={"release_year": year}, item_multi={"genre": (offsets, genre_codes.astype(np.int64))},
    )


def leave_last_out(seqs: Sequences, name: str | None = None) -> InteractionDataset:
    """Behaviour sequences -> interactions: each user's last behaviour is the test row, the earlier ones train.

    Train keeps each (user, item) pair once. A last behaviour whose item the user already has in train is dropped
    (a full-ranking evaluation masks train items, so it could never be retrieved); a user with one behaviour keeps it
    in train and has no test row. n_users = max user + 1, n_items = the sequences' n_items.
    """
    name = name or seqs.name
    lengths = np.diff(seqs.offsets)
    if lengths.size and lengths.min() < 1:
        empty = int(seqs.users[np.argmin(lengths)])
        raise DataFormatError(f"{name}: user {empty} has an empty sequence; leave-last-out needs one behaviour or more")
    users = np.repeat(seqs.users.astype(np.int64), lengths)
    last = np.zeros(seqs.items.shape[0], dtype=bool)
    last[seqs.offsets[1:][lengths >= 2] - 1] = True
    n_users = int(seqs.users.max()) + 1 if seqs.users.size else 0
    n_items = int(seqs.n_items)
    train_keys = np.unique(users[~last] * n_items + seqs.items[~last])
    test_u, test_i = users[last], seqs.items[last].astype(np.int64)
    keep = ~np.isin(test_u * n_items + test_i, train_keys)
    parts = {"train": (train_keys // n_items, train_keys % n_items), "test": (test_u[keep], test_i[keep])}
    s = _pack(name, parts, n_users=n_users, n_items=n_items)
    return InteractionDataset(name=name, train=s["train"], test=s["test"])


def load_interactions(name: str, dataset_path: PathLike | None = None) -> InteractionDataset:
    """Named interaction set -> InteractionDataset (gowalla, ml-1m, amazon-electronics, lastfm, ml-100k fold u1;
    amazon-beauty's sequences by leave-last-out, see `leave_last_out`)."""
    entry = registry_entry(name)
    fmt = entry["format"]
    if fmt == "s3rec-sequences":
        from recsys_hash.data.sequences import load_beauty

        return leave_last_out(load_beauty(dataset_path, name=name), name)
    if fmt == "lightgcn-lines":
        return load_lightgcn_folder(dataset_dir(name, dataset_path), name)
    if fmt == "lastfm-triplets":
        return load_lastfm(dataset_path, name=name)
    if fmt == "movielens-100k":
        return load_ml100k(dataset_path, fold="u1", name=name)
    raise ValueError(f"load_interactions: dataset {name!r} is of kind {entry['kind']!r} (format {fmt}), "
                     f"not an interaction set; use {entry['loader']}")
