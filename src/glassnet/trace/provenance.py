"""Which cells each cell of a quantity was computed from, read off its workbook formula.

The workbook formula of an op (:mod:`glassnet.trace.formulas`) names exactly the cells it reads. Built
against probe blocks, whose cell and range references are tokens instead of A1 addresses, the same
builders say, for every cell, which cells of which input it reads: the HTML page lights those up on hover.
So the page's provenance and the workbook's formulas cannot disagree, for every layer kind at once.
"""

from __future__ import annotations

import re

import numpy as np

from . import kinds, updates  # noqa: F401  (they register their workbook formulas)
from .formulas import FORMULAS, Cells

__all__ = ["MAX_LINKS", "provenance"]

#: above this many (cell, source cell) links a quantity's provenance is left to the page's own rules
MAX_LINKS = 200_000

_TOKEN = re.compile(r"⟦(\d+),(\d+),(\d+)⟧(?::⟦(\d+),(\d+),(\d+)⟧)?|⟦(\d+),(\d+),(\d+),(\d+),(\d+)⟧")
#: the same tokens, whole (no groups), for ``findall``
_WHOLE_TOKEN = re.compile(r"⟦\d+,\d+,\d+⟧(?::⟦\d+,\d+,\d+⟧)?|⟦\d+,\d+,\d+,\d+,\d+⟧")


class _Probe:
    """A stand-in for a workbook block whose references are tokens: ⟦k,i,j⟧ a cell, ⟦k,r0,c0,r1,c1⟧ a range."""

    def __init__(self, k: int, value):
        a = np.asarray(value)
        g = a.reshape(1, 1) if a.ndim == 0 else a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)
        self.k, self.shape, (self.nrows, self.ncols) = k, tuple(a.shape), g.shape

    def cell(self, i, j, here=None):
        return f"⟦{self.k},{i},{j}⟧"

    def span(self, r0, c0, r1, c1, here=None):
        return f"⟦{self.k},{r0},{c0},{r1},{c1}⟧"

    def row_range(self, i, here=None):
        return self.span(i, 0, i, self.ncols - 1)

    def col_range(self, j, here=None):
        return self.span(0, j, self.nrows - 1, j)

    def whole(self, here=None):
        return self.span(0, 0, self.nrows - 1, self.ncols - 1)

    def at(self, index, here=None):
        shape = self.shape
        if len(shape) == 0:
            return self.cell(0, 0)
        if len(shape) == 1:
            return self.cell(0, index[0])
        j = int(np.ravel_multi_index(index[1:], shape[1:])) if len(shape) > 2 else index[1]
        return self.cell(index[0], j)


def _cells(probe, r0, c0, r1, c1) -> tuple:
    if r0 == r1 and c0 == c1:
        return (r0 * probe.ncols + c0,)
    out = []
    for r in range(r0, r1 + 1):  # one C-level extend per row of the range
        out.extend(range(r * probe.ncols + c0, r * probe.ncols + c1 + 1))
    return tuple(out)


def _parser(probes, cache: dict):
    """token text -> (input position, its flat cells in increasing order), remembered in ``cache``."""
    def parse(token: str) -> tuple:
        m = _TOKEN.fullmatch(token)
        if m.group(1) is not None:
            k, r0, c0 = int(m.group(1)), int(m.group(2)), int(m.group(3))
            r1, c1 = (int(m.group(5)), int(m.group(6))) if m.group(4) is not None else (r0, c0)
        else:
            k, r0, c0, r1, c1 = (int(m.group(g)) for g in range(7, 12))
        hit = cache[token] = (k, _cells(probes[k], r0, c0, r1, c1))
        return hit
    return parse


def _key(q, values: dict) -> tuple:
    """What a formula's provenance depends on: the op, its constants and the shapes (never the numbers)."""
    attrs = tuple(sorted((k, (np.shape(v), np.asarray(v).tobytes()) if isinstance(v, np.ndarray) else repr(v))
                         for k, v in q.attrs.items()))
    return q.op, attrs, np.shape(q.value), tuple(np.shape(values[n]) for n in q.inputs)


def provenance(q, values: dict, memo: dict | None = None) -> list | None:
    """For each cell of ``q`` (flat, C order): ``[[input position, [flat cells]], ...]``; None if unknown.

    ``values`` maps the step's quantity names to their arrays (for the inputs' shapes). ``memo``, a dict the
    caller keeps across calls, reuses the answer for quantities of the same op, constants and shapes (each
    time step of a recurrent layer, each step of a trace): the links depend on nothing else.
    """
    if q.op not in FORMULAS or any(n not in values for n in q.inputs):
        return None
    if memo is None:
        return _provenance(q, values)
    key = _key(q, values)
    if key not in memo:
        memo[key] = _provenance(q, values)
    return memo[key]


def _provenance(q, values: dict) -> list | None:
    probes = [_Probe(k, values[n]) for k, n in enumerate(q.inputs)]
    builder, _ = FORMULAS[q.op]
    try:
        f = builder(Cells(q, probes, "here", 1))
    except (KeyError, IndexError, TypeError, ValueError):  # a builder that needs what a probe lacks: the page
        # falls back to its own rules
        return None
    a = np.asarray(q.value)
    rows, cols = (1, 1) if a.ndim == 0 else (1, a.shape[0]) if a.ndim == 1 else (a.shape[0], a.size // a.shape[0])
    cache: dict[str, tuple] = {}  # each distinct token is parsed once per quantity
    parse, find = _parser(probes, cache), _WHOLE_TOKEN.findall
    out, links = [], 0
    for i in range(rows):
        for j in range(cols):
            found: dict[int, tuple | set] = {}  # a tuple while one token reads input k (already sorted)
            for token in find(f(i, j)):
                k, cells = cache.get(token) or parse(token)
                seen = found.get(k)
                if seen is None:
                    found[k] = cells
                elif isinstance(seen, set):
                    seen.update(cells)
                else:
                    found[k] = {*seen, *cells}
            links += sum(map(len, found.values()))
            if links > MAX_LINKS:
                return None
            out.append([[k, sorted(v) if isinstance(v, set) else list(v)] for k, v in sorted(found.items())])
    return out
