"""A trace as terminal text: each step's quantities under their headings, as small aligned tables.

Each quantity reads ``name = formula  [article name]  (shape)``, its meaning in words, then its numbers
(6 significant digits; large matrices show their first rows and columns). Pure function of the records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: records imports this module (str(trace))
    from .records import Quantity, Step, Trace

__all__ = ["format_matrix", "to_text"]

MAX_ROWS, MAX_COLS = 8, 8


def _num(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v:.6g}"


def format_matrix(value, indent: str = "      ", max_rows: int = MAX_ROWS, max_cols: int = MAX_COLS) -> str:
    """Rows of right-aligned numbers; vectors print as one row, elided with … beyond the limits."""
    a = np.asarray(value)
    if a.ndim == 0:
        return indent + _num(float(a))
    a2 = a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)
    rows = list(range(min(len(a2), max_rows)))
    cols = list(range(min(a2.shape[1], max_cols)))
    cells = [[_num(float(a2[i, j])) for j in cols] + (["…"] if a2.shape[1] > max_cols else []) for i in rows]
    if len(a2) > max_rows:
        cells.append(["⋮"] * len(cells[0]))
    widths = [max(len(r[j]) for r in cells) for j in range(len(cells[0]))]
    return "\n".join(indent + "  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def _shape(q: Quantity) -> str:
    shape = np.shape(q.value)
    return "scalar" if not shape else "×".join(map(str, shape))


def _quantity(q: Quantity) -> str:
    head = f"  {q.name}" if q.op == "value" and q.formula == q.name else f"  {q.name} = {q.formula}"
    if q.article and q.article != q.name:
        head += f"   [article: {q.article}]"
    if np.ndim(q.value) == 0:
        return f"{head} = {_num(float(q.value))}\n      {q.words}"
    return f"{head}   ({_shape(q)})\n      {q.words}\n{format_matrix(q.value)}"


def _rows(step: Step, n_samples: int | None) -> str:
    rows = step.rows
    if not rows:
        return ""
    if rows == list(range(rows[0], rows[-1] + 1)):
        span = f"rows {rows[0]}–{rows[-1]}" if len(rows) > 1 else f"row {rows[0]}"
    else:
        span = "rows " + ", ".join(map(str, rows[:12])) + (", …" if len(rows) > 12 else "")
    return span + (" (full batch)" if n_samples == len(rows) and len(set(rows)) == len(rows) else "")


def step_text(step: Step, total: int, n_samples: int | None = None) -> str:
    facts = [f"step {step.step} of {total}", f"loss {step.loss:.6g}"]
    if step.lr is not None:
        facts.append(f"lr {step.lr:g}")
    if step.rows:
        facts.append(_rows(step, n_samples))
    lines = ["═" * 8 + " " + " · ".join(facts) + " " + "═" * 8]
    section = None
    for q in step.quantities:
        if q.section != section:
            section = q.section
            lines += ["", section, "─" * min(len(section), 100)]
        lines.append(_quantity(q))
    return "\n".join(lines)


def to_text(trace: Trace) -> str:
    """The whole trace as text: a header line, then every step."""
    net = trace.network
    head = "glassnet trace" + (f" ({trace.preset})" if trace.preset else "")
    facts = [net.get("summary"), f"loss {net['loss']}" if net.get("loss") else None, net.get("optimizer_summary"),
             net.get("dtype")]
    if net.get("n_samples") is not None:
        bs = net.get("batch_size")
        facts.append(f"{net['n_samples']} rows, " + ("full batch" if bs is None else f"batches of {bs}"))
    out = [head + ": " + " · ".join(f for f in facts if f)]
    for s in trace.steps:
        out += ["", step_text(s, len(trace.steps), net.get("n_samples"))]
    return "\n".join(out) + "\n"
