"""Batch normalization (Ioffe & Szegedy 2015) over the channels-last axis, as Keras computes it."""

from __future__ import annotations

import numpy as np

from ..checks import check_number, is_int
from ..errors import ConfigError, ShapeError, invalid_value
from .base import Layer

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalize each channel over the batch (and every spatial axis), then scale and shift.

    Training, with statistics of the batch over all axes but the last (M values per channel)::

        mu = mean(x),  var = mean((x - mu)²)            # biased variance, as Keras uses
        x̂ = (x - mu) / sqrt(var + eps),   y = gamma · x̂ + beta
        moving_mean = momentum · moving_mean + (1 - momentum) · mu      (same for moving_var with var)

    Inference uses ``moving_mean`` and ``moving_var`` in place of ``mu`` and ``var``. Backward in
    training (the compact form)::

        dbeta = Σ dy,   dgamma = Σ dy · x̂
        dx = gamma / (M · sqrt(var + eps)) · (M · dy - dbeta - x̂ · dgamma)

    PyTorch's BatchNorm differs in two conventions: its ``momentum`` is ``1 - momentum`` here, and its
    running variance is updated with the *unbiased* batch variance (``var · M / (M - 1)``).

    Shapes: ``x, y (N, ..., C)``; ``gamma, beta, moving_mean, moving_var (C,)``.

    Parameters
    ----------
    axis : int
        The feature axis; only the last (-1, channels last) is supported.
    momentum : float in [0, 1]
        Weight of the old moving average (Keras' default 0.99).
    epsilon : float > 0
        Added to the variance before the square root (Keras' default 1e-3).
    center, scale : bool
        Whether to learn ``beta`` (shift) and ``gamma`` (scale).
    """

    state_names = ("moving_mean", "moving_var")

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, name: str | None = None) -> None:
        super().__init__(name)
        if not is_int(axis):
            raise invalid_value("axis", axis, "an integer")
        self.axis = int(axis)
        self.momentum = check_number("momentum", momentum, high=1.0, high_open=False, expected="a number in [0, 1]")
        self.epsilon = check_number("epsilon", epsilon, low_open=True, expected="a positive number")
        self.center, self.scale = bool(center), bool(scale)

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        if not input_shape or any(d is None or d < 1 for d in input_shape):
            raise ShapeError(f'Input 0 of layer "{self.display_name}" (BatchNormalization) is incompatible with the '
                             f"layer: expected ndim>=2 with known dimensions. Full shape received: "
                             f"{(None, *input_shape)}")
        if self.axis not in (-1, len(input_shape)):
            raise ConfigError(
                f'Layer "{self.display_name}" (BatchNormalization) normalizes the last axis only (channels last); '
                f"received axis={self.axis} for inputs of shape {(None, *input_shape)}. Use axis=-1.")
        C = input_shape[-1]
        self.params, self.grads, self.state = {}, {}, {}
        if self.scale:
            self.add_weight("gamma", np.ones(C, dtype=dtype))
        if self.center:
            self.add_weight("beta", np.zeros(C, dtype=dtype))
        self.add_weight("moving_mean", np.zeros(C, dtype=dtype), trainable=False)
        self.add_weight("moving_var", np.ones(C, dtype=dtype), trainable=False)
        return super().build(input_shape, rng, dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        C = x.shape[-1]
        x2 = x.reshape(-1, C)  # (M, C): every position of every sample is one observation
        eps = x.dtype.type(self.epsilon)
        if training:
            mu = x2.mean(axis=0)  # (C,)
            xc = x2 - mu  # (M, C)
            var = np.mean(xc * xc, axis=0)  # (C,) biased, as Keras
            self.batch_mean, self.batch_var = mu, var  # kept for the trace (glassnet.trace reads them)
            m = x.dtype.type(self.momentum)
            for key, batch in (("moving_mean", mu), ("moving_var", var)):
                moving = self.state[key]
                moving *= m
                moving += (1 - m) * batch
        else:
            xc = x2 - self.state["moving_mean"]
            var = self.state["moving_var"]
        self.training = training
        self.inv_std = 1 / np.sqrt(var + eps)  # (C,)
        self.x_hat = xc * self.inv_std  # (M, C)
        y = self.x_hat * self.params["gamma"] if self.scale else self.x_hat.copy()
        if self.center:
            y += self.params["beta"]
        return y.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape, C = dy.shape, dy.shape[-1]
        dy = dy.reshape(-1, C)  # (M, C)
        x_hat = self.x_hat
        dbeta = dy.sum(axis=0)  # (C,)
        dgamma = np.einsum("mc,mc->c", dy, x_hat)  # (C,) Σ dy · x̂ without an (M, C) temporary
        if self.center:
            self.grads["beta"][...] = dbeta
        if self.scale:
            self.grads["gamma"][...] = dgamma
        k = self.params["gamma"] * self.inv_std if self.scale else self.inv_std  # (C,)
        if not self.training:  # the statistics were constants
            return (dy * k).reshape(shape)
        M = dy.dtype.type(dy.shape[0])
        dx = dy * M
        dx -= dbeta
        dx -= x_hat * dgamma
        dx *= k / M
        return dx.reshape(shape)

    def get_config(self):
        return {"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "name": self.name}

    def extra_repr(self):
        return f"momentum={self.momentum:g}, epsilon={self.epsilon:g}"
