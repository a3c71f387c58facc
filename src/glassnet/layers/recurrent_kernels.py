"""The LSTM's and GRU's time steps with the fused kernels of :mod:`glassnet.accel`: the same numbers, fewer passes.

:mod:`glassnet.layers.recurrent` is the reference: its loops are the code the docs and the trace explain,
one NumPy operation per line. When numba is in use (``GLASSNET_ACCEL``, see :mod:`glassnet.accel`) and the
arrays are NumPy's, the layers call these functions instead, which do every per-element operation of the
reference in the same order and precision, so outputs, states and gradients are bit-identical
(``tests/layers/test_recurrent_kernels.py``). Matrix products and ``tanh`` stay NumPy's (see accel).

Forward, per step (after the step's GEMM, counted: the LSTM's ``[x_t | h_{t-1}]·[W; U]``, the GRU's
``hU = h_{t-1}·U``)::

    LSTM  lstm_gates_in, tanh, lstm_cell, tanh(c), h = o·tanh(c)      6 calls instead of 11
    GRU   gru_gates_in, tanh, gru_candidate_in, tanh, gru_hidden      6 calls instead of 13

The GRU's input-side bias is added in its first kernel of each step, where the reference adds it to every
step in one pass before its loop (the same first addition of each element, so the same numbers).
Backward: one kernel per step computes dh, dc and all the gates' deltas from the cached forward arrays,
where the reference first makes 15 passes over every step (the slopes) and then 9 calls per step. A
masked batch (``layer._keep``) or gradients of returned states (``dstates``) go the reference way in the
backward pass.
"""

from __future__ import annotations

import numpy as np

from .. import accel
from .conv import buffer

__all__ = ["applies", "gru_backward", "gru_step", "lstm_backward", "lstm_step"]


_DTYPES = (np.float32, np.float64)  # what accel compiles the kernels for, up front


def applies(layer, *arrays) -> bool:
    """Whether the fused path runs: the kernels are in use and every array is a NumPy array of the layer's dtype
    (float32 or float64)."""
    return (layer.dtype in _DTYPES and all(type(a) is np.ndarray and a.dtype == layer.dtype for a in arrays)
            and accel.enabled(recurrent=True))


def lstm_step(a, b, s, one_minus_s, c_prev, c, tanh_c, h) -> None:
    """One LSTM step, fused: gates in ``a`` (N, 4U) in place; ``c``, ``tanh_c``, ``h`` (N, U) written.

    As the reference: ``a = [σ σ tanh σ](a + b)`` by one tanh, ``c = f·c_prev + i·g``, ``h = o·tanh(c)``.
    ``a`` comes in as ``[x_t | h_{t-1}]·[W; U]``, the step's one GEMM, without the bias ``b``.
    """
    accel.lstm_gates_in(a, b, s)  # (a + b)·s
    np.tanh(a, out=a)
    accel.lstm_cell(a, s, one_minus_s, c_prev, c)  # gates, then the cell
    np.tanh(c, out=tanh_c)
    np.multiply(a[:, 3 * c.shape[1]:], tanh_c, out=h)  # h_t = o * tanh(c_t)


def gru_step(a, b_x, h, b_h, h_prev, h_new) -> None:
    """One GRU step, fused: gates [z r n] in ``a`` (N, 3U) in place, ``h`` (N, 3U) gets ``+ b_h``; ``h_new`` written.

    ``a`` comes in as ``x_t·W`` without the input-side bias ``b_x`` (see :func:`lstm_step`); ``h`` holds
    ``h_{t-1}·U`` on entry and ``h_{t-1}·U + b[1]`` after, as in the reference.
    """
    u = h_new.shape[1]
    accel.gru_gates_in(a, b_x, h, b_h)  # h += b_h; [z r] = ([z r] + b_x + h_zr) / 2
    zr, n = a[:, :2 * u], a[:, 2 * u:]
    np.tanh(zr, out=zr)
    accel.gru_candidate_in(a, b_x, h)  # σ = tanh/2 + 1/2; n = n + b_x + r * h_n
    np.tanh(n, out=n)
    accel.gru_hidden(a, h_prev, h_new)  # h_t = (h_{t-1} - n) * z + n


def _dy3(layer, dy: np.ndarray, N: int) -> np.ndarray:
    """dy as a C-contiguous (N, T or 1, U) array: the kernels read dL/dh_t as ``dy3[:, t]`` (``[:, 0]`` at T-1)."""
    dy = np.ascontiguousarray(dy)
    return dy if layer.return_sequences else dy.reshape(N, 1, layer.units)


def lstm_backward(layer, dy: np.ndarray) -> np.ndarray | None:
    """:meth:`LSTM.backward <glassnet.layers.LSTM.backward>` with one kernel per step (no mask)."""
    u = layer.units
    A, C, tanh_c = layer.A, layer.C, layer.tanh_c
    T, N, _ = A.shape
    dG = buffer(layer, "dG", A.shape, layer.dtype)  # (T, N, 4U)
    dh, dc = (buffer(layer, k, (N, u), layer.dtype) for k in ("dh", "dc"))
    Ut = layer.params["U"].T
    dy3, seq = _dy3(layer, dy, N), layer.return_sequences
    for t in reversed(range(T)):
        last = t == T - 1
        accel.lstm_backward_step(A[t], A[t if last else t + 1], C[t], tanh_c[t], dy3, t if seq else 0, dh, dc,
                                 dG[t], seq or last, last)
        if t or layer._given:  # dh_{t-1} (before adding dy_{t-1}); dh_0 only for a given initial state
            layer._dh_prev(dG[t], Ut, dh, t)
        layer._dWU_chunk(dG, t)  # [dW; dU] over the last steps, while their deltas are in cache
        if layer._cut(t):
            dc[...] = 0
    layer.initial_state_grads = [dh.copy(), dc * A[0, :, u:2 * u]] if layer._given else None
    return layer._closing_gemms(dG)


def gru_backward(layer, dy: np.ndarray) -> np.ndarray | None:
    """:meth:`GRU.backward <glassnet.layers.GRU.backward>` with one kernel per step (no mask)."""
    u = layer.units
    A, H, hU = layer.A, layer.H, layer.hU
    T, N, _ = A.shape
    dGx, dGh = (buffer(layer, k, A.shape, layer.dtype) for k in ("dGx", "dGh"))  # (T, N, 3U) each
    dh, back = (buffer(layer, k, (N, u), layer.dtype) for k in ("dh", "back"))
    Ut = layer.params["U"].T
    dy3, seq = _dy3(layer, dy, N), layer.return_sequences
    for t in reversed(range(T)):
        last = t == T - 1
        if not last:  # dGh_{t+1}·Uᵀ, or nothing where truncated BPTT cuts
            if layer._cut(t + 1):
                back[...] = 0
            else:
                np.matmul(dGh[t + 1], Ut, out=back)
        accel.gru_backward_step(A[t], H[t], hU[t], dy3, t if seq else 0, back, dh, dGx[t], dGh[t], seq or last,
                                last)
        if layer._cut(t):
            dh[...] = 0  # truncated BPTT: nothing reaches h_{t-1} from step t
    if layer._given:  # dL/dh_0: the direct path is in dh; add step 0's recurrent side
        np.matmul(dGh[0], Ut, out=back)
        layer.initial_state_grads = [dh + back]
    else:
        layer.initial_state_grads = None
    return layer._closing_gemms(dGx, dGh)
