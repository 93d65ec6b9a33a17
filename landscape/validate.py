"""Checks of user input that run before any tracing.

Each raises ``ValueError`` naming the argument, the value received and what
would be valid. They take concrete (non-traced) values only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "require_choice",
    "require_finite",
    "require_in_range",
    "require_positive",
    "require_positive_int",
]


def require_positive(name: str, value: float) -> float:
    """``value > 0``."""
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def require_positive_int(name: str, value: int) -> int:
    """``value`` is an integer >= 1."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def require_in_range(
    name: str, value: float, low: float, high: float, *, inclusive: bool = True
) -> float:
    """``low <= value <= high`` (or strict when ``inclusive=False``)."""
    ok = low <= value <= high if inclusive else low < value < high
    if not ok or not np.isfinite(value):
        brackets = "[]" if inclusive else "()"
        raise ValueError(
            f"{name} must lie in {brackets[0]}{low}, {high}{brackets[1]}, got {value!r}"
        )
    return value


def require_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def require_finite(name: str, array: Any) -> np.ndarray:
    """All entries of ``array`` are finite (no NaN or inf)."""
    arr = np.asarray(array)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s) out of {arr.size}; "
            "clean the data first"
        )
    return arr
