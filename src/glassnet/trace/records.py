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


@dataclass
class Step:
    """One training step: parameters before and after, the loss, and every quantity in order."""

    step: int
    loss: float
    params_before: dict[str, np.ndarray]
    params_after: dict[str, np.ndarray]
    quantities: list[Quantity]
    rows: list[int] = field(default_factory=list)  # rows of X this step trained on (A0 = X[rows])
    lr: float | None = None  # the learning rate of this step's update
    t: int | None = None  # the optimizer's update count after this step (Adam's t), 1-based

    def __getitem__(self, name: str) -> Quantity:
        for q in self.quantities:
            if q.name == name:
                return q
        raise KeyError(f"step {self.step} has no quantity {name!r}; it has: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [q.name for q in self.quantities]

    def __repr__(self) -> str:
        return f"Step({self.step}, loss={self.loss:.6g}, {len(self.quantities)} quantities)"


@dataclass
class Trace:
    """A recorded run of consecutive training steps."""

    network: dict
    steps: list[Step]
    preset: str | None = None

    def __str__(self) -> str:
        """The steps as readable tables (see :mod:`glassnet.trace.text`)."""
        from .text import to_text

        return to_text(self)

    def __repr__(self) -> str:
        return (f"Trace({self.network.get('summary', '?')}, {len(self.steps)} step(s)"
                + (f", preset={self.preset!r})" if self.preset else ")"))

    def to_json(self, path=None) -> str:
        """The trace as JSON text (design.md's schema); also written to ``path`` when given."""
        from .jsonio import to_json

        return to_json(self, path)

    def to_xlsx(self, path=None, max_cells: int = 200_000) -> bytes | None:
        """A workbook whose every computed cell is a formula (see :mod:`glassnet.trace.xlsx`).

        With no ``path`` the workbook's bytes are returned instead of written.
        """
        from .xlsx import to_xlsx

        return to_xlsx(self, path, max_cells=max_cells)

    def to_html(self, path=None) -> str:
        """One self-contained HTML page (see :mod:`glassnet.trace.html`)."""
        try:
            from .html import to_html
        except ModuleNotFoundError as e:
            if e.name != "glassnet.trace.html":
                raise
            from ..errors import ExportError

            raise ExportError("HTML export is not available in this build (glassnet.trace.html is missing)") from None
        return to_html(self, path)
