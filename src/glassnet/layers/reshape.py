"""Layers that only change the shape of each sample: Flatten and Reshape (row-major, as NumPy and Keras)."""

from __future__ import annotations

import math

from ..checks import is_int
from ..errors import ConfigError, ShapeError
from .base import Layer

__all__ = ["Flatten", "Reshape"]


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1·d2·...); backward reshapes dL/dy back. Channels last, so an image's
    pixels stay together: element ``[n, i, j, c]`` lands at ``[n, (i·W + j)·C + c]``."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.x_shape)


class Reshape(Layer):
    """(N, *input_shape) -> (N, *target_shape); one entry of ``target_shape`` may be -1 (inferred).

    >>> Reshape((4, -1)).compute_output_shape((2, 6))
    (4, 3)
    """

    def __init__(self, target_shape, name: str | None = None) -> None:
        super().__init__(name)
        try:
            ok = (len(target_shape) > 0 and all(is_int(d) and (d == -1 or d >= 1) for d in target_shape)
                  and list(target_shape).count(-1) <= 1)
        except TypeError:
            ok = False
        if not ok:
            raise ConfigError("Received an invalid value for `target_shape`, expected a tuple of positive integers "
                              f"with at most one -1. Received: target_shape={target_shape!r}")
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape):
        size, known = math.prod(input_shape), math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise self._mismatch(input_shape)
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size != known:
            raise self._mismatch(input_shape)
        return self.target_shape

    def _mismatch(self, input_shape) -> ShapeError:
        return ShapeError(
            f'Layer "{self.display_name}" (Reshape): the total size of the new array must be unchanged; '
            f"input shape {(None, *input_shape)} has {math.prod(input_shape)} values per sample, "
            f"target_shape={self.target_shape} does not fit them"
        )

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], *self.output_shape)

    def backward(self, dy):
        return dy.reshape(self.x_shape)

    def get_config(self):
        return {"target_shape": list(self.target_shape), "name": self.name}

    def extra_repr(self):
        return f"target_shape={self.target_shape}"

