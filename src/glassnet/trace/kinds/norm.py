"""Batch normalization (training mode), the Normalization preprocessing layer and Dropout, with their formulas.

BatchNormalization on ``(N, C)``, ``(N, L, C)`` or ``(N, H, W, C)`` normalizes each channel over the M
values it has in the batch (every row and every position)::

    batch_mean{k} = mean(A{k-1})                 batch_var{k} = mean((A{k-1} − batch_mean{k})²)
    istd{k} = 1 / √(batch_var{k} + ε)            xhat{k} = (A{k-1} − batch_mean{k}) · istd{k}
    A{k} = xhat{k} · gamma{k} + beta{k}
    moving_mean{k}_new = momentum · moving_mean{k} + (1 − momentum) · batch_mean{k}   (moving_var likewise)
    dbeta{k} = Σ dA{k}        dgamma{k} = Σ dA{k} ⊙ xhat{k}
    dA{k-1} = (M · dA{k} − dbeta{k} − xhat{k} · dgamma{k}) · gamma{k} · istd{k} / M

The layer caches ``x_hat`` and ``inv_std``; it keeps neither the batch mean nor the variance, so the tracer
takes them from the step's input with the layer's own two lines (``x.mean``, ``mean((x − μ)²)``) and checks
that they give back the layer's ``x_hat`` bit for bit.

Normalization (statistics fixed before training, buffers ``mean{k}``, ``variance{k}``)::

    std{k} = max(√variance{k}, 1e-7)      A{k} = (A{k-1} − mean{k}) / std{k}   (inverted: mean{k} + A{k-1}·std{k})
    dA{k-1} = dA{k} / std{k}   (inverted: dA{k} · std{k})

Dropout (inverted dropout): ``mask{k}`` holds 1 for a kept unit and 0 for a dropped one (the draw of the
engine's generator; in the workbook a given, yellow cell), ``A{k} = A{k-1} ⊙ mask{k} · (1 / (1 − rate))``
and ``dA{k-1} = dA{k} ⊙ mask{k} · (1 / (1 − rate))``.
"""

from __future__ import annotations

import numpy as np

from ...layers.dropout import Dropout
from ...layers.normalization import BatchNormalization
from ...layers.preprocessing import EPSILON, Normalization
from ..formulas import formula, num
from .base import LayerTracer, register

__all__ = ["BatchNormTracer", "DropoutTracer", "NormalizationTracer", "channel_columns"]

#: at most this many ranges in one AVERAGE/VARP/SUM call (Excel and LibreOffice take 255 arguments); a
#: channel spread over more columns is summed with one SUMPRODUCT over the block instead
MAX_RANGES = 255


def _channels(layer) -> int:
    return int(layer.input_shape[-1])


@register(BatchNormalization)
class BatchNormTracer(LayerTracer):
    """Training-mode batch normalization: the batch statistics, x̂, the output, the moving statistics and the
    full backward."""

    def describe(self, layer, k):
        return {"channels": _channels(layer), "momentum": layer.momentum, "epsilon": layer.epsilon,
                "center": layer.center, "scale": layer.scale,
                "values_per_channel": "M = rows × positions in the batch"}

    def summary(self, layer):
        return "BatchNorm"

    def after_forward(self, layer, rec):
        if not layer.training:  # never in a train_step; kept for safety
            return
        x = rec["x"]
        M = x.size // x.shape[-1]  # rows × positions: the values each channel's statistics average
        mu, var = layer.batch_mean.copy(), layer.batch_var.copy()  # (C,) the layer's own, from this forward
        rec["bn"] = {"mean": mu, "var": var, "M": M, "istd": layer.inv_std.copy(),
                     "xhat": layer.x_hat.reshape(x.shape).copy(),
                     "moving": {key: v.copy() for key, v in layer.state.items()}}

    def forward(self, b, ctx):
        layer, k, x = ctx.layer, ctx.k, ctx.inp
        bn = ctx.rec["bn"]
        M, eps = bn["M"], layer.epsilon
        mean, var, istd, xhat = ctx.q("batch_mean"), ctx.q("batch_var"), ctx.q("istd"), ctx.q("xhat")
        b.add(mean, f"mean({x}) per channel", bn["mean"], f"batch mean of each channel over its M = {M} values "
              "(every row and every position)", (x,), op="bn_mean", layer=k)
        b.add(var, f"mean(({x} − {mean})²) per channel", bn["var"], "batch variance of each channel (biased: "
              "divided by M, as Keras)", (x, mean), op="bn_var", layer=k)
        b.add(istd, f"1 / √({var} + {eps:g})", bn["istd"], "one over the standard deviation, with ε added to the "
              "variance", (var,), op="bn_istd", layer=k, bn_epsilon=eps)
        b.add(xhat, f"({x} − {mean}) · {istd}", bn["xhat"], "the normalized inputs: mean 0 and variance 1 per "
              "channel", (x, mean, istd), op="bn_xhat", layer=k)
        terms, inputs = xhat, [xhat]
        if layer.scale:
            terms += f" · {ctx.p('gamma')}"
            inputs.append(ctx.p("gamma"))
        if layer.center:
            terms += f" + {ctx.p('beta')}"
            inputs.append(ctx.p("beta"))
        b.add(ctx.out, terms, ctx.rec["out"], "scaled and shifted per channel", tuple(inputs), op="bn_out", layer=k,
              scale=layer.scale, center=layer.center)

    def update_buffers(self, b, ctx):
        k, m = ctx.k, ctx.layer.momentum
        bn = ctx.rec["bn"]  # the moving statistics are the layer's own, copied right after its forward
        for key, batch in (("moving_mean", ctx.q("batch_mean")), ("moving_var", ctx.q("batch_var"))):
            old = ctx.p(key)
            b.add(old + "_new", f"{m:g} · {old} + (1 − {m:g}) · {batch}", bn["moving"][key],
                  f"the {key.replace('_', ' ')} for inference, moved towards this batch's statistics", (old, batch),
                  op="moving_average", layer=k, bn_momentum=m)

    def backward(self, b, ctx):
        layer, k, dy = ctx.layer, ctx.k, ctx.d_out
        bn, grads = ctx.rec["bn"], ctx.rec["grads"]
        xhat, M = ctx.q("xhat"), bn["M"]
        C = _channels(layer)
        dbeta = ctx.d("beta") if layer.center else ctx.q("dbeta")
        dgamma = ctx.d("gamma") if layer.scale else ctx.q("dgamma")
        # without beta (gamma) the layer still computes Σ dy (Σ dy ⊙ x̂) for dx: the same expressions
        dbeta_v = grads["beta"] if layer.center else ctx.rec["dy"].reshape(-1, C).sum(axis=0)
        dgamma_v = (grads["gamma"] if layer.scale
                    else np.einsum("mc,mc->c", ctx.rec["dy"].reshape(-1, C), bn["xhat"].reshape(-1, C)))
        b.add(dbeta, f"Σ {dy} per channel", dbeta_v, "the shift's gradient: the incoming gradient summed over "
              "the channel's M values" + ("" if layer.center else " (no beta: used by dx only)"), (dy,),
              op="sum_rows", layer=k)
        b.add(dgamma, f"Σ {dy} ⊙ {xhat} per channel", dgamma_v, "the scale's gradient: the incoming gradient "
              "times x̂, summed per channel" + ("" if layer.scale else " (no gamma: used by dx only)"), (dy, xhat),
              op="sum_rows_mul", layer=k)
        if not ctx.sends_back:
            return
        gamma = f" · {ctx.p('gamma')}" if layer.scale else ""
        inputs = (dy, dbeta, xhat, dgamma, ctx.q("istd")) + ((ctx.p("gamma"),) if layer.scale else ())
        b.add(ctx.d_inp, f"({M}·{dy} − {dbeta} − {xhat} ⊙ {dgamma}){gamma} · {ctx.q('istd')} / {M}", ctx.rec["dx"],
              f"gradient sent back through the normalization (the batch statistics depend on every input too), M = "
              f"{M}", inputs, op="bn_backward", layer=k - 1, M=M)


@register(Normalization)
class NormalizationTracer(LayerTracer):
    """Fixed standardization: ``(x − mean) / std`` (or its inverse) with the buffers ``mean{k}``, ``variance{k}``."""

    def describe(self, layer, k):
        return {"channels": _channels(layer), "invert": layer.invert, "std_floor": EPSILON}

    def summary(self, layer):
        return "Normalization" + (" inverted" if layer.invert else "")

    def forward(self, b, ctx):
        layer, k, x = ctx.layer, ctx.k, ctx.inp
        mean, var, std = ctx.p("mean"), ctx.p("variance"), ctx.q("std")
        b.add(std, f"max(√{var}, {EPSILON:g})", layer.std(), "the standard deviation of each feature (at least "
              f"{EPSILON:g})", (var,), op="norm_std", layer=k, floor=EPSILON)
        if layer.invert:
            b.add(ctx.out, f"{mean} + {x} ⊙ {std}", ctx.rec["out"], "back to the original units", (x, mean, std),
                  op="norm_invert", layer=k)
        else:
            b.add(ctx.out, f"({x} − {mean}) / {std}", ctx.rec["out"], "standardized: mean 0 and variance 1 per "
                  "feature over the data it was adapted to", (x, mean, std), op="norm_apply", layer=k)

    def backward(self, b, ctx):
        if not ctx.sends_back:
            return
        std = ctx.q("std")
        if ctx.layer.invert:
            b.add(ctx.d_inp, f"{ctx.d_out} ⊙ {std}", ctx.rec["dx"], "gradient sent back: times the fixed std",
                  (ctx.d_out, std), op="mul_channel", layer=ctx.k - 1)
        else:
            b.add(ctx.d_inp, f"{ctx.d_out} / {std}", ctx.rec["dx"], "gradient sent back: divided by the fixed std",
                  (ctx.d_out, std), op="div_channel", layer=ctx.k - 1)


@register(Dropout)
class DropoutTracer(LayerTracer):
    """Inverted dropout with the mask the engine drew."""

    def describe(self, layer, k):
        return {"rate": layer.rate, "scale": 1.0 / (1.0 - layer.rate)}

    def summary(self, layer):
        return f"Dropout {layer.rate:g}"

    def after_forward(self, layer, rec):
        rec["mask"] = None if layer.mask is None else np.asarray(layer.mask).copy()

    def _keep(self, ctx):
        """The 0/1 mask (the engine's is scaled: 0 or 1/(1 − rate)), or None where nothing was dropped."""
        mask = ctx.rec.get("mask")
        return None if mask is None else (mask != 0).astype(mask.dtype)

    def forward(self, b, ctx):
        layer, k, x = ctx.layer, ctx.k, ctx.inp
        keep = self._keep(ctx)
        if keep is None:
            b.add(ctx.out, x, ctx.rec["out"], "rate 0: dropout passes its input on", (x,), op="linear", layer=k)
            return
        mask, rate = ctx.q("mask"), layer.rate
        b.add(mask, mask, keep, f"the units kept in this step (1) and dropped (0): drawn by the model's generator, "
              f"each kept with probability {1 - rate:g}", kind="input", op="value", layer=k)
        b.add(ctx.out, f"{x} ⊙ {mask} · (1 / (1 − {rate:g}))", ctx.rec["out"], "the kept units, scaled up so that "
              "the expected sum stays the same", (x, mask), op="dropout", layer=k, rate=rate)

    def backward(self, b, ctx):
        if not ctx.sends_back:
            return
        if self._keep(ctx) is None:
            b.add(ctx.d_inp, ctx.d_out, ctx.rec["dx"], "rate 0: the gradient passes on", (ctx.d_out,), op="linear",
                  layer=ctx.k - 1)
            return
        mask, rate = ctx.q("mask"), ctx.layer.rate
        b.add(ctx.d_inp, f"{ctx.d_out} ⊙ {mask} · (1 / (1 − {rate:g}))", ctx.rec["dx"], "gradient sent back through "
              "the kept units only, scaled alike", (ctx.d_out, mask), op="dropout", layer=ctx.k - 1, rate=rate)


# -- workbook formulas -----------------------------------------------------------------------------------------

def channel_columns(c, k: int, channel: int) -> list[str]:
    """The grid columns of input ``k`` (shape (N, ..., C)) that hold ``channel``, as ranges."""
    shape = c.ins[k].shape
    C, per = shape[-1], int(np.prod(shape[1:-1], dtype=np.int64))
    return [c.col(k, m * C + channel) for m in range(per)]


def _masked(c, k: int, channel: int, expr: str) -> str:
    """``SUMPRODUCT`` of ``expr`` (a formula over the whole block, ``{r}`` standing for it) over the channel's
    cells: the fallback beyond :data:`MAX_RANGES` ranges."""
    whole, block = c.whole(k), c.ins[k]
    C = block.shape[-1]
    return f"SUMPRODUCT((MOD(COLUMN({whole})-{block.col + 1},{C})={channel})*{expr.format(r=whole)})"


@formula("bn_mean")
def _bn_mean(c):
    def f(i, j):
        cols = channel_columns(c, 0, j)
        if len(cols) <= MAX_RANGES:
            return f"AVERAGE({','.join(cols)})"
        M = c.ins[0].nrows * len(cols)
        return f"{_masked(c, 0, j, '{r}')}/{M}"
    return f


@formula("bn_var")
def _bn_var(c):
    def f(i, j):
        cols = channel_columns(c, 0, j)
        if len(cols) <= MAX_RANGES:
            return f"VARP({','.join(cols)})"
        M = c.ins[0].nrows * len(cols)
        return f"{_masked(c, 0, j, '({r}-' + c.ref(1, (j,)) + ')^2')}/{M}"
    return f


@formula("bn_istd")
def _bn_istd(c):
    return lambda i, j: f"1/SQRT({c.at(0, i, j)}+{num(c.attrs['bn_epsilon'])})"


def _per_channel(c, k, i, j):
    """Input ``k`` (a (C,) vector) at the channel of the quantity's grid cell (i, j)."""
    return c.ref(k, (c.index(i, j)[-1],))


@formula("bn_xhat", batch=True)
def _bn_xhat(c):
    return lambda i, j: f"({c.at(0, i, j)}-{_per_channel(c, 1, i, j)})*{_per_channel(c, 2, i, j)}"


@formula("bn_out", batch=True)
def _bn_out(c):
    def f(i, j):
        text, k = c.at(0, i, j), 1
        if c.attrs["scale"]:
            text, k = f"{text}*{_per_channel(c, k, i, j)}", k + 1
        if c.attrs["center"]:
            text += f"+{_per_channel(c, k, i, j)}"
        return text
    return f


@formula("moving_average")
def _moving_average(c):
    m = num(c.attrs["bn_momentum"])
    return lambda i, j: f"{m}*{c.at(0, i, j)}+(1-{m})*{c.at(1, i, j)}"


@formula("sum_rows_mul")
def _sum_rows_mul(c):  # Σ over every leading index of first ⊙ second, per channel: dgamma
    def f(i, j):
        pairs = zip(channel_columns(c, 0, j), channel_columns(c, 1, j))
        return "+".join(f"SUMPRODUCT({a},{b})" for a, b in pairs)
    return f


@formula("bn_backward", batch=True)
def _bn_backward(c):
    M = num(c.attrs["M"])

    def f(i, j):
        dy, xhat = c.at(0, i, j), c.at(2, i, j)
        dbeta, dgamma, istd = (_per_channel(c, k, i, j) for k in (1, 3, 4))
        scale = f"{_per_channel(c, 5, i, j)}*{istd}" if len(c.ins) > 5 else istd
        return f"({dy}*{M}-{dbeta}-{xhat}*{dgamma})*({scale}/{M})"
    return f


@formula("norm_std")
def _norm_std(c):
    return lambda i, j: f"MAX(SQRT({c.at(0, i, j)}),{num(c.attrs['floor'])})"


@formula("norm_apply", batch=True)
def _norm_apply(c):
    return lambda i, j: f"({c.at(0, i, j)}-{_per_channel(c, 1, i, j)})/{_per_channel(c, 2, i, j)}"


@formula("norm_invert", batch=True)
def _norm_invert(c):
    return lambda i, j: f"{_per_channel(c, 1, i, j)}+{c.at(0, i, j)}*{_per_channel(c, 2, i, j)}"


@formula("mul_channel", batch=True)
def _mul_channel(c):
    return lambda i, j: f"{c.at(0, i, j)}*{_per_channel(c, 1, i, j)}"


@formula("div_channel", batch=True)
def _div_channel(c):
    return lambda i, j: f"{c.at(0, i, j)}/{_per_channel(c, 1, i, j)}"


@formula("dropout", batch=True)
def _dropout(c):
    rate = num(c.attrs["rate"])
    return lambda i, j: f"{c.at(0, i, j)}*{c.at(1, i, j)}*(1/(1-{rate}))"
