"""Recurrent layers over sequences (N, T, C): SimpleRNN, LSTM and GRU, trained by backpropagation through time.

All three follow one plan. Inside, arrays are time major, so every step reads and writes contiguous rows::

    xt = x as (T, N, C)
    A  = xt·W + b                      # ONE GEMM for every time step: (T·N, C)·(C, G·U)
    for t = 0 .. T-1:                  # only h_{t-1}·U is left inside the loop
        A[t] += h_{t-1}·U;  gates -> cell -> hidden state h_t
    for t = T-1 .. 0:                  # deltas back through time
        dh = dy_t + dh_next;  dG[t] = the gates' pre-activation deltas;  dh_next = dG[t]·Uᵀ
    [dW; dU] = [xt | H_prev]ᵀ·dG,  db = Σ dG,  dx = dG·Wᵀ     # one GEMM each, after the loop

x_t and h_{t-1} sit side by side in one buffer ``XH`` (T+1, N, C+U) whose views are ``xt`` and ``H``, so
``[dW; dU]`` is one GEMM over (T·N, C+U) rows, faster than one of C rows plus one of U (the GRU, whose
recurrent deltas differ from its input deltas, keeps two). The LSTM, whose products are wide (4U columns),
also does its forward GEMMs per step as ``A[t] = [x_t | h_{t-1}]·[W; U]`` (K = C+U) in place of the big
GEMM plus ``h_{t-1}·U``: the same products, fewer calls, and each step's rows are still in cache when its
gates are computed; and it sums ``[dW; dU]`` inside its backward loop, one GEMM per 10 steps, while their
deltas are still in cache. Both paths (NumPy and fused) share these GEMMs, so they stay bit-identical.

``G`` is the number of gates (1, 4, 3), ``U`` the units. Parameters use Keras' layouts (``W`` = kernel
(C, G·U), ``U`` = recurrent_kernel (U, G·U), ``b`` = bias); see each class for its gate order and how it
maps onto ``torch.nn``. Per-step arrays live in buffers the layer keeps between calls (reallocated only
when N or T changes), on the model's device; the dtype of the model is kept throughout.

The loops below are the reference, one NumPy operation a line. With numba (``glassnet.accel``), the LSTM
and the GRU on the CPU run each step's gate arithmetic through :mod:`glassnet.layers.recurrent_kernels`
instead: the same operations in the same order and precision in fewer passes, so every output, state and
gradient is bit-identical (``GLASSNET_ACCEL=numpy`` keeps the NumPy loops).

Sequence options, with Keras' names (docs/guide/sequences.md has examples):

- **States.** Row 0 of ``H`` (and the LSTM's ``C``) is the initial state: zeros, ``layer.initial_state``
  (``layer(x, initial_state=[h, c])`` for one call), or the carried states of a ``stateful=True`` layer,
  registered buffers ``state_h``/``state_c`` of shape (batch_size, U). ``layer.states`` holds the final
  states; ``return_state=True`` makes a direct call return ``[output, *states]``. After a forward pass with
  an initial state, backward also gives ``initial_state_grads`` (dL/dh_0, dL/dc_0).
- **Masking.** ``layer.input_mask`` (bool (N, T), True at a real step, set by the model) makes a masked
  step keep the states: ``h_t = h_{t-1}`` (and ``c_t = c_{t-1}``) on its rows. Backward, its gate deltas
  are zero and dL/dh_t (dL/dc_t) passes to step t-1 unchanged. A mask of real steps only, or none, takes
  the plain path.
- **Truncated BPTT.** ``bptt=k`` leaves the forward pass alone and stops the gradient between steps t-1
  and t for t = k, 2k, ... (``h.detach()`` between chunks of k steps in PyTorch).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, invalid_value
from . import recurrent_kernels
from .activations import Activation, get_activation
from .conv import buffer
from .recurrent_base import _Recurrent

__all__ = ["GRU", "LSTM", "SimpleRNN"]


def sigmoid_(z: np.ndarray) -> np.ndarray:
    """``z <- σ(z)`` in place, as ``tanh(z/2)/2 + 1/2`` (the same function; tanh never overflows)."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


def times_slope(x, a, out, scratch, tanh: bool = False) -> np.ndarray:
    """``out = x * a(1 - a)`` (the slope of a sigmoid whose output is a), or ``x * (1 - a²)`` for a tanh.

    Over every step at once, so ``scratch`` saves the allocation of a large temporary.
    """
    np.multiply(a, a, out=scratch)
    np.subtract(1 if tanh else a, scratch, out=scratch)
    return np.multiply(x, scratch, out=out)


class SimpleRNN(_Recurrent):
    """Fully connected recurrence ``h_t = f(x_t·W + h_{t-1}·U + b)``, h_0 = 0 by default.

    Backward: ``dz_t = (dy_t + dz_{t+1}·Uᵀ) * f'(z_t)``, then the closing GEMMs of the module docstring.
    Torch: ``nn.RNN(C, U, nonlinearity="tanh", batch_first=True)`` with ``weight_ih_l0 = Wᵀ``,
    ``weight_hh_l0 = Uᵀ``, ``bias_ih_l0 = b``, ``bias_hh_l0 = 0``.

    Shapes: ``x (N, T, C)``, ``W (C, U)``, ``U (U, U)``, ``b (U,)``.

    Parameters
    ----------
    units : int
        Size U of the hidden state.
    activation : str or Activation
        An elementwise activation, ``"tanh"`` by default.
    return_sequences : bool
        Output every h_t as (N, T, U) rather than the last one (N, U).
    kernel_initializer, recurrent_initializer, bias_initializer : str or callable
        Keras' defaults: ``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``.
    return_state : bool
        A direct call ``layer(x, initial_state=[h])`` returns ``[output, h_T]``; in a Sequential the final
        states are read from ``layer.states``.
    stateful : bool
        Carry each row's final states to the same row of the next batch, across ``fit``, ``predict`` and
        ``evaluate``, until ``reset_states()``; needs ``batch_size``.
    batch_size : int or None
        The rows of every batch of a stateful layer (the shape of its carried states).
    bptt : int or None
        Truncated backpropagation through time: the gradient stops every ``bptt`` steps.
    """

    gates = 1

    def __init__(self, units: int, activation="tanh", return_sequences: bool = False,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 name: str | None = None, *, return_state: bool = False, stateful: bool = False,
                 batch_size: int | None = None, bptt: int | None = None) -> None:
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer, bias_initializer, name,
                         return_state=return_state, stateful=stateful, batch_size=batch_size, bptt=bptt)
        self.activation: Activation = get_activation(activation)
        if self.activation.key == "softmax":
            raise invalid_value("activation", "softmax", "an elementwise activation")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        Z = self._input_projection(x)  # (T, N, U): x_t·W + b
        T, N, _ = Z.shape
        H, Uh, keep = self._states("H", T, N), self.params["U"], self._keep
        hU = buffer(self, "hU", (N, self.units), self.dtype)
        f = self.activation
        for t in range(T):
            # -- step t --------------------------------------------------------------------------
            np.matmul(H[t], Uh, out=hU)
            Z[t] += hU  # z_t = x_t·W + h_{t-1}·U + b
            if f.key == "tanh":  # the default, in place
                np.tanh(Z[t], out=H[t + 1])
            else:
                H[t + 1] = f.f(Z[t])  # h_t
            # -- end of step t -------------------------------------------------------------------
            if keep is not None:
                np.copyto(H[t + 1], H[t], where=keep[t])  # a masked step keeps the state
        self.Z, self.H = Z, H
        self._end(H[-1])
        return self._output(H)

    def backward(self, dy: np.ndarray, dstates=None) -> np.ndarray | None:
        T, N, _ = self.Z.shape
        dZ = self.activation.slope(self.Z, self.H[1:])  # (T, N, U): f'(z_t), every step at once
        if self._keep is not None:
            np.copyto(dZ, 0, where=self._keep)  # a masked step's pre-activation gets no gradient
        Ut = self.params["U"].T
        dh = buffer(self, "dh_next", (N, self.units), self.dtype)
        for t in reversed(range(T)):
            dy_t = self._dy_at(dy, t, T)
            if t == T - 1:
                dh[...] = dy_t
                self._add_dstate(dh, dstates, 0, N)  # dL/dh_T from the returned state
            elif dy_t is not None:
                dh += dy_t  # dh_t = dy_t + dz_{t+1}·Uᵀ
            dZ[t] *= dh  # dz_t = dh_t * f'(z_t)
            self._dh_prev(dZ[t], Ut, dh, t)
        self.initial_state_grads = [dh.copy()] if self._given else None
        return self._closing_gemms(dZ)

    def get_config(self):
        act = self.activation.get_config() | {"class": type(self.activation).__name__}
        return super().get_config() | {"activation": act}

    def extra_repr(self):
        act = "" if self.activation.key == "tanh" else f", activation={self.activation.key!r}"
        return super().extra_repr() + act


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate), h_0 = c_0 = 0 by default.

    Gates, in Keras' column order i, f, g (Keras' "c"), o — the same order as ``torch.nn.LSTM``::

        [i f g o] = [σ σ tanh σ](x_t·W + h_{t-1}·U + b)     # (N, 4U)
        c_t = f * c_{t-1} + i * g                            # cell
        h_t = o * tanh(c_t)                                  # hidden state

    Back through time, with ``dh = dy_t + dG_{t+1}·Uᵀ`` and ``dc = dh * o * (1 - tanh²c_t) + dc_{t+1} * f_{t+1}``::

        dG_i = dc * g * i(1-i)      dG_f = dc * c_{t-1} * f(1-f)
        dG_g = dc * i * (1-g²)      dG_o = dh * tanh(c_t) * o(1-o)

    where every factor right of ``dc`` or ``dh`` comes from the forward alone, so it is computed for
    all steps at once before the loop. Each step's pre-activations are one GEMM,
    ``[x_t | h_{t-1}]·[W; U] + b`` (see the module's docstring). Torch: ``nn.LSTM(C, U, batch_first=True)`` with
    ``weight_ih_l0 = Wᵀ``, ``weight_hh_l0 = Uᵀ``, ``bias_ih_l0 = b``, ``bias_hh_l0 = 0``.

    Shapes: ``x (N, T, C)``, ``W (C, 4U)``, ``U (U, 4U)``, ``b (4U,)``.

    Parameters
    ----------
    units : int
        Size U of the hidden and cell states.
    return_sequences : bool
        Output every h_t as (N, T, U) rather than the last one (N, U).
    unit_forget_bias : bool
        Start the forget gate's bias at 1 (Keras' default; Jozefowicz et al. 2015).
    kernel_initializer, recurrent_initializer, bias_initializer : str or callable
        Keras' defaults: ``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``.
    return_state, stateful, batch_size, bptt
        As in :class:`SimpleRNN`, with two states: ``layer(x, initial_state=[h, c])`` returns
        ``[output, h_T, c_T]``; a stateful LSTM carries both.
    """

    gates = 4
    dWU_steps = 10

    state_keys = ("h", "c")

    def __init__(self, units: int, return_sequences: bool = False, unit_forget_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 name: str | None = None, *, return_state: bool = False, stateful: bool = False,
                 batch_size: int | None = None, bptt: int | None = None) -> None:
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer, bias_initializer, name,
                         return_state=return_state, stateful=stateful, batch_size=batch_size, bptt=bptt)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape, rng, dtype=np.float32):
        shape = super().build(input_shape, rng, dtype)
        if self.unit_forget_bias:
            self.params["b"][self.units:2 * self.units] = 1
        return shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        u = self.units
        fused = recurrent_kernels.applies(self, self.params["U"])  # numba: the same arithmetic in fewer passes
        A = self._input_projection(x, project=False)  # (T, N, 4U), filled step by step, becomes the gates [i f g o]
        T, N, _ = A.shape
        H, C, XH, b, keep = self._states("H", T, N), self._states("C", T, N), self.XH, self.params["b"], self._keep
        tanh_c = buffer(self, "tanh_c", (T, N, u), self.dtype)
        ig = buffer(self, "ig", (N, u), self.dtype)
        # row t of XH is [x_t | h_{t-1}]: one GEMM a step with [W; U] (K = C+U) gives both products, the input's
        # rows just before the gates read them (one big GEMM x·W up front costs more, and its rows go cold)
        WU = buffer(self, "WU", (XH.shape[2], 4 * u), self.dtype)  # (C+U, 4U)
        WU[:-u], WU[-u:] = self.params["W"], self.params["U"]
        # all four gates with one tanh: σ(z) = tanh(z/2)/2 + 1/2, so [σ σ tanh σ](z) = tanh(z·s)·s + 1 - s
        s = self.xp.full(4 * u, 0.5, self.dtype)  # (4U,), on the model's device
        s[2 * u:3 * u] = 1
        one_minus_s = 1 - s
        for t in range(T):
            # -- step t: gates, cell, hidden state -------------------------------------------------
            a = A[t]  # (N, 4U)
            np.matmul(XH[t], WU, out=a)  # x_t·W + h_{t-1}·U
            if fused:
                recurrent_kernels.lstm_step(a, b, s, one_minus_s, C[t], C[t + 1], tanh_c[t],
                                            H[t + 1])  # bit-identical to the lines below
            else:
                a += b  # pre-activations x_t·W + h_{t-1}·U + b
                a *= s
                np.tanh(a, out=a)
                a *= s
                a += one_minus_s  # gates [i f g o], in place
                i, f, g, o = a[:, :u], a[:, u:2 * u], a[:, 2 * u:3 * u], a[:, 3 * u:]
                np.multiply(f, C[t], out=C[t + 1])
                np.multiply(i, g, out=ig)
                C[t + 1] += ig  # cell: c_t = f * c_{t-1} + i * g
                np.tanh(C[t + 1], out=tanh_c[t])
                np.multiply(o, tanh_c[t], out=H[t + 1])  # hidden state: h_t = o * tanh(c_t)
            # -- end of step t -------------------------------------------------------------------
            if keep is not None:  # a masked step keeps both states (its A and tanh_c rows go unused)
                np.copyto(C[t + 1], C[t], where=keep[t])
                np.copyto(H[t + 1], H[t], where=keep[t])
        self.A, self.H, self.C, self.tanh_c = A, H, C, tanh_c
        self._end(H[-1], C[-1])
        return self._output(H)

    def backward(self, dy: np.ndarray, dstates=None) -> np.ndarray | None:
        if self._keep is None and dstates is None and recurrent_kernels.applies(self, self.A, dy):
            return recurrent_kernels.lstm_backward(self, dy)  # the same arithmetic, one kernel a step
        u = self.units
        A, C, tanh_c = self.A, self.C, self.tanh_c
        T, N, _ = A.shape
        i, f, g, o = A[..., :u], A[..., u:2 * u], A[..., 2 * u:3 * u], A[..., 3 * u:]
        # what each delta is multiplied by, from the forward alone: every step at once
        dG = buffer(self, "dG", A.shape, self.dtype)  # (T, N, 4U); holds these factors, then the deltas
        dc_dh = buffer(self, "dc_dh", tanh_c.shape, self.dtype)  # (T, N, U); first the scratch space
        times_slope(g, i, dG[..., :u], dc_dh)  # ∂c/∂z_i = g * i(1-i)
        times_slope(C[:-1], f, dG[..., u:2 * u], dc_dh)  # ∂c/∂z_f = c_{t-1} * f(1-f)
        times_slope(i, g, dG[..., 2 * u:3 * u], dc_dh, tanh=True)  # ∂c/∂z_g = i * (1-g²)
        times_slope(tanh_c, o, dG[..., 3 * u:], dc_dh)  # ∂h/∂z_o = tanh(c_t) * o(1-o)
        times_slope(o, tanh_c, dc_dh, dc_dh, tanh=True)  # ∂h/∂c_t = o * (1 - tanh²c_t)
        f_back = f  # what dc_t is multiplied by on its way to c_{t-1}
        if self._keep is not None:  # a masked step: no gate gradient; dh and dc pass through unchanged
            np.copyto(dG, 0, where=self._keep)
            np.copyto(dc_dh, 0, where=self._keep)
            f_back = buffer(self, "f_back", f.shape, self.dtype)
            np.copyto(f_back, f)
            np.copyto(f_back, 1, where=self._keep)
        Ut = self.params["U"].T
        dh, dc, dc_h = (buffer(self, k, (N, u), self.dtype) for k in ("dh", "dc", "dc_h"))
        for t in reversed(range(T)):
            dy_t = self._dy_at(dy, t, T)
            if t == T - 1:
                dh[...] = dy_t
                self._add_dstate(dh, dstates, 0, N)  # dL/dh_T and dL/dc_T from the returned states
                np.multiply(dh, dc_dh[t], out=dc)
                self._add_dstate(dc, dstates, 1, N)
            else:
                if dy_t is not None:
                    dh += dy_t  # dh = dy_t + dG_{t+1}·Uᵀ
                dc *= f_back[t + 1]  # the cell's path back from step t+1
                np.multiply(dh, dc_dh[t], out=dc_h)
                dc += dc_h  # dc = dh * o * (1 - tanh²c_t) + dc_{t+1} * f_{t+1}
            # -- step t's gate deltas -----------------------------------------------------------------
            d = dG[t].reshape(N, 4, u)  # a view: dG is contiguous
            d[:, :3] *= dc[:, None, :]  # dG_i, dG_f, dG_g
            d[:, 3] *= dh  # dG_o
            # -- end of step t's gate deltas ------------------------------------------------------------
            self._dh_prev(dG[t], Ut, dh, t)  # dh_{t-1} (before adding dy_{t-1})
            self._dWU_chunk(dG, t)
            if self._cut(t):
                dc[...] = 0
        self.initial_state_grads = [dh.copy(), dc * f_back[0]] if self._given else None
        return self._closing_gemms(dG)

    def get_config(self):
        return super().get_config() | {"unit_forget_bias": self.unit_forget_bias}


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014) with the reset gate applied after the matrix product, h_0 = 0 by default.

    Keras' ``reset_after=True`` (its default) and ``torch.nn.GRU``. Columns in Keras' order z, r, n
    (update, reset, candidate); the bias is (2, 3U): row 0 on the input side, row 1 on the recurrent side::

        [z r] = σ(x_t·W[:, :2U] + b[0, :2U] + h_{t-1}·U[:, :2U] + b[1, :2U])
        n     = tanh(x_t·W[:, 2U:] + b[0, 2U:] + r * (h_{t-1}·U[:, 2U:] + b[1, 2U:]))
        h_t   = z * h_{t-1} + (1 - z) * n

    Back through time, with ``dh = dy_t + dGh_{t+1}·Uᵀ + dh_{t+1} * z_{t+1}``::

        dG_n = dh * (1-z) * (1-n²)      dG_z = dh * (h_{t-1} - n) * z(1-z)
        dG_r = dG_n * hn * r(1-r)       with hn = h_{t-1}·U[:, 2U:] + b[1, 2U:]

    The input side's deltas are ``dGx = [dG_z, dG_r, dG_n]``, the recurrent side's
    ``dGh = [dG_z, dG_r, dG_n * r]``. Torch's gate order is r, z, n: ``weight_ih_l0 = W[:, P]ᵀ``,
    ``weight_hh_l0 = U[:, P]ᵀ``, ``bias_ih_l0 = b[0, P]``, ``bias_hh_l0 = b[1, P]`` with
    ``P = [U:2U, 0:U, 2U:3U]``.

    Shapes: ``x (N, T, C)``, ``W (C, 3U)``, ``U (U, 3U)``, ``b (2, 3U)``.

    Parameters
    ----------
    units, return_sequences, kernel_initializer, recurrent_initializer, bias_initializer
        As in :class:`LSTM`.
    return_state, stateful, batch_size, bptt
        As in :class:`SimpleRNN`; ``layer(x, initial_state=[h])`` returns ``[output, h_T]``.
    reset_after : bool
        Only True (Keras' default, PyTorch's formula) is implemented.
    """

    gates = 3
    one_dWU = False  # its recurrent side's deltas dGh differ from the input side's dGx

    def __init__(self, units: int, return_sequences: bool = False, reset_after: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 name: str | None = None, *, return_state: bool = False, stateful: bool = False,
                 batch_size: int | None = None, bptt: int | None = None) -> None:
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer, bias_initializer, name,
                         return_state=return_state, stateful=stateful, batch_size=batch_size, bptt=bptt)
        if reset_after is not True:
            raise ConfigError(f"GRU implements reset_after=True only (Keras' default and torch.nn.GRU's formula); "
                              f"received reset_after={reset_after!r}")
        self.reset_after = True

    def bias_shape(self) -> tuple:
        return (2, 3 * self.units)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        u = self.units
        fused = recurrent_kernels.applies(self, self.params["U"])  # numba: the same arithmetic in fewer passes
        A = self._input_projection(x, add_bias=not fused)  # (T, N, 3U): x_t·W + b[0], becomes the gates [z r n]
        T, N, _ = A.shape
        H, Uh, b_h, keep = self._states("H", T, N), self.params["U"], self.params["b"][1], self._keep
        hU = buffer(self, "hU", (T, N, 3 * u), self.dtype)  # h_{t-1}·U + b[1]; its n part is needed backward
        r_hn = buffer(self, "r_hn", (N, u), self.dtype)
        for t in range(T):
            # -- step t: gates, candidate, hidden state ----------------------------------------------
            a, h = A[t], hU[t]  # (N, 3U)
            np.matmul(H[t], Uh, out=h)
            if fused:
                recurrent_kernels.gru_step(a, self.params["b"][0], h, b_h, H[t], H[t + 1])  # bit-identical
            else:
                h += b_h
                zr, n = a[:, :2 * u], a[:, 2 * u:]
                zr += h[:, :2 * u]
                sigmoid_(zr)  # update and reset gates
                z, r = a[:, :u], a[:, u:2 * u]
                np.multiply(r, h[:, 2 * u:], out=r_hn)
                n += r_hn
                np.tanh(n, out=n)  # candidate
                np.subtract(H[t], n, out=H[t + 1])
                H[t + 1] *= z
                H[t + 1] += n  # hidden state: h_t = n + z * (h_{t-1} - n)
            # -- end of step t -------------------------------------------------------------------
            if keep is not None:
                np.copyto(H[t + 1], H[t], where=keep[t])  # a masked step keeps the state
        self.A, self.H, self.hU = A, H, hU
        self._end(H[-1])
        return self._output(H)

    def backward(self, dy: np.ndarray, dstates=None) -> np.ndarray | None:
        if self._keep is None and dstates is None and recurrent_kernels.applies(self, self.A, dy):
            return recurrent_kernels.gru_backward(self, dy)  # the same arithmetic, one kernel a step
        u = self.units
        A, H, hn = self.A, self.H, self.hU[..., 2 * u:]
        T, N, _ = A.shape
        z, r, n = A[..., :u], A[..., u:2 * u], A[..., 2 * u:]
        # what each delta is multiplied by, from the forward alone: every step at once
        dGx = buffer(self, "dGx", A.shape, self.dtype)  # (T, N, 3U); holds these factors, then the deltas
        dGh = buffer(self, "dGh", A.shape, self.dtype)  # the same for the recurrent side; first scratch space
        h_n, scratch = dGh[..., :u], dGh[..., u:2 * u]
        np.subtract(H[:-1], n, out=h_n)
        times_slope(h_n, z, dGx[..., :u], scratch)  # ∂h/∂z_z = (h_{t-1} - n) * z(1-z)
        times_slope(hn, r, dGx[..., u:2 * u], scratch)  # ∂n_pre/∂z_r = hn * r(1-r)
        np.subtract(1, z, out=h_n)
        times_slope(h_n, n, dGx[..., 2 * u:], scratch, tanh=True)  # ∂h/∂z_n = (1-z) * (1-n²)
        z_back = z  # what dh_t is multiplied by on the direct path to h_{t-1}
        if self._keep is not None:  # a masked step: no gate gradient; dh passes through unchanged
            np.copyto(dGx, 0, where=self._keep)
            z_back = buffer(self, "z_back", z.shape, self.dtype)
            np.copyto(z_back, z)
            np.copyto(z_back, 1, where=self._keep)
        Ut = self.params["U"].T
        dh = buffer(self, "dh", (N, u), self.dtype)
        back = buffer(self, "back", (N, u), self.dtype)
        for t in reversed(range(T)):
            dy_t = self._dy_at(dy, t, T)
            if t == T - 1:
                dh[...] = dy_t
                self._add_dstate(dh, dstates, 0, N)  # dL/dh_T from the returned state
            else:  # dh = dy_t + dGh_{t+1}·Uᵀ + dh_{t+1} * z_{t+1}, the last term already in dh
                if not self._cut(t + 1):
                    np.matmul(dGh[t + 1], Ut, out=back)
                    dh += back
                if dy_t is not None:
                    dh += dy_t
            # -- step t's gate deltas -----------------------------------------------------------------
            gx, gh = dGx[t], dGh[t]  # (N, 3U): this step's deltas, input and recurrent side
            gx[:, :u] *= dh  # dG_z
            gx[:, 2 * u:] *= dh  # dG_n
            gx[:, u:2 * u] *= gx[:, 2 * u:]  # dG_r
            gh[...] = gx
            gh[:, 2 * u:] *= r[t]  # the recurrent side sees r * (h·U_n + b_n)
            # -- end of step t's gate deltas ------------------------------------------------------------
            if self._cut(t):
                dh[...] = 0  # truncated BPTT: nothing reaches h_{t-1} from step t
            else:
                dh *= z_back[t]  # the direct path h_{t-1} -> h_t; the rest is added at step t-1
        if self._given:  # dL/dh_0: the direct path is in dh; add step 0's recurrent side
            np.matmul(dGh[0], Ut, out=back)
            self.initial_state_grads = [dh + back]
        else:
            self.initial_state_grads = None
        return self._closing_gemms(dGx, dGh)

    def get_config(self):
        return super().get_config() | {"reset_after": self.reset_after}
