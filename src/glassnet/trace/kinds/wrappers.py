"""Bidirectional, TimeDistributed and Masking: what carries sequences around the layers, with its formulas.

``Bidirectional(layer)`` at layer k holds two copies of a recurrent layer, each laid out by its own kind
(:mod:`.recurrent`) under the suffix ``{k}f`` or ``{k}b``: the backward copy reads ``A{k}b0``, the input
with its steps reversed, and its output comes back into time order where the two are merged::

    A{k} = merge(A{k}f, reversed A{k}b)           concat, sum, mul or ave
    dA{k}f, dA{k}b = each copy's share of dA{k}   (mul: times the other copy's output)

(with ``return_sequences`` on a padded batch both outputs and both shares are zero at padded steps:
times ``mask{k}f``, as Keras' ``zero_output_for_mask``)
    dA{k-1} = dA{k}f0 + reversed dA{k}b0

``TimeDistributed(layer)`` at layer k folds the steps into rows, ``A{k}in`` (N·T, ...) from ``A{k-1}``,
lays the wrapped layer out by its own kind with layer k's names (``W{k}``, ``Z{k}``) and its output
``A{k}out``, and unfolds that into ``A{k}`` (N, T, ...); backward, ``dA{k}out`` from ``dA{k}`` and
``dA{k-1}`` from ``dA{k}in``, the same reshapes.

``Masking`` marks the steps whose features all equal ``mask_value``: ``mask{k}`` (N, T), ``A{k} = A{k-1} ⊙
mask{k}``; the recurrent layers after it keep their states at those steps (they read ``mask{k}``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...layers.masking import Masking
from ...layers.wrappers import Bidirectional, TimeDistributed
from ..builder import LayerContext
from ..formulas import formula, num
from .base import LayerTracer, check_layer, register, tracer_for
from .recurrent_formulas import x_row

__all__ = ["BidirectionalTracer", "MaskingTracer", "TimeDistributedTracer"]


@dataclass
class _Side(LayerContext):
    """A Bidirectional's forward or backward copy: its gradients' names are the wrapper's choice."""

    grad_out: str = ""
    grad_in: str = ""

    @property
    def d_out(self) -> str:
        return self.grad_out

    @property
    def d_inp(self) -> str:
        return self.grad_in


@register(Bidirectional)
class BidirectionalTracer(LayerTracer):
    """Two copies of a recurrent layer, suffixed ``f`` and ``b``: one reads the sequence forward, the other reversed.

    Layer k's copies are traced by their own kind with the suffixes ``{k}f`` and ``{k}b`` (``W1f``, ``h1b_t2``);
    the backward copy reads ``A{k}b0``, the input with its time axis reversed, and its outputs come back into
    time order when they are merged (concat, sum, mul or ave) into ``A{k}``.
    """

    def check(self, layer, k):
        tracer_for(layer.forward_layer).check(layer.forward_layer, k)

    def describe(self, layer, k):
        inner = layer.forward_layer
        entry = {"kind": type(inner).__name__} | tracer_for(inner).describe(inner, f"{k}f")
        entry["per_step"]["name"] = f"<stem>{k}f_t<t> (forward copy), <stem>{k}b_t<t> (backward copy)"
        return {"merge_mode": layer.merge_mode, "suffixes": [f"{k}f", f"{k}b"], "layer": entry}

    def summary(self, layer):
        return f"Bidirectional[{tracer_for(layer.forward_layer).summary(layer.forward_layer)}] {layer.merge_mode}"

    def param_name(self, layer, key, k):
        side, rest = key.split(".", 1)  # "forward.W" -> W{k}f
        return f"{rest}{k}{side[0]}"

    def sublayers(self, layer):
        return [layer.forward_layer, layer.backward_layer]

    def after_forward(self, layer, rec):
        rec["zeroed"] = getattr(layer, "keep", None) is not None  # padded steps of a sequence output give 0

    def _mask(self, ctx, fwd) -> tuple:
        """The forward copy's ``mask{k}f`` as an extra input when padded steps of the output are zeroed, else ()."""
        return (fwd.q("mask"),) if ctx.rec.get("zeroed") else ()

    def _sides(self, ctx):
        base, subs, out = ctx.suffix or ctx.k, ctx.rec.get("sublayers", {}), []
        for side, sub in (("forward", ctx.layer.forward_layer), ("backward", ctx.layer.backward_layer)):
            sfx = f"{base}{side[0]}"
            regularized = {key[len(side) + 1:] for key in ctx.regularized if key.startswith(side + ".")}
            out.append(_Side(k=ctx.k, layer=sub, rec=subs.get(id(sub), {}), inp=ctx.inp if side == "forward" else
                             f"A{sfx}0", out=f"A{sfx}", n=ctx.n, suffix=sfx, regularized=regularized,
                             section=ctx.section, grad_out=f"dA{sfx}", grad_in=f"dA{sfx}0"))
        return out

    def forward(self, b, ctx):
        fwd, bwd = self._sides(ctx)
        section, tracer = b.section, tracer_for(fwd.layer)
        b.section = f"{section}, forward copy"
        tracer.forward(b, fwd)
        tracer.update_buffers(b, fwd)
        b.section = f"{section}, backward copy"
        b.add(bwd.inp, f"{ctx.inp} with its steps reversed", bwd.rec["x"], "the input read from the last step to the "
              "first", (ctx.inp,), op="rnn_reverse", layer=ctx.k)
        tracer.forward(b, bwd)
        tracer.update_buffers(b, bwd)
        b.section = f"{section}, merged"
        mode, seq = ctx.layer.merge_mode, ctx.layer.return_sequences
        back = f"reversed({bwd.out})" if seq else bwd.out
        text = {"concat": f"[{fwd.out}, {back}]", "sum": f"{fwd.out} + {back}", "mul": f"{fwd.out} ⊙ {back}",
                "ave": f"({fwd.out} + {back}) / 2"}[mode]
        mask = self._mask(ctx, fwd)
        if mask:
            text = text.replace(fwd.out, f"{fwd.out} ⊙ {mask[0]}").replace(back, f"{back} ⊙ {mask[0]}")
        b.add(ctx.out, text, ctx.rec["out"], f"the two directions merged ({mode})" + (", the backward copy's steps "
              "back in time order" if seq else "") + (", padded steps zeroed (Keras' zero_output_for_mask)" if mask
                                                       else ""),
              (fwd.out, bwd.out, *mask), op="bidir_merge", layer=ctx.k, mode=mode, seq=seq)

    def backward(self, b, ctx):
        fwd, bwd = self._sides(ctx)
        section, tracer = b.section, tracer_for(fwd.layer)
        mode, seq, u = ctx.layer.merge_mode, ctx.layer.return_sequences, fwd.layer.units
        b.section = f"{section}, the gradient split"
        mask = self._mask(ctx, fwd)
        for this, other in ((fwd, bwd), (bwd, fwd)):
            ins = ((ctx.d_out, other.out) if mode == "mul" else (ctx.d_out,)) + mask
            part = {"concat": "its half of", "sum": "all of", "ave": "half of",
                    "mul": "the other direction times"}[mode]
            b.add(this.d_out, f"{part} {ctx.d_out}" + (" (steps reversed)" if seq and this is bwd else "")
                  + (f", 0 at padded steps ({mask[0]})" if mask else ""),
                  this.rec["dy"], f"the gradient reaching the {'forward' if this is fwd else 'backward'} copy's output",
                  ins, op="bidir_split", layer=ctx.k, mode=mode, seq=seq, side=this.suffix[-1], units=u)
        for this in (fwd, bwd):
            b.section = f"{section}, {'forward' if this is fwd else 'backward'} copy"
            tracer.backward(b, this)
        if ctx.sends_back:
            b.section = f"{section}, the gradient sent back"
            b.add(ctx.d_inp, f"{fwd.d_inp} + {bwd.d_inp} with its steps reversed", ctx.rec["dx"], "gradient sent "
                  "back: the forward copy's plus the backward copy's, back in time order", (fwd.d_inp, bwd.d_inp),
                  op="bidir_dx", layer=ctx.k - 1)


@register(TimeDistributed)
class TimeDistributedTracer(LayerTracer):
    """The wrapped layer on every step: its own kind on ``A{k}in`` (N·T, ...), the steps folded into rows."""

    def check(self, layer, k):
        check_layer(layer.layer, k)

    def describe(self, layer, k):
        inner = layer.layer
        return {"layer": {"kind": type(inner).__name__} | tracer_for(inner).describe(inner, k),
                "rows": "the wrapped layer sees N·T rows: row n·T + t is sample n's step t"}

    def summary(self, layer):
        return f"TimeDistributed[{tracer_for(layer.layer).summary(layer.layer)}]"

    def param_name(self, layer, key, k):
        return tracer_for(layer.layer).param_name(layer.layer, key, k)  # the wrapped layer's keys, unprefixed

    def sublayers(self, layer):
        return [layer.layer]

    def _inner(self, ctx):
        base = ctx.suffix or str(ctx.k)
        sub = ctx.layer.layer
        return LayerContext(k=ctx.k, layer=sub, rec=ctx.rec.get("sublayers", {}).get(id(sub), {}),
                            inp=f"A{base}in", out=f"A{base}out", n=ctx.n, suffix=ctx.suffix,
                            regularized=ctx.regularized, section=ctx.section)

    def forward(self, b, ctx):
        inner, tracer = self._inner(ctx), tracer_for(ctx.layer.layer)
        b.add(inner.inp, f"{ctx.inp} with its steps as rows", inner.rec["x"], "the input folded: every step of every "
              "sample a row (N·T rows), for the wrapped layer", (ctx.inp,), op="rnn_reshape", layer=ctx.k)
        tracer.forward(b, inner)
        tracer.update_buffers(b, inner)
        b.add(ctx.out, f"{inner.out} unfolded", ctx.rec["out"], "the wrapped layer's rows back into (N, T, ...)",
              (inner.out,), op="rnn_reshape", layer=ctx.k)

    def backward(self, b, ctx):
        inner, tracer = self._inner(ctx), tracer_for(ctx.layer.layer)
        b.add(inner.d_out, f"{ctx.d_out} with its steps as rows", inner.rec["dy"], "the gradient folded as the "
              "wrapped layer's output was", (ctx.d_out,), op="rnn_reshape", layer=ctx.k)
        tracer.backward(b, inner)
        if ctx.sends_back:
            b.add(ctx.d_inp, f"{inner.d_inp} unfolded", ctx.rec["dx"], "gradient sent back: the wrapped layer's, "
                  "back into (N, T, ...)", (inner.d_inp,), op="rnn_reshape", layer=ctx.k - 1)


@register(Masking)
class MaskingTracer(LayerTracer):
    """``mask{k} = any(A{k-1}[:, t] ≠ mask_value)`` per step, ``A{k} = A{k-1} ⊙ mask{k}`` (padded steps zeroed)."""

    def describe(self, layer, k):
        return {"mask_value": float(layer.mask_value)}

    def summary(self, layer):
        return f"Masking {layer.mask_value:g}"

    def after_forward(self, layer, rec):
        rec["keep"] = np.asarray(layer.keep, dtype=np.float64)  # (N, T): 1 at a real step

    def forward(self, b, ctx):
        mv, mask = float(ctx.layer.mask_value), ctx.q("mask")
        b.add(mask, f"1 where any of {ctx.inp}[:, t] ≠ {mv:g}, else 0", ctx.rec["keep"], "the padding mask: a step "
              f"whose features all equal {mv:g} is padding (0); the recurrent layers after it keep their states there",
              (ctx.inp,), op="masking_mask", layer=ctx.k, mask_value=mv)
        b.add(ctx.out, f"{ctx.inp} ⊙ {mask}", ctx.rec["out"], "the input with its padded steps zeroed",
              (ctx.inp, mask), op="masking_apply", layer=ctx.k)

    def backward(self, b, ctx):
        if ctx.sends_back:
            mask = ctx.q("mask")
            b.add(ctx.d_inp, f"{ctx.d_out} ⊙ {mask}", ctx.rec["dx"], "gradient sent back: nothing at a padded step",
                  (ctx.d_out, mask), op="masking_apply", layer=ctx.k - 1)


# -- workbook formulas -----------------------------------------------------------------------------------------

@formula("rnn_reverse", batch=True)
def _rnn_reverse(c):  # x[:, ::-1]
    def f(i, j):
        _, t, ch = c.index(i, j)
        return c.ref(0, (i, c.shape[1] - 1 - t, ch))
    return f


@formula("bidir_merge", batch=True)
def _bidir_merge(c):  # concat / sum / mul / ave of the forward output and the (time-reversed) backward one
    mode, seq = c.attrs["mode"], c.attrs["seq"]
    u = c.ins[0].shape[-1]
    masked = len(c.ins) == 3  # a third input: the mask (N, T) zeroing both outputs at padded steps

    def f(i, j):
        idx = c.index(i, j)
        *lead, k = idx
        back = (i, c.shape[1] - 1 - lead[1]) if seq else (i,)
        m = f"*{c.ref(2, (i, lead[1]))}" if masked else ""
        if mode == "concat":
            return (c.ref(0, idx) if k < u else c.ref(1, (*back, k - u))) + m
        a, z = c.ref(0, idx) + m, c.ref(1, (*back, k)) + m
        return {"sum": f"{a}+{z}", "mul": f"({a})*({z})", "ave": f"({a}+{z})/2"}[mode]
    return f


@formula("bidir_split", batch=True)
def _bidir_split(c):  # one copy's share of dA{k}; inputs dA{k} (and the other copy's output for mul)
    mode, seq, side, u = c.attrs["mode"], c.attrs["seq"], c.attrs["side"], c.attrs["units"]
    masked = len(c.ins) == (3 if mode == "mul" else 2)  # a last input: the mask (N, T), padded steps give 0

    def f(i, j):
        idx = c.index(i, j)
        T = c.shape[1] if seq else 1
        tt = (T - 1 - idx[1] if side == "b" else idx[1]) if seq else None  # the step in time order
        where = (i, tt) if seq else (i,)
        dy = c.ref(0, (*where, idx[-1] + (u if mode == "concat" and side == "b" else 0)))
        m = f"*{c.ref(len(c.ins) - 1, (i, tt))}" if masked else ""  # 0 at a padded step
        if mode in ("concat", "sum"):
            return dy + m
        if mode == "ave":
            return f"{dy}/2{m}"
        other = ((i, T - 1 - tt) if side == "f" else (i, tt)) if seq else (i,)  # the other copy's own order
        return f"{dy}*{c.ref(1, (*other, idx[-1]))}{m}"
    return f


@formula("bidir_dx", batch=True)
def _bidir_dx(c):  # dA{k-1}[:, t] = dA{k}f0[:, t] + dA{k}b0[:, T-1-t]
    def f(i, j):
        _, t, ch = c.index(i, j)
        return f"{c.ref(0, (i, t, ch))}+{c.ref(1, (i, c.shape[1] - 1 - t, ch))}"
    return f



@formula("masking_mask", array=True, batch=True)
def _masking_mask(c):  # 1 where any feature of step t differs from mask_value
    mv = num(c.attrs["mask_value"])
    return lambda i, j: f"IF(SUMPRODUCT(({x_row(c, 0, i, j)}<>{mv})*1)>0,1,0)"


@formula("rnn_mask_ids", batch=True)
def _rnn_mask_ids(c):  # Embedding(mask_zero=True): id 0 is padding
    return lambda i, j: f"IF({c.at(0, i, j)}<>0,1,0)"


@formula("masking_apply", batch=True)
def _masking_apply(c):  # x[i, t, ch] · mask[i, t]
    def f(i, j):
        _, t, _ = c.index(i, j)
        return f"{c.at(0, i, j)}*{c.ref(1, (i, t))}"
    return f


@formula("rnn_reshape", batch=True)
def _rnn_reshape(c):  # the same numbers in another shape (C order): folding steps into rows and back
    def f(i, j):
        flat = int(np.ravel_multi_index(c.index(i, j), c.shape))
        return c.ref(0, np.unravel_index(flat, c.ins[0].shape))
    return f
