"""Typed containers every layer above `data/` consumes. Arrays are numpy; IDs are contiguous int64 indices."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Interactions:
    """User-item interaction rows: `user[i]` interacted with `item[i]`.

    user, item: int64 [n], indices in [0, n_users) / [0, n_items).
    timestamp: int64 [n] or None; rating: float32 [n] or None.
    """

    user: np.ndarray
    item: np.ndarray
    n_users: int
    n_items: int
    timestamp: Optional[np.ndarray] = None
    rating: Optional[np.ndarray] = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.user.shape != self.item.shape or self.user.ndim != 1:
            raise ValueError(
                f"Interactions {self.name!r}: user and item must be 1-D arrays of equal length, "
                f"got {self.user.shape} and {self.item.shape}"
            )
        for col, arr in (("timestamp", self.timestamp), ("rating", self.rating)):
            if arr is not None and arr.shape != self.user.shape:
                raise ValueError(f"Interactions {self.name!r}: {col} has shape {arr.shape}, expected {self.user.shape}")

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, mask_or_index: np.ndarray, name: str | None = None) -> "Interactions":
        """Rows selected by a boolean mask or an index array; the vocabularies stay the same."""
        pick = lambda a: None if a is None else a[mask_or_index]  # noqa: E731
        return Interactions(
            user=self.user[mask_or_index], item=self.item[mask_or_index], n_users=self.n_users,
            n_items=self.n_items, timestamp=pick(self.timestamp), rating=pick(self.rating),
            name=self.name if name is None else name,
        )


@dataclass(frozen=True)
class InteractionDataset:
    """A named train/test (optionally validation) split with optional side features.

    user_features / item_features: name -> array with one row per user / item (int64 codes or float32).
    item_multi: name -> (offsets int64 [n_items+1], values int64) for multi-valued item fields (genres...).
    """

    name: str
    train: Interactions
    test: Interactions
    valid: Optional[Interactions] = None
    user_features: dict[str, np.ndarray] = field(default_factory=dict)
    item_features: dict[str, np.ndarray] = field(default_factory=dict)
    item_multi: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return self.train.n_users

    @property
    def n_items(self) -> int:
        return self.train.n_items


@dataclass(frozen=True)
class CTRFrame:
    """Click-through rows: categorical fields as int64 codes, dense fields as float32, binary labels.

    categorical: field name -> int64 [n] (raw keys, not yet remapped; -1 marks a missing value).
    dense: float32 [n, n_dense] (may have 0 columns); dense_names: column names.
    labels: float32 [n] in {0, 1}.
    """

    categorical: dict[str, np.ndarray]
    dense: np.ndarray
    dense_names: list[str]
    labels: np.ndarray
    name: str = ""

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class SequenceCTRFrame:
    """CTR rows that each carry behaviour histories, stored jagged (input of DIN / SDIM / DARE models).

    frame: CTRFrame of n rows (target, user and context fields; dense; labels [n]).
    history: name -> (offsets int64 [n+1], values int64 [offsets[-1]]); row i's history is
    values[offsets[i]:offsets[i+1]], oldest first. Parallel histories (items, their categories) share offsets.
    """

    frame: CTRFrame
    history: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        n = len(self.frame)
        for key, (offsets, values) in self.history.items():
            if offsets.shape != (n + 1,) or offsets[0] != 0 or (np.diff(offsets) < 0).any():
                raise ValueError(f"SequenceCTRFrame {self.name!r}: history {key!r} offsets must be non-decreasing, start "
                                 f"at 0 and have shape ({n + 1},), got shape {offsets.shape}")
            if values.shape != (int(offsets[-1]),):
                raise ValueError(f"SequenceCTRFrame {self.name!r}: history {key!r} has {values.shape[0]} values, "
                                 f"offsets say {int(offsets[-1])}")

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def labels(self) -> np.ndarray:
        return self.frame.labels

    def lengths(self, key: str) -> np.ndarray:
        """History lengths of `key`: int64 [n]."""
        return np.diff(self.history[key][0])

    def sequence(self, key: str, i: int) -> np.ndarray:
        offsets, values = self.history[key]
        return values[offsets[i] : offsets[i + 1]]


@dataclass(frozen=True)
class Sequences:
    """Per-user behaviour sequences in time order, stored jagged.

    users: int64 [n_users_with_seq]; offsets: int64 [len(users)+1]; items: int64 [offsets[-1]].
    timestamps: int64 [offsets[-1]] or None.
    item_attributes: name -> (offsets int64 [n_items+1], values int64) multi-valued item attributes.
    attribute_vocab: name -> list of attribute strings (index = code).
    """

    users: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    n_items: int
    timestamps: Optional[np.ndarray] = None
    item_attributes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    attribute_vocab: dict[str, list[str]] = field(default_factory=dict)
    name: str = ""

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, i: int) -> np.ndarray:
        return self.items[self.offsets[i] : self.offsets[i + 1]]


@dataclass(frozen=True)
class ERTables:
    """Entity-resolution benchmark: two record tables and labelled pairs.

    table_a / table_b: polars DataFrames with an `id` column plus attribute columns.
    train / valid / test: polars DataFrames `ltable_id, rtable_id, label` (may be empty for Febrl).
    gold: int64 [n_pairs, 2] all known matching (a_id, b_id) pairs.
    """

    name: str
    table_a: "object"
    table_b: "object"
    gold: np.ndarray
    train: "object" = None
    valid: "object" = None
    test: "object" = None
