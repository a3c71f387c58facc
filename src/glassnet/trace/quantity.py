"""One named array of one training step (:class:`Quantity`): the unit every exporter lays out.

A leaf module, so that the layer kinds (:mod:`glassnet.trace.kinds`) can build quantities without
importing the exporters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Quantity"]


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
    section  the step heading it belongs to (the tutorial's ``"Step 2: ..."`` for the article's network)
    attrs    the constants the op needs: ``lr``, ``momentum``, ``beta1``, ``beta2``, ``epsilon``, ``t``,
             ``alpha`` (leaky ReLU), ``num``/``den`` (``scale``: value = input · num / den)
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
