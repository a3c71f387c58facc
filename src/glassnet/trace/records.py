"""The trace as data: named quantities of each training step, as the engine computed them.

Every exporter (text, JSON, HTML, xlsx) is a pure function of these records, so they cannot disagree
with the engine or with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Quantity", "Step", "Trace"]


@dataclass
class Quantity:
    """One named array of one step.

    name     design.md's name: ``A0``, ``Z1``, ``A1``, ``E``, ``slope2``, ``dZ2``, ``dW2``, ``m_W1``, ``W1_new``...
    formula  in symbols, over other quantities' names: ``"A0·W1 + b1"``
    words    the same in words: ``"hidden layer input = inputs times weights plus bias"``
    value    the engine's own array (2-D for matrices; vectors are kept 1-D)
    inputs   names of the quantities the formula reads (for hover highlighting and workbook formulas)
    kind     ``"input"`` (data), ``"param"`` (weights/biases/optimizer state at step start),
             ``"computed"``
    op       the operation, so an exporter can rebuild the formula: e.g. ``"matmul_add_bias"``,
             ``"sigmoid"``, ``"sub"``, ``"mul"``, ``"sgd_update"``... (see recorder.py for the list)
    layer    1-based layer number, or None
    article  the seed tutorial's name for it, where it has one (``hiddenlayer_activations``)
    section  the step heading it belongs to (``"Step 1: forward pass"`` for the article preset)
    """

    name: str
    formula: str
    value: np.ndarray
    words: str = ""
    inputs: tuple[str, ...] = ()
    kind: str = "computed"
    op: str = ""
    layer: int | None = None
    article: str | None = None
    section: str = ""
    attrs: dict = field(default_factory=dict)


@dataclass
class Step:
    """One training step: parameters before and after, the loss, and every quantity in order."""

    step: int
    loss: float
    params_before: dict[str, np.ndarray]
    params_after: dict[str, np.ndarray]
    quantities: list[Quantity]

    def __getitem__(self, name: str) -> Quantity:
        for q in self.quantities:
            if q.name == name:
                return q
        raise KeyError(name)


@dataclass
class Trace:
    """A recorded run of consecutive training steps."""

    network: dict
    steps: list[Step]
    preset: str | None = None
