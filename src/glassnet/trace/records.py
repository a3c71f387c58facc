"""The trace as data: named quantities of each training step, as the engine computed them.

Every exporter (text, JSON, HTML, xlsx) is a pure function of these records, so they cannot disagree
with the engine or with each other. The exporters import nothing of this module but names for their
annotations; :class:`Trace`'s ``to_*`` methods call them, and :func:`from_json` rebuilds the records from
what :mod:`glassnet.trace.jsonio` reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ExportError
from . import jsonio, text, xlsx
from .quantity import Quantity

__all__ = ["Quantity", "Step", "Trace", "from_json"]


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
    buffers_before: dict[str, np.ndarray] = field(default_factory=dict)  # moving statistics... at the start
    buffers_after: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Quantity:
        for q in self.quantities:
            if q.name == name:
                return q
        raise KeyError(f"step {self.step} has no quantity {name!r}; it has: {', '.join(self.names())}")

    def names(self) -> list[str]:
        """The names of this step's quantities, in the order they were computed."""
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
        return text.to_text(self)

    def __repr__(self) -> str:
        return (f"Trace({self.network.get('summary', '?')}, {len(self.steps)} step(s)"
                + (f", preset={self.preset!r})" if self.preset else ")"))

    def to_json(self, path=None) -> str:
        """The trace as JSON text (design.md's schema); also written to ``path`` when given."""
        return jsonio.to_json(self, path)

    def to_xlsx(self, path=None, max_cells: int = 200_000) -> bytes | None:
        """A workbook whose every computed cell is a formula (see :mod:`glassnet.trace.xlsx`).

        With no ``path`` the workbook's bytes are returned instead of written.
        """
        return xlsx.to_xlsx(self, path, max_cells=max_cells)

    def to_html(self, path=None) -> str:
        """One self-contained HTML page (see :mod:`glassnet.trace.html`)."""
        try:  # imported here: a build may leave the HTML page out
            from .html import to_html
        except ModuleNotFoundError as e:
            if e.name != "glassnet.trace.html":
                raise
            raise ExportError("HTML export is not available in this build (glassnet.trace.html is missing)") from None
        return to_html(self, path)

    @classmethod
    def from_dict(cls, data: dict, source: str = "trace") -> Trace:
        """Rebuild a trace from :func:`~glassnet.trace.jsonio.trace_to_dict`'s objects (float64 arrays)."""
        jsonio.check_format(data, source)
        try:
            steps = [_step(s, source) for s in data["steps"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ExportError(f"{source} is not a readable glassnet trace: {type(e).__name__}: {e}") from None
        return cls(network=dict(data.get("network") or {}), steps=steps, preset=data.get("preset"))


def from_json(path) -> Trace:
    """Read a trace written by :meth:`Trace.to_json` (used by the HTML and R tools)."""
    path = os.fspath(path)
    return Trace.from_dict(jsonio.read_json(path), path)


def _step(s: dict, source: str) -> Step:
    qs = [Quantity(name=q["name"], formula=q["formula"], words=q.get("words", ""),
                   value=_array(q["value"], q.get("shape"), f"{source}, step {s['step']}, {q['name']}"),
                   inputs=tuple(q.get("inputs", ())), kind=q.get("kind", "computed"), op=q.get("op", ""),
                   layer=q.get("layer"), article=q.get("article"), section=q.get("section", ""),
                   attrs=dict(q.get("attrs") or {}))
          for q in s["quantities"]]
    return Step(step=int(s["step"]), loss=float(s["loss"]),
                params_before={k: np.asarray(v, dtype=np.float64) for k, v in s["params_before"].items()},
                params_after={k: np.asarray(v, dtype=np.float64) for k, v in s["params_after"].items()},
                quantities=qs, rows=[int(r) for r in s.get("rows", [])], lr=s.get("lr"), t=s.get("t"),
                buffers_before={k: np.asarray(v, dtype=np.float64) for k, v in (s.get("buffers_before") or {}).items()},
                buffers_after={k: np.asarray(v, dtype=np.float64) for k, v in (s.get("buffers_after") or {}).items()})


def _array(value, shape, where) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if shape is not None and list(a.shape) != list(shape):
        if a.size == 0 and int(np.prod(shape)) == 0:
            return a.reshape(shape)
        raise ExportError(f"{where}: value of shape {list(a.shape)} does not match its shape {shape}")
    return a
