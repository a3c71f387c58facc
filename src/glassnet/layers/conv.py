"""Convolutions over sequences and images, channels last: Conv1D on (N, T, C), Conv2D on (N, H, W, C).

The fast path is im2col: a read-only strided view lays every receptive field out as one row, a single
copy makes it contiguous, and one GEMM does the whole layer::

    cols[n, o, k, c] = xp[n, o·s + k·d, c]           # (N, *out, *K, C_in)
    Z = cols · W + b                                 # (N·out, K·C_in) · (K·C_in, C_out)
    dW = colsᵀ · dZ,  db = Σ dZ,  dcols = dZ · Wᵀ   # two more GEMMs
    dxp[n, o·s + k·d, c] += dcols[n, o, k, c]        # col2im: one strided add per kernel offset

``xp`` is the input padded as Keras pads it ("same": ``ceil(n / s)`` outputs, the odd pixel of padding
at the end; "causal" (Conv1D): all padding at the start). The naive loop twins
(:func:`conv1d_naive_forward` ... :func:`conv2d_naive_backward`) compute the same numbers one output
position at a time and are the tests' reference.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module, as_strided
from ..checks import check_positive_int, is_int
from ..errors import ShapeError, invalid_value
from .activations import Linear
from .base import Layer
from .kernel import KernelLayer

__all__ = [
    "Conv1D",
    "Conv2D",
    "col2im",
    "conv1d_naive_backward",
    "conv1d_naive_forward",
    "conv2d_naive_backward",
    "conv2d_naive_forward",
    "conv_output_length",
    "sliding_windows",
]


# -- geometry shared with the pooling layers ------------------------------------------------------------
def conv_output_length(n: int, k: int, s: int, d: int, padding: str) -> tuple[int, int, int]:
    """(outputs, padding before, padding after) along one axis of length ``n`` (Keras' rules)."""
    span = (k - 1) * d + 1  # extent of a dilated kernel
    if padding == "valid":
        return (n - span) // s + 1, 0, 0
    if padding == "causal":
        return (n - 1) // s + 1, span - 1, 0
    out = -(-n // s)  # "same": ceil(n / s)
    total = max((out - 1) * s + span - n, 0)
    return out, total // 2, total - total // 2


def sliding_windows(xp: np.ndarray, kernel, strides, dilation, out) -> np.ndarray:
    """Read-only view ``(N, *out, *kernel, C)`` of every receptive field of ``xp (N, *spatial, C)``."""
    s_n, *s_sp, s_c = xp.strides
    shape = (xp.shape[0], *out, *kernel, xp.shape[-1])
    steps = (s_n, *(a * s for a, s in zip(s_sp, strides)), *(a * d for a, d in zip(s_sp, dilation)), s_c)
    return as_strided(xp, shape, steps)


def col2im(dcols: np.ndarray, padded_shape, strides, dilation) -> np.ndarray:
    """Sum ``dcols (N, *out, *kernel, C)`` back onto the padded input: one strided add per kernel offset."""
    r = len(strides)
    out, kernel = dcols.shape[1:1 + r], dcols.shape[1 + r:1 + 2 * r]
    dxp = array_module(dcols).zeros(padded_shape, dtype=dcols.dtype)
    lead = (slice(None),) * (1 + r)
    for offs in np.ndindex(*kernel):
        target = tuple(slice(k * d, k * d + s * (o - 1) + 1, s) for k, d, s, o in zip(offs, dilation, strides, out))
        dxp[(slice(None),) + target] += dcols[lead + offs]  # (N, *out, C)
    return dxp


def crop(dxp: np.ndarray, pads) -> np.ndarray:
    """Undo :func:`pad`: the unpadded part of ``dxp``."""
    return dxp[(slice(None),) + tuple(slice(lo, dxp.shape[1 + i] - hi) for i, (lo, hi) in enumerate(pads))]


def buffer(layer: Layer, key: str, shape, dtype, fill=None) -> np.ndarray:
    """A scratch array the layer keeps between calls (reallocated only when the shape or dtype changes)."""
    buffers = layer.__dict__.setdefault("_buffers", {})
    buf = buffers.get(key)
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
        xp = layer.xp  # the module of the layer's device
        buf = buffers[key] = xp.empty(shape, dtype) if fill is None else xp.full(shape, fill, dtype)
    return buf


def padded_shape(x_shape, pads) -> tuple:
    return (x_shape[0], *(n + lo + hi for n, (lo, hi) in zip(x_shape[1:-1], pads)), x_shape[-1])


def pad(layer: Layer, x: np.ndarray, pads, fill=0.0) -> np.ndarray:
    """``x`` padded with ``fill`` along its spatial axes, written into a buffer the layer keeps."""
    if not any(lo or hi for lo, hi in pads):
        return x
    xp = buffer(layer, f"xp{fill}", padded_shape(x.shape, pads), x.dtype, fill)  # the borders keep their fill
    xp[(slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[1:-1], pads))] = x
    return xp


def check_input_rank(layer: Layer, input_shape, rank: int, axes: str) -> None:
    """ShapeError, worded as Keras words it, unless inputs are (N, *rank spatial axes, C)."""
    if len(input_shape) != rank + 1 or any(d is None or d < 1 for d in input_shape):
        raise ShapeError(
            f'Input 0 of layer "{layer.display_name}" ({type(layer).__name__}) is incompatible with the layer: '
            f"expected ndim={rank + 2} {axes}, found ndim={len(input_shape) + 1}. "
            f"Full shape received: {(None, *input_shape)}"
        )


def check_output_length(layer: Layer, input_shape, out, what: str) -> None:
    if any(o < 1 for o in out):
        raise ShapeError(
            f'Layer "{layer.display_name}" ({type(layer).__name__}): {what} cannot slide over inputs of shape '
            f"{(None, *input_shape)}: it would produce output size {tuple(out)}, with a zero or negative value "
            'in a dimension. Use padding="same" or a longer input.'
        )


def int_tuple(name: str, value, rank: int, minimum: int = 1) -> tuple[int, ...]:
    """An int or a tuple of ``rank`` ints, each ≥ ``minimum``, as a tuple; else a Keras-style ConfigError."""
    values = (value,) * rank if is_int(value) else value
    try:
        ok = len(values) == rank and all(is_int(v) and v >= minimum for v in values)
    except TypeError:
        ok = False
    if not ok:
        what = "a positive integer" if rank == 1 else f"a positive integer or a tuple of {rank} positive integers"
        raise invalid_value(name, value, what)
    return tuple(int(v) for v in values)


# -- naive twins: one output position at a time (test references) -------------------------------------
def conv1d_naive_forward(x, W, b, stride=1, dilation=1, pads=(0, 0)):
    """``z[n, t] = Σ_k xp[n, t·s + k·d] · W[k] + b``; x (N, T, C), W (K, C, F) -> z (N, T_out, F)."""
    xp = np.pad(x, ((0, 0), pads, (0, 0)))
    K, _, F = W.shape
    T_out = (xp.shape[1] - (K - 1) * dilation - 1) // stride + 1
    z = np.zeros((x.shape[0], T_out, F), dtype=x.dtype)
    for n in range(x.shape[0]):
        for t in range(T_out):
            for k in range(K):
                z[n, t] += xp[n, t * stride + k * dilation] @ W[k]
    return z if b is None else z + b


def conv1d_naive_backward(dz, x, W, stride=1, dilation=1, pads=(0, 0)):
    """(dx, dW, db) of :func:`conv1d_naive_forward` for ``dz (N, T_out, F)``."""
    xp = np.pad(x, ((0, 0), pads, (0, 0)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for n in range(dz.shape[0]):
        for t in range(dz.shape[1]):
            for k in range(W.shape[0]):
                i = t * stride + k * dilation
                dW[k] += np.outer(xp[n, i], dz[n, t])  # (C, F)
                dxp[n, i] += W[k] @ dz[n, t]  # (C,)
    return dxp[:, pads[0]:xp.shape[1] - pads[1]], dW, dz.sum(axis=(0, 1))


def conv2d_naive_forward(x, W, b, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0))):
    """``z[n, i, j] = Σ_{p,q} xp[n, i·sh + p·dh, j·sw + q·dw] · W[p, q] + b``; x (N, H, W, C) -> (N, Ho, Wo, F)."""
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    KH, KW, _, F = W.shape
    Ho = (xp.shape[1] - (KH - 1) * dilation[0] - 1) // strides[0] + 1
    Wo = (xp.shape[2] - (KW - 1) * dilation[1] - 1) // strides[1] + 1
    z = np.zeros((x.shape[0], Ho, Wo, F), dtype=x.dtype)
    for n in range(x.shape[0]):
        for i in range(Ho):
            for j in range(Wo):
                for p in range(KH):
                    for q in range(KW):
                        z[n, i, j] += xp[n, i * strides[0] + p * dilation[0], j * strides[1] + q * dilation[1]] @ W[p, q]
    return z if b is None else z + b


def conv2d_naive_backward(dz, x, W, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0))):
    """(dx, dW, db) of :func:`conv2d_naive_forward` for ``dz (N, Ho, Wo, F)``."""
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for n, i, j in np.ndindex(*dz.shape[:3]):
        for p in range(W.shape[0]):
            for q in range(W.shape[1]):
                r, c = i * strides[0] + p * dilation[0], j * strides[1] + q * dilation[1]
                dW[p, q] += np.outer(xp[n, r, c], dz[n, i, j])
                dxp[n, r, c] += W[p, q] @ dz[n, i, j]
    (t, b_), (l, r_) = pads
    return dxp[:, t:xp.shape[1] - b_, l:xp.shape[2] - r_], dW, dz.sum(axis=(0, 1, 2))


# -- the layers ----------------------------------------------------------------------------------------
class _Conv(KernelLayer):
    """Shared body of Conv1D and Conv2D; ``rank`` is the number of spatial axes."""

    rank = 1
    axes = "(N, T, C)"
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, name=None) -> None:
        super().__init__(name)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = int_tuple("kernel_size", kernel_size, self.rank)
        self.strides = int_tuple("strides", strides, self.rank)
        self.dilation_rate = int_tuple("dilation_rate", dilation_rate, self.rank)
        if not isinstance(padding, str) or padding.lower() not in self.paddings:
            raise invalid_value("padding", padding, " or ".join(f'"{p}"' for p in self.paddings))
        self.padding = padding.lower()
        self._init_kernel(activation, use_bias, kernel_initializer, bias_initializer,
                          kernel_regularizer, bias_regularizer)

    def _geometry(self, input_shape):
        """Output lengths and (before, after) padding per spatial axis."""
        g = [conv_output_length(n, k, s, d, self.padding)
             for n, k, s, d in zip(input_shape[:-1], self.kernel_size, self.strides, self.dilation_rate)]
        return tuple(o for o, _, _ in g), tuple((lo, hi) for _, lo, hi in g)

    def compute_output_shape(self, input_shape):
        return self._geometry(input_shape)[0] + (self.filters,)

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        check_input_rank(self, input_shape, self.rank, self.axes)
        out, self.pads = self._geometry(input_shape)
        check_output_length(self, input_shape, out, f"kernel_size={self.kernel_size} with dilation_rate="
                                                    f"{self.dilation_rate} and padding={self.padding!r}")
        self.params = {"W": self.kernel_initializer((*self.kernel_size, input_shape[-1], self.filters), rng, dtype)}
        if self.use_bias:
            self.params["b"] = self.bias_initializer((self.filters,), rng, dtype)
        self._new_grads()
        shape = super().build(input_shape, rng, dtype)
        self.activation.build(shape, rng, dtype)
        return shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != self.rank + 2 or x.shape[1:] != self.input_shape:
            check_input_rank(self, x.shape[1:], self.rank, self.axes)
            raise ShapeError(f'Layer "{self.display_name}" was built for input shape {(None, *self.input_shape)}; '
                             f"received {(None, *x.shape[1:])}")
        W = self.params["W"]  # (*K, C_in, C_out)
        xp = pad(self, x, self.pads)  # (N, *padded, C_in)
        out = self.output_shape[:-1]
        windows = sliding_windows(xp, self.kernel_size, self.strides, self.dilation_rate, out)
        cols = buffer(self, "cols", windows.shape, x.dtype)
        np.copyto(cols, windows)  # im2col: (N, *out, *K, C_in), the one copy of the forward pass
        self.x, self.cols = x, cols
        z = cols.reshape(-1, W[..., 0].size) @ W.reshape(-1, self.filters)  # (N·out, C_out)
        z = z.reshape(x.shape[0], *out, self.filters)
        if self.use_bias:
            z += self.params["b"]
        self.z = z
        self.a = self.activation.forward(z, training)
        return self.a

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        self.da = dy  # kept for the trace: dL/dA of this layer
        return self.backward_z(self.activation.backward(dy))

    def backward_z(self, dz: np.ndarray) -> np.ndarray | None:
        """Backward from dL/dZ (used directly when the loss fuses the activation's gradient)."""
        self.dz = dz
        W, F = self.params["W"], self.filters
        cols = self.cols.reshape(-1, W[..., 0].size)  # (N·out, K·C_in)
        dz2 = dz.reshape(-1, F)  # (N·out, C_out)
        # the model's gradients are contiguous views, so the reshape below is a view written in place
        np.matmul(cols.T, dz2, out=self.grads["W"].reshape(-1, F))  # (K·C_in, C_out)
        if self.use_bias:
            np.sum(dz2, axis=0, out=self.grads["b"])  # (C_out,)
        if not self.need_input_grad:
            return None
        dcols = (dz2 @ W.reshape(-1, F).T).reshape(self.cols.shape)  # (N, *out, *K, C_in)
        dxp = col2im(dcols, padded_shape(self.x.shape, self.pads), self.strides, self.dilation_rate)
        return crop(dxp, self.pads)  # (N, *in, C_in)

    def get_config(self):
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "dilation_rate": list(self.dilation_rate),
        } | self._kernel_config()

    def extra_repr(self):
        k = self.kernel_size[0] if self.rank == 1 else self.kernel_size
        parts = [f"{self.filters}", f"kernel_size={k}"]
        if any(s != 1 for s in self.strides):
            parts.append(f"strides={self.strides[0] if self.rank == 1 else self.strides}")
        if self.padding != "valid":
            parts.append(f"padding={self.padding!r}")
        if any(d != 1 for d in self.dilation_rate):
            parts.append(f"dilation_rate={self.dilation_rate[0] if self.rank == 1 else self.dilation_rate}")
        if not isinstance(self.activation, Linear):
            parts.append(f"activation={self.activation.key!r}")
        return ", ".join(parts)


class Conv1D(_Conv):
    """1-D convolution over sequences (N, T, C_in) -> (N, T_out, filters).

    ``Z[n, t] = Σ_k X[n, t·s + k·d] · W[k] + b`` (cross-correlation, as in Keras and PyTorch), then
    ``A = f(Z)``. ``W`` has shape (kernel_size, C_in, filters), ``b`` (filters,).

    Parameters
    ----------
    filters : int
        Output channels.
    kernel_size, strides, dilation_rate : int
    padding : "valid" (no padding), "same" (``ceil(T / s)`` outputs) or "causal" (padding before the
        sequence only, so output t never sees inputs after t).
    activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        As in :class:`~glassnet.layers.Dense`.
    """

    rank = 1
    axes = "(N, T, C)"
    paddings = ("valid", "same", "causal")

    def get_config(self):
        config = super().get_config()
        for key in ("kernel_size", "strides", "dilation_rate"):
            config[key] = config[key][0]
        return config


class Conv2D(_Conv):
    """2-D convolution over images (N, H, W, C_in) -> (N, H_out, W_out, filters).

    ``Z[n, i, j] = Σ_{p,q} X[n, i·sh + p·dh, j·sw + q·dw] · W[p, q] + b``, then ``A = f(Z)``. ``W`` has
    shape (KH, KW, C_in, filters), ``b`` (filters,). ``kernel_size``, ``strides`` and ``dilation_rate``
    take an int or a pair; ``padding`` is "valid" or "same". Other parameters as in :class:`Conv1D`.
    """

    rank = 2
    axes = "(N, H, W, C)"
    paddings = ("valid", "same")

