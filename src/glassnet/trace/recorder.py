"""Record training steps of a Dense network as named quantities, taken from the engine's own arrays.

:func:`record` runs ``model.train_step`` — the very code ``fit`` runs — once per step, then reads what
the layers cached on the way (``Dense.x, z, a, da, dz``, ``grads``, ``activation.slope(z, a)``) and the
optimizer's state (``optimizer.state_for((layer, name))``). The only arithmetic done here is the trivial
kind: ``E = Y - A_L``, Adam's bias-corrected ``m̂ = m / (1 - β1^t)`` and ``v̂``, and the sign flips that
give the tutorial's deltas.

Each quantity carries an ``op`` from which every exporter rebuilds the formula (names are design.md's;
``[k]`` below means a 1-based layer number, ``P`` a parameter such as ``W1``):

========================  =================================================  ==========================
op                        value                                              inputs
========================  =================================================  ==========================
``value``                 data, or a parameter/state at the step's start     —
``matmul_add_bias``       ``A[k-1]·W[k] + b[k]``                             A[k-1], W[k], b[k]
``matmul``                ``A[k-1]·W[k]`` (no bias)                          A[k-1], W[k]
``sigmoid`` ``tanh``      the activation of Z, elementwise (``leaky_relu``    Z[k]
``relu`` ``leaky_relu``   reads ``attrs["alpha"]``; ``softmax`` is row-wise)
``linear`` ``softmax``
``sub``                   ``Y - A_L`` (the error E)                          Y, A_L
``half_sse``              ``½·Σ E²``                                         E
``mse``                   ``Σ E² / size``                                    E
``bce_logits``            ``mean(max(Z,0) - Z·Y + log(1 + exp(-|Z|)))``      Z_L, Y
``cce``                   ``-(1/N)·Σ Y·log A``                               Y, A_L
``neg``                   ``-input``                                         one name
``scale``                 ``input · num / den`` (``attrs``)                  one name
``<act>_slope``           the activation's derivative (sigmoid/tanh read A,  A[k] or Z[k]
                          relu/leaky_relu/linear read Z)
``mul``                   elementwise product                                two names
``softmax_backward``      ``A ⊙ (dA - Σ_row dA ⊙ A)``                        A[k], dA[k]
``matmul_bt``             ``first · secondᵀ``  (dA[k-1] = dZ[k]·W[k]ᵀ)       dZ[k], W[k]
``matmul_at``             ``firstᵀ · second``  (dW[k] = A[k-1]ᵀ·dZ[k])       A[k-1], dZ[k]
``sum_rows``              ``Σ_rows input``  (db[k])                          dZ[k]
``sgd_update``            ``P - lr·dP``                                      P, dP
``momentum_velocity``     ``μ·velocity_P + dP``                              velocity_P, dP
``momentum_update``       ``P - lr·velocity_P_new``                          P, velocity_P_new
``nesterov_update``       ``P - lr·(dP + μ·velocity_P_new)``                 P, dP, velocity_P_new
``adam_m`` ``adam_v``     ``β1·m + (1-β1)·dP``;  ``β2·v + (1-β2)·dP²``       m_P or v_P, dP
``adam_m_hat``            ``m_P_new / (1 - β1^t)`` (``adam_v_hat``: β2)      m_P_new (v_P_new)
``adam_update``           ``P - lr·m̂ / (√v̂ + ε)``                            P, m_hat_P, v_hat_P
========================  =================================================  ==========================

State names follow the parameters' convention: ``m_W1`` is the state a step starts from, ``m_W1_new``
the state it leaves (the next step's ``m_W1``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..checks import check_bool, check_positive_int
from ..data.validate import batches
from ..errors import ExportError, GlassnetWarning
from ..layers.activations import LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from ..layers.dense import Dense
from ..layers.preprocessing import Normalization
from ..losses import BinaryCrossEntropy, CategoricalCrossEntropy, HalfSSE, MeanSquaredError
from ..optimizers import SGD, Adam
from ..training import check_inputs, check_targets
from . import article as art
from .records import Quantity, Step, Trace

__all__ = ["SUPPORTED", "check_traceable", "record"]

ACTIVATIONS = {Sigmoid: "sigmoid", Tanh: "tanh", ReLU: "relu", LeakyReLU: "leaky_relu", Softmax: "softmax",
               Linear: "linear"}
LOSSES = {HalfSSE: "half_sse", MeanSquaredError: "mse", BinaryCrossEntropy: "binary_crossentropy",
          CategoricalCrossEntropy: "categorical_crossentropy"}
SUPPORTED = ("Dense layers with activation " + ", ".join(ACTIVATIONS.values()) + "; losses "
             + ", ".join(LOSSES.values()) + " (cross-entropies after their sigmoid/softmax output); "
             "optimizers SGD (plain, momentum, Nesterov) and Adam, without gradient clipping or regularizers")

_ACT_FORMULA = {
    "sigmoid": "1 / (1 + exp(−{z}))",
    "tanh": "tanh({z})",
    "relu": "max({z}, 0)",
    "leaky_relu": "{z} if {z} > 0 else {alpha}·{z}",
    "softmax": "exp({z} − max_row {z}) / Σ_row exp({z} − max_row {z})",
    "linear": "{z}",
}
_SLOPE_FORMULA = {
    "sigmoid": "{a} ⊙ (1 − {a})",
    "tanh": "1 − {a}²",
    "relu": "1 where {z} > 0, else 0",
    "leaky_relu": "1 where {z} > 0, else {alpha}",
    "linear": "1",
}
_ACT_WORDS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU",
              "softmax": "softmax, row by row", "linear": "identity (linear)"}


def check_traceable(model) -> None:
    """Raise ExportError naming the first part of ``model`` the tracer cannot lay out."""
    if model.loss is None or model.optimizer is None:
        raise ExportError("The model must be compiled before it can be traced: call "
                          "model.compile(loss=..., optimizer=...)")
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Normalization):
            raise ExportError(f"Cannot trace layer {i} ({layer.display_name}, Normalization): the tracer lays "
                              "out Dense networks. A Normalization holds no trainable parameters: trace the "
                              "layers after it on its output (`glassnet trace --model` does that for a model "
                              f"from `glassnet train`); the tracer supports {SUPPORTED}")
        if not isinstance(layer, Dense):
            raise ExportError(f"Cannot trace layer {i} ({layer.display_name}, {type(layer).__name__}): "
                              f"the tracer supports {SUPPORTED}")
        if type(layer.activation) not in ACTIVATIONS:
            raise ExportError(f"Cannot trace layer {i} ({layer.display_name}): activation "
                              f"{type(layer.activation).__name__} is not supported; the tracer supports {SUPPORTED}")
        if any(r is not None for r in layer.regularizers.values()):
            raise ExportError(f"Cannot trace layer {i} ({layer.display_name}): it has a regularizer; "
                              f"the tracer supports {SUPPORTED}")
    loss = model.loss
    if not isinstance(loss, tuple(LOSSES)):
        raise ExportError(f"Cannot trace loss {loss!r}; the tracer supports {SUPPORTED}")
    if loss.fused_activation is not None and model._fused_last() is None:
        raise ExportError(f"Cannot trace loss {loss.key!r} after a {model.layers[-1].activation.key} output: "
                          f"it is traced only with a {loss.fused_activation} output layer (the fused gradient)")
    opt = model.optimizer
    if type(opt) not in (SGD, Adam):
        raise ExportError(f"Cannot trace optimizer {type(opt).__name__}; the tracer supports {SUPPORTED}")
    clips = {k: v for k, v in (("clipnorm", opt.clipnorm), ("global_clipnorm", opt.global_clipnorm),
                                ("clipvalue", opt.clipvalue)) if v is not None}
    if clips:
        raise ExportError(f"Cannot trace gradient clipping ({', '.join(f'{k}={v}' for k, v in clips.items())}); "
                          f"the tracer supports {SUPPORTED}")
    if model.built and len(model.input_shape) != 1:
        raise ExportError(f"Cannot trace inputs of shape {model.input_shape}: the tracer takes rows of features")


def record(model, X, y, steps: int = 1, batch_size: int | None = None, shuffle: bool = False) -> Trace:
    """Run ``steps`` training steps of ``model`` on (X, y) and record every named number of each.

    The model trains for real: afterwards its weights and optimizer state are those of ``steps`` calls of
    ``model.train_step`` (what ``fit`` would do), and every recorded number is the engine's own.
    Record a ``dtype="float64"`` model to compare the trace with a workbook or another language to 1e-12;
    a float32 model is recorded as it is, with a GlassnetWarning. A model on a GPU is moved to the host
    for the recording and back after it: the trace shows the NumPy engine's numbers (a GPU's own
    matrix products may differ from them in the last bits).

    Parameters
    ----------
    model : Sequential
        Compiled; Dense layers only (see ``SUPPORTED``). Built on the first call if needed.
    X : array, shape (N, F)
    y : array
        Targets as ``fit`` takes them (class codes are one-hot encoded for sparse cross-entropy).
    steps : int
        Number of consecutive training steps.
    batch_size : int or None
        None: every step is full-batch (the tutorial). k: step s uses the s-th mini-batch of k rows,
        starting a new epoch when the rows run out; each step's ``rows`` says which rows of X it used.
    shuffle : bool
        Shuffle the rows at each epoch with the model's generator, as ``fit`` does (default: in order).

    Returns
    -------
    Trace
        ``trace.steps`` holds one ``Step`` per training step; ``to_json``, ``to_html``, ``to_xlsx`` and
        ``str(trace)`` lay it out.

    Raises
    ------
    ExportError
        A model that is not compiled or that the tracer does not support (layers other than Dense,
        regularizers, clipping, losses or optimizers outside ``SUPPORTED``).
    ConfigError
        ``steps`` or ``batch_size`` that is not a positive integer, or a ``shuffle`` that is not a bool.
    DataError, ShapeError
        ``X`` or ``y`` that ``fit`` would refuse too.
    """
    check_traceable(model)
    steps = check_positive_int("steps", steps)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    shuffle = check_bool("shuffle", shuffle)
    X = check_inputs(model, X)
    check_traceable(model)  # now that the model is built
    Y = check_targets(model, X, y)
    if model.dtype != np.float64:
        warnings.warn(f"Tracing a {model.dtype.name} model: its numbers are {model.dtype.name}, while workbooks and "
                      "other languages recompute in float64; build the model with dtype='float64' to compare them "
                      "to 1e-12", GlassnetWarning, stacklevel=2)
    info = _network(model, len(X), batch_size, shuffle)
    n = len(X)
    rng = model.rng if shuffle and batch_size is not None and batch_size < n else None
    row_batches = _row_batches(n, batch_size, rng)
    device = model.device
    model.to("cpu")  # a model on a GPU is traced on the host (the same code), then moved back
    try:
        recorded = [_record_step(model, X, Y, s, next(row_batches), info) for s in range(1, steps + 1)]
    finally:
        model.to(device)
    return Trace(info, recorded)


def _row_batches(n, batch_size, rng):
    rows = np.arange(n)
    while True:  # epochs, as in fit
        for idx in batches(n, batch_size, rng):
            yield rows[idx]


def _network(model, n_samples, batch_size, shuffle) -> dict:
    layers = []
    n_in = model.input_shape[0]
    parts = [str(n_in)]
    for k, layer in enumerate(model.layers, 1):
        act = ACTIVATIONS[type(layer.activation)]
        entry = {"layer": k, "name": layer.display_name, "n_in": n_in, "units": layer.units,
                 "activation": act, "use_bias": layer.use_bias}
        if act == "leaky_relu":
            entry["alpha"] = layer.activation.alpha
        layers.append(entry)
        parts.append(f"{layer.units} {act}")
        n_in = layer.units
    opt = model.optimizer
    if isinstance(opt, Adam):
        opt_desc = f"Adam(lr={opt.learning_rate}, β1={opt.beta1}, β2={opt.beta2}, ε={opt.epsilon})"
    elif opt.momentum:
        opt_desc = f"SGD(lr={opt.learning_rate}, momentum={opt.momentum}{', Nesterov' if opt.nesterov else ''})"
    else:
        opt_desc = f"SGD(lr={opt.learning_rate})"
    return {
        "summary": " → ".join(parts),
        "n_features": model.input_shape[0],
        "n_outputs": model.layers[-1].units,
        "layers": layers,
        "loss": LOSSES.get(type(model.loss), "categorical_crossentropy"),
        "fused": model._fused_last() is not None,
        "optimizer": _jsonable(opt.get_config()),
        "optimizer_summary": opt_desc,
        "dtype": model.dtype.name,
        "n_samples": int(n_samples),
        "batch_size": batch_size,
        "shuffle": shuffle,
        "article": _is_article(model),
    }


def _jsonable(config: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool, dict, type(None))) else repr(v)) for k, v in config.items()}


def _is_article(model) -> bool:
    """The tutorial's shape: two sigmoid Dense layers with biases, half SSE, plain gradient descent."""
    return (len(model.layers) == 2 and all(type(la.activation) is Sigmoid and la.use_bias for la in model.layers)
            and type(model.loss) is HalfSSE and type(model.optimizer) is SGD and not model.optimizer.momentum)


class _Builder:
    """Collects the quantities of one step in the order they are computed."""

    def __init__(self, section: str = ""):
        self.quantities: list[Quantity] = []
        self.section = section

    def add(self, name, formula, value, words, inputs=(), kind="computed", op="", layer=None, **attrs):
        self.quantities.append(Quantity(name=name, formula=formula, value=np.array(value, copy=True), words=words,
                                        inputs=tuple(inputs), kind=kind, op=op, layer=layer,
                                        section=self.section, attrs=attrs))


def _record_step(model, X, Y, number: int, rows: np.ndarray, info: dict) -> Step:
    layers, opt = model.layers, model.optimizer
    L = len(layers)
    keys = list(model.param_index)  # (layer index, "W" | "b") in layer order
    pname = {key: f"{key[1]}{key[0] + 1}" for key in keys}
    before = {pname[key]: layers[key[0]].params[key[1]].copy() for key in keys}
    state_before = {pname[key]: {s: v.copy() for s, v in opt.state_for(key).items()} for key in keys}
    lr = opt.lr  # schedule-aware: the rate this update uses
    xb, yb = X[rows], Y[rows]
    for layer in layers:
        layer.da = None  # so a stale dA from an earlier call can never be read

    loss, _ = model.train_step(xb, yb)  # forward, loss, backward, update: the engine's own step

    t = opt.iterations
    after = {pname[key]: layers[key[0]].params[key[1]].copy() for key in keys}
    state_after = {pname[key]: {s: v.copy() for s, v in opt.state_for(key).items()} for key in keys}
    n = len(rows)
    full = n == len(X) and np.array_equal(rows, np.arange(len(X)))
    where = "X" if full else "X[rows]"
    row_words = "all rows of X" if full else "rows " + ", ".join(map(str, rows.tolist())) + " of X"

    b = _Builder("Inputs")
    b.add("A0", where, xb, f"the inputs: {row_words}, one sample per row", kind="input", op="value")
    b.add("Y", "y" if full else "y[rows]", yb, "the targets of the same rows", kind="input", op="value")
    b.section = "Parameters at the start of the step"
    origin = "the initial weights" if number == 1 else f"step {number - 1}'s update"
    for key in keys:
        p = pname[key]
        what = "weights" if key[1] == "W" else "biases"
        b.add(p, p, before[p], f"{what} of layer {key[0] + 1}, from {origin}", kind="param", op="value",
              layer=key[0] + 1)
    for key in keys:
        p = pname[key]
        for s, v in state_before[p].items():
            b.add(f"{s}_{p}", f"{s}_{p}", v, f"the optimizer's {s} for {p} entering this step", kind="param",
                  op="value", layer=key[0] + 1)

    # -- forward ---------------------------------------------------------------------------------------
    for k, layer in enumerate(layers, 1):
        act = ACTIVATIONS[type(layer.activation)]
        role = "output layer" if k == L else f"hidden layer {k}"
        b.section = f"Forward pass, layer {k} ({info['layers'][k - 1]['n_in']} → {layer.units}, {act})"
        if layer.use_bias:
            b.add(f"Z{k}", f"A{k - 1}·W{k} + b{k}", layer.z, f"{role} input: previous activations times weights, "
                  "plus the bias", (f"A{k - 1}", f"W{k}", f"b{k}"), op="matmul_add_bias", layer=k)
        else:
            b.add(f"Z{k}", f"A{k - 1}·W{k}", layer.z, f"{role} input: previous activations times weights",
                  (f"A{k - 1}", f"W{k}"), op="matmul", layer=k)
        alpha = getattr(layer.activation, "alpha", None)
        extra = {"alpha": alpha} if act == "leaky_relu" else {}
        b.add(f"A{k}", _ACT_FORMULA[act].format(z=f"Z{k}", alpha=f"{alpha:g}" if alpha is not None else ""),
              layer.a, f"{role} activation: {_ACT_WORDS[act]} of Z{k}", (f"Z{k}",), op=act, layer=k, **extra)

    b.section = "Error and loss"
    aL = layers[-1].a
    b.add("E", f"Y − A{L}", yb - aL, "error: target minus output", ("Y", f"A{L}"), op="sub")
    _add_loss(b, model, L, n, float(loss))

    # -- backward --------------------------------------------------------------------------------------
    fused = info["fused"]
    for k in range(L, 0, -1):
        layer = layers[k - 1]
        act = ACTIVATIONS[type(layer.activation)]
        b.section = f"Backward pass, layer {k}"
        if k == L and fused:
            size = n if act == "softmax" else aL.size
            b.add(f"dZ{L}", f"(A{L} − Y) / {size} = −E / {size}", layer.dz,
                  f"delta at the output layer: {act} and the cross-entropy together give (output − target) / {size}",
                  ("E",), op="scale", layer=k, num=-1, den=size)
        else:
            if k == L:
                _add_output_grad(b, model, L, layer.da)
            if act == "softmax":
                b.add(f"dZ{k}", f"A{k} ⊙ (dA{k} − Σ_row dA{k} ⊙ A{k})", layer.dz,
                      "delta: the softmax's Jacobian applied to the incoming gradient, row by row",
                      (f"A{k}", f"dA{k}"), op="softmax_backward", layer=k)
            else:
                alpha = getattr(layer.activation, "alpha", None)
                slope = layer.activation.slope(layer.z, layer.a)  # the engine's own derivative
                extra = {"alpha": alpha} if act == "leaky_relu" else {}
                reads = f"A{k}" if act in ("sigmoid", "tanh") else f"Z{k}"
                b.add(f"slope{k}", _SLOPE_FORMULA[act].format(a=f"A{k}", z=f"Z{k}", alpha=f"{alpha:g}" if alpha is not None else ""),
                      slope, f"slope: the derivative of {_ACT_WORDS[act]} at Z{k}", (reads,), op=f"{act}_slope",
                      layer=k, **extra)
                b.add(f"dZ{k}", f"dA{k} ⊙ slope{k}", layer.dz, f"delta at layer {k}: incoming gradient times slope",
                      (f"dA{k}", f"slope{k}"), op="mul", layer=k)
        b.add(f"dW{k}", f"A{k - 1}ᵀ·dZ{k}", layer.grads["W"], f"weight gradient: layer {k}'s inputs transposed "
              "times its delta", (f"A{k - 1}", f"dZ{k}"), op="matmul_at", layer=k)
        if layer.use_bias:
            b.add(f"db{k}", f"Σ_rows dZ{k}", layer.grads["b"], "bias gradient: the delta summed over the rows",
                  (f"dZ{k}",), op="sum_rows", layer=k)
        if k > 1:
            b.add(f"dA{k - 1}", f"dZ{k}·W{k}ᵀ", layers[k - 2].da, f"gradient sent back to layer {k - 1}: "
                  f"delta times the weights transposed", (f"dZ{k}", f"W{k}"), op="matmul_bt", layer=k - 1)

    # -- update ----------------------------------------------------------------------------------------
    b.section = f"Update: {info['optimizer_summary']}"
    for key in keys:
        _add_update(b, opt, pname[key], key[0] + 1, lr, t, after[pname[key]], state_after[pname[key]])

    quantities = b.quantities
    if info["article"]:
        quantities = art.arrange(quantities, number)
    return Step(step=number, loss=float(loss), params_before=before, params_after=after, quantities=quantities,
                rows=[int(r) for r in rows], lr=float(lr), t=int(t))


def _add_loss(b, model, L, n, loss):
    key = LOSSES.get(type(model.loss), "categorical_crossentropy")
    size = n * model.layers[-1].units
    if key == "half_sse":
        b.add("loss", "½·Σ E²", loss, "half the sum of squared errors", ("E",), op="half_sse")
    elif key == "mse":
        b.add("loss", f"Σ E² / {size}", loss, "mean squared error", ("E",), op="mse", den=size)
    elif key == "binary_crossentropy":
        b.add("loss", f"Σ (max(Z{L},0) − Z{L}⊙Y + log(1 + exp(−|Z{L}|))) / {size}", loss,
              f"binary cross-entropy, computed from the logits Z{L} so it never takes log 0", (f"Z{L}", "Y"),
              op="bce_logits", den=size)
    else:
        b.add("loss", f"−Σ Y ⊙ log A{L} / {n}", loss, "categorical cross-entropy: minus the log-probability of "
              "the true class, averaged over rows (the engine computes it from the logits)", ("Y", f"A{L}"),
              op="cce", den=n)


def _add_output_grad(b, model, L, da):
    if isinstance(model.loss, HalfSSE):
        b.add(f"dA{L}", f"A{L} − Y = −E", da, "gradient of the loss with respect to the output: "
              "minus the error", ("E",), op="neg", layer=L)
    else:
        size = da.size
        b.add(f"dA{L}", f"2·(A{L} − Y) / {size} = −2·E / {size}", da, "gradient of the mean squared error "
              "with respect to the output", ("E",), op="scale", layer=L, num=-2, den=size)


def _add_update(b, opt, p, k, lr, t, new, state):
    d = f"d{p}"
    if isinstance(opt, Adam):
        b1, b2, eps = opt.beta1, opt.beta2, opt.epsilon
        m, v = state["m"], state["v"]
        b.add(f"m_{p}_new", f"β1·m_{p} + (1 − β1)·{d}", m, "first moment: running mean of the gradient",
              (f"m_{p}", d), op="adam_m", layer=k, beta1=b1)
        b.add(f"v_{p}_new", f"β2·v_{p} + (1 − β2)·{d}²", v, "second moment: running mean of the squared gradient",
              (f"v_{p}", d), op="adam_v", layer=k, beta2=b2)
        b.add(f"m_hat_{p}", f"m_{p}_new / (1 − β1^{t})", m / (1 - b1**t), "bias-corrected first moment",
              (f"m_{p}_new",), op="adam_m_hat", layer=k, beta1=b1, t=t)
        b.add(f"v_hat_{p}", f"v_{p}_new / (1 − β2^{t})", v / (1 - b2**t), "bias-corrected second moment",
              (f"v_{p}_new",), op="adam_v_hat", layer=k, beta2=b2, t=t)
        b.add(f"{p}_new", f"{p} − lr·m_hat_{p} / (√v_hat_{p} + ε)", new, f"updated {p}: a step against the "
              "gradient, scaled per element by the moments", (p, f"m_hat_{p}", f"v_hat_{p}"), op="adam_update",
              layer=k, lr=lr, epsilon=eps)
    elif opt.momentum:
        mu = opt.momentum
        b.add(f"velocity_{p}_new", f"μ·velocity_{p} + {d}", state["velocity"], "velocity: the momentum-weighted "
              "sum of gradients", (f"velocity_{p}", d), op="momentum_velocity", layer=k, momentum=mu)
        if opt.nesterov:
            b.add(f"{p}_new", f"{p} − lr·({d} + μ·velocity_{p}_new)", new, f"updated {p}: Nesterov's look-ahead "
                  "step", (p, d, f"velocity_{p}_new"), op="nesterov_update", layer=k, lr=lr, momentum=mu)
        else:
            b.add(f"{p}_new", f"{p} − lr·velocity_{p}_new", new, f"updated {p}: a step along the velocity",
                  (p, f"velocity_{p}_new"), op="momentum_update", layer=k, lr=lr)
    else:
        b.add(f"{p}_new", f"{p} − lr·{d}", new, f"updated {p}: a step of lr against the gradient",
              (p, d), op="sgd_update", layer=k, lr=lr)
