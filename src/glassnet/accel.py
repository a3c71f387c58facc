"""Optional fused kernels: the same arithmetic as the NumPy code, in one pass over memory.

The NumPy code is the explanation and the reference: Adam in :mod:`glassnet.optimizers` is ten
vectorized passes over the flat parameter buffer, each reading and writing the whole buffer; a step
of the LSTM in :mod:`glassnet.layers.recurrent` is ten passes over its gates, the GRU's thirteen. When
`numba <https://numba.pydata.org>`_ is installed (``pip install glassnet[fast]``), the kernels here do
the same per-element operations, in the same order and the same precision, in fewer loops — the
results are bit-identical to the NumPy path (``tests/test_accel.py`` and
``tests/layers/test_recurrent_kernels.py`` compare them). :func:`adam` also copies the parameters into
the model's divergence backup while it reads them.

What stays NumPy's: every matrix product (NumPy's BLAS) and every ``tanh``. NumPy's tanh is its own
SIMD code, which rounds differently from the C library's that a numba loop would call (about a third of
float32 results differ in the last bit) and is faster, so the recurrent kernels stop where a tanh is due
and the layer calls ``np.tanh`` between them: a step of the LSTM is GEMM, :func:`lstm_gates_in`, tanh,
:func:`lstm_cell`, tanh, one multiply (6 calls instead of 11); back through time, one
:func:`lstm_backward_step` and the GEMM (instead of 9 calls, plus 15 passes over every step before the
loop).

``GLASSNET_ACCEL`` chooses: ``auto`` (default: numba when importable — Adam's kernel only for buffers of
at least :data:`MIN_SIZE` elements, where it pays for its call overhead; the recurrent kernels always,
since one call replaces several), ``numpy`` (never use the kernels), ``numba`` (require numba; a
:class:`~glassnet.errors.ConfigError` if it is missing).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .errors import ConfigError, GlassnetWarning

__all__ = ["MIN_SIZE", "adam", "available", "enabled", "gru_backward_step", "gru_candidate_in", "gru_gates_in",
           "gru_hidden", "lstm_backward_step", "lstm_cell", "lstm_gates_in", "mode", "warm_up"]

MIN_SIZE = 16384  # below this, NumPy's few calls are as fast as Adam's kernel call
_MODES = ("auto", "numpy", "numba")
_kernels: dict | None = None  # compiled on first use; {} when numba is not importable
_recurrent_ok: bool | None = None  # the recurrent kernels: None until a recurrent layer first asks


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
    # contraction, so every rounding is NumPy's. Every scalar comes in as an argument of the arrays'
    # dtype (a literal 1 would make float32 arithmetic float64).
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

    # -- LSTM: gates [i f g o] in column blocks of U; a = A[t] (N, 4U) -----------------------------------
    @jit
    def lstm_gates_in(a, b, s):
        N, G = a.shape
        for n in range(N):
            for j in range(G):
                a[n, j] = (a[n, j] + b[j]) * s[j]

    @jit
    def lstm_cell(a, s, one_minus_s, c_prev, c):
        N, G = a.shape
        u = c.shape[1]
        for n in range(N):
            for j in range(G):
                a[n, j] = a[n, j] * s[j] + one_minus_s[j]
            for j in range(u):
                c[n, j] = a[n, u + j] * c_prev[n, j] + a[n, j] * a[n, 2 * u + j]

    @jit
    def lstm_backward_step(a, f_next, c_prev, tanh_c, dy, td, dh, dc, dG, has_dy, last, one):
        # row by row, one short loop per output block: few arrays per loop, so LLVM vectorizes each
        N, u = dh.shape
        for n in range(N):
            an, dhn, dcn, tcn, dGn = a[n], dh[n], dc[n], tanh_c[n], dG[n]
            if last:
                dhn[:] = dy[n, td]
            elif has_dy:
                dyn = dy[n, td]
                for j in range(u):
                    dhn[j] = dhn[j] + dyn[j]
            if last:
                for j in range(u):
                    o, tc = an[3 * u + j], tcn[j]
                    dcn[j] = dhn[j] * (o * (one - tc * tc))
            else:
                fn = f_next[n]
                for j in range(u):
                    o, tc = an[3 * u + j], tcn[j]
                    dcn[j] = dcn[j] * fn[u + j] + dhn[j] * (o * (one - tc * tc))
            for j in range(u):
                i, g = an[j], an[2 * u + j]
                dGn[j] = g * (i - i * i) * dcn[j]
                dGn[2 * u + j] = i * (one - g * g) * dcn[j]
            cn = c_prev[n]
            for j in range(u):
                f = an[u + j]
                dGn[u + j] = cn[j] * (f - f * f) * dcn[j]
            for j in range(u):
                o = an[3 * u + j]
                dGn[3 * u + j] = tcn[j] * (o - o * o) * dhn[j]

    # -- GRU: gates [z r n] in column blocks of U; a = A[t], h = hU[t] (N, 3U) --------------------------
    @jit
    def gru_gates_in(a, b_x, h, b_h, half):
        N, G = a.shape
        u = G // 3
        for n in range(N):
            for j in range(G):
                h[n, j] = h[n, j] + b_h[j]
            for j in range(2 * u):
                a[n, j] = ((a[n, j] + b_x[j]) + h[n, j]) * half

    @jit
    def gru_candidate_in(a, b_x, h, half):
        N, G = a.shape
        u = G // 3
        for n in range(N):
            for j in range(2 * u):
                a[n, j] = a[n, j] * half + half
            for j in range(u):
                a[n, 2 * u + j] = (a[n, 2 * u + j] + b_x[2 * u + j]) + a[n, u + j] * h[n, 2 * u + j]

    @jit
    def gru_hidden(a, h_prev, h):
        N, u = h.shape
        for n in range(N):
            for j in range(u):
                h[n, j] = (h_prev[n, j] - a[n, 2 * u + j]) * a[n, j] + a[n, 2 * u + j]

    @jit
    def gru_backward_step(a, h_prev, h, dy, td, back, dh, dGx, dGh, has_dy, last, one):
        N, u = dh.shape
        for n in range(N):
            an, dhn, gx, gh = a[n], dh[n], dGx[n], dGh[n]
            if last:
                dhn[:] = dy[n, td]
            elif has_dy:
                bn, dyn = back[n], dy[n, td]
                for j in range(u):
                    dhn[j] = dhn[j] + bn[j] + dyn[j]
            else:
                bn = back[n]
                for j in range(u):
                    dhn[j] = dhn[j] + bn[j]
            for j in range(u):
                z, r, c = an[j], an[u + j], an[2 * u + j]
                dg_n = (one - z) * (one - c * c) * dhn[j]
                gx[2 * u + j] = dg_n
                gh[2 * u + j] = dg_n * r
            hp = h_prev[n]
            for j in range(u):
                z, c = an[j], an[2 * u + j]
                gx[j] = gh[j] = (hp[j] - c) * (z - z * z) * dhn[j]
            hn = h[n]
            for j in range(u):
                r = an[u + j]
                gx[u + j] = gh[u + j] = hn[2 * u + j] * (r - r * r) * gx[2 * u + j]
            for j in range(u):
                dhn[j] = dhn[j] * an[j]

    kernels = {"adam": adam_kernel, "lstm_gates_in": lstm_gates_in, "lstm_cell": lstm_cell,
               "lstm_backward_step": lstm_backward_step, "gru_gates_in": gru_gates_in,
               "gru_candidate_in": gru_candidate_in, "gru_hidden": gru_hidden,
               "gru_backward_step": gru_backward_step}
    # compile (or load from the cache) Adam's kernel now, for both dtypes: a failure means "use NumPy", not a
    # crash mid-fit. The recurrent kernels are compiled the first time a recurrent layer asks for them
    # (enabled(recurrent=True)): a Dense model never pays for them, in time or in the compiler's memory.
    return kernels if _warm(kernels, _adam_for) else {}


def _warm(kernels: dict, compile_for) -> bool:
    """Compile ``kernels`` through ``compile_for`` for float32 and float64; False (with a warning) if numba fails."""
    try:
        for dtype in (np.float32, np.float64):
            compile_for(kernels, dtype)
    except Exception as e:  # noqa: BLE001 - numba's errors have no common base; any of them means no kernel
        warnings.warn(f"glassnet.accel: numba could not compile the fused kernels ({type(e).__name__}: {e}); "
                      "using NumPy", GlassnetWarning, stacklevel=4)
        return False
    return True


def _adam_for(k: dict, dtype) -> None:
    """Call Adam's kernel once on tiny arrays of ``dtype``."""
    f = dtype(0.5)
    a = [np.zeros(4, dtype) for _ in range(5)]
    k["adam"](*a, f, f, f, f, f)


def _recurrent_for(k: dict, dtype) -> None:
    """Call every recurrent kernel once on tiny arrays of ``dtype``, laid out as the layers pass them."""
    f = dtype(0.5)
    N, u = 2, 3
    m = [np.zeros((N, u), dtype) for _ in range(4)]  # (N, U): states and their deltas
    g4 = [np.zeros((N, 4 * u), dtype) for _ in range(3)]
    g3 = [np.zeros((N, 3 * u), dtype) for _ in range(4)]
    dy = np.zeros((N, 1, u), dtype)
    k["lstm_gates_in"](g4[0], g4[1][0], g4[2][0])
    k["lstm_cell"](g4[0], g4[1][0], g4[2][0], m[0], m[1])
    k["lstm_backward_step"](g4[0], g4[1], m[0], m[1], dy, 0, m[2], m[3], g4[2], True, False, f)
    k["gru_gates_in"](g3[0], g3[3][0], g3[1], g3[2][0], f)
    k["gru_candidate_in"](g3[0], g3[3][0], g3[1], f)
    k["gru_hidden"](g3[0], m[0], m[1])
    k["gru_backward_step"](g3[0], m[0], g3[1], dy, 0, m[1], m[2], g3[2], g3[3], True, False, f)


def _cache_ok() -> bool:
    """Cache compiled kernels next to this file when that directory is writable (saves ~0.5 s a run)."""
    return os.access(os.path.join(os.path.dirname(__file__), "__pycache__"), os.W_OK) or os.access(
        os.path.dirname(__file__), os.W_OK)


def _get() -> dict:
    global _kernels
    if _kernels is None:
        _kernels = _compile()
    return _kernels


def enabled(recurrent: bool = False) -> bool:
    """Whether the kernels are in use at all: numba is importable (or required) and not switched off.

    ``recurrent=True`` asks for the recurrent layers' kernels, compiling them on the first call.
    ``GLASSNET_ACCEL=numba`` without numba is a ConfigError; ``auto`` falls back to NumPy quietly.
    """
    global _recurrent_ok
    m = mode()
    if m == "numpy":
        return False
    if m == "numba" and not _get():
        raise ConfigError("GLASSNET_ACCEL=numba but numba is not installed; pip install 'glassnet[fast]' "
                          "or unset GLASSNET_ACCEL")
    kernels = _get()
    if not kernels:
        return False
    if recurrent:
        if _recurrent_ok is None:
            _recurrent_ok = _warm(kernels, _recurrent_for)
        return _recurrent_ok
    return True


def available(size: int) -> bool:
    """Whether Adam's kernel will be used for a flat buffer of ``size`` elements.

    In ``auto`` mode a buffer below :data:`MIN_SIZE` never imports numba (its import alone costs tens of MB).
    """
    if mode() == "auto" and size < MIN_SIZE:
        return False
    return enabled()


def adam(p, g, m, v, backup, one_minus_b1, one_minus_b2, eps_hat, step, decay=1.0) -> None:
    """One fused Adam/AdamW update of the flat buffers, in place; ``backup`` receives ``p`` before it.

    Per element, exactly the NumPy path of :class:`~glassnet.optimizers.Adam`::

        m += (1-beta1)·(g - m);  v += (1-beta2)·(g² - v)
        p  = p·decay - m / (sqrt(v) + eps_hat) · step      (decay = 1 - lr·weight_decay for AdamW)

    Scalars are cast to the buffers' dtype, so float32 stays float32 as in NumPy.
    """
    f = p.dtype.type
    _get()["adam"](p, g, m, v, backup, f(one_minus_b1), f(one_minus_b2), f(eps_hat), f(step), f(decay))


# -- recurrent layers: one time step each; every array C-contiguous, of one dtype ----------------------------
def lstm_gates_in(a, b, s) -> None:
    """LSTM step, before the gates' tanh: ``a <- (a + b) * s``, in place.

    ``a`` (N, 4U) is the step's ``[x_t | h_{t-1}]·[W; U]`` (one GEMM), ``b`` (4U,) the bias, ``s`` (4U,)
    the scale that lets one tanh give all four gates (1/2 for the sigmoids i, f, o; 1 for g).
    """
    _get()["lstm_gates_in"](a, b, s)


def lstm_cell(a, s, one_minus_s, c_prev, c) -> None:
    """LSTM step, after the gates' tanh: the gates ``a <- a * s + (1 - s)``, then ``c = f * c_{t-1} + i * g``.

    ``a`` (N, 4U) in place, ``c`` (N, U) written; ``one_minus_s`` is ``1 - s`` (precomputed, as the NumPy
    path does).
    """
    _get()["lstm_cell"](a, s, one_minus_s, c_prev, c)


def lstm_backward_step(a, f_next, c_prev, tanh_c, dy, td, dh, dc, dG, has_dy: bool, last: bool) -> None:
    """LSTM, one step back through time: the deltas dG_t (N, 4U) of the gates' pre-activations.

    ``a`` = the gates [i f g o] of step t, ``f_next`` those of step t+1 (its f block is read; anything when
    ``last``), ``c_prev`` = c_{t-1}, ``tanh_c`` = tanh(c_t), ``dy[:, td]`` = dL/dh_t from the output (read
    when ``has_dy`` or ``last``). In ``dh`` comes dG_{t+1}·Uᵀ (unless ``last``), out goes dL/dh_t; in ``dc``
    comes dL/dc_{t+1} and out goes dL/dc_t. Per element, as the NumPy path::

        dh = dy_t (last) or dh + dy_t;    dc = dh * o(1 - tanh²c_t)  [+ dc * f_{t+1}, unless last]
        dG = [g·i(1-i)·dc, c_{t-1}·f(1-f)·dc, i·(1-g²)·dc, tanh(c_t)·o(1-o)·dh]
    """
    _get()["lstm_backward_step"](a, f_next, c_prev, tanh_c, dy, td, dh, dc, dG, has_dy, last, dh.dtype.type(1))


def gru_gates_in(a, b_x, h, b_h) -> None:
    """GRU step, before the update and reset gates' tanh: ``h <- h + b_h``, ``[z r] <- (([z r] + b_x) + h) / 2``.

    ``a`` (N, 3U) is the step's ``x_t·W`` (without its bias, which the NumPy path adds before the loop),
    ``b_x`` (3U,) the input-side bias ``b[0]``, ``h`` (N, 3U) ``h_{t-1}·U`` (becomes ``h_{t-1}·U + b[1]``,
    which the backward pass reads), ``b_h`` (3U,) the recurrent bias ``b[1]``. Only the [z r] columns are
    written; :func:`gru_candidate_in` adds ``b_x`` to the candidate's.
    """
    _get()["gru_gates_in"](a, b_x, h, b_h, a.dtype.type(0.5))


def gru_candidate_in(a, b_x, h) -> None:
    """GRU step, between the two tanh: ``[z r] <- [z r] / 2 + 1/2`` (σ), ``n <- (n + b_x) + r * h[:, 2U:]``."""
    _get()["gru_candidate_in"](a, b_x, h, a.dtype.type(0.5))


def gru_hidden(a, h_prev, h) -> None:
    """GRU step, the new state: ``h = (h_{t-1} - n) * z + n``, i.e. ``z * h_{t-1} + (1 - z) * n``."""
    _get()["gru_hidden"](a, h_prev, h)


def gru_backward_step(a, h_prev, h, dy, td, back, dh, dGx, dGh, has_dy: bool, last: bool) -> None:
    """GRU, one step back through time: the deltas of the input side dGx_t and recurrent side dGh_t (N, 3U).

    ``a`` = the gates [z r n] of step t, ``h_prev`` = h_{t-1}, ``h`` = ``h_{t-1}·U + b[1]`` of step t,
    ``dy[:, td]`` = dL/dh_t from the output, ``back`` = dGh_{t+1}·Uᵀ (unless ``last``). In ``dh`` comes
    dL/dh_{t+1} · z_{t+1}, out goes dL/dh_t · z_t (the direct path to step t-1). Per element::

        dh = dy_t (last) or dh + back + dy_t
        dG_n = (1-z)(1-n²)·dh;   dG_z = (h_{t-1} - n)·z(1-z)·dh;   dG_r = hn·r(1-r)·dG_n
        dGx = [dG_z, dG_r, dG_n];  dGh = [dG_z, dG_r, dG_n·r];   dh <- dh·z
    """
    _get()["gru_backward_step"](a, h_prev, h, dy, td, back, dh, dGx, dGh, has_dy, last, dh.dtype.type(1))


def warm_up() -> bool:
    """Import numba and compile (or load from its cache) every kernel for float32 and float64, now.

    The benchmark harness calls this before it measures, as it imports PyTorch before measuring it.
    Returns whether the kernels are in use.
    """
    return enabled() and enabled(recurrent=True)  # compiles every kernel for float32 and float64
