"""Argument checks every module may import (a leaf: it imports only :mod:`glassnet.errors`).

Each check returns the value in a plain Python type (so a NumPy scalar never reaches a config or a model
file) or raises a Keras-worded :class:`~glassnet.errors.ConfigError`: "Received an invalid value for
`units`, expected a positive integer. Received: units=0".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import invalid_value

__all__ = ["check_bool", "check_non_negative_int", "check_number", "check_positive_int", "is_int"]


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), bools excluded."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int if it is a positive integer (not a bool), else a ConfigError."""
    if not is_int(value) or value < 1:
        raise invalid_value(name, value, "a positive integer")
    return int(value)


def check_non_negative_int(name: str, value: Any) -> int:
    """``value`` as an int if it is an integer ≥ 0 (not a bool), else a ConfigError."""
    if not is_int(value) or value < 0:
        raise invalid_value(name, value, "a non-negative integer")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool if it is one (Python or NumPy), else a ConfigError."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid_value(name, value, "True or False")
    return bool(value)


def check_number(name: str, value: Any, *, low: float = 0.0, low_open: bool = False, high: float | None = None,
                 high_open: bool = True, allow_none: bool = False, expected: str | None = None) -> float | None:
    """``value`` as a float if it is a finite number in the interval, else a ConfigError.

    The interval is ``[low, high)`` by default (``low_open``/``high_open`` choose the brackets; no ``high``
    means unbounded); ``expected`` replaces the interval in the message ("a positive number").
    """
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))
    ok = ok and math.isfinite(value) and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if expected is None:
            span = f"({low}" if low_open else f"[{low}"
            span += ", inf)" if high is None else (f", {high})" if high_open else f", {high}]")
            expected = f"a number in {span}"
        raise invalid_value(name, value, expected)
    return float(value)
