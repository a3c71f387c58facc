"""Workbook formulas, one builder per ``op``: how the cell of a quantity is computed from other cells.

Each layer kind of :mod:`glassnet.trace.kinds` registers the formulas of the ops it records, beside the
code that records them, with :func:`formula`::

    @formula("relu")
    def _relu(c: Cells):
        return lambda i, j: f"MAX({c.at(0, i, j)},0)"

A builder receives a :class:`Cells` (the quantity, the blocks of its inputs, the sheet it is written on)
and returns ``f(i, j)``: the formula text (without "=") of the cell in row ``i``, column ``j`` of the
quantity's grid. A quantity of shape ``(N, d1, d2, ...)`` is laid out as a grid of ``N`` rows and
``d1·d2·...`` columns in C order; :meth:`Cells.index` turns ``(i, j)`` back into the array index and
:meth:`Cells.ref` finds the cell of an input at an array index. ``array=True`` enters each cell as a
one-cell array formula (needed where an expression combines ranges, e.g. ``MMULT`` or ``EXP(range)``).
``batch=True`` says the op's rows are the batch's rows (only used to advise how many rows fit).

This module is a leaf: it imports nothing of the exporters, so kinds and the writer can both use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ExportError

__all__ = ["BATCH_OPS", "CONSTANTS", "FORMULAS", "Cells", "formula", "num"]

#: op -> (builder, array): every formula the workbook writer knows
FORMULAS: dict[str, tuple[Callable, bool]] = {}
#: ops whose rows are the batch's rows
BATCH_OPS: set[str] = set()
#: optimizer constants (read from a quantity's attrs) that the Inputs sheet holds as editable cells, each the
#: defined name ``opt_<name>`` (``opt_momentum``, ``opt_beta1``...)
CONSTANTS: list[str] = ["momentum", "beta1", "beta2", "epsilon"]


def formula(*ops: str, array: bool = False, batch: bool = False):
    """Register the decorated builder as the workbook formula of each op in ``ops``."""
    def register(builder):
        for op in ops:
            if op in FORMULAS:
                raise ValueError(f"two workbook formulas for op {op!r}")
            FORMULAS[op] = (builder, array)
            if batch:
                BATCH_OPS.add(op)
        return builder
    return register


def num(v) -> str:
    """A constant as formula text that reads back as the same float64 (``repr``; integers plainly)."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


@dataclass
class Cells:
    """What a formula builder sees: the quantity, its inputs' blocks (in ``q.inputs`` order), the sheet."""

    q: object  # the Quantity being written
    ins: list  # its inputs' blocks (xlsx._Block), same order as q.inputs
    here: str  # the sheet written on (references to other sheets get a prefix)
    step: int

    @property
    def attrs(self) -> dict:
        return self.q.attrs

    @property
    def lr(self) -> str:
        """The defined name of this step's learning rate."""
        return f"s{self.step}_lr"

    @property
    def t(self) -> str:
        """The defined name of this step's update count (the optimizer's t after the step)."""
        return f"s{self.step}_t"

    @property
    def shape(self) -> tuple:
        return tuple(np.shape(self.q.value))

    def index(self, i: int, j: int) -> tuple:
        """The array index of grid cell (i, j) of the quantity being written."""
        shape = self.shape
        if len(shape) == 0:
            return ()
        if len(shape) == 1:
            return (j,)
        return (i,) + tuple(int(v) for v in np.unravel_index(j, shape[1:]))

    def ref(self, k: int, index) -> str:
        """The cell of input ``k`` at array index ``index`` (a tuple in that input's own shape)."""
        return self.ins[k].at(tuple(int(v) for v in index), self.here)

    def at(self, k: int, i: int, j: int) -> str:
        """Input ``k`` at grid cell (i, j), a one-row block broadcast over rows and one column over columns."""
        b = self.ins[k]
        return b.cell(0 if b.nrows == 1 else i, 0 if b.ncols == 1 else j, self.here)

    def row(self, k: int, i: int) -> str:
        """Grid row ``i`` of input ``k`` as a range."""
        return self.ins[k].row_range(i, self.here)

    def col(self, k: int, j: int) -> str:
        """Grid column ``j`` of input ``k`` as a range."""
        return self.ins[k].col_range(j, self.here)

    def whole(self, k: int) -> str:
        """All of input ``k`` as a range."""
        return self.ins[k].whole(self.here)

    def last_axis(self, k: int, prefix) -> str:
        """Input ``k`` over its last axis at the leading index ``prefix``: one contiguous range of a grid row."""
        shape = self.ins[k].shape
        first = self.ref(k, tuple(prefix) + (0,))
        last = self.ref(k, tuple(prefix) + (shape[-1] - 1,))
        return first if first == last else f"{first}:{last.split('!')[-1]}"

    def name(self, k: int) -> str:
        """The quantity name of input ``k``."""
        return self.q.inputs[k]


def build(q, blocks: dict, here: str, step: int):
    """(f, array) for quantity ``q``: ``f(i, j)`` is its cell's formula text; ``array`` as registered."""
    try:
        ins = [blocks[n] for n in q.inputs]
    except KeyError as e:
        raise ExportError(f"Step {step}: {q.name} reads {e.args[0]}, which the step does not hold") from None
    if q.op not in FORMULAS:
        raise ExportError(f"Step {step}: no workbook formula for {q.name} (op {q.op!r})")
    builder, array = FORMULAS[q.op]
    return builder(Cells(q, ins, here, step)), array


# -- ops every network uses: the error, the losses and their gradients ---------------------------------------

@formula("sub", batch=True)
def _sub(c):
    return lambda i, j: f"{c.at(0, i, j)}-{c.at(1, i, j)}"


@formula("add", batch=True)
def _add(c):
    return lambda i, j: "+".join(c.at(k, i, j) for k in range(len(c.ins)))


@formula("neg", batch=True)
def _neg(c):
    return lambda i, j: f"-{c.at(0, i, j)}"


@formula("scale", batch=True)
def _scale(c):
    return lambda i, j: f"{c.at(0, i, j)}*({c.attrs['num']}/{c.attrs['den']})"


@formula("mul", batch=True)
def _mul(c):
    return lambda i, j: "*".join(c.at(k, i, j) for k in range(len(c.ins)))


@formula("mae")
def _mae(c):
    return lambda i, j: f"SUMPRODUCT(ABS({c.whole(0)}))/{c.attrs['den']}"


@formula("sign_scale", batch=True)
def _sign_scale(c):
    return lambda i, j: f"SIGN({c.at(0, i, j)})*({c.attrs['num']}/{c.attrs['den']})"


@formula("half_sse")
def _half_sse(c):
    return lambda i, j: f"0.5*SUMPRODUCT({c.whole(0)},{c.whole(0)})"


@formula("mse")
def _mse(c):
    return lambda i, j: f"SUMPRODUCT({c.whole(0)},{c.whole(0)})/{c.attrs['den']}"


@formula("bce_logits", array=True)
def _bce_logits(c):
    z, y = c.whole(0), c.whole(1)
    return lambda i, j: f"SUMPRODUCT(({z}+ABS({z}))/2-{z}*{y}+LN(1+EXP(-ABS({z}))))/{c.attrs['den']}"


@formula("cce", array=True)
def _cce(c):
    return lambda i, j: f"-SUMPRODUCT({c.whole(0)}*LN({c.whole(1)}))/{c.attrs['den']}"


def _clipped(a: str, eps: float, high: str) -> str:
    """``a`` clipped to ``[eps, high]`` elementwise (MIN/MAX would reduce a range to one number)."""
    return f"IF({a}<{num(eps)},{num(eps)},IF({a}>{high},{high},{a}))"


@formula("bce_prob", array=True)
def _bce_prob(c):
    """``-Σ (Y·log p + (1-Y)·log(1-p)) / size``, p the output clipped to [ε, 1-ε] (no logits to start from)."""
    y, p = c.whole(0), _clipped(c.whole(1), c.attrs["eps"], f"(1-{num(c.attrs['eps'])})")
    return lambda i, j: f"-SUMPRODUCT({y}*LN({p})+(1-{y})*LN(1-{p}))/{c.attrs['den']}"


@formula("cce_prob", array=True)
def _cce_prob(c):
    """``-Σ Y·log p / rows``, p the output clipped to [ε, 1]."""
    return lambda i, j: f"-SUMPRODUCT({c.whole(0)}*LN({_clipped(c.whole(1), c.attrs['eps'], '1')}))/{c.attrs['den']}"


@formula("bce_prob_grad", batch=True)
def _bce_prob_grad(c):
    """``(A - Y) / (A·(1 - A)) · (1/size)``, 0 where A lies outside [ε, 1-ε] (the engine's order of operations)."""
    eps = num(c.attrs["eps"])

    def f(i, j):
        a, y = c.at(0, i, j), c.at(1, i, j)
        return f"IF(OR({a}<{eps},{a}>(1-{eps})),0,({a}-{y})/({a}*(1-{a}))*(1/{c.attrs['den']}))"
    return f


@formula("cce_prob_grad", batch=True)
def _cce_prob_grad(c):
    """``-Y / A · (1/rows)``, 0 where A lies outside [ε, 1]."""
    eps = num(c.attrs["eps"])

    def f(i, j):
        a, y = c.at(0, i, j), c.at(1, i, j)
        return f"IF(OR({a}<{eps},{a}>1),0,-{y}/{a}*(1/{c.attrs['den']}))"
    return f


@formula("sum_all")
def _sum_all(c):
    return lambda i, j: "+".join(f"SUM({c.whole(k)})" for k in range(len(c.ins)))


# -- a masked sequence output: padded steps (mask 0) leave the loss ----------------------------------------------

def _steps(c, k):
    """Every (n, t) of input k, a (N, T) mask."""
    return list(np.ndindex(*c.ins[k].shape))


@formula("masked_loss", array=True)
def _masked_loss(c):
    """``Σ m·l_nt / Σ m`` (half_sse: ``Σ m·l_nt``), l_nt the loss of step (n, t) over its last axis."""
    kind, m = c.attrs["loss"], len(c.ins) - 1  # the mask is the last input
    size = num(c.attrs["per_step"])

    def step(n_t):
        mk = c.ref(m, n_t)
        if kind in ("half_sse", "mse"):
            e = c.last_axis(0, n_t)
            return f"{mk}*SUMSQ({e})" + ("*0.5" if kind == "half_sse" else f"/{size}")
        if kind == "mae":
            return f"{mk}*SUMPRODUCT(ABS({c.last_axis(0, n_t)}))/{size}"
        if kind == "categorical_crossentropy":
            return f"-{mk}*SUMPRODUCT({c.last_axis(0, n_t)},LN({c.last_axis(1, n_t)}))"
        if kind == "cce_prob":  # no logits: the engine's clipped probabilities
            p = _clipped(c.last_axis(1, n_t), c.attrs["eps"], "1")
            return f"-{mk}*SUMPRODUCT({c.last_axis(0, n_t)}*LN({p}))"
        if kind == "bce_prob":
            y, p = c.last_axis(0, n_t), _clipped(c.last_axis(1, n_t), c.attrs["eps"], f"(1-{num(c.attrs['eps'])})")
            return f"-{mk}*SUMPRODUCT({y}*LN({p})+(1-{y})*LN(1-{p}))/{size}"
        z, y = c.last_axis(0, n_t), c.last_axis(1, n_t)
        return f"{mk}*SUMPRODUCT(({z}+ABS({z}))/2-{z}*{y}+LN(1+EXP(-ABS({z}))))/{size}"

    total = "+".join(step(n_t) for n_t in _steps(c, m))
    mean = c.attrs["loss"] != "half_sse"
    return lambda i, j: f"({total})/SUM({c.whole(m)})" if mean else total


@formula("masked_prob_grad", batch=True)
def _masked_prob_grad(c):
    """A cross-entropy's gradient from the clipped probabilities (as ``bce_prob_grad``/``cce_prob_grad``), times
    the step's row scale ``m_nt·(N·T / Σ m)``; inputs A, Y, mask."""
    eps, den, steps = num(c.attrs["eps"]), c.attrs["den"], c.attrs["steps"]
    bce = c.attrs["loss"] == "bce"

    def f(i, j):
        a, y, m = c.at(0, i, j), c.at(1, i, j), c.ref(2, c.index(i, j)[:2])
        grad = f"({a}-{y})/({a}*(1-{a}))*(1/{den})" if bce else f"-{y}/{a}*(1/{den})"
        outside = f"OR({a}<{eps},{a}>(1-{eps}))" if bce else f"OR({a}<{eps},{a}>1)"
        return f"IF({outside},0,{grad})*({m}*({steps}/SUM({c.whole(2)})))"
    return f


@formula("masked_scale", batch=True)
def _masked_scale(c):
    """``input · num/den · m_nt`` (divided by ``Σ m`` unless the loss is a sum): a masked output's gradient."""
    frac = f"({c.attrs['num']}/{c.attrs['den']})"
    mean = c.attrs.get("mean", True)

    sign = c.attrs.get("sign", False)

    def f(i, j):
        n_t = c.index(i, j)[:2]
        x = f"SIGN({c.at(0, i, j)})" if sign else c.at(0, i, j)
        text = f"{x}*{frac}*{c.ref(1, n_t)}"
        return text + (f"/SUM({c.whole(1)})" if mean else "")
    return f
