"""Convolutions, pooling and reshaping (Conv1D/2D, Max/AveragePool1D/2D, GlobalAveragePooling1D/2D, Flatten,
Reshape); their workbook formulas are in :mod:`.conv_formulas`.

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
from . import conv_formulas  # noqa: F401  (registers the workbook formulas of the ops below)
from .base import LayerTracer, register
from .conv_formulas import ints
from .dense import _attrs, activation_info, add_activation, add_activation_backward

__all__ = ["ConvTracer", "GlobalPoolTracer", "PoolTracer", "ReshapeTracer"]

def _size(t) -> str:
    return "×".join(map(str, t))


@register(Conv1D, Conv2D)
class ConvTracer(LayerTracer):
    """``Z = conv(A, W) + b`` over every window, then the activation (as Dense)."""

    def check(self, layer, k):
        activation_info(layer.activation, f"layer {k} ({layer.display_name})")

    def describe(self, layer, k):
        info = activation_info(layer.activation, f"layer {k}")
        entry = {"n_in": int(layer.input_shape[-1]), "filters": layer.filters, "kernel_size": ints(layer.kernel_size),
                 "strides": ints(layer.strides), "padding": layer.padding,
                 "dilation_rate": ints(layer.dilation_rate),
                 "pads": [ints(p) for p in layer.pads], "activation": info.op, "use_bias": layer.use_bias}
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
        return {"strides": ints(layer.strides), "dilation": ints(layer.dilation_rate),
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
        return {"mode": layer.mode, "pool_size": ints(layer.pool_size), "strides": ints(layer.strides),
                "padding": layer.padding, "pads": [ints(p) for p in layer.pads]}

    def summary(self, layer):
        text = f"{type(layer).__name__} {_size(layer.pool_size)}"
        if tuple(layer.strides) != tuple(layer.pool_size):
            text += f" s{_size(layer.strides)}"
        return text + (f" {layer.padding}" if layer.padding != "valid" else "")

    @staticmethod
    def _geometry(layer) -> dict:
        return {"pool_size": ints(layer.pool_size), "strides": ints(layer.strides),
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
