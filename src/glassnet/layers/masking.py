"""Masking: mark the steps of (N, T, C) whose every feature equals ``mask_value`` as padding (Keras)."""

from __future__ import annotations

import numpy as np

from ..checks import check_number
from ..errors import ShapeError
from .base import Layer

__all__ = ["Masking"]


class Masking(Layer):
    """Skip padded time steps: ``keep[n, t] = any(x[n, t, :] != mask_value)``; ``y = x * keep``.

    The output carries the mask ``keep`` (N, T) to the layers after it (Keras' ``Masking``): recurrent
    layers carry their state over a masked step, and the loss leaves masked steps of a sequence output
    out. A masked step's output is zeroed, as Keras does, so nothing downstream reads the padding value.

    Backward: ``dx = dy * keep`` (a masked step's input does not reach the output).

    Shapes: ``x, y (N, T, C)``, ``keep (N, T)``.

    >>> import numpy as np
    >>> layer = Masking(mask_value=0.0)
    >>> layer.build((3, 2), np.random.default_rng(0))
    (3, 2)
    >>> x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 5.0]]])
    >>> layer.forward(x)[0, :, 1]
    array([2., 0., 5.])
    >>> layer.compute_mask(None)
    array([[ True, False,  True]])

    Parameters
    ----------
    mask_value : float, default 0.0
        A step whose features all equal it is padding.
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, name: str | None = None) -> None:
        super().__init__(name)
        self.mask_value = check_number("mask_value", mask_value, low=-np.inf, expected="a finite number")

    def build(self, input_shape, rng, dtype=np.float32):
        if len(tuple(input_shape)) != 2:
            raise ShapeError(f'Layer "{self.display_name}" (Masking) takes sequences of shape (N, T, C); '
                             f"received input shape {(None, *tuple(input_shape))}")
        return super().build(input_shape, rng, dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 3:
            raise ShapeError(f'Layer "{self.display_name}" (Masking) takes sequences of shape (N, T, C); '
                             f"received shape {tuple(x.shape)}")
        self.keep = (x != x.dtype.type(self.mask_value)).any(axis=-1)  # (N, T)
        return x * self.keep[..., None]  # (N, T, C): padded steps zeroed

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * self.keep[..., None]

    def compute_mask(self, mask):
        """``keep`` (N, T) of the last forward; a mask that came before is replaced, as in Keras."""
        return self.keep

    def get_config(self):
        return {"mask_value": self.mask_value, "name": self.name}

    def extra_repr(self):
        return f"mask_value={self.mask_value:g}"
