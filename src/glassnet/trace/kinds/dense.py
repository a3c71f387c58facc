"""Dense layers and activations (inside a Dense or as layers of their own), with their workbook formulas.

Dense on ``(N, ..., C)`` works on the last axis, as the engine does: ``Z = A·W + b`` for every leading
index, ``dW = Σ Aᵀ·dZ`` and ``db = Σ dZ`` over every leading index, ``dA = dZ·Wᵀ``.

An activation is described once in :data:`ACTIVATIONS` (its formula and slope in symbols, in words, and as
workbook formulas); other kinds (convolutions, recurrent cells) reuse :func:`add_activation` and
:func:`add_activation_backward` for their own activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ExportError
from ...layers.activations import (
    ELU,
    GELU,
    SELU,
    Activation,
    HardSigmoid,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from ...layers.dense import Dense
from ..formulas import formula, num
from .base import LayerTracer, register

__all__ = ["ACTIVATIONS", "ActivationInfo", "activation_info", "add_activation", "add_activation_backward"]


@dataclass(frozen=True)
class ActivationInfo:
    """How an activation is written: ``op`` (its forward op; the slope's op is ``op + "_slope"``), the formula
    and the slope in symbols (``{z}``, ``{a}`` and the layer's constants such as ``{alpha}``), words, what the
    slope reads (``"z"``, ``"a"`` or both, ``"za"``), and the attributes (constants) it needs."""

    op: str
    formula: str
    slope: str
    words: str
    slope_reads: str = "z"
    attrs: tuple[str, ...] = ()


#: activation class -> how it is written; the engine's ``activation.slope(z, a)`` gives the slope's numbers
ACTIVATIONS: dict[type, ActivationInfo] = {
    Sigmoid: ActivationInfo("sigmoid", "1 / (1 + exp(−{z}))", "{a} ⊙ (1 − {a})", "sigmoid", "a"),
    Tanh: ActivationInfo("tanh", "tanh({z})", "1 − {a}²", "tanh", "a"),
    ReLU: ActivationInfo("relu", "max({z}, 0)", "1 where {z} > 0, else 0", "ReLU"),
    LeakyReLU: ActivationInfo("leaky_relu", "{z} if {z} > 0 else {alpha}·{z}", "1 where {z} > 0, else {alpha}",
                              "leaky ReLU", attrs=("alpha",)),
    Softmax: ActivationInfo("softmax", "exp({z} − max_row {z}) / Σ_row exp({z} − max_row {z})", "",
                            "softmax, row by row"),
    Linear: ActivationInfo("linear", "{z}", "1", "identity (linear)"),
    ELU: ActivationInfo("elu", "{z} if {z} > 0 else {alpha}·(exp({z}) − 1)", "1 where {z} > 0, else {a} + {alpha}",
                        "ELU", "za", ("alpha",)),
    SELU: ActivationInfo("selu", "λ·({z} if {z} > 0 else α·(exp({z}) − 1)), λ = {scale}, α = {alpha}",
                         "λ where {z} > 0, else {a} + λ·α", "SELU", "za", ("alpha", "scale")),
    GELU: ActivationInfo("gelu", "{z}·Φ({z}) (exact) or {z}/2·(1 + tanh(√(2/π)·({z} + 0.044715·{z}³))) "
                         "(approximate={approximate})", "Φ({z}) + {z}·φ({z}) (exact)", "GELU", "z", ("approximate",)),
    SiLU: ActivationInfo("silu", "{z} / (1 + exp(−{z}))", "{a} + σ({z})·(1 − {a})", "SiLU (swish)", "za"),
    Softplus: ActivationInfo("softplus", "ln(1 + exp({z}))", "1 / (1 + exp(−{z}))", "softplus"),
    HardSigmoid: ActivationInfo("hard_sigmoid", "min(max({z}/6 + 1/2, 0), 1)", "1/6 where −3 < {z} < 3, else 0",
                                "hard sigmoid"),
}


def activation_info(act, where: str) -> ActivationInfo:
    """The activation's entry, or ExportError naming ``where`` it sits."""
    for c in type(act).__mro__:
        if c in ACTIVATIONS:
            return ACTIVATIONS[c]
    known = ", ".join(i.op for i in ACTIVATIONS.values())
    raise ExportError(f"Cannot trace {where}: activation {type(act).__name__} is not supported; the tracer "
                      f"lays out the activations {known}")


def _attrs(act, info: ActivationInfo) -> dict:
    return {k: float(getattr(act, k)) for k in info.attrs}


def _fill(text: str, act, info: ActivationInfo, **names) -> str:
    return text.format(**names, **{k: f"{v:g}" for k, v in _attrs(act, info).items()})


def add_activation(b, act, z_name: str, a_name: str, a_value, words: str, layer: int) -> None:
    """Record ``a_name = act(z_name)`` with the engine's output ``a_value``."""
    info = activation_info(act, f"layer {layer}")
    b.add(a_name, _fill(info.formula, act, info, z=z_name), a_value, f"{words}: {info.words} of {z_name}",
          (z_name,), op=info.op, layer=layer, **_attrs(act, info))


def add_activation_backward(b, act, z_name: str, a_name: str, z, a, da_name: str, dz_name: str, dz_value,
                            layer: int) -> None:
    """Record ``dz_name`` from the gradient ``da_name`` arriving at the activation's output.

    The slope is the engine's own ``act.slope(z, a)``; a softmax's Jacobian is written as one op instead.
    """
    info = activation_info(act, f"layer {layer}")
    if info.op == "softmax":
        b.add(dz_name, f"{a_name} ⊙ ({da_name} − Σ_row {da_name} ⊙ {a_name})", dz_value,
              "delta: the softmax's Jacobian applied to the incoming gradient, row by row", (a_name, da_name),
              op="softmax_backward", layer=layer)
        return
    slope_name = "slope" + dz_name[2:] if dz_name.startswith("dZ") else f"slope_{dz_name}"
    reads = {"z": (z_name,), "a": (a_name,), "za": (z_name, a_name)}[info.slope_reads]
    b.add(slope_name, _fill(info.slope, act, info, a=a_name, z=z_name), act.slope(z, a),
          f"slope: the derivative of {info.words} at {z_name}", reads, op=f"{info.op}_slope", layer=layer,
          **_attrs(act, info))
    b.add(dz_name, f"{da_name} ⊙ {slope_name}", dz_value, "delta: incoming gradient times slope",
          (da_name, slope_name), op="mul", layer=layer)


@register(Dense)
class DenseTracer(LayerTracer):
    """``Z = A·W + b``, then the activation."""

    def check(self, layer, k):
        activation_info(layer.activation, f"layer {k} ({layer.display_name})")

    def describe(self, layer, k):
        info = activation_info(layer.activation, f"layer {k}")
        entry = {"n_in": int(layer.input_shape[-1]), "units": layer.units, "activation": info.op,
                 "use_bias": layer.use_bias}
        entry.update(_attrs(layer.activation, info))
        return entry

    def summary(self, layer):
        return f"{layer.units} {activation_info(layer.activation, 'a layer').op}"

    def forward(self, b, ctx):
        layer, k, A, W = ctx.layer, ctx.k, ctx.inp, ctx.p("W")
        z, a = ctx.q("Z"), ctx.out
        role = "output layer" if ctx.last else f"layer {k}"
        if layer.use_bias:
            bb = ctx.p("b")
            b.add(z, f"{A}·{W} + {bb}", layer.z, f"{role} input: previous activations times weights, plus the bias",
                  (A, W, bb), op="matmul_add_bias", layer=k)
        else:
            b.add(z, f"{A}·{W}", layer.z, f"{role} input: previous activations times weights", (A, W),
                  op="matmul", layer=k)
        add_activation(b, layer.activation, z, a, layer.a, f"{role} activation", k)

    def backward(self, b, ctx):
        layer, k, A = ctx.layer, ctx.k, ctx.inp
        z, dz = ctx.q("Z"), "d" + ctx.q("Z")
        if not ctx.fused:
            add_activation_backward(b, layer.activation, z, ctx.out, layer.z, layer.a, ctx.d_out, dz, layer.dz, k)
        b.add(ctx.d("W"), f"{A}ᵀ·{dz}", ctx.rec["grads"]["W"], f"weight gradient: layer {k}'s inputs transposed "
              "times its delta", (A, dz), op="matmul_at", layer=k)
        if layer.use_bias:
            b.add(ctx.d("b"), f"Σ_rows {dz}", ctx.rec["grads"]["b"], "bias gradient: the delta summed over the rows",
                  (dz,), op="sum_rows", layer=k)
        if ctx.sends_back:
            b.add(ctx.d_inp, f"{dz}·{ctx.p('W')}ᵀ", ctx.rec["dx"], f"gradient sent back to layer {k - 1}: delta "
                  "times the weights transposed", (dz, ctx.p("W")), op="matmul_bt", layer=k - 1)


@register(Activation)
class ActivationTracer(LayerTracer):
    """An activation as a layer of its own: ``A{k} = act(A{k-1})``."""

    def check(self, layer, k):
        activation_info(layer, f"layer {k} ({layer.display_name})")

    def describe(self, layer, k):
        info = activation_info(layer, f"layer {k}")
        return {"activation": info.op} | _attrs(layer, info)

    def summary(self, layer):
        return activation_info(layer, "a layer").op

    def forward(self, b, ctx):
        add_activation(b, ctx.layer, ctx.inp, ctx.out, ctx.rec["out"], f"layer {ctx.k}", ctx.k)

    def backward(self, b, ctx):
        if ctx.sends_back:
            add_activation_backward(b, ctx.layer, ctx.inp, ctx.out, ctx.rec["x"], ctx.rec["out"], ctx.d_out,
                                    ctx.d_inp, ctx.rec["dx"], ctx.k)


# -- workbook formulas -----------------------------------------------------------------------------------------

def _last_axis(c, k, index):
    """Input k over its last axis at the leading ``index`` (a contiguous piece of one grid row)."""
    b = c.ins[k]
    shape = b.shape
    first = c.ref(k, tuple(index) + (0,))
    last = c.ref(k, tuple(index) + (shape[-1] - 1,))
    return first if first == last else f"{first}:{last.split('!')[-1]}"


@formula("matmul_add_bias", "matmul", array=True, batch=True)
def _matmul(c):
    bias = c.q.op == "matmul_add_bias"
    if len(c.ins[0].shape) <= 2:
        if bias:
            return lambda i, j: f"MMULT({c.row(0, i)},{c.col(1, j)})+{c.at(2, i, j)}"
        return lambda i, j: f"MMULT({c.row(0, i)},{c.col(1, j)})"

    def f(i, j):  # Dense on the last axis of (N, ..., C)
        idx = c.index(i, j)
        text = f"MMULT({_last_axis(c, 0, idx[:-1])},{c.col(1, idx[-1])})"
        return text + (f"+{c.ref(2, (idx[-1],))}" if bias else "")
    return f


@formula("matmul_bt", batch=True)
def _matmul_bt(c):  # (first · secondᵀ)[i, j]: dA = dZ·Wᵀ
    if len(c.ins[0].shape) <= 2:
        return lambda i, j: f"SUMPRODUCT({c.row(0, i)},{c.row(1, j)})"

    def f(i, j):
        idx = c.index(i, j)
        return f"SUMPRODUCT({_last_axis(c, 0, idx[:-1])},{c.row(1, idx[-1])})"
    return f


def _leading(shape):
    """Every index over the axes between the first and the last (one empty index for 2-D arrays)."""
    return list(np.ndindex(*shape[1:-1])) or [()]


@formula("matmul_at")
def _matmul_at(c):  # (firstᵀ · second)[i, j] summed over every leading index: dW
    sa, sd = c.ins[0].shape, c.ins[1].shape
    if len(sa) <= 2:
        return lambda i, j: f"SUMPRODUCT({c.col(0, i)},{c.col(1, j)})"

    def f(i, j):
        terms = []
        for mid in _leading(sa):
            ca = int(np.ravel_multi_index(mid + (i,), sa[1:]))
            cd = int(np.ravel_multi_index(mid + (j,), sd[1:]))
            terms.append(f"SUMPRODUCT({c.col(0, ca)},{c.col(1, cd)})")
        return "+".join(terms)
    return f


@formula("sum_rows")
def _sum_rows(c):  # Σ over every leading index: db
    sd = c.ins[0].shape
    if len(sd) <= 2:
        return lambda i, j: f"SUM({c.col(0, j)})"
    return lambda i, j: "+".join(f"SUM({c.col(0, int(np.ravel_multi_index(mid + (j,), sd[1:])))})"
                                 for mid in _leading(sd))


@formula("sigmoid", batch=True)
def _sigmoid(c):
    return lambda i, j: f"1/(1+EXP(-{c.at(0, i, j)}))"


@formula("tanh", batch=True)
def _tanh(c):
    return lambda i, j: f"TANH({c.at(0, i, j)})"


@formula("relu", batch=True)
def _relu(c):
    return lambda i, j: f"MAX({c.at(0, i, j)},0)"


@formula("leaky_relu", batch=True)
def _leaky_relu(c):
    return lambda i, j: "IF({0}>0,{0},{0}*{1})".format(c.at(0, i, j), num(c.attrs["alpha"]))


@formula("linear", batch=True)
def _linear(c):
    return lambda i, j: c.at(0, i, j)


def _softmax_row(c, k, i, j):
    """The range over which cell (i, j)'s softmax runs: its last axis."""
    if len(c.ins[k].shape) <= 2:
        return c.row(k, i)
    return _last_axis(c, k, c.index(i, j)[:-1])


@formula("softmax", array=True, batch=True)
def _softmax(c):
    return lambda i, j: "EXP({0}-MAX({1}))/SUM(EXP({1}-MAX({1})))".format(c.at(0, i, j), _softmax_row(c, 0, i, j))


@formula("softmax_backward", batch=True)
def _softmax_backward(c):
    return lambda i, j: (f"{c.at(0, i, j)}*({c.at(1, i, j)}-SUMPRODUCT({_softmax_row(c, 1, i, j)},"
                         f"{_softmax_row(c, 0, i, j)}))")


@formula("sigmoid_slope", batch=True)
def _sigmoid_slope(c):
    return lambda i, j: "{0}*(1-{0})".format(c.at(0, i, j))


@formula("tanh_slope", batch=True)
def _tanh_slope(c):
    return lambda i, j: "1-{0}*{0}".format(c.at(0, i, j))


@formula("relu_slope", batch=True)
def _relu_slope(c):
    return lambda i, j: f"IF({c.at(0, i, j)}>0,1,0)"


@formula("leaky_relu_slope", batch=True)
def _leaky_relu_slope(c):
    return lambda i, j: f"IF({c.at(0, i, j)}>0,1,{num(c.attrs['alpha'])})"


@formula("linear_slope", batch=True)
def _linear_slope(c):
    return lambda i, j: "1"


@formula("elu", batch=True)
def _elu(c):
    return lambda i, j: "IF({0}>0,{0},{1}*(EXP({0})-1))".format(c.at(0, i, j), num(c.attrs["alpha"]))


@formula("elu_slope", batch=True)
def _elu_slope(c):
    return lambda i, j: f"IF({c.at(0, i, j)}>0,1,{c.at(1, i, j)}+{num(c.attrs['alpha'])})"


@formula("selu", batch=True)
def _selu(c):
    lam, alpha = num(c.attrs["scale"]), num(c.attrs["alpha"])
    return lambda i, j: "{1}*IF({0}>0,{0},{2}*(EXP({0})-1))".format(c.at(0, i, j), lam, alpha)


@formula("selu_slope", batch=True)
def _selu_slope(c):
    lam, alpha = num(c.attrs["scale"]), num(c.attrs["alpha"])
    return lambda i, j: f"IF({c.at(0, i, j)}>0,{lam},{c.at(1, i, j)}+{lam}*{alpha})"


_GELU_C = "SQRT(2/PI())"


@formula("gelu", batch=True)
def _gelu(c):
    if c.attrs.get("approximate"):
        return lambda i, j: "{0}/2*(1+TANH({1}*({0}+0.044715*{0}^3)))".format(c.at(0, i, j), _GELU_C)
    return lambda i, j: "{0}*NORMSDIST({0})".format(c.at(0, i, j))


@formula("gelu_slope", batch=True)
def _gelu_slope(c):
    if c.attrs.get("approximate"):
        return lambda i, j: ("(1+TANH({1}*({0}+0.044715*{0}^3)))/2+{0}/2*(1-TANH({1}*({0}+0.044715*{0}^3))^2)*{1}"
                             "*(1+3*0.044715*{0}^2)").format(c.at(0, i, j), _GELU_C)
    return lambda i, j: "NORMSDIST({0})+{0}*EXP(-{0}*{0}/2)/SQRT(2*PI())".format(c.at(0, i, j))


@formula("silu", batch=True)
def _silu(c):
    return lambda i, j: "{0}/(1+EXP(-{0}))".format(c.at(0, i, j))


@formula("silu_slope", batch=True)
def _silu_slope(c):
    return lambda i, j: "{1}+(1/(1+EXP(-{0})))*(1-{1})".format(c.at(0, i, j), c.at(1, i, j))


@formula("softplus", batch=True)
def _softplus(c):
    return lambda i, j: "MAX({0},0)+LN(1+EXP(-ABS({0})))".format(c.at(0, i, j))


@formula("softplus_slope", batch=True)
def _softplus_slope(c):
    return lambda i, j: f"1/(1+EXP(-{c.at(0, i, j)}))"


@formula("hard_sigmoid", batch=True)
def _hard_sigmoid(c):
    return lambda i, j: f"MIN(MAX({c.at(0, i, j)}/6+0.5,0),1)"


@formula("hard_sigmoid_slope", batch=True)
def _hard_sigmoid_slope(c):
    return lambda i, j: "IF(AND({0}>-3,{0}<3),1/6,0)".format(c.at(0, i, j))
