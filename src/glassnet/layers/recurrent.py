"""Recurrent layers over sequences (N, T, C): SimpleRNN, LSTM and GRU, trained by backpropagation through time.

All three follow one plan. Inside, arrays are time major, so every step reads and writes contiguous rows::

    xt = x as (T, N, C)
    A  = xt·W + b                      # ONE GEMM for every time step: (T·N, C)·(C, G·U)
    for t = 0 .. T-1:                  # only h_{t-1}·U is left inside the loop
        A[t] += h_{t-1}·U;  gates -> cell -> hidden state h_t
    for t = T-1 .. 0:                  # deltas back through time
        dh = dy_t + dh_next;  dG[t] = the gates' pre-activation deltas;  dh_next = dG[t]·Uᵀ
    dW = xtᵀ·dG,  dU = H_prevᵀ·dG,  db = Σ dG,  dx = dG·Wᵀ     # one GEMM each, after the loop

``G`` is the number of gates (1, 4, 3), ``U`` the units. The initial state is zero. Parameters use
Keras' layouts (``W`` = kernel (C, G·U), ``U`` = recurrent_kernel (U, G·U), ``b`` = bias); see each
class for its gate order and how it maps onto ``torch.nn``. Per-step arrays live in buffers the layer
keeps between calls (reallocated only when N or T changes), on the model's device; the dtype of the
model is kept throughout.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_bool, check_positive_int
from ..errors import ConfigError, ShapeError, invalid_value
from ..initializers import get_initializer, initializer_name
from .activations import Activation, get_activation
from .base import Layer
from .conv import buffer, check_input_rank

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


class _Recurrent(Layer):
    """What the three layers share: settings, shapes, the one-GEMM input projection, the closing GEMMs."""

    gates = 1  # column blocks of W, U and b

    def __init__(self, units: int, return_sequences: bool = False, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", name: str | None = None) -> None:
        super().__init__(name)
        self.units = check_positive_int("units", units)
        self.return_sequences = check_bool("return_sequences", return_sequences)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.recurrent_initializer = get_initializer(recurrent_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.need_input_grad = True  # the model turns this off for its first layer

    # -- shapes and parameters ----------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def bias_shape(self) -> tuple:
        """Shape of the bias ``b``: ``(G·U,)`` (the GRU's is ``(2, 3U)``)."""
        return (self.gates * self.units,)

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        check_input_rank(self, input_shape, 1, "(N, T, C)")
        width = self.gates * self.units
        self.params = {"W": self.kernel_initializer((input_shape[-1], width), rng, dtype),
                       "U": self.recurrent_initializer((self.units, width), rng, dtype),
                       "b": self.bias_initializer(self.bias_shape(), rng, dtype)}
        self._new_grads()
        return super().build(input_shape, rng, dtype)

    # -- the pieces every forward and backward uses --------------------------------------------------
    def _input_projection(self, x: np.ndarray) -> np.ndarray:
        """Check x (N, T, C), keep it time major, return ``A = xt·W + b`` (T, N, G·U) for all steps at once."""
        where = f'Input 0 of layer "{self.display_name}" ({type(self).__name__}) is incompatible with the layer'
        if x.ndim != 3:
            raise ShapeError(f"{where}: expected ndim=3 (N, T, C), found ndim={x.ndim}. "
                             f"Full shape received: {tuple(x.shape)}")
        if x.shape[2] != self.input_shape[-1] or x.shape[1] < 1:
            raise ShapeError(f"{where}: expected (N, T, C) with T >= 1 and C={self.input_shape[-1]}. "
                             f"Full shape received: {tuple(x.shape)}")
        N, T, C = x.shape
        W, b = self.params["W"], self.params["b"]
        xt = buffer(self, "xt", (T, N, C), self.dtype)
        np.copyto(xt, x.transpose(1, 0, 2))  # (T, N, C), in the layer's dtype
        A = buffer(self, "A", (T, N, W.shape[1]), self.dtype)
        np.matmul(xt.reshape(T * N, C), W, out=A.reshape(T * N, -1))  # (T·N, G·U): the big GEMM
        A += b if b.ndim == 1 else b[0]  # the GRU adds its recurrent bias inside the loop
        self.xt = xt
        return A

    def _states(self, key: str, T: int, N: int) -> np.ndarray:
        """A (T+1, N, U) buffer whose row 0 is the zero initial state; row t+1 holds step t's state."""
        s = buffer(self, key, (T + 1, N, self.units), self.dtype)
        s[0] = 0
        return s

    def _output(self, H: np.ndarray) -> np.ndarray:
        """h_T (N, U), or every h_t as (N, T, U); a fresh array (the buffers are reused by the next call)."""
        self.a = H[1:].transpose(1, 0, 2).copy(order="C") if self.return_sequences else H[-1].copy()
        return self.a

    def _dy_at(self, dy: np.ndarray, t: int, T: int) -> np.ndarray | None:
        """dL/dh_t from the layer's output: dy[:, t] for sequences, dy at the last step only otherwise."""
        if self.return_sequences:
            return dy[:, t]
        return dy if t == T - 1 else None

    def _closing_gemms(self, dGx: np.ndarray, dGh: np.ndarray | None = None) -> np.ndarray | None:
        """dW = xtᵀ·dGx, dU = H_prevᵀ·dGh, db = Σ dG and dx = dGx·Wᵀ, one GEMM each over all steps.

        ``dGx`` (T, N, G·U) are the deltas of the input side's pre-activations, ``dGh`` those of the
        recurrent side's (the same array except in the GRU's candidate).
        """
        dGh = dGx if dGh is None else dGh
        T, N, width = dGx.shape
        xt, H_prev = self.xt.reshape(T * N, -1), self.H[:-1].reshape(T * N, -1)  # (T·N, C), (T·N, U)
        dGx2, dGh2 = dGx.reshape(T * N, width), dGh.reshape(T * N, width)
        np.matmul(xt.T, dGx2, out=self.grads["W"])  # (C, G·U)
        np.matmul(H_prev.T, dGh2, out=self.grads["U"])  # (U, G·U)
        db = self.grads["b"]
        if db.ndim == 1:
            np.sum(dGx2, axis=0, out=db)  # (G·U,)
        else:
            np.sum(dGx2, axis=0, out=db[0])
            np.sum(dGh2, axis=0, out=db[1])
        if not self.need_input_grad:
            return None
        dxt = (dGx2 @ self.params["W"].T).reshape(T, N, -1)  # (T, N, C)
        return dxt.transpose(1, 0, 2)  # (N, T, C)

    # -- config ---------------------------------------------------------------------------------------
    def get_config(self):
        return {"units": self.units, "return_sequences": self.return_sequences,
                "kernel_initializer": initializer_name(self.kernel_initializer),
                "recurrent_initializer": initializer_name(self.recurrent_initializer),
                "bias_initializer": initializer_name(self.bias_initializer), "name": self.name}

    def extra_repr(self):
        return f"{self.units}" + (", return_sequences=True" if self.return_sequences else "")


class SimpleRNN(_Recurrent):
    """Fully connected recurrence ``h_t = f(x_t·W + h_{t-1}·U + b)``, h_0 = 0.

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
    """

    gates = 1

    def __init__(self, units: int, activation="tanh", return_sequences: bool = False,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 name: str | None = None) -> None:
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer, bias_initializer, name)
        self.activation: Activation = get_activation(activation)
        if self.activation.key == "softmax":
            raise invalid_value("activation", "softmax", "an elementwise activation")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        Z = self._input_projection(x)  # (T, N, U): x_t·W + b
        T, N, _ = Z.shape
        H, Uh = self._states("H", T, N), self.params["U"]
        hU = buffer(self, "hU", (N, self.units), self.dtype)
        f = self.activation
        for t in range(T):
            np.matmul(H[t], Uh, out=hU)
            Z[t] += hU  # z_t = x_t·W + h_{t-1}·U + b
            if f.key == "tanh":  # the default, in place
                np.tanh(Z[t], out=H[t + 1])
            else:
                H[t + 1] = f.f(Z[t])  # h_t
        self.Z, self.H = Z, H
        return self._output(H)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        T, N, _ = self.Z.shape
        dZ = self.activation.slope(self.Z, self.H[1:])  # (T, N, U): f'(z_t), every step at once
        Ut = self.params["U"].T
        dh_next = buffer(self, "dh_next", (N, self.units), self.dtype)
        for t in reversed(range(T)):
            dy_t = self._dy_at(dy, t, T)
            if t < T - 1:  # dh_t = dy_t + dz_{t+1}·Uᵀ
                dZ[t] *= dh_next if dy_t is None else dh_next + dy_t
            else:
                dZ[t] *= dy_t
            np.matmul(dZ[t], Ut, out=dh_next)
        return self._closing_gemms(dZ)

    def get_config(self):
        act = self.activation.get_config() | {"class": type(self.activation).__name__}
        return super().get_config() | {"activation": act}

    def extra_repr(self):
        act = "" if self.activation.key == "tanh" else f", activation={self.activation.key!r}"
        return super().extra_repr() + act


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate), h_0 = c_0 = 0.

    Gates, in Keras' column order i, f, g (Keras' "c"), o — the same order as ``torch.nn.LSTM``::

        [i f g o] = [σ σ tanh σ](x_t·W + h_{t-1}·U + b)     # (N, 4U)
        c_t = f * c_{t-1} + i * g                            # cell
        h_t = o * tanh(c_t)                                  # hidden state

    Back through time, with ``dh = dy_t + dG_{t+1}·Uᵀ`` and ``dc = dh * o * (1 - tanh²c_t) + dc_{t+1} * f_{t+1}``::

        dG_i = dc * g * i(1-i)      dG_f = dc * c_{t-1} * f(1-f)
        dG_g = dc * i * (1-g²)      dG_o = dh * tanh(c_t) * o(1-o)

    where every factor right of ``dc`` or ``dh`` comes from the forward alone, so it is computed for
    all steps at once before the loop. Torch: ``nn.LSTM(C, U, batch_first=True)`` with
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
    """

    gates = 4

    def __init__(self, units: int, return_sequences: bool = False, unit_forget_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 name: str | None = None) -> None:
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer, bias_initializer, name)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape, rng, dtype=np.float32):
        shape = super().build(input_shape, rng, dtype)
        if self.unit_forget_bias:
            self.params["b"][self.units:2 * self.units] = 1
        return shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        u = self.units
        A = self._input_projection(x)  # (T, N, 4U): x_t·W + b, becomes the gates [i f g o] step by step
        T, N, _ = A.shape
        H, C, Uh = self._states("H", T, N), self._states("C", T, N), self.params["U"]
        tanh_c = buffer(self, "tanh_c", (T, N, u), self.dtype)
        hU, ig = buffer(self, "hU", (N, 4 * u), self.dtype), buffer(self, "ig", (N, u), self.dtype)
        # all four gates with one tanh: σ(z) = tanh(z/2)/2 + 1/2, so [σ σ tanh σ](z) = tanh(z·s)·s + 1 - s
        s = self.xp.full(4 * u, 0.5, self.dtype)  # (4U,), on the model's device
        s[2 * u:3 * u] = 1
        one_minus_s = 1 - s
        for t in range(T):
            a = A[t]  # (N, 4U)
            np.matmul(H[t], Uh, out=hU)
            a += hU  # pre-activations x_t·W + h_{t-1}·U + b
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
        self.A, self.H, self.C, self.tanh_c = A, H, C, tanh_c
        return self._output(H)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
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
        Ut = self.params["U"].T
        dh, dc, dc_h = (buffer(self, k, (N, u), self.dtype) for k in ("dh", "dc", "dc_h"))
        for t in reversed(range(T)):
            dy_t = self._dy_at(dy, t, T)
            if t == T - 1:
                dh[...] = dy_t
                np.multiply(dh, dc_dh[t], out=dc)
            else:
                if dy_t is not None:
                    dh += dy_t  # dh = dy_t + dG_{t+1}·Uᵀ
                dc *= f[t + 1]  # the cell's path back from step t+1
                np.multiply(dh, dc_dh[t], out=dc_h)
                dc += dc_h  # dc = dh * o * (1 - tanh²c_t) + dc_{t+1} * f_{t+1}
            d = dG[t].reshape(N, 4, u)  # a view: dG is contiguous
            d[:, :3] *= dc[:, None, :]  # dG_i, dG_f, dG_g
            d[:, 3] *= dh  # dG_o
            np.matmul(dG[t], Ut, out=dh)  # dh_{t-1} (before adding dy_{t-1})
        return self._closing_gemms(dG)

    def get_config(self):
        return super().get_config() | {"unit_forget_bias": self.unit_forget_bias}


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014) with the reset gate applied after the matrix product, h_0 = 0.

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
    reset_after : bool
        Only True (Keras' default, PyTorch's formula) is implemented.
    """

    gates = 3

    def __init__(self, units: int, return_sequences: bool = False, reset_after: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 name: str | None = None) -> None:
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer, bias_initializer, name)
        if reset_after is not True:
            raise ConfigError(f"GRU implements reset_after=True only (Keras' default and torch.nn.GRU's formula); "
                              f"received reset_after={reset_after!r}")
        self.reset_after = True

    def bias_shape(self) -> tuple:
        return (2, 3 * self.units)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        u = self.units
        A = self._input_projection(x)  # (T, N, 3U): x_t·W + b[0], becomes the gates [z r n] step by step
        T, N, _ = A.shape
        H, Uh, b_h = self._states("H", T, N), self.params["U"], self.params["b"][1]
        hU = buffer(self, "hU", (T, N, 3 * u), self.dtype)  # h_{t-1}·U + b[1]; its n part is needed backward
        r_hn = buffer(self, "r_hn", (N, u), self.dtype)
        for t in range(T):
            a, h = A[t], hU[t]  # (N, 3U)
            np.matmul(H[t], Uh, out=h)
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
        self.A, self.H, self.hU = A, H, hU
        return self._output(H)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
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
        Ut = self.params["U"].T
        dh = buffer(self, "dh", (N, u), self.dtype)
        back = buffer(self, "back", (N, u), self.dtype)
        for t in reversed(range(T)):
            dy_t = self._dy_at(dy, t, T)
            if t == T - 1:
                dh[...] = dy_t
            else:  # dh = dy_t + dGh_{t+1}·Uᵀ + dh_{t+1} * z_{t+1}, the last term already in dh
                np.matmul(dGh[t + 1], Ut, out=back)
                dh += back
                if dy_t is not None:
                    dh += dy_t
            gx, gh = dGx[t], dGh[t]  # (N, 3U): this step's deltas, input and recurrent side
            gx[:, :u] *= dh  # dG_z
            gx[:, 2 * u:] *= dh  # dG_n
            gx[:, u:2 * u] *= gx[:, 2 * u:]  # dG_r
            gh[...] = gx
            gh[:, 2 * u:] *= r[t]  # the recurrent side sees r * (h·U_n + b_n)
            dh *= z[t]  # the direct path h_{t-1} -> h_t; the rest is added at step t-1
        return self._closing_gemms(dGx, dGh)

    def get_config(self):
        return super().get_config() | {"reset_after": self.reset_after}
