"""Inverted dropout: zero each unit with probability ``rate`` while training and scale the survivors."""

from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..checks import check_number
from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """``A = X * mask / (1 - rate)`` with ``mask ~ Bernoulli(1 - rate)`` in training; identity otherwise.

    The mask comes from the model's seeded generator, so a run is reproducible bit for bit.
    """

    supports_masking = True  # a mask of padded steps (Embedding, Masking) passes on, as in Keras

    def __init__(self, rate: float, name: str | None = None) -> None:
        super().__init__(name)
        self.rate = check_number("rate", rate, high=1.0, expected="a number in [0, 1)")
        self.rng: np.random.Generator | None = None

    def build(self, input_shape, rng, dtype=np.float32):
        self.rng = rng
        return super().build(input_shape, rng, dtype)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        keep = 1.0 - self.rate
        # scaled mask: kept units carry 1/keep, dropped ones 0
        # (drawn on the host from the model's generator, so every device sees the same masks)
        mask = (self.rng.random(x.shape, dtype=x.dtype) < keep) * x.dtype.type(1.0 / keep)
        self.mask = array_module(x).asarray(mask)
        return x * self.mask

    def backward(self, dy):
        return dy if self.mask is None else dy * self.mask

    def get_config(self):
        return {"rate": self.rate, "name": self.name}

    def extra_repr(self):
        return f"rate={self.rate:g}"
