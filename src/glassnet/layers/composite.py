"""Layers made of layers (Residual, Bidirectional, TimeDistributed): their sublayers' arrays shown as their own.

A composite owns no arrays of its own: its ``params``, ``grads``, ``state`` and ``regularizers`` are its
sublayers' dicts under prefixed names (``"main.0.W"``, ``"forward.U"``), and assigning them, or
:meth:`Composite.bind`, hands each array to the sublayer that owns it. So the model's flat buffers,
optimizers, ``state_dict``, files and gradient checks treat a composite like any other layer.
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import Layer

__all__ = ["Composite"]


class Composite(Layer):
    """Shows the arrays of its sublayers (``_sublayers()``: ``(prefix, layer)`` pairs) as its own."""

    def _sublayers(self):
        """``(prefix, layer)`` for every sublayer, prefixes ending in ``"."``."""
        raise NotImplementedError

    def _gather(self, attr: str) -> dict:
        return {prefix + k: v for prefix, layer in self._sublayers() for k, v in getattr(layer, attr).items()}

    def _route(self, mapping: dict) -> dict:
        """``{"main.0.W": w, ...}`` -> ``{id(layer): (layer, {"W": w})}``."""
        groups: dict[int, tuple[Layer, dict]] = {}
        for key, value in mapping.items():
            owner = next(((p, la) for p, la in self._sublayers() if key.startswith(p)), None)
            if owner is None:
                raise ConfigError(f'Layer "{self.display_name}" ({type(self).__name__}) has no sublayer for array '
                                  f"{key!r}")
            prefix, layer = owner
            groups.setdefault(id(layer), (layer, {}))[1][key[len(prefix):]] = value
        return groups

    def _scatter(self, attr: str, mapping: dict) -> None:
        for layer, group in self._route(mapping).values():
            setattr(layer, attr, {**getattr(layer, attr), **group})

    params = property(lambda self: self._gather("params"), lambda self, v: self._scatter("params", v),
                      doc="The sublayers' parameters under prefixed names (``main.0.W``, ``forward.U``).")
    grads = property(lambda self: self._gather("grads"), lambda self, v: self._scatter("grads", v),
                     doc="The sublayers' gradients, named as in ``params``.")
    state = property(lambda self: self._gather("state"), lambda self, v: self._scatter("state", v),
                     doc="The sublayers' buffers (BatchNormalization's moving statistics...), named as in ``params``.")
    regularizers = property(lambda self: self._gather("regularizers"),
                            lambda self, v: self._scatter("regularizers", v),
                            doc="The sublayers' regularizers, named as in ``params``.")

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(prefix + k for prefix, layer in self._sublayers() for k in layer.state_names)

    def bind(self, params: dict, grads: dict) -> None:
        """Hand each view onto the model's flat buffers to the sublayer that owns it."""
        p, g = self._route(params), self._route(grads)
        for key, (layer, group) in p.items():
            layer.bind(group, g.get(key, (None, {}))[1])

    def move_to(self, device) -> None:
        for _, layer in self._sublayers():
            layer.move_to(device)
        self._device = device

    def _new_grads(self) -> None:
        for _, layer in self._sublayers():
            layer._new_grads()
