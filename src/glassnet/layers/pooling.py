"""Pooling over sequences (N, T, C) and images (N, H, W, C), channels last, as in Keras.

Local pooling slides a ``pool_size`` window with step ``strides`` (default: ``pool_size``) over the
spatial axes, like a convolution without weights, and reuses its strided-window view and col2im::

    max:      z[n, o, c] = max_k  xp[n, o·s + k, c]       dx gets dz at the arg max of each window
    average:  z[n, o, c] = mean_k x[n, o·s + k, c]        dx gets dz / count on every window element

With ``padding="same"`` the padded cells never count: max pooling pads with -inf and average pooling
divides by the number of real cells in each window (TensorFlow's rule, and PyTorch's with
``count_include_pad=False``). Global average pooling averages over every spatial axis.
"""

from __future__ import annotations

import numpy as np

from ..errors import invalid_value
from .base import Layer, _move
from .conv import (
    buffer,
    check_input_rank,
    check_output_length,
    col2im,
    conv_output_length,
    crop,
    int_tuple,
    pad,
    padded_shape,
    sliding_windows,
)

__all__ = [
    "AveragePool1D",
    "AveragePool2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "MaxPool1D",
    "MaxPool2D",
    "pool_naive_backward",
    "pool_naive_forward",
]

_AXES = {1: "(N, T, C)", 2: "(N, H, W, C)"}


class _Pool(Layer):
    """Shared body of the local pooling layers; ``rank`` is the number of spatial axes."""

    rank = 1
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None) -> None:
        super().__init__(name)
        self.pool_size = int_tuple("pool_size", pool_size, self.rank)
        self.strides = self.pool_size if strides is None else int_tuple("strides", strides, self.rank)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise invalid_value("padding", padding, '"valid" or "same"')
        self.padding = padding.lower()

    def _geometry(self, input_shape):
        g = [conv_output_length(n, p, s, 1, self.padding)
             for n, p, s in zip(input_shape[:-1], self.pool_size, self.strides)]
        return tuple(o for o, _, _ in g), tuple((lo, hi) for _, lo, hi in g)

    def compute_output_shape(self, input_shape):
        return self._geometry(input_shape)[0] + (input_shape[-1],)

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        check_input_rank(self, input_shape, self.rank, _AXES[self.rank])
        out, self.pads = self._geometry(input_shape)
        check_output_length(self, input_shape, out, f"pool_size={self.pool_size} with padding={self.padding!r}")
        if self.mode == "average":  # real (unpadded) cells per window, (*out, 1)
            ones = np.ones((1, *input_shape[:-1], 1), dtype=dtype)
            xp = np.pad(ones, ((0, 0), *self.pads, (0, 0)))
            windows = sliding_windows(xp, self.pool_size, self.strides, (1,) * self.rank, out)
            self.counts = windows.sum(axis=tuple(range(1 + self.rank, 1 + 2 * self.rank)))[0]
        return super().build(input_shape, rng, dtype)

    def move_to(self, device) -> None:
        super().move_to(device)
        if self.mode == "average":
            self.counts = _move(self.counts, device.module)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != self.rank + 2:
            check_input_rank(self, x.shape[1:], self.rank, _AXES[self.rank])
        self.x_shape = x.shape
        out = self.output_shape[:-1]
        fill = -np.inf if self.mode == "max" else 0.0
        xp = pad(self, x, self.pads, fill)  # (N, *padded, C)
        windows = sliding_windows(xp, self.pool_size, self.strides, (1,) * self.rank, out)  # (N, *out, *P, C)
        if self.mode == "average":
            self.z = windows.sum(axis=tuple(range(1 + self.rank, 1 + 2 * self.rank))) / self.counts
            return self.z
        cols = buffer(self, "cols", windows.shape, x.dtype)
        np.copyto(cols, windows)
        cols = cols.reshape(*cols.shape[:1 + self.rank], -1, x.shape[-1])  # (N, *out, P, C)
        self.argmax = cols.argmax(axis=-2)[..., None, :]  # (N, *out, 1, C): where each max came from
        self.z = np.take_along_axis(cols, self.argmax, axis=-2)[..., 0, :]  # (N, *out, C)
        return self.z

    def backward(self, dy: np.ndarray) -> np.ndarray:
        N, C = self.x_shape[0], self.x_shape[-1]
        out = dy.shape[1:-1]
        full = (N, *out, *self.pool_size, C)
        if self.mode == "average":
            g = dy / self.counts  # (N, *out, C)
            dcols = np.broadcast_to(g.reshape(N, *out, *(1,) * self.rank, C), full)
        else:
            dcols = self.xp.zeros((N, *out, int(np.prod(self.pool_size)), C), dtype=dy.dtype)
            np.put_along_axis(dcols, self.argmax, dy[..., None, :], axis=-2)
            dcols = dcols.reshape(full)
        dxp = col2im(dcols, padded_shape(self.x_shape, self.pads), self.strides, (1,) * self.rank)
        return crop(dxp, self.pads)  # (N, *in, C)

    def get_config(self):
        size = list(self.pool_size) if self.rank > 1 else self.pool_size[0]
        strides = list(self.strides) if self.rank > 1 else self.strides[0]
        return {"pool_size": size, "strides": strides, "padding": self.padding, "name": self.name}

    def extra_repr(self):
        c = self.get_config()
        text = f"pool_size={c['pool_size']}"
        if self.strides != self.pool_size:
            text += f", strides={c['strides']}"
        return text + (f", padding={self.padding!r}" if self.padding != "valid" else "")


class MaxPool1D(_Pool):
    """Max over windows of ``pool_size`` steps, every ``strides`` steps: (N, T, C) -> (N, T_out, C)."""

    rank, mode = 1, "max"


class MaxPool2D(_Pool):
    """Max over ``pool_size`` (int or pair) windows: (N, H, W, C) -> (N, H_out, W_out, C)."""

    rank, mode = 2, "max"


class AveragePool1D(_Pool):
    """Mean over windows of ``pool_size`` steps (padded cells excluded): (N, T, C) -> (N, T_out, C)."""

    rank, mode = 1, "average"


class AveragePool2D(_Pool):
    """Mean over ``pool_size`` windows (padded cells excluded): (N, H, W, C) -> (N, H_out, W_out, C)."""

    rank, mode = 2, "average"


class _GlobalAveragePooling(Layer):
    """``z[n, c] = mean over every spatial position of x[n, ..., c]``; ``dx = dz / (positions)`` everywhere."""

    rank = 1

    def compute_output_shape(self, input_shape):
        return (input_shape[-1],)

    def build(self, input_shape, rng, dtype=np.float32):
        check_input_rank(self, tuple(input_shape), self.rank, _AXES[self.rank])
        return super().build(input_shape, rng, dtype)

    def forward(self, x, training=False):
        if x.ndim != self.rank + 2:
            check_input_rank(self, x.shape[1:], self.rank, _AXES[self.rank])
        self.x_shape = x.shape
        return x.mean(axis=tuple(range(1, 1 + self.rank)))  # (N, C)

    def backward(self, dy):
        dx = self.xp.empty(self.x_shape, dtype=dy.dtype)
        positions = int(np.prod(self.x_shape[1:-1]))
        dx[...] = (dy / dy.dtype.type(positions)).reshape(dy.shape[0], *(1,) * self.rank, dy.shape[-1])
        return dx


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """Mean over time: (N, T, C) -> (N, C)."""

    rank = 1


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    rank = 2


# -- naive twins: one output position at a time, windows clipped to the real input -------------------
def _window(o, pool_size, strides, pads, shape):
    """Slices of the unpadded input covered by output position ``o``."""
    return tuple(slice(max(i * s - lo, 0), min(i * s - lo + p, n))
                 for i, p, s, (lo, _), n in zip(o, pool_size, strides, pads, shape))


def pool_naive_forward(x, pool_size, strides, pads, mode):
    """Max or mean of each window of ``x (N, *spatial, C)``, padded cells left out; -> (N, *out, C)."""
    r = len(pool_size)
    out = [(n + lo + hi - p) // s + 1 for n, p, s, (lo, hi) in zip(x.shape[1:-1], pool_size, strides, pads)]
    z = np.empty((x.shape[0], *out, x.shape[-1]), dtype=x.dtype)
    for o in np.ndindex(*out):
        w = x[(slice(None),) + _window(o, pool_size, strides, pads, x.shape[1:-1])]
        z[(slice(None),) + o] = w.max(axis=tuple(range(1, 1 + r))) if mode == "max" else w.mean(
            axis=tuple(range(1, 1 + r)))
    return z


def pool_naive_backward(dz, x, pool_size, strides, pads, mode):
    """dx of :func:`pool_naive_forward` for ``dz (N, *out, C)``."""
    dx = np.zeros_like(x)
    for o in np.ndindex(*dz.shape[1:-1]):
        where = (slice(None),) + _window(o, pool_size, strides, pads, x.shape[1:-1])
        w, g = x[where], dz[(slice(None),) + o]  # (N, *window, C), (N, C)
        flat = w.reshape(w.shape[0], -1, w.shape[-1])
        if mode == "max":
            dflat = np.zeros_like(flat)
            np.put_along_axis(dflat, flat.argmax(axis=1)[:, None, :], g[:, None, :], axis=1)
        else:
            dflat = np.broadcast_to(g[:, None, :] / flat.shape[1], flat.shape)
        dx[where] += dflat.reshape(w.shape)
    return dx
