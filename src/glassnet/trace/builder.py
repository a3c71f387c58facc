"""Collecting a step's quantities in the order they are computed, and what a layer kind is told.

:class:`Builder` appends :class:`~glassnet.trace.quantity.Quantity` records; :class:`LayerContext` gives
a layer kind (:mod:`glassnet.trace.kinds`) the layer's number, the names of its input and output and of its
parameters, and what the recorder's tap captured while the engine ran the step (``rec``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .quantity import Quantity

__all__ = ["Builder", "LayerContext"]


class Builder:
    """Collects the quantities of one step in the order they are computed."""

    def __init__(self, section: str = ""):
        self.quantities: list[Quantity] = []
        self.section = section

    def add(self, name, formula, value, words, inputs=(), kind="computed", op="", layer=None, **attrs):
        """Append one quantity; ``attrs`` are the constants its op needs (see recorder.py's table)."""
        self.quantities.append(Quantity(name=name, formula=formula, value=np.array(value, copy=True), words=words,
                                        inputs=tuple(inputs), kind=kind, op=op, layer=layer,
                                        section=self.section, attrs=attrs))

    def names(self) -> set[str]:
        """The names recorded so far."""
        return {q.name for q in self.quantities}


@dataclass
class LayerContext:
    """One layer as a kind's ``forward``/``backward`` sees it.

    k         the layer's 1-based number (its names end in it: ``W3``, ``A3``)
    layer     the engine's layer object
    rec       what the tap captured during the step: ``x`` (input), ``out`` (output), ``dy`` (dL/d output,
              absent for a fused output layer), ``dz`` (a fused output's dL/dZ), ``dx`` (the gradient the
              layer sent back, or None), ``grads`` (copies of the layer's own gradients right after its
              backward, before any regularization term), and whatever the kind's ``after_forward`` /
              ``after_backward`` kept
    inp, out  the names of its input and output (``A{k-1}``, ``A{k}``); a kind may change ``out`` (e.g. a
              nested block's inner layers)
    fused     True for an output layer whose activation's gradient is fused with the loss (``dZ{L}`` given)
    last      True for the model's last layer
    n         the number of rows in the step's batch
    suffix    what the layer's names end in (``str(k)``; nested layers use e.g. ``3m1``)
    regularized  parameter keys that carry a regularizer (their layer gradient is named ``d{P}_data``)
    """

    k: int
    layer: object
    rec: dict
    inp: str
    out: str
    fused: bool = False
    last: bool = False
    n: int = 0
    suffix: str = ""
    regularized: set = field(default_factory=set)
    section: str = ""

    def p(self, key: str) -> str:
        """The name of parameter or buffer ``key`` of this layer: ``W3``, ``moving_mean2``."""
        return f"{key}{self.suffix or self.k}"

    def d(self, key: str) -> str:
        """The name of the layer's own gradient of ``key``: ``dW3``, or ``dW3_data`` when a regularizer adds to it."""
        return f"d{self.p(key)}" + ("_data" if key in self.regularized else "")

    def q(self, stem: str) -> str:
        """A per-layer quantity name: ``q("Z")`` is ``Z3``."""
        return f"{stem}{self.suffix or self.k}"

    @property
    def d_out(self) -> str:
        """The name of the gradient arriving at the output: ``dA{k}``."""
        return "d" + self.out

    @property
    def d_inp(self) -> str:
        """The name of the gradient the layer sends back: ``dA{k-1}``."""
        return "d" + self.inp

    @property
    def sends_back(self) -> bool:
        """Whether the layer computed a gradient for its input (not for the first layer)."""
        return self.rec.get("dx") is not None
