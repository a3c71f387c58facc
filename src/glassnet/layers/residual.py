"""A residual block, ``y = main(x) + shortcut(x)`` (He et al. 2016), so ResNets fit in a Sequential."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from .base import Layer
from .composite import Composite

__all__ = ["Residual"]


class Residual(Composite):
    """Two stacks of layers run on the same input, their outputs added: ``y = main(x) + shortcut(x)``.

    An empty ``shortcut`` is the identity. Backward sends ``dy`` through both stacks and adds the two
    input gradients: ``dx = dmain(dy) + dshortcut(dy)``.

    The block owns no arrays of its own (a :class:`~glassnet.layers.composite.Composite`): ``params``,
    ``grads``, ``state`` and ``regularizers`` are the sublayers' dicts under prefixed names (``"main.0.W"``,
    ``"shortcut.1.gamma"``), and assigning them, or :meth:`bind`, hands each array to the sublayer that owns
    it. So the model's flat buffers, optimizers, files and gradient checks treat a block like any other layer.

    >>> from glassnet.layers import Conv1D, BatchNormalization
    >>> block = Residual(main=[Conv1D(4, 3, padding="same"), BatchNormalization()])
    >>> block.build((10, 4), np.random.default_rng(0))
    (10, 4)
    >>> sorted(block.params)
    ['main.0.W', 'main.0.b', 'main.1.beta', 'main.1.gamma']

    Parameters
    ----------
    main : list of Layer
        The residual branch (not empty).
    shortcut : list of Layer
        The skip branch; empty means identity (then main must keep the input's shape).
    """

    def __init__(self, main, shortcut=(), name: str | None = None) -> None:
        for branch, layers in (("main", main), ("shortcut", shortcut)):
            if not isinstance(layers, (list, tuple)) or not all(isinstance(la, Layer) for la in layers):
                raise ConfigError(f"Residual `{branch}` must be a list of glassnet layers; received {layers!r}")
        if not main:
            raise ConfigError("Received an invalid value for `main`, expected a non-empty list of layers. "
                              "Received: main=[]")
        # set before Layer.__init__, whose empty params/grads/state go through the setters below
        self.main, self.shortcut = list(main), list(shortcut)
        super().__init__(name)

    # -- the sublayers' arrays under prefixed names --------------------------------------------------
    def _sublayers(self):
        for branch in ("main", "shortcut"):
            for i, layer in enumerate(getattr(self, branch)):
                yield f"{branch}.{i}.", layer

    # -- the contract ---------------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.main:
            shape = layer.compute_output_shape(shape)
        return shape

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        shapes = {}
        for branch in ("main", "shortcut"):
            shape = input_shape
            for layer in getattr(self, branch):
                shape = layer.build(shape, rng, dtype)
            shapes[branch] = shape
        if shapes["main"] != shapes["shortcut"]:
            raise ShapeError(
                f'Layer "{self.display_name}" (Residual) adds its two branches, so their outputs must have the same '
                f"shape; for input shape {(None, *input_shape)} main gives {(None, *shapes['main'])} and shortcut "
                f"gives {(None, *shapes['shortcut'])}. Add a shortcut (e.g. a Conv1D with kernel_size=1) that "
                "matches the main branch."
            )
        self.input_shape, self.output_shape = input_shape, shapes["main"]
        self.dtype, self.built = np.dtype(dtype), True
        return self.output_shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        a = x
        for layer in self.main:
            a = layer.forward(a, training)
        s = x
        for layer in self.shortcut:
            s = layer.forward(s, training)
        self.a = a + s
        return self.a

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dmain = dy
        for layer in reversed(self.main):
            dmain = layer.backward(dmain)
        dshort = dy
        for layer in reversed(self.shortcut):
            dshort = layer.backward(dshort)
        return dmain + dshort

    def get_config(self):
        def configs(layers):
            return [{"class": type(la).__name__, "config": la.get_config()} for la in layers]

        return {"main": configs(self.main), "shortcut": configs(self.shortcut), "name": self.name}

    def extra_repr(self):
        # class names only: a block's full repr would not fit a summary table's row
        def names(layers):
            return "[" + ", ".join(type(la).__name__ for la in layers) + "]"

        return f"main={names(self.main)}, shortcut={names(self.shortcut) if self.shortcut else 'identity'}"
