"""``Input(shape)``: declares the shape of a model's inputs, as Keras' ``keras.Input``."""

from __future__ import annotations

from .base import Layer, input_shape_arg

__all__ = ["Input"]


class Input(Layer):
    """The shape of one input row (no batch dimension), given as the first element of a Sequential.

    >>> import glassnet as gn
    >>> model = gn.Sequential([gn.layers.Input((4,)), gn.layers.Dense(3)])
    >>> model.built, model.count_params()
    (True, 15)

    The model builds at once for this shape, as Keras does, and keeps no layer for it: ``model.layers``
    holds the layers after it (Keras' ``Sequential.layers`` leaves its InputLayer out too). The same
    shape may be given as ``input_shape=`` to the first layer instead.

    Parameters
    ----------
    shape : int or tuple of int
        ``(features,)``, ``(time, channels)``, ``(height, width, channels)``, ...
    """

    def __init__(self, shape, name: str | None = None) -> None:
        super().__init__(name)
        self.shape = input_shape_arg(shape, "shape")
        self.declared_input_shape = self.shape

    def forward(self, x, training: bool = False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self) -> dict:
        return {"shape": list(self.shape), "name": self.name}

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
