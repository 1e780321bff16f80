"""Row budgets, one rule for every layer: a count (int >= 1) or a fraction (float in (0, 1]) of a side's vocabulary."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

Budget = Union[int, float, None]


def resolve_budget(budget: Budget, vocab: int, side: str) -> Optional[int]:
    """A count (int >= 1) or a fraction (float in (0, 1]) of `vocab` -> rows; None stays None."""
    if budget is None:
        return None
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, float, np.integer, np.floating)):
        raise ValueError(f"{side} budget must be an int count or a float fraction, got {budget!r}")
    if isinstance(budget, (float, np.floating)):
        if not (0.0 < budget <= 1.0):
            raise ValueError(f"{side} budget fraction must be in (0, 1], got {budget!r}")
        return max(1, int(round(float(budget) * vocab)))
    if budget < 1:
        raise ValueError(f"{side} budget must be >= 1 row, got {budget}")
    if budget > vocab:
        raise ValueError(f"{side} budget of {budget} rows exceeds the {side} vocabulary of {vocab} IDs")
    return int(budget)
