"""Row budgets: a fraction of a side's vocabulary (float in (0, 1]) or an explicit row count (int >= 1)."""
from __future__ import annotations

from typing import Union

Budget = Union[int, float]


def rows_for_budget(budget: Budget, vocab_size: int, what: str = "budget") -> int:
    """Rows for one table: max(1, round(fraction * vocab)) for a fraction, the count itself for an int.

    Raises ValueError naming `what` when the fraction is outside (0, 1] or the count is < 1 or larger than the vocabulary.
    """
    if vocab_size < 1:
        raise ValueError(f"{what}: the vocabulary is empty")
    if isinstance(budget, bool):
        raise ValueError(f"{what}: must be a fraction in (0, 1] or a row count, got {budget!r}")
    if isinstance(budget, int):
        if budget < 1 or budget > vocab_size:
            raise ValueError(f"{what}: {budget} rows is outside [1, {vocab_size}] (the vocabulary size)")
        return budget
    frac = float(budget)
    if not (0.0 < frac <= 1.0):  # also rejects NaN
        raise ValueError(f"{what}: fraction {budget!r} is outside (0, 1]")
    return max(1, int(round(frac * vocab_size)))
