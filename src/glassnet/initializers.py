"""Weight initializers: each maps ``(shape, rng, dtype)`` to a new array.

For a weight of shape ``(..., n_in, n_out)`` the fans are ``fan_in = prod(shape[:-1])`` and
``fan_out = prod(shape[:-2]) * shape[-1]`` (receptive field times channels, as in Keras).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .errors import ConfigError

__all__ = [
    "INITIALIZERS",
    "get_initializer",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "ones",
    "orthogonal",
    "random_uniform",
    "uniform",
    "zeros",
]

Initializer = Callable[[tuple, np.random.Generator, np.dtype], np.ndarray]


def _fans(shape: tuple) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def uniform(shape, rng, dtype=np.float32):
    """U[0, 1): the seed tutorial's ``np.random.uniform(size=...)``."""
    return rng.uniform(size=shape).astype(dtype)


def random_uniform(shape, rng, dtype=np.float32):
    """U[-0.05, 0.05]: Keras' RandomUniform defaults, its initializer for embeddings."""
    return rng.uniform(-0.05, 0.05, size=shape).astype(dtype)


def zeros(shape, rng, dtype=np.float32):
    """All zeros (the default for biases); ``rng`` is not used."""
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng, dtype=np.float32):
    """All ones (BatchNormalization's ``gamma``); ``rng`` is not used."""
    return np.ones(shape, dtype=dtype)


def glorot_uniform(shape, rng, dtype=np.float32):
    """U[-limit, limit] with ``limit = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape, rng, dtype=np.float32):
    """N(0, 2 / (fan_in + fan_out)), truncated at two standard deviations as in Keras."""
    fan_in, fan_out = _fans(shape)
    return _truncated_normal(shape, math.sqrt(2.0 / (fan_in + fan_out)), rng).astype(dtype)


def he_uniform(shape, rng, dtype=np.float32):
    """U[-limit, limit] with ``limit = sqrt(6 / fan_in)`` (He et al. 2015)."""
    fan_in, _ = _fans(shape)
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, rng, dtype=np.float32):
    """N(0, 2 / fan_in), truncated at two standard deviations as in Keras."""
    fan_in, _ = _fans(shape)
    return _truncated_normal(shape, math.sqrt(2.0 / fan_in), rng).astype(dtype)


def orthogonal(shape, rng, dtype=np.float32):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (Saxe et al. 2014)."""
    rows, cols = math.prod(shape[:-1]), shape[-1]
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # make the decomposition unique
    if rows < cols:
        q = q.T
    return np.ascontiguousarray(q[:rows, :cols].reshape(shape), dtype=dtype)  # C order, as every weight


def _truncated_normal(shape, std, rng):
    # Keras rescales so the truncated distribution keeps the requested variance
    std = std / 0.87962566103423978
    x = rng.standard_normal(size=shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(x) > 2
    return x * std


INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f
    for f in (uniform, random_uniform, zeros, ones, glorot_uniform, glorot_normal, he_uniform, he_normal,
              orthogonal)
}


def get_initializer(init) -> Initializer:
    """An initializer from its name or a callable ``(shape, rng, dtype) -> array``."""
    if callable(init):
        return init
    if isinstance(init, str) and init.lower() in INITIALIZERS:
        return INITIALIZERS[init.lower()]
    raise ConfigError(f"Unknown initializer {init!r}; valid initializers are: {', '.join(sorted(INITIALIZERS))}")


def initializer_name(init) -> str:
    """The registry name of an initializer (for configs); custom callables cannot be saved."""
    for name, f in INITIALIZERS.items():
        if f is init:
            return name
    raise ConfigError(f"Initializer {init!r} is not a built-in and cannot be written to a model file")
