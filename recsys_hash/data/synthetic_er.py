"""Seeded synthetic entity-resolution pairs: table B holds perturbed copies of table A's records (typos,
abbreviations) plus unmatched records; the perturbations are recorded so their rates can be measured."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys_hash.data.types import ERTables

_FIRST = np.array("james mary robert patricia john jennifer michael linda william elizabeth david barbara richard susan "
                  "joseph jessica thomas sarah charles karen daniel nancy matthew lisa anthony betty mark margaret "
                  "donald sandra steven ashley paul kimberly andrew emily joshua donna kenneth michelle".split())
_LAST = np.array("smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez "
                 "wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark "
                 "ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores".split())
_STREET = np.array("maple oak pine cedar elm birch willow chestnut walnut spruce hickory poplar magnolia juniper "
                   "laurel aspen sycamore cypress hawthorn alder".split())
_TYPE = np.array(["street", "road", "avenue", "drive", "place", "court", "boulevard", "lane"])
_TYPE_ABBR = np.array(["st", "rd", "ave", "dr", "pl", "ct", "blvd", "ln"])
_CITY = np.array("springfield riverside franklin greenville bristol clinton fairview salem madison georgetown "
                 "arlington ashland dover oxford milton newport burlington manchester hudson kingston".split())
_STATE = np.array(["new south wales", "victoria", "queensland", "western australia", "south australia", "tasmania",
                   "northern territory", "australian capital territory"])
_STATE_ABBR = np.array(["nsw", "vic", "qld", "wa", "sa", "tas", "nt", "act"])
FIELDS = ("given_name", "surname", "street_number", "street", "city", "state")
ABBREVIABLE = ("given_name", "street", "state")
_A, _Z = ord("a"), ord("z")


@dataclass(frozen=True)
class PlantedER:
    """Ground truth of `planted_er_pairs`: per table-B row and field, whether a typo / an abbreviation was applied
    (False for unmatched rows); `source` = matching table-A id or -1."""

    fields: tuple[str, ...]
    typo: np.ndarray  # bool [n_b, n_fields]
    abbrev: np.ndarray  # bool [n_b, n_fields]
    source: np.ndarray  # int64 [n_b]


def _records(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n random records as field -> str array; street types and states are kept as codes for abbreviation."""
    t = rng.integers(len(_TYPE), size=n)
    return {
        "given_name": _FIRST[rng.integers(len(_FIRST), size=n)],
        "surname": _LAST[rng.integers(len(_LAST), size=n)],
        "street_number": rng.integers(1, 1000, size=n).astype(str),
        "street": np.char.add(np.char.add(_STREET[rng.integers(len(_STREET), size=n)], " "), _TYPE[t]),
        "city": _CITY[rng.integers(len(_CITY), size=n)],
        "state": _STATE[rng.integers(len(_STATE), size=n)],
    }


def _abbreviate(field: str, values: np.ndarray) -> np.ndarray:
    """given_name -> its initial; street type -> abbreviation (maple street -> maple st); state -> abbreviation."""
    if field == "given_name":
        return values.astype("<U1")
    if field == "street":
        head, _, kind = np.char.rpartition(values, " ").T
        return np.char.add(np.char.add(head, " "), _TYPE_ABBR[np.argmax(kind[:, None] == _TYPE[None, :], axis=1)])
    return _STATE_ABBR[np.argmax(values[:, None] == _STATE[None, :], axis=1)]


def typo(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random edit per string (substitute, delete, insert or transpose a lowercase letter), vectorised on a
    code-point matrix; every output differs from its input by exactly one Damerau edit."""
    values = np.asarray(values, dtype=str)
    n = values.size
    if n == 0:
        return values
    lens = np.char.str_len(values)
    width = int(lens.max()) + 2
    codes = values.astype(f"<U{width}").view(np.uint32).reshape(n, width).copy()
    op = rng.integers(4, size=n)  # 0 substitute, 1 delete, 2 insert, 3 transpose
    op = np.where(lens == 0, 2, op)
    op = np.where((op == 3) & (lens < 2), 0, op)
    pos = np.floor(rng.random(n) * np.maximum(lens - (op == 3), 1)).astype(np.int64)
    pos = np.where(op == 2, np.floor(rng.random(n) * (lens + 1)).astype(np.int64), pos)
    rows = np.arange(n)
    cur = codes[rows, np.minimum(pos, width - 1)]
    nxt = codes[rows, np.minimum(pos + 1, width - 1)]
    op = np.where((op == 3) & (cur == nxt), 0, op)  # swapping equal letters changes nothing
    letter = (_A + rng.integers(26, size=n)).astype(np.uint32)
    letter = np.where((op == 0) & (letter == cur), np.where(letter == _Z, _A, letter + 1), letter).astype(np.uint32)
    col = np.arange(width)[None, :]
    p = pos[:, None]
    left = np.concatenate([codes[:, 1:], np.zeros((n, 1), np.uint32)], axis=1)
    right = np.concatenate([np.zeros((n, 1), np.uint32), codes[:, :-1]], axis=1)
    sub = np.where(col == p, letter[:, None], codes)
    dele = np.where(col >= p, left, codes)
    ins = np.where(col < p, codes, np.where(col == p, letter[:, None], right))
    swap = np.where(col == p, nxt[:, None], np.where(col == p + 1, cur[:, None], codes))
    out = np.choose(op[:, None], [sub, dele, ins, swap]).astype(np.uint32)
    return np.ascontiguousarray(out).view(f"<U{width}").reshape(n)


def planted_er_pairs(n_entities: int = 1000, n_b_only: int = 200, typo_rate: float = 0.1, abbrev_rate: float = 0.1,
                     neg_per_pos: int = 2, seed: int = 0) -> tuple[ERTables, PlantedER]:
    """Table A: n_entities person records; table B: a shuffled perturbed copy of each plus n_b_only new records.

    Each (B row, field) gets, independently, an abbreviation with probability abbrev_rate (only given_name, street,
    state) and then a one-edit typo with probability typo_rate. Labelled splits: all matches + neg_per_pos random
    non-matches per match, shuffled 60/20/20 into train/valid/test. gold: int64 [n_entities, 2] (a_id, b_id).
    """
    if not (0 <= typo_rate <= 1 and 0 <= abbrev_rate <= 1) or n_entities <= 0 or n_b_only < 0:
        raise ValueError(f"planted_er_pairs: rates must be in [0, 1] and sizes positive, got typo_rate={typo_rate}, "
                         f"abbrev_rate={abbrev_rate}, n_entities={n_entities}, n_b_only={n_b_only}")
    rng = np.random.default_rng(seed)
    a = _records(n_entities, rng)
    extra = _records(n_b_only, rng)
    n_b = n_entities + n_b_only
    perm = rng.permutation(n_b)  # B row of each (A record, then extra record)
    source = np.full(n_b, -1, np.int64)
    source[perm[:n_entities]] = np.arange(n_entities)
    typo_flags = np.zeros((n_b, len(FIELDS)), bool)
    abbr_flags = np.zeros((n_b, len(FIELDS)), bool)
    b = {}
    for j, f in enumerate(FIELDS):
        vals = a[f].astype(object)
        if f in ABBREVIABLE:
            m = rng.random(n_entities) < abbrev_rate
            vals = np.where(m, _abbreviate(f, a[f]), a[f]).astype(object)
            abbr_flags[perm[:n_entities], j] = m
        t = rng.random(n_entities) < typo_rate
        vals[t] = typo(vals[t].astype(str), rng)
        typo_flags[perm[:n_entities], j] = t
        col = np.empty(n_b, dtype=object)
        col[perm[:n_entities]] = vals
        col[perm[n_entities:]] = extra[f]
        b[f] = col.astype(str)
    table_a = pl.DataFrame({"id": np.arange(n_entities, dtype=np.int64), **{f: a[f] for f in FIELDS}})
    table_b = pl.DataFrame({"id": np.arange(n_b, dtype=np.int64), **{f: b[f] for f in FIELDS}})
    gold = np.stack([np.arange(n_entities), perm[:n_entities]], axis=1).astype(np.int64)
    neg_a = rng.integers(n_entities, size=neg_per_pos * n_entities)
    neg_b = rng.integers(n_b, size=neg_per_pos * n_entities)
    keep = source[neg_b] != neg_a
    pairs = pl.DataFrame({"ltable_id": np.concatenate([gold[:, 0], neg_a[keep]]),
                          "rtable_id": np.concatenate([gold[:, 1], neg_b[keep]]),
                          "label": np.concatenate([np.ones(n_entities, np.int64), np.zeros(int(keep.sum()), np.int64)])})
    pairs = pairs[rng.permutation(pairs.height)]
    c1, c2 = int(0.6 * pairs.height), int(0.8 * pairs.height)
    tables = ERTables(name=f"planted_er(seed={seed})", table_a=table_a, table_b=table_b, gold=gold,
                      train=pairs[:c1], valid=pairs[c1:c2], test=pairs[c2:])
    return tables, PlantedER(fields=FIELDS, typo=typo_flags, abbrev=abbr_flags, source=source)
