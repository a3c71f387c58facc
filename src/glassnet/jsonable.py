"""NumPy values as plain JSON data (a leaf module: it imports only NumPy)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(x: Any, nonfinite_as_none: bool = False) -> Any:
    """``x`` with arrays as nested lists, NumPy scalars as Python numbers and tuples as lists, recursively.

    Dict keys become strings. With ``nonfinite_as_none``, NaN and ±inf become None (strict JSON has no NaN).
    """
    if isinstance(x, dict):
        return {str(k): to_jsonable(v, nonfinite_as_none) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v, nonfinite_as_none) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist(), nonfinite_as_none) if nonfinite_as_none else x.tolist()
    if isinstance(x, np.generic):
        x = x.item()
    if nonfinite_as_none and isinstance(x, float) and not math.isfinite(x):
        return None
    return x
