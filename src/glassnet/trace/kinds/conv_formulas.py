"""Workbook formulas of convolutions, pooling and reshaping (:mod:`.conv`): each output cell written out over
the input cells its window reads (``SUMPRODUCT`` where both sides lie in one row or column of the sheet,
``a*b`` terms otherwise), MAX/AVERAGE over a pooling window, and the backward sums over the windows."""

from __future__ import annotations

import numpy as np

from ...errors import ExportError
from ..formulas import formula

__all__ = ["MAX_FORMULA", "ints"]

#: the longest formula a workbook cell holds (Excel's limit; LibreOffice reads what Excel writes)
MAX_FORMULA = 8192


def ints(v) -> list[int]:
    """A layer's tuple setting (kernel size, strides...) as plain ints."""
    return [int(x) for x in v]


def _rc(shape, index) -> tuple[int, int]:
    """Grid (row, column) of array ``index`` in a block of ``shape`` (xlsx lays (N, ...) out as N rows)."""
    if len(shape) == 0:
        return 0, 0
    if len(shape) == 1:
        return 0, int(index[0])
    return int(index[0]), int(np.ravel_multi_index(tuple(index[1:]), shape[1:]))


def _step(c, k, i0, i1):
    """The grid step from index i0 to i1 of input k: (0, 1) along a row, (1, 0) down a column, else None."""
    (r0, c0), (r1, c1) = _rc(c.ins[k].shape, i0), _rc(c.ins[k].shape, i1)
    d = (r1 - r0, c1 - c0)
    return d if d in ((0, 1), (1, 0)) else None


def _range(c, k, first, last) -> str:
    a, b = c.ref(k, first), c.ref(k, last)
    return a if a == b else f"{a}:{b.split('!')[-1]}"


def _runs(c, items):
    """Split ``items`` ([(k, index), ...] per side) into runs in which every side steps one cell the same way."""
    runs, start, step = [], 0, None
    for i in range(1, len(items) + 1):
        if i < len(items):
            steps = {_step(c, k, i0, i1) for (k, i0), (_, i1) in zip(items[i - 1], items[i])}
            s = steps.pop() if len(steps) == 1 else None
            if s is not None and (step is None or s == step):
                step = s
                continue
        runs.append(items[start:i])
        start, step = i, None
    return runs


def _dot(c, pairs) -> str:
    """Σ a·b over ``pairs`` ([((ka, ia), (kb, ib)), ...]): SUMPRODUCT of ranges where both sides run on."""
    terms = []
    for run in _runs(c, pairs):
        (ka, a0), (kb, b0) = run[0]
        (_, a1), (_, b1) = run[-1]
        if len(run) == 1:
            terms.append(f"{c.ref(ka, a0)}*{c.ref(kb, b0)}")
        else:
            terms.append(f"SUMPRODUCT({_range(c, ka, a0, a1)},{_range(c, kb, b0, b1)})")
    return "+".join(terms)


def _cells(c, k, indices) -> str:
    """The cells of input k at ``indices`` as an argument list, contiguous runs as ranges."""
    runs = _runs(c, [((k, i),) for i in indices])
    return ",".join(_range(c, k, run[0][0][1], run[-1][0][1]) for run in runs)


def _checked(c, f):
    """``f`` with an ExportError for a formula longer than a workbook cell holds."""
    def g(i, j):
        text = f(i, j)
        if len(text) > MAX_FORMULA:
            raise ExportError(f"Step {c.step}: the formula of {c.q.name} at {c.index(i, j)} would be {len(text):,} "
                              f"characters, more than a workbook cell holds ({MAX_FORMULA:,}); trace fewer rows "
                              "(batch_size) or smaller feature maps")
        return text
    return g


def _reads(out_pos, offs, strides, dilation, pads, size):
    """The input position that output position ``out_pos`` reads at kernel offset ``offs``, or None (padding)."""
    pos = tuple(o * s + q * d - p for o, q, s, d, p in zip(out_pos, offs, strides, dilation, pads))
    return pos if all(0 <= v < n for v, n in zip(pos, size)) else None


def _geo(c):
    a = c.attrs
    return ints(a["strides"]), ints(a.get("dilation", [1] * len(a["strides"]))), ints(a["pads"])


def _readers(kernel, out, strides, dilation, pads, size) -> dict:
    """input position -> [(output position, kernel offset)] of every window that reads it, in kernel order."""
    found: dict[tuple, list] = {}
    for offs in np.ndindex(*kernel):
        for o in np.ndindex(*out):
            pos = _reads(o, offs, strides, dilation, pads, size)
            if pos is not None:
                found.setdefault(pos, []).append((o, offs))
    return found


@formula("conv", batch=True)
def _conv(c):  # Z[n, o, f] = Σ_κ Σ_c A[n, o·s + κ·d − p, c] · W[κ, c, f] (+ b[f])
    sa, sw = c.ins[0].shape, c.ins[1].shape
    strides, dilation, pads = _geo(c)
    r = len(strides)
    kernel, size = sw[:r], sa[1:1 + r]

    def f(i, j):
        n, *o, ch = c.index(i, j)
        pairs = [((0, (n, *pos, ci)), (1, (*offs, ci, ch)))
                 for offs in np.ndindex(*kernel)
                 if (pos := _reads(o, offs, strides, dilation, pads, size)) is not None
                 for ci in range(sa[-1])]
        text = _dot(c, pairs) or "0"
        return text + (f"+{c.ref(2, (ch,))}" if len(c.ins) > 2 else "")
    return _checked(c, f)


@formula("conv_dW")
def _conv_dw(c):  # dW[κ, c, f] = Σ_o Σ_n A[n, o·s + κ·d − p, c] · dZ[n, o, f]
    sa, sd = c.ins[0].shape, c.ins[1].shape
    strides, dilation, pads = _geo(c)
    r = len(strides)
    size, out = sa[1:1 + r], sd[1:1 + r]

    def f(i, j):
        *offs, ci, ch = c.index(i, j)
        pairs = [((0, (n, *pos, ci)), (1, (n, *o, ch)))
                 for o in np.ndindex(*out)
                 if (pos := _reads(o, offs, strides, dilation, pads, size)) is not None
                 for n in range(sa[0])]
        return _dot(c, pairs) or "0"
    return _checked(c, f)


@formula("conv_dx", batch=True)
def _conv_dx(c):  # dA[n, i, c] = Σ over the windows that read i of Σ_f dZ[n, o, f] · W[κ, c, f]
    sd, sw = c.ins[0].shape, c.ins[1].shape
    strides, dilation, pads = _geo(c)
    r = len(strides)
    readers = _readers(sw[:r], sd[1:1 + r], strides, dilation, pads, c.shape[1:1 + r])

    def f(i, j):
        n, *pos, ci = c.index(i, j)
        pairs = [((0, (n, *o, ch)), (1, (*offs, ci, ch))) for o, offs in readers.get(tuple(pos), [])
                 for ch in range(sw[-1])]
        return _dot(c, pairs) or "0"
    return _checked(c, f)


def _pool_window(c, shape_in, out_pos):
    """The input positions of output position ``out_pos``'s window that exist, in window (row-major) order."""
    pool, (strides, _, pads) = ints(c.attrs["pool_size"]), _geo(c)
    return [pos for offs in np.ndindex(*pool)
            if (pos := _reads(out_pos, offs, strides, [1] * len(pool), pads, shape_in[1:-1])) is not None]


@formula("max_pool", "average_pool", batch=True)
def _pool(c):  # MAX or AVERAGE over the window's real cells, channel by channel
    fn = "MAX" if c.q.op == "max_pool" else "AVERAGE"
    shape_in = c.ins[0].shape

    def f(i, j):
        n, *o, ch = c.index(i, j)
        return f"{fn}({_cells(c, 0, [(n, *pos, ch) for pos in _pool_window(c, shape_in, o)])})"
    return _checked(c, f)


def _pool_readers(c):
    """input position -> the output positions whose window holds it."""
    shape_in = c.shape
    out = (c.ins[1] if c.q.op == "max_pool_backward" else c.ins[0]).shape[1:-1]
    found: dict[tuple, list] = {}
    for o in np.ndindex(*out):
        for pos in _pool_window(c, shape_in, o):
            found.setdefault(pos, []).append(o)
    return found


@formula("max_pool_backward", batch=True)
def _max_pool_backward(c):
    # dA[n, i, ch] = Σ over the windows holding i of dA_out if i is the window's first maximal cell, else 0:
    # IF(AND(x = max, every earlier cell of the window < max), d, 0), as NumPy's argmax (the engine's) picks
    readers, shape_in = _pool_readers(c), c.shape

    def f(i, j):
        n, *pos, ch = c.index(i, j)
        terms = []
        for o in readers.get(tuple(pos), []):
            window = _pool_window(c, shape_in, o)
            m, d = c.ref(1, (n, *o, ch)), c.ref(2, (n, *o, ch))
            x = c.ref(0, (n, *pos, ch))
            earlier = [f"{c.ref(0, (n, *e, ch))}<{m}" for e in window[:window.index(tuple(pos))]]
            cond = f"AND({x}={m},{','.join(earlier)})" if earlier else f"{x}={m}"
            terms.append(f"IF({cond},{d},0)")
        return "+".join(terms) or "0"
    return _checked(c, f)


@formula("average_pool_backward", batch=True)
def _average_pool_backward(c):  # dA[n, i, ch] = Σ over the windows holding i of dA_out / (real cells in the window)
    readers, shape_in = _pool_readers(c), c.shape

    def f(i, j):
        n, *pos, ch = c.index(i, j)
        terms = [f"{c.ref(0, (n, *o, ch))}/{len(_pool_window(c, shape_in, o))}" for o in readers.get(tuple(pos), [])]
        return "+".join(terms) or "0"
    return _checked(c, f)


@formula("global_avg_pool", batch=True)
def _global_avg_pool(c):  # A[n, ch] = AVERAGE of channel ch over every position
    sa = c.ins[0].shape

    def f(i, j):
        n, ch = c.index(i, j)
        return f"AVERAGE({_cells(c, 0, [(n, *pos, ch) for pos in np.ndindex(*sa[1:-1])])})"
    return _checked(c, f)


@formula("global_avg_pool_backward", batch=True)
def _global_avg_pool_backward(c):  # dA[n, i, ch] = dA_out[n, ch] / positions
    positions = int(np.prod(c.shape[1:-1]))

    def f(i, j):
        n, *_, ch = c.index(i, j)
        return f"{c.ref(0, (n, ch))}/{positions}"
    return f


@formula("reshape", batch=True)
def _reshape(c):  # row-major both ways: grid cell (i, j) is the same number
    return lambda i, j: c.at(0, i, j)
