"""The array module, default dtype and random generators.

glassnet computes with NumPy. Everything random takes a ``numpy.random.Generator``; there is no
global seed anywhere in the library.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError

__all__ = ["DEFAULT_DTYPE", "as_dtype", "make_rng", "xp"]

xp = np
DEFAULT_DTYPE = np.float32
_ALLOWED = {"float32": np.float32, "float64": np.float64}


def as_dtype(dtype) -> np.dtype:
    """Return ``float32`` or ``float64`` for a name or NumPy dtype; anything else is a ConfigError."""
    if dtype is None:
        return np.dtype(DEFAULT_DTYPE)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _ALLOWED:
        raise ConfigError(
            f"Received an invalid value for `dtype`, expected 'float32' or 'float64'. Received: dtype={dtype!r}"
        )
    return dt


def make_rng(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, None (fresh entropy) or an existing Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ConfigError(
            f"Received an invalid value for `seed`, expected a non-negative integer or None. Received: seed={seed!r}"
        )
    return np.random.default_rng(seed)
