"""Row budgets, one rule for every layer: a fraction in (0, 1] of a side's vocabulary, or a whole row count.

Typed values (library): an int is a row count (>= 1), a float a fraction in (0, 1]. Text (the CLI's --budget and
--budgets, `AuditConfig.budgets`): a number in (0, 1] is a fraction ("1" = the full table) and a whole number >= 2 is
a row count ("2" = two rows); anything else (0, negatives, 1.5, inf, nan) is an error.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np

Budget = Union[int, float, None]

#: How the rule reads in --help and in error messages.
BUDGET_RULE = "a fraction in (0, 1] or a whole row count >= 2"


def check_budget(value: Any, what: str = "budget") -> Union[int, float]:
    """A user's budget (number or text) -> float fraction in (0, 1] or int row count >= 2; else ValueError."""
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} {text!r} is not a number ({BUDGET_RULE})")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {text!r} is not a number ({BUDGET_RULE})") from None
    if 0.0 < number <= 1.0:
        return number
    if math.isfinite(number) and number >= 2 and number == int(number):
        return int(number)
    raise ValueError(f"{what} {text!r} is not {BUDGET_RULE}")


def parse_budget(text: str, what: str = "budget") -> Union[int, float]:
    """'0.25' -> 0.25 (fraction), '1' -> 1.0 (the full table), '5000' -> 5000 (rows); see `check_budget`."""
    return check_budget(str(text), what)


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
