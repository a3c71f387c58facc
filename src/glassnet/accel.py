"""Optional fused kernels: the same arithmetic as the NumPy code, in one pass over memory.

The NumPy code in :mod:`glassnet.optimizers` is the explanation and the reference: Adam there is ten
vectorized passes over the flat parameter buffer, each reading and writing the whole buffer. On a
network of a few hundred thousand parameters those passes cost a fifth to a third of an epoch. When
`numba <https://numba.pydata.org>`_ is installed (``pip install glassnet[fast]``), :func:`adam` does
the same per-element operations, in the same order and the same precision, in a single loop — the
results are bit-identical to the NumPy path (``tests/test_accel.py`` compares them) — and also copies
the parameters into the model's divergence backup while it reads them.

``GLASSNET_ACCEL`` chooses: ``auto`` (default: numba when importable, for buffers of at least
:data:`MIN_SIZE` elements, where it pays for its call overhead), ``numpy`` (never use the kernels),
``numba`` (require numba; a :class:`~glassnet.errors.ConfigError` if it is missing).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .errors import ConfigError, GlassnetWarning

__all__ = ["MIN_SIZE", "adam", "available", "mode", "warm_up"]

MIN_SIZE = 16384  # below this, NumPy's few calls are as fast as a kernel call
_MODES = ("auto", "numpy", "numba")
_kernels: dict | None = None  # compiled on first use; {} when numba is not importable


def mode() -> str:
    """The value of ``GLASSNET_ACCEL`` (``auto`` when unset); anything else is a ConfigError."""
    value = os.environ.get("GLASSNET_ACCEL", "auto").strip().lower() or "auto"
    if value not in _MODES:
        raise ConfigError(f"GLASSNET_ACCEL must be one of {', '.join(_MODES)}; received {value!r}")
    return value


def _compile() -> dict:
    try:
        import numba
    except ImportError:
        return {}

    # error_model="numpy": a division by zero gives inf/nan as in NumPy (Python's model would raise,
    # and its checks stop the loop from being vectorized). No fastmath: no reassociation, no FMA
    # contraction, so every rounding is NumPy's.
    jit = numba.njit(nogil=True, error_model="numpy", cache=_cache_ok())

    @jit
    def adam_kernel(p, g, m, v, backup, one_minus_b1, one_minus_b2, eps_hat, step, decay):
        for i in range(p.size):
            gi = g[i]
            mi = m[i] + one_minus_b1 * (gi - m[i])
            vi = v[i] + one_minus_b2 * (gi * gi - v[i])
            m[i] = mi
            v[i] = vi
            pi = p[i]
            backup[i] = pi
            p[i] = pi * decay - (mi / (np.sqrt(vi) + eps_hat)) * step

    try:  # compile (or load from the cache) now, for both dtypes: a failure means "use NumPy", not a crash mid-fit
        for dtype in (np.float32, np.float64):
            a = [np.zeros(4, dtype) for _ in range(5)]
            f = dtype(0.5)
            adam_kernel(*a, f, f, f, f, f)
    except Exception as e:  # noqa: BLE001 - numba's errors have no common base; any of them means no kernel
        warnings.warn(f"glassnet.accel: numba could not compile the fused kernels ({type(e).__name__}: {e}); "
                      "using NumPy", GlassnetWarning, stacklevel=3)
        return {}
    return {"adam": adam_kernel}


def _cache_ok() -> bool:
    """Cache compiled kernels next to this file when that directory is writable (saves ~0.5 s a run)."""
    return os.access(os.path.join(os.path.dirname(__file__), "__pycache__"), os.W_OK) or os.access(
        os.path.dirname(__file__), os.W_OK)


def _get() -> dict:
    global _kernels
    if _kernels is None:
        _kernels = _compile()
    return _kernels


def available(size: int) -> bool:
    """Whether the kernels will be used for a flat buffer of ``size`` elements."""
    m = mode()
    if m == "numpy":
        return False
    if m == "numba":
        if not _get():
            raise ConfigError("GLASSNET_ACCEL=numba but numba is not installed; pip install 'glassnet[fast]' "
                              "or unset GLASSNET_ACCEL")
        return True
    return size >= MIN_SIZE and bool(_get())


def adam(p, g, m, v, backup, one_minus_b1, one_minus_b2, eps_hat, step, decay=1.0) -> None:
    """One fused Adam/AdamW update of the flat buffers, in place; ``backup`` receives ``p`` before it.

    Per element, exactly the NumPy path of :class:`~glassnet.optimizers.Adam`::

        m += (1-beta1)·(g - m);  v += (1-beta2)·(g² - v)
        p  = p·decay - m / (sqrt(v) + eps_hat) · step      (decay = 1 - lr·weight_decay for AdamW)

    Scalars are cast to the buffers' dtype, so float32 stays float32 as in NumPy.
    """
    f = p.dtype.type
    _get()["adam"](p, g, m, v, backup, f(one_minus_b1), f(one_minus_b2), f(eps_hat), f(step), f(decay))


def warm_up() -> bool:
    """Import numba and compile (or load from its cache) every kernel for float32 and float64, now.

    The benchmark harness calls this before it measures, as it imports PyTorch before measuring it.
    Returns whether the kernels are in use.
    """
    return available(MIN_SIZE)  # the first call compiles every kernel for float32 and float64
