"""Convolutions, pooling and reshaping (Conv1D/2D, Max/AveragePool1D/2D, GlobalAveragePooling1D/2D, Flatten,
Reshape), with their workbook formulas.

Shapes stay natural, channels last: sequences ``(N, T, C)``, images ``(N, H, W, C)``. Names follow the Dense
layers: a convolution records ``Z{k}`` (its output before the activation), ``A{k}``, then backward the slope,
``dZ{k}``, ``dW{k}``, ``db{k}`` and ``dA{k-1}``; pooling and reshaping record only ``A{k}`` and ``dA{k-1}``.

Geometry, along each spatial axis, is the engine's (:func:`glassnet.layers.conv.conv_output_length`): output
position ``o`` and kernel offset ``κ`` read input position ``o·s + κ·d − pad_before``; positions outside the
input are padding (zeros for a convolution, left out of a pooling window). Each workbook formula writes those
sums out over the cells that exist:

    Z[n, o, f]     = Σ_κ Σ_c A[n, o·s + κ·d − p, c] · W[κ, c, f] + b[f]
    dW[κ, c, f]    = Σ_o Σ_n A[n, o·s + κ·d − p, c] · dZ[n, o, f]       (SUMPRODUCT over the batch's column)
    dA[n, i, c]    = Σ_{(o, κ): o·s + κ·d − p = i} Σ_f dZ[n, o, f] · W[κ, c, f]   (SUMPRODUCT over the filters)
    max pool       = MAX over the window;  its backward routes dA[k] to the window's first maximal cell
    average pool   = AVERAGE over the window's real cells; its backward spreads dA[k] / count

Products whose two sides both lie in one row (or one column) of the sheet become ``SUMPRODUCT`` of two ranges;
the others are written as ``a*b`` terms.
"""

from __future__ import annotations

import numpy as np

from ...errors import ExportError
from ...layers.conv import Conv1D, Conv2D
from ...layers.pooling import (
    AveragePool1D,
    AveragePool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    MaxPool1D,
    MaxPool2D,
)
from ...layers.reshape import Flatten, Reshape
from ..formulas import formula
from .base import LayerTracer, register
from .dense import _attrs, activation_info, add_activation, add_activation_backward

__all__ = ["ConvTracer", "GlobalPoolTracer", "PoolTracer", "ReshapeTracer"]

#: the longest formula a workbook cell holds (Excel's limit; LibreOffice reads what Excel writes)
MAX_FORMULA = 8192


def _ints(v) -> list[int]:
    return [int(x) for x in v]


def _size(t) -> str:
    return "×".join(map(str, t))


@register(Conv1D, Conv2D)
class ConvTracer(LayerTracer):
    """``Z = conv(A, W) + b`` over every window, then the activation (as Dense)."""

    def check(self, layer, k):
        activation_info(layer.activation, f"layer {k} ({layer.display_name})")

    def describe(self, layer, k):
        info = activation_info(layer.activation, f"layer {k}")
        entry = {"n_in": int(layer.input_shape[-1]), "filters": layer.filters, "kernel_size": _ints(layer.kernel_size),
                 "strides": _ints(layer.strides), "padding": layer.padding,
                 "dilation_rate": _ints(layer.dilation_rate),
                 "pads": [_ints(p) for p in layer.pads], "activation": info.op, "use_bias": layer.use_bias}
        return entry | _attrs(layer.activation, info)

    def summary(self, layer):
        text = f"{type(layer).__name__} {layer.filters} k{_size(layer.kernel_size)}"
        if any(s != 1 for s in layer.strides):
            text += f" s{_size(layer.strides)}"
        if any(d != 1 for d in layer.dilation_rate):
            text += f" d{_size(layer.dilation_rate)}"
        if layer.padding != "valid":
            text += f" {layer.padding}"
        return f"{text} {activation_info(layer.activation, 'a layer').op}"

    def after_forward(self, layer, rec):
        rec["z"] = np.array(layer.z, copy=True)

    def after_backward(self, layer, rec):
        rec["dz"] = np.array(layer.dz, copy=True)

    @staticmethod
    def _geometry(layer) -> dict:
        return {"strides": _ints(layer.strides), "dilation": _ints(layer.dilation_rate),
                "pads": [int(lo) for lo, _ in layer.pads]}

    def forward(self, b, ctx):
        layer, k, A, W = ctx.layer, ctx.k, ctx.inp, ctx.p("W")
        z, a = ctx.q("Z"), ctx.out
        role = "output layer" if ctx.last else f"layer {k}"
        geo = self._geometry(layer)
        window = (f"kernel {_size(layer.kernel_size)}, stride {_size(layer.strides)}, dilation "
                  f"{_size(layer.dilation_rate)}, padding {layer.padding!r}")
        what = f"{role} input: each output position's window of {A} times the kernel {W}, summed"
        if layer.use_bias:
            bb = ctx.p("b")
            b.add(z, f"conv({A}, {W}) + {bb}", ctx.rec["z"], f"{what}, plus the bias ({window})", (A, W, bb),
                  op="conv", layer=k, **geo)
        else:
            b.add(z, f"conv({A}, {W})", ctx.rec["z"], f"{what} ({window})", (A, W), op="conv", layer=k, **geo)
        add_activation(b, layer.activation, z, a, ctx.rec["out"], f"{role} activation", k)

    def backward(self, b, ctx):
        layer, k, A = ctx.layer, ctx.k, ctx.inp
        z, dz = ctx.q("Z"), "d" + ctx.q("Z")
        geo = self._geometry(layer)
        if not ctx.fused:
            add_activation_backward(b, layer.activation, z, ctx.out, ctx.rec["z"], ctx.rec["out"], ctx.d_out, dz,
                                    ctx.rec["dz"], k)
        b.add(ctx.d("W"), f"Σ_n Σ_o window({A})ᵀ·{dz}", ctx.rec["grads"]["W"], "kernel gradient: for each "
              "kernel offset, the inputs it met at every output position times the delta there, summed over the "
              "batch and the positions", (A, dz), op="conv_dW", layer=k, **geo)
        if layer.use_bias:
            b.add(ctx.d("b"), f"Σ_n Σ_o {dz}", ctx.rec["grads"]["b"], "bias gradient: the delta summed over the "
                  "batch and every output position", (dz,), op="sum_rows", layer=k)
        if ctx.sends_back:
            b.add(ctx.d_inp, f"conv_transpose({dz}, {ctx.p('W')})", ctx.rec["dx"], f"gradient sent back to layer "
                  f"{k - 1}: each input cell collects delta · kernel from every window that read it",
                  (dz, ctx.p("W")), op="conv_dx", layer=k - 1, **geo)


@register(MaxPool1D, MaxPool2D, AveragePool1D, AveragePool2D)
class PoolTracer(LayerTracer):
    """Max or average over each window (padded cells left out)."""

    def describe(self, layer, k):
        return {"mode": layer.mode, "pool_size": _ints(layer.pool_size), "strides": _ints(layer.strides),
                "padding": layer.padding, "pads": [_ints(p) for p in layer.pads]}

    def summary(self, layer):
        text = f"{type(layer).__name__} {_size(layer.pool_size)}"
        if tuple(layer.strides) != tuple(layer.pool_size):
            text += f" s{_size(layer.strides)}"
        return text + (f" {layer.padding}" if layer.padding != "valid" else "")

    @staticmethod
    def _geometry(layer) -> dict:
        return {"pool_size": _ints(layer.pool_size), "strides": _ints(layer.strides),
                "pads": [int(lo) for lo, _ in layer.pads]}

    def forward(self, b, ctx):
        layer, k, A = ctx.layer, ctx.k, ctx.inp
        how = "max" if layer.mode == "max" else "mean"
        b.add(ctx.out, f"{layer.mode}_pool({A})", ctx.rec["out"], f"layer {k}: the {how} of each {_size(layer.pool_size)} "
              f"window of {A}, channel by channel" + (" (padded cells left out)" if layer.padding == "same" else ""),
              (A,), op=f"{layer.mode}_pool", layer=k, **self._geometry(layer))

    def backward(self, b, ctx):
        if not ctx.sends_back:
            return
        layer, k, A = ctx.layer, ctx.k, ctx.inp
        geo = self._geometry(layer)
        if layer.mode == "max":
            b.add(ctx.d_inp, f"{ctx.d_out} routed to each window's argmax in {A}", ctx.rec["dx"],
                  f"gradient sent back to layer {k - 1}: each window's gradient goes to the cell that held its "
                  "maximum (the first one, in window order, if several tie); the others get 0",
                  (A, ctx.out, ctx.d_out), op="max_pool_backward", layer=k - 1, **geo)
        else:
            b.add(ctx.d_inp, f"{ctx.d_out} / count, spread over each window", ctx.rec["dx"],
                  f"gradient sent back to layer {k - 1}: each window's gradient divided by its number of real "
                  "cells, added to each of them", (ctx.d_out,), op="average_pool_backward", layer=k - 1, **geo)


@register(GlobalAveragePooling1D, GlobalAveragePooling2D)
class GlobalPoolTracer(LayerTracer):
    """The mean of each channel over every position."""

    def forward(self, b, ctx):
        b.add(ctx.out, f"mean over positions of {ctx.inp}", ctx.rec["out"], f"layer {ctx.k}: each channel's "
              "average over every position", (ctx.inp,), op="global_avg_pool", layer=ctx.k)

    def backward(self, b, ctx):
        if ctx.sends_back:
            positions = int(np.prod(ctx.rec["x"].shape[1:-1]))
            b.add(ctx.d_inp, f"{ctx.d_out} / {positions} at every position", ctx.rec["dx"], f"gradient sent back "
                  f"to layer {ctx.k - 1}: each channel's gradient divided by the {positions} positions it averaged",
                  (ctx.d_out,), op="global_avg_pool_backward", layer=ctx.k - 1)


@register(Flatten, Reshape)
class ReshapeTracer(LayerTracer):
    """The same numbers in a new shape (row-major, so the workbook's cells line up one for one)."""

    def describe(self, layer, k):
        return {"target_shape": list(layer.output_shape)}

    def summary(self, layer):
        return f"{type(layer).__name__} {_size(layer.output_shape)}"

    def forward(self, b, ctx):
        shape = "×".join(map(str, ctx.layer.output_shape))
        b.add(ctx.out, f"reshape({ctx.inp}, N×{shape})", ctx.rec["out"], f"layer {ctx.k}: the same numbers, each "
              f"sample as {shape} (row-major)", (ctx.inp,), op="reshape", layer=ctx.k)

    def backward(self, b, ctx):
        if ctx.sends_back:
            b.add(ctx.d_inp, f"reshape({ctx.d_out}, shape of {ctx.inp})", ctx.rec["dx"], f"gradient sent back to "
                  f"layer {ctx.k - 1}: the same numbers in the input's shape", (ctx.d_out,), op="reshape",
                  layer=ctx.k - 1)


# -- workbook formulas -----------------------------------------------------------------------------------------

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
    return _ints(a["strides"]), _ints(a.get("dilation", [1] * len(a["strides"]))), _ints(a["pads"])


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
    pool, (strides, _, pads) = _ints(c.attrs["pool_size"]), _geo(c)
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
