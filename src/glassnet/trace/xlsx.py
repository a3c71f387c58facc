"""A trace as an Excel workbook in which every computed cell is a live formula.

Sheets: ``Inputs`` holds the rows of X and y the trace uses and the optimizer's constants (momentum,
beta1, beta2, epsilon), all plain values a user may edit. Each ``Step s`` sheet holds that step's
learning rate and update count, then every quantity as a block under its heading (the tutorial's step
titles for the tutorial's network): a label row with the name, the formula in symbols and in words, then
the numbers. Step 1's weights and optimizer state are values; ``A0`` and ``Y`` read the Inputs rows; step
s+1's weights read step s's ``*_new`` cells. Every other cell is a formula over earlier cells — matrix
products as ``MMULT`` of a row and a column, ``SUMPRODUCT`` for transposed products, ``EXP``/``TANH``/
``MAX``/``IF`` for activations, and the optimizer's update rules — so editing an input, a starting weight
or a constant recomputes the whole chain. Each quantity is the defined name ``s{step}_{name}``.

Colours, as in the HTML page: given values on yellow, computed cells on blue, cells that carry a value
from elsewhere (A0, Y, step s+1's weights) yellow in italics. Each formula cell also stores the engine's
value, so viewers that do not recalculate still show the numbers.

Known limits of the formulas (not of the engine): a sigmoid of Z < -709 is #NUM! (EXP overflows), and
the categorical cross-entropy reads LN(A), so a probability that underflows to 0 gives #NUM!. A bias that
feeds BatchNormalization has a true gradient of exactly 0; the engine and the workbook each sum the batch
to their own rounding noise (~1e-17), which Adam, RMSProp or Adadelta scale up to a bias step of about
lr·1e-10: such a bias, its gradient and its optimizer state agree with the engine absolutely (1e-9), not
relatively (docs/trace-names.md, "Exact zeros"). The workbook shows the engine's noise, never a faked 0.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import atomic_target
from ..checks import is_int
from ..errors import ExportError
from . import kinds, updates  # noqa: F401  (they register their workbook formulas)
from .formulas import BATCH_OPS, CONSTANTS, build

if TYPE_CHECKING:  # annotations only: records imports this module (Trace.to_xlsx)
    from .records import Quantity, Trace

__all__ = ["COMPUTED_FILL", "INPUT_FILL", "count_cells", "to_xlsx"]

#: the HTML page's colours: given values, computed cells
INPUT_FILL = "#fff2cc"
COMPUTED_FILL = "#ddebf7"

_FIRST_BLOCK_ROW = 3  # rows 0-2: title, lr and t, blank


@dataclass
class _Block:
    """Where a quantity's numbers sit: sheet, first row and column (0-based), size, and the array's shape."""

    sheet: str
    row: int
    col: int
    nrows: int
    ncols: int
    shape: tuple = ()

    def at(self, index: tuple, here):
        """The cell of array index ``index`` (the grid is (shape[0], prod(shape[1:])) in C order)."""
        shape = self.shape
        if len(index) != len(shape):
            raise ExportError(f"index {index} does not fit a quantity of shape {shape}")
        if len(shape) == 0:
            return self.cell(0, 0, here)
        if len(shape) == 1:
            return self.cell(0, index[0], here)
        j = int(np.ravel_multi_index(index[1:], shape[1:])) if len(shape) > 2 else index[1]
        return self.cell(index[0], j, here)

    def _a1(self, r, c, absolute=False):
        d = "$" if absolute else ""
        col, n = "", c + 1
        while n:
            n, rem = divmod(n - 1, 26)
            col = chr(65 + rem) + col
        return f"{d}{col}{d}{r + 1}"

    def _prefix(self, here):
        return "" if here == self.sheet else f"'{self.sheet}'!"

    def cell(self, i, j, here):
        return self._prefix(here) + self._a1(self.row + i, self.col + j)

    def span(self, r0, c0, r1, c1, here):
        a, b = self._a1(self.row + r0, self.col + c0), self._a1(self.row + r1, self.col + c1)
        return self._prefix(here) + (a if a == b else f"{a}:{b}")

    def row_range(self, i, here):
        return self.span(i, 0, i, self.ncols - 1, here)

    def col_range(self, j, here):
        return self.span(0, j, self.nrows - 1, j, here)

    def whole(self, here):
        return self.span(0, 0, self.nrows - 1, self.ncols - 1, here)

    def absolute(self):
        a = self._a1(self.row, self.col, True)
        b = self._a1(self.row + self.nrows - 1, self.col + self.ncols - 1, True)
        return f"='{self.sheet}'!" + (a if a == b else f"{a}:{b}")


def _grid(value) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    return a.reshape(1, 1) if a.ndim == 0 else a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)


def _step_rows(step) -> list[int]:
    n = len(_grid(step["A0"].value))
    return list(step.rows) if len(step.rows) == n else list(range(n))


class _Plan:
    """The layout of the whole workbook, computed before anything is written (to count cells first)."""

    def __init__(self, trace: Trace):
        if not trace.steps:
            raise ExportError("The trace has no steps to write")
        self.trace = trace
        first = trace.steps[0]
        self.n_features = _grid(first["A0"].value).shape[1]
        self.n_targets = _grid(first["Y"].value).shape[1]
        data: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for step in trace.steps:
            x, y = _grid(step["A0"].value), _grid(step["Y"].value)
            for i, r in enumerate(_step_rows(step)):
                data.setdefault(r, (x[i], y[i]))
        self.data_rows = sorted(data)
        self.data = data
        self.constants = {}
        for step in trace.steps:
            for q in step.quantities:
                for k in CONSTANTS:
                    if k in q.attrs:
                        self.constants.setdefault(k, float(q.attrs[k]))
        # Inputs sheet: title, note, blank, header at row 3, data from row 4, then the constants
        self.x_block = _Block("Inputs", 4, 1, len(self.data_rows), self.n_features)
        self.y_block = _Block("Inputs", 4, 2 + self.n_features, len(self.data_rows), self.n_targets)
        self.data_row = {r: i for i, r in enumerate(self.data_rows)}
        self.const_row0 = 4 + len(self.data_rows) + 1
        self.inputs_cells = 3 + (1 + len(self.data_rows)) * (1 + self.n_features + self.n_targets) + 2 * len(
            self.constants) + 1
        self.sheets = []  # per step: (sheet name, {name: block}, [(kind, row, payload)])
        for step in trace.steps:
            self.sheets.append(self._layout_step(step))

    def _layout_step(self, step):
        sheet = f"Step {step.step}"
        blocks, rows, r, section = {}, [], _FIRST_BLOCK_ROW, None
        for q in step.quantities:
            if q.section and q.section != section:
                section = q.section
                rows.append(("section", r, section))
                r += 1
            g = _grid(q.value)
            rows.append(("label", r, q))
            blocks[q.name] = _Block(sheet, r + 1, 1, g.shape[0], g.shape[1], tuple(np.shape(q.value)))
            r += 1 + g.shape[0] + 1
        return sheet, blocks, rows

    def cells(self) -> int:
        total = self.inputs_cells
        for _, blocks, rows in self.sheets:
            total += 5 + len(rows) + sum(b.nrows * b.ncols for b in blocks.values())
        return total

    def cells_for(self, rows: int, steps: int) -> int:
        """An upper bound of the cells if each of ``steps`` steps used ``rows`` rows (for the advice)."""
        step, (_, blocks, layout) = self.trace.steps[0], self.sheets[0]
        per_row = sum(blocks[q.name].ncols for q in step.quantities if q.op in BATCH_OPS or q.name in ("A0", "Y"))
        fixed = 5 + len(layout) + sum(b.nrows * b.ncols for b in blocks.values()) - per_row * blocks["A0"].nrows
        width = 1 + self.n_features + self.n_targets
        n_total = self.trace.network.get("n_samples") or len(self.data_rows)
        inputs = self.inputs_cells - len(self.data_rows) * width + min(n_total, steps * rows) * width
        return steps * (fixed + rows * per_row) + inputs


def count_cells(trace: Trace) -> int:
    """How many cells :func:`to_xlsx` would write for ``trace``."""
    return _Plan(trace).cells()


def _largest(fits, high: int) -> int:
    """The largest k in [1, high] with fits(k) (fits is monotone), or 0."""
    low, best = 1, 0
    while low <= high:
        mid = (low + high) // 2
        if fits(mid):
            best, low = mid, mid + 1
        else:
            high = mid - 1
    return best


def _too_big(plan: _Plan, max_cells: int) -> ExportError:
    total, steps = plan.cells(), len(plan.trace.steps)
    n = max(len(_step_rows(s)) for s in plan.trace.steps)
    rows_fit = _largest(lambda r: plan.cells_for(r, steps) <= max_cells, n)
    steps_fit = _largest(lambda k: plan.cells_for(n, k) <= max_cells, steps)
    advice = []
    if rows_fit:
        advice.append(f"trace at most {rows_fit} rows per step (batch_size={rows_fit}, or fewer rows of data)")
    if steps_fit:
        advice.append(f"trace at most {steps_fit} step(s) of {n} rows (steps={steps_fit})")
    if advice:
        advice[-1:] = [f"{advice[-1]}, or raise max_cells (glassnet trace --max-cells N)"]
        todo = ", ".join(advice)
    else:  # not even one row of one step fits
        todo = (f"even 1 step of 1 row needs {plan.cells_for(1, 1):,} cells (the network's own parameters and "
                "their updates), so raise max_cells (glassnet trace --max-cells N)")
    return ExportError(f"The workbook would hold {total:,} cells, more than max_cells={max_cells:,} "
                       f"({steps} step(s) of {n} rows): {todo}; nothing was written")


def to_xlsx(trace: Trace, path=None, max_cells: int = 200_000, *, cached_values: bool = True) -> bytes | None:
    """Write ``trace`` as a workbook of live formulas (see the module docstring).

    Parameters
    ----------
    trace : Trace
    path : str, path-like or None
        Written to a temporary name beside it, then renamed: a failed export leaves no file behind.
        None returns the workbook's bytes instead.
    max_cells : int
        Above this many cells, raise ExportError (before writing) saying how many rows or steps fit.
    cached_values : bool
        Store the engine's value beside each formula (default). False stores 0 instead, so only a
        spreadsheet that really recalculates shows the numbers (used by the tests).
    """
    try:
        import xlsxwriter
        import xlsxwriter.exceptions
    except ModuleNotFoundError:
        raise ExportError("Writing workbooks needs XlsxWriter: pip install 'glassnet[xlsx]'") from None
    if not is_int(max_cells) or max_cells < 1:
        raise ExportError(f"max_cells must be a positive integer; received {max_cells!r}")
    plan = _Plan(trace)
    if plan.cells() > max_cells:
        raise _too_big(plan, max_cells)
    if path is None:
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True})
        try:
            _Writer(wb, plan, cached_values).write()
        finally:
            wb.close()
        return buf.getvalue()
    with atomic_target(path, ExportError) as tmp:
        wb = xlsxwriter.Workbook(tmp)
        try:
            _Writer(wb, plan, cached_values).write()
        finally:
            try:
                wb.close()
            except (OSError, xlsxwriter.exceptions.XlsxWriterException) as e:
                raise ExportError(f"Cannot write {os.fspath(path)}: {e}") from None
    return None


class _Writer:
    def __init__(self, wb, plan: _Plan, cached: bool):
        self.wb, self.plan, self.cached = wb, plan, cached
        border = {"border": 1, "border_color": "#bfbfbf"}
        self.f_given = wb.add_format({"bg_color": INPUT_FILL, **border})
        self.f_carried = wb.add_format({"bg_color": INPUT_FILL, "italic": True, **border})
        self.f_computed = wb.add_format({"bg_color": COMPUTED_FILL, **border})
        self.f_title = wb.add_format({"bold": True, "font_size": 14})
        self.f_section = wb.add_format({"bold": True, "font_size": 12, "font_color": "#1f4e79"})
        self.f_name = wb.add_format({"bold": True})
        self.f_words = wb.add_format({"italic": True, "font_color": "#595959"})

    def write(self):
        self._inputs()
        for step, layout in zip(self.plan.trace.steps, self.plan.sheets):
            self._step(step, *layout)

    # -- the Inputs sheet --------------------------------------------------------------------------
    def _inputs(self):
        p, ws = self.plan, self.wb.add_worksheet("Inputs")
        net = p.trace.network
        ws.set_column(0, 0, 12)
        ws.set_column(1, 1 + p.n_features + p.n_targets, 12)
        ws.write(0, 0, "glassnet trace" + (f" of {net['summary']}" if net.get("summary") else ""), self.f_title)
        ws.write(1, 0, "Yellow cells are values you may edit; blue cells are formulas that recompute from them. "
                       "Each quantity is the defined name s<step>_<name>, e.g. s1_Z1.", self.f_words)
        ws.write(3, 0, "row of X", self.f_name)
        for j in range(p.n_features):
            ws.write(3, 1 + j, f"x{j + 1}", self.f_name)
        for j in range(p.n_targets):
            ws.write(3, 2 + p.n_features + j, f"y{j + 1}", self.f_name)
        for i, r in enumerate(p.data_rows):
            x, y = p.data[r]
            ws.write_number(4 + i, 0, r)
            for j, v in enumerate(x):
                ws.write_number(4 + i, 1 + j, float(v), self.f_given)
            for j, v in enumerate(y):
                ws.write_number(4 + i, 2 + p.n_features + j, float(v), self.f_given)
        for k, (name, v) in enumerate(p.constants.items()):
            r = p.const_row0 + k
            ws.write(r, 0, name, self.f_name)
            ws.write_number(r, 1, v, self.f_given)
            self.wb.define_name(f"opt_{name}", _Block("Inputs", r, 1, 1, 1).absolute())

    # -- one step ----------------------------------------------------------------------------------
    def _step(self, step, sheet, blocks, rows):
        ws = self.wb.add_worksheet(sheet)
        ws.set_column(0, 0, 22)
        ws.set_column(1, max(b.col + b.ncols for b in blocks.values()), 13)
        s, n_steps = step.step, len(self.plan.trace.steps)
        ws.write(0, 0, f"Step {s} of {n_steps}: loss {step.loss:.6g}", self.f_title)
        self.step, self.ws, self.sheet, self.blocks = step, ws, sheet, blocks
        self.prev = self.plan.sheets[self.plan.trace.steps.index(step) - 1][1] if step is not self.plan.trace.steps[0] else None
        lr = step.lr if step.lr is not None else next((q.attrs["lr"] for q in step.quantities if "lr" in q.attrs), 0.0)
        t = step.t if step.t is not None else next((q.attrs["t"] for q in step.quantities if "t" in q.attrs), s)
        ws.write(1, 0, "learning rate lr", self.f_name)
        first = self.plan.trace.steps[0]
        if self.prev is not None and first.lr == step.lr:
            ws.write_formula(1, 1, "=s1_lr", self.f_carried, self._v(lr))
        else:
            ws.write_number(1, 1, float(lr), self.f_given)
        ws.write(1, 2, "updates t", self.f_name)
        ws.write_number(1, 3, int(t), self.f_given)
        self.wb.define_name(f"s{s}_lr", _Block(sheet, 1, 1, 1, 1).absolute())
        self.wb.define_name(f"s{s}_t", _Block(sheet, 1, 3, 1, 1).absolute())
        for kind, r, payload in rows:
            if kind == "section":
                ws.write(r, 0, payload, self.f_section)
                continue
            q: Quantity = payload
            ws.write(r, 0, q.name, self.f_name)
            label = q.name if q.op == "value" and q.formula == q.name else f"{q.name} = {q.formula}"
            label += f"   ·   {q.words}" if q.words else ""
            if q.article and q.article != q.name:
                label += f"   (tutorial: {q.article})"
            ws.write(r, 1, label, self.f_words)
            self._quantity(q)
            self.wb.define_name(f"s{s}_{q.name}", blocks[q.name].absolute())

    def _v(self, v):
        return float(v) if self.cached else 0

    def _quantity(self, q: Quantity):
        b, g = self.blocks[q.name], _grid(q.value)
        if q.op != "value":
            formula, array = build(q, self.blocks, self.sheet, self.step.step)
        for i in range(b.nrows):
            for j in range(b.ncols):
                r, c = b.row + i, b.col + j
                if q.op == "value":
                    ref = self._carried(q, i, j)
                    if ref is None:
                        self.ws.write_number(r, c, float(g[i, j]), self.f_given)
                    else:
                        self.ws.write_formula(r, c, "=" + ref, self.f_carried, self._v(g[i, j]))
                    continue
                text = formula(i, j)
                if array:
                    self.ws.write_array_formula(r, c, r, c, "{=" + text + "}", self.f_computed, self._v(g[i, j]))
                else:
                    self.ws.write_formula(r, c, "=" + text, self.f_computed, self._v(g[i, j]))

    def _carried(self, q, i, j):
        """The cell a given quantity reads (Inputs rows, the previous step's *_new), or None for a value."""
        p = self.plan
        if q.name == "A0":
            return p.x_block.cell(p.data_row[_step_rows(self.step)[i]], j, self.sheet)
        if q.name == "Y":
            return p.y_block.cell(p.data_row[_step_rows(self.step)[i]], j, self.sheet)
        if self.prev is not None and f"{q.name}_new" in self.prev:
            return self.prev[f"{q.name}_new"].cell(i, j, self.sheet)
        return None
