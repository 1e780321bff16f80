"""Seeded synthetic catalogue with planted duplicate items: each entity is listed under 1-3 item IDs whose titles
are perturbed copies (one-edit typos), and users interact with entities (through any of their IDs). The ground
truth lets consolidation (entity blocking -> `dedup`) be measured on retrieval quality."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys_hash.data.synthetic_er import typo
from recsys_hash.data.types import InteractionDataset, Interactions

_BRANDS = np.array("acme zenith orion nova apex vertex lumen quanta helix polar sigma delta astra cobalt ember "
                   "falcon granite harbor ion jade".split())
_NOUNS = np.array("headphones speaker camera monitor keyboard router charger tablet printer lamp blender kettle "
                  "drill mixer projector microphone".split())
_COLOURS = np.array("black white silver red blue green grey gold".split())


@dataclass(frozen=True)
class PlantedCatalogue:
    """Ground truth: entity of each item ID (int64 [n_items]); duplicate pairs (every ID with its entity's first)."""

    entity: np.ndarray
    duplicate_pairs: np.ndarray


def planted_duplicate_catalogue(n_users: int = 2000, n_entities: int = 1500, n_groups: int = 40, dup_share: float = 0.5,
                                max_copies: int = 3, per_user: int = 25, in_group: float = 0.8, test_share: float = 0.2,
                                seed: int = 0) -> tuple[InteractionDataset, pl.DataFrame, PlantedCatalogue]:
    """(interactions split train/test per user, item titles `id, title`, truth). Entities belong to one of
    n_groups taste groups; a user draws `per_user` entities, `in_group` of them from its own group, and each
    interaction goes to a uniformly chosen ID of the entity. Same seed -> identical output."""
    if not (0 <= dup_share <= 1 and 0 < test_share < 1 and max_copies >= 2 and n_entities > 0 and n_users > 0):
        raise ValueError("planted_duplicate_catalogue: need 0<=dup_share<=1, 0<test_share<1, max_copies>=2, sizes > 0")
    rng = np.random.default_rng(seed)
    copies = np.where(rng.random(n_entities) < dup_share, rng.integers(2, max_copies + 1, n_entities), 1)
    n_items = int(copies.sum())
    entity_of_slot = np.repeat(np.arange(n_entities), copies)
    first_slot = np.concatenate([[0], np.cumsum(copies)[:-1]])
    perm = rng.permutation(n_items)                       # item ID of each slot
    entity = np.empty(n_items, np.int64)
    entity[perm] = entity_of_slot
    code = np.char.add(np.array([chr(97 + i) + chr(97 + j) for i, j in rng.integers(26, size=(n_entities, 2))]),
                       rng.integers(100, 10_000, n_entities).astype(str))
    base = np.char.add(np.char.add(np.char.add(np.char.add(_BRANDS[rng.integers(len(_BRANDS), size=n_entities)], " "),
                       _NOUNS[rng.integers(len(_NOUNS), size=n_entities)]), " " ), code)
    base = np.char.add(np.char.add(base, " "), _COLOURS[rng.integers(len(_COLOURS), size=n_entities)])
    titles = base[entity_of_slot].astype(object)
    later = np.arange(n_items) != first_slot[entity_of_slot]            # copies after the first are perturbed
    titles[later] = typo(typo(titles[later].astype(str), rng), rng)
    item_titles = np.empty(n_items, dtype=object)
    item_titles[perm] = titles
    group = rng.integers(n_groups, size=n_entities)
    by_group = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[by_group], np.arange(n_groups + 1))
    user_group = rng.integers(n_groups, size=n_users)
    user = np.repeat(np.arange(n_users), per_user)
    g = user_group[user]
    size = starts[g + 1] - starts[g]
    own = (rng.random(user.size) < in_group) & (size > 0)
    pick = np.where(own, by_group[starts[g] + np.floor(rng.random(user.size) * np.maximum(size, 1)).astype(np.int64)],
                    rng.integers(n_entities, size=user.size))
    slot = first_slot[pick] + np.floor(rng.random(user.size) * copies[pick]).astype(np.int64)
    item = perm[slot]
    pairs = np.unique(np.stack([user, item], axis=1), axis=0)
    test = rng.random(len(pairs)) < test_share
    mk = lambda p: Interactions(p[:, 0].astype(np.int64), p[:, 1].astype(np.int64), n_users, n_items,  # noqa: E731
                                name="planted_catalogue")
    data = InteractionDataset(name=f"planted_catalogue(seed={seed})", train=mk(pairs[~test]), test=mk(pairs[test]))
    table = pl.DataFrame({"id": np.arange(n_items, dtype=np.int64), "title": item_titles.astype(str)})
    canon = perm[first_slot[entity]]
    dup = np.flatnonzero(canon != np.arange(n_items))
    truth = PlantedCatalogue(entity=entity, duplicate_pairs=np.sort(np.stack([canon[dup], dup], axis=1), axis=1))
    return data, table, truth
