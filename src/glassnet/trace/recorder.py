"""Record training steps as named quantities, taken from the engine's own arrays.

:func:`record` runs ``model.train_step`` — the very code ``fit`` runs — once per step. While it runs, a tap
on every layer's ``forward`` and ``backward`` keeps what went in and came out (the input, the output, the
gradient arriving, the gradient sent back, the layer's gradients), and a tap on the optimizer keeps the
gradients it read before and after clipping. Each layer kind (:mod:`glassnet.trace.kinds`) then lays its
layer out from those arrays and from the layer's own caches; :mod:`glassnet.trace.updates` lays out
regularization, clipping and the optimizer's update. The only arithmetic done here is the trivial
kind: ``E = Y - A_L``, Adam's bias-corrected ``m̂ = m / (1 - β1^t)`` and ``v̂``, and the sign flips that
give the tutorial's deltas.

Layers are numbered 1…n in model order; layer k reads ``A{k-1}`` and writes ``A{k}`` (``A0`` is the
batch). A parameter or buffer is its key in the layer plus the layer's number (``W3``, ``gamma2``,
``moving_mean2``), its gradient ``d`` + that name and its updated value that name + ``_new``.

Each quantity carries an ``op`` from which every exporter rebuilds the formula: the workbook formula of
every op is registered beside the code that records it (:mod:`glassnet.trace.formulas` for the loss ops,
each module of :mod:`glassnet.trace.kinds` for its layers, :mod:`glassnet.trace.updates` for penalties,
clipping and the optimizers), and the HTML page's hover links are read off those formulas
(:mod:`glassnet.trace.provenance`). docs/trace-names.md lists every name. The ops of the Dense tutorial
network, for example (``[k]`` a 1-based layer number, ``P`` a parameter such as ``W1``):

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

import re
import warnings
from contextlib import contextmanager

import numpy as np

from ..backend import to_numpy
from ..checks import check_bool, check_positive_int
from ..data.validate import batches
from ..errors import ExportError, GlassnetWarning
from ..layers.activations import Activation, Sigmoid
from ..layers.normalization import BatchNormalization
from ..losses import (
    EPS,
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    HalfSSE,
    MeanAbsoluteError,
    MeanSquaredError,
)
from ..optimizers import SGD
from ..training import check_inputs, check_targets
from . import article as art
from . import kinds, updates
from .builder import Builder, LayerContext
from .records import Step, Trace

__all__ = ["SUPPORTED", "check_traceable", "record"]

LOSSES = {HalfSSE: "half_sse", MeanSquaredError: "mse", MeanAbsoluteError: "mae",
          BinaryCrossEntropy: "binary_crossentropy", CategoricalCrossEntropy: "categorical_crossentropy"}


def _supported() -> str:
    return (f"layers {kinds.supported()}; losses " + ", ".join(LOSSES.values())
            + " (cross-entropies from the logits after a sigmoid/softmax output layer, else from the clipped "
            "probabilities as the engine does); optimizers "
            + ", ".join(c.__name__ for c in updates.SUPPORTED_OPTIMIZERS))


SUPPORTED = _supported()


def check_traceable(model) -> list:
    """Raise ExportError naming the first part of ``model`` the tracer cannot lay out; else each layer's tracer."""
    if model.loss is None or model.optimizer is None:
        raise ExportError("The model must be compiled before it can be traced: call "
                          "model.compile(loss=..., optimizer=...)")
    tracers = [kinds.check_layer(layer, i) for i, layer in enumerate(model.layers, 1)]
    loss = model.loss
    if not isinstance(loss, tuple(LOSSES)):
        raise ExportError(f"Cannot trace loss {loss!r}; the tracer supports {_supported()}")
    updates.check_optimizer(model.optimizer)
    return tracers


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
        Compiled, of the layers, losses and optimizers in ``SUPPORTED``. Built on the first call if needed.
    X : array, shape (N, ...)
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
        A model that is not compiled or that the tracer does not support (layers, losses or optimizers
        outside ``SUPPORTED``).
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
    tracers = check_traceable(model)  # now that the model is built
    Y = check_targets(model, X, y)
    if model.dtype != np.float64:
        warnings.warn(f"Tracing a {model.dtype.name} model: its numbers are {model.dtype.name}, while workbooks and "
                      "other languages recompute in float64; build the model with dtype='float64' to compare them "
                      "to 1e-12", GlassnetWarning, stacklevel=2)
    info = _network(model, tracers, len(X), batch_size, shuffle)
    n = len(X)
    rng = model.rng if shuffle and batch_size is not None and batch_size < n else None
    row_batches = _row_batches(n, batch_size, rng)
    device = model.device
    model.to("cpu")  # a model on a GPU is traced on the host (the same code), then moved back
    try:
        recorded = [_record_step(model, tracers, X, Y, s, next(row_batches), info) for s in range(1, steps + 1)]
    finally:
        model.to(device)
    return Trace(info, recorded)


def _row_batches(n, batch_size, rng):
    rows = np.arange(n)
    while True:  # epochs, as in fit
        for idx in batches(n, batch_size, rng):
            yield rows[idx]


def _network(model, tracers, n_samples, batch_size, shuffle) -> dict:
    layers = []
    shape = tuple(model.input_shape)
    parts = [str(shape[0]) if len(shape) == 1 else str(shape)]
    for k, (layer, tracer) in enumerate(zip(model.layers, tracers), 1):
        entry = {"layer": k, "name": layer.display_name, "kind": type(layer).__name__,
                 "input_shape": list(layer.input_shape), "output_shape": list(layer.output_shape)}
        entry.update(tracer.describe(layer, k))
        layers.append(entry)
        parts.append(tracer.summary(layer))
    opt = model.optimizer
    return {
        "summary": " → ".join(parts),
        "n_features": shape[0] if len(shape) == 1 else int(np.prod(shape)),
        "input_shape": list(shape),
        "n_outputs": int(model.output_shape[-1]),
        "layers": layers,
        "loss": LOSSES.get(type(model.loss), "categorical_crossentropy"),
        "fused": model._fused_last() is not None,
        "optimizer": _jsonable(opt.get_config()),
        "optimizer_summary": updates.describe_optimizer(opt),
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
    from ..layers.dense import Dense
    return (len(model.layers) == 2 and all(type(la) is Dense and type(la.activation) is Sigmoid and la.use_bias
                                           for la in model.layers)
            and type(model.loss) is HalfSSE and type(model.optimizer) is SGD and not model.optimizer.momentum
            and model.optimizer.clipvalue is None and model.optimizer.clipnorm is None
            and model.optimizer.global_clipnorm is None)


def _copy(a):
    return None if a is None else np.array(a, copy=True)


@contextmanager
def _tap(model, tracers):
    """While the step runs, keep every layer's input, output, incoming and outgoing gradient and gradients.

    Returns {id(layer): rec} for the model's layers and every sublayer their tracers name. The wrappers are
    instance attributes removed afterwards, so the layers' own methods run unchanged.
    """
    recs: dict[int, dict] = {}
    wrapped = []

    def wrap(layer, tracer):
        rec = recs.setdefault(id(layer), {})
        f, bwd, bz = layer.forward, layer.backward, getattr(layer, "backward_z", None)

        def forward(x, training=False):
            rec["x"] = _copy(x)
            out = f(x, training)
            rec["out"] = _copy(out)
            tracer.after_forward(layer, rec)
            return out

        def backward(dy):
            rec["dy"] = _copy(dy)
            dx = bwd(dy)
            rec["dx"] = _copy(dx)
            rec["grads"] = {k: _copy(v) for k, v in layer.grads.items()}
            tracer.after_backward(layer, rec)
            return dx

        def backward_z(dz):
            rec["dz"] = _copy(dz)
            dx = bz(dz)
            if "dy" not in rec:  # a fused output layer: the model called backward_z directly
                rec["dx"] = _copy(dx)
                rec["grads"] = {k: _copy(v) for k, v in layer.grads.items()}
                tracer.after_backward(layer, rec)
            return dx

        layer.forward, layer.backward = forward, backward
        names = ["forward", "backward"]
        if bz is not None:
            layer.backward_z = backward_z
            names.append("backward_z")
        wrapped.append((layer, names))
        for sub in tracer.sublayers(layer):
            sub_tracer = kinds.tracer_for(sub)
            if sub_tracer is None:
                raise ExportError(f"Cannot trace {sub.display_name} ({type(sub).__name__}) inside "
                                  f"{layer.display_name}: the tracer lays out {kinds.supported()}")
            wrap(sub, sub_tracer)
            rec.setdefault("sublayers", {})[id(sub)] = recs[id(sub)]  # what the block's tracer reads

    opt = model.optimizer
    clip = opt.clip

    def tapped_clip():
        recs["optimizer"] = {"g_before_clip": opt.g.copy()}
        clip()
        recs["optimizer"]["g_after_clip"] = opt.g.copy()

    try:
        for layer, tracer in zip(model.layers, tracers):
            wrap(layer, tracer)
        opt.clip = tapped_clip
        yield recs
    finally:
        for layer, names in wrapped:
            for name in names:
                layer.__dict__.pop(name, None)
        opt.__dict__.pop("clip", None)


def _record_step(model, tracers, X, Y, number: int, rows: np.ndarray, info: dict) -> Step:
    layers, opt = model.layers, model.optimizer
    L = len(layers)
    keys = list(model.param_index)  # (layer index, key) in layer order
    pname = {key: tracers[key[0]].param_name(layers[key[0]], key[1], key[0] + 1) for key in keys}
    before = {pname[key]: layers[key[0]].params[key[1]].copy() for key in keys}
    state_before = {pname[key]: {s: v.copy() for s, v in opt.state_for(key).items()} for key in keys}
    buffers_before = {tracers[i].param_name(layer, key, i + 1): v.copy()
                      for i, layer in enumerate(layers) for key, v in layer.state.items()}
    lr = opt.lr  # schedule-aware: the rate this update uses
    xb, yb = X[rows], Y[rows]
    for layer in layers:
        layer.da = None  # so a stale dA from an earlier call can never be read

    with _tap(model, tracers) as recs:
        loss, _ = model.train_step(xb, yb)  # forward, loss, backward, update: the engine's own step

    t = opt.iterations
    after = {pname[key]: layers[key[0]].params[key[1]].copy() for key in keys}
    state_after = {pname[key]: {s: v.copy() for s, v in opt.state_for(key).items()} for key in keys}
    buffers_after = {tracers[i].param_name(layer, key, i + 1): v.copy()
                     for i, layer in enumerate(layers) for key, v in layer.state.items()}
    n = len(rows)
    full = n == len(X) and np.array_equal(rows, np.arange(len(X)))
    where = "X" if full else "X[rows]"
    row_words = "all rows of X" if full else "rows " + ", ".join(map(str, rows.tolist())) + " of X"
    fused = info["fused"]
    regularized = {i: {key for key, r in getattr(layer, "regularizers", {}).items() if r is not None}
                   for i, layer in enumerate(layers)}
    ctxs = [LayerContext(k=k, layer=layer, rec=recs.get(id(layer), {}), inp=f"A{k - 1}", out=f"A{k}",
                         fused=fused and k == L, last=k == L, n=n, regularized=regularized[k - 1])
            for k, layer in enumerate(layers, 1)]

    b = Builder("Inputs")
    b.add("A0", where, xb, f"the inputs: {row_words}, one sample per row", kind="input", op="value")
    b.add("Y", "y" if full else "y[rows]", yb, "the targets of the same rows", kind="input", op="value")
    b.section = "Parameters at the start of the step"
    origin = "the initial weights" if number == 1 else f"step {number - 1}'s update"
    for key in keys:
        p = pname[key]
        what = {"W": "weights", "b": "biases"}.get(key[1], key[1])
        b.add(p, p, before[p], f"{what} of layer {key[0] + 1}, from {origin}", kind="param", op="value",
              layer=key[0] + 1)
    for name, v in buffers_before.items():
        b.add(name, name, v, f"buffer {name} (not trained by the optimizer), from {origin}", kind="param",
              op="value")
    for key in keys:
        p = pname[key]
        for s, v in state_before[p].items():
            b.add(f"{s}_{p}", f"{s}_{p}", v, f"the optimizer's {s} for {p} entering this step", kind="param",
                  op="value", layer=key[0] + 1)

    # -- forward ---------------------------------------------------------------------------------------
    for ctx, tracer, entry in zip(ctxs, tracers, info["layers"]):
        b.section = f"Forward pass, layer {ctx.k} ({entry['kind']}: {tracer.summary(ctx.layer)})"
        tracer.forward(b, ctx)
        tracer.update_buffers(b, ctx)

    b.section = "Error and loss"
    aL = ctxs[-1].rec["out"]
    b.add("E", f"Y − A{L}", yb - aL, "error: target minus output", ("Y", f"A{L}"), op="sub")
    logits = f"A{L - 1}" if isinstance(layers[-1], Activation) else f"Z{L}"
    masked = _add_output_mask(b, model, aL)
    add_loss = _add_masked_loss if masked else _add_loss
    penalties = updates.add_penalties(b, model, keys, pname, before)
    if penalties:
        data_loss = float(loss) - sum(float(q.value) for q in b.quantities if q.name in penalties)
        add_loss(b, model, L, n, data_loss, logits, "loss_data", fused)
        b.add("loss", "loss_data + " + " + ".join(penalties), loss, "the loss the optimizer minimizes: the data "
              "loss plus every penalty", ("loss_data", *penalties), op="add")
    else:
        add_loss(b, model, L, n, float(loss), logits, "loss", fused)

    # -- backward --------------------------------------------------------------------------------------
    last = ctxs[-1]
    if fused:
        act = getattr(last.layer, "activation", last.layer)
        size = aL.size // aL.shape[-1] if act.key == "softmax" else aL.size
        standalone = isinstance(last.layer, Activation)
        name = last.d_inp if standalone else "d" + last.q("Z")
        value = last.rec["dz"] if not standalone else recs.get(id(layers[-2]), {}).get("dy") if L > 1 else None
        b.section = f"Backward pass, layer {L}"
        if masked:
            den = 1 if act.key == "softmax" else aL.shape[-1]
            b.add(name, f"−E · mask_loss / ({den}·Σ mask_loss)", value, f"delta at the output: {act.key} and the "
                  "cross-entropy together, each step weighted by its mask (padded steps give 0)",
                  ("E", "mask_loss"), op="masked_scale", layer=L, num=-1, den=den, mean=True)
        else:
            b.add(name, f"(A{L} − Y) / {size} = −E / {size}", value,
                  f"delta at the output: {act.key} and the cross-entropy together give (output − target) / {size}",
                  ("E",), op="scale", layer=L, num=-1, den=size)
    else:
        b.section = f"Backward pass, layer {L}"
        if masked and model.loss.fused_activation is not None:
            _add_masked_output_grad(b, model, L, last.rec["dy"])
        elif masked and isinstance(model.loss, MeanAbsoluteError):
            den = aL.shape[-1]
            b.add(f"dA{L}", f"−sign(E) · mask_loss / ({den}·Σ mask_loss)", last.rec["dy"], "gradient of the mean "
                  "absolute error with respect to the output, each step weighted by its mask",
                  ("E", "mask_loss"), op="masked_scale", layer=L, num=-1, den=den, mean=True, sign=True)
        elif masked:
            half = isinstance(model.loss, HalfSSE)
            den = 1 if half else aL.shape[-1]
            b.add(f"dA{L}", "−E · mask_loss" if half else f"−2·E · mask_loss / ({den}·Σ mask_loss)", last.rec["dy"],
                  "gradient of the loss with respect to the output, each step weighted by its mask",
                  ("E", "mask_loss"), op="masked_scale", layer=L, num=-1 if half else -2, den=den, mean=not half)
        else:
            _add_output_grad(b, model, L, last.rec["dy"])
    for ctx, tracer in zip(reversed(ctxs), reversed(tracers)):
        if ctx.fused and isinstance(ctx.layer, Activation):
            continue  # the engine skips a fused activation layer: its delta is the one above
        b.section = f"Backward pass, layer {ctx.k}"
        tracer.backward(b, ctx)
    _note_exact_zeros(b, layers, pname)

    # -- update ----------------------------------------------------------------------------------------
    grads = updates.add_gradients(b, model, keys, pname, recs.get("optimizer", {}), before)
    b.section = f"Update: {info['optimizer_summary']}"
    for key in keys:
        p = pname[key]
        updates.add_update(b, opt, p, key[0] + 1, lr, t, after[p], state_after[p], grads[p])

    quantities = b.quantities
    if info["article"]:
        quantities = art.arrange(quantities, number)
    return Step(step=number, loss=float(loss), params_before=before, params_after=after, quantities=quantities,
                rows=[int(r) for r in rows], lr=float(lr), t=int(t), buffers_before=buffers_before,
                buffers_after=buffers_after)


def _note_exact_zeros(b, layers, pname):
    """Say so where a bias feeds BatchNormalization: its true gradient is 0 and the number shown is rounding."""
    for i in range(len(layers) - 1):
        name = pname.get((i, "b"))
        if name is None or not isinstance(layers[i + 1], BatchNormalization):
            continue
        for q in b.quantities:
            if q.name == f"d{name}":
                q.words += (f" (exactly 0 in exact arithmetic: BatchNormalization, layer {i + 2}, subtracts the batch "
                            "mean, so a constant added per channel changes nothing; what is shown is the engine's "
                            "rounding of a sum that cancels — see docs/trace-names.md, Exact zeros)")


def _add_loss(b, model, L, n, loss, logits, name, fused=True):
    key = LOSSES.get(type(model.loss), "categorical_crossentropy")
    out = model.output_shape
    size = n * int(np.prod(out))
    rows = n * int(np.prod(out[:-1]))  # a softmax's rows: every leading index
    clip = f"clip(A{L}, ε, 1)" if key == "categorical_crossentropy" else f"clip(A{L}, ε, 1−ε)"
    if key == "binary_crossentropy" and not fused:
        b.add(name, f"−Σ (Y⊙log {clip} + (1−Y)⊙log(1 − {clip})) / {size}", loss, "binary cross-entropy from "
              f"the output probabilities, clipped to [ε, 1−ε] (ε = {EPS:g}): the output layer is not a sigmoid "
              "layer, so there are no logits", ("Y", f"A{L}"), op="bce_prob", den=size, eps=EPS)
    elif key == "categorical_crossentropy" and not fused:
        b.add(name, f"−Σ Y ⊙ log {clip} / {rows}", loss, "categorical cross-entropy from the output "
              f"probabilities, clipped to [ε, 1] (ε = {EPS:g}): the output layer is not a softmax layer, so "
              "there are no logits", ("Y", f"A{L}"), op="cce_prob", den=rows, eps=EPS)
    elif key == "half_sse":
        b.add(name, "½·Σ E²", loss, "half the sum of squared errors", ("E",), op="half_sse")
    elif key == "mse":
        b.add(name, f"Σ E² / {size}", loss, "mean squared error", ("E",), op="mse", den=size)
    elif key == "mae":
        b.add(name, f"Σ |E| / {size}", loss, "mean absolute error", ("E",), op="mae", den=size)
    elif key == "binary_crossentropy":
        z = logits
        b.add(name, f"Σ (max({z},0) − {z}⊙Y + log(1 + exp(−|{z}|))) / {size}", loss,
              f"binary cross-entropy, computed from the logits {z} so it never takes log 0", (z, "Y"),
              op="bce_logits", den=size)
    else:
        b.add(name, f"−Σ Y ⊙ log A{L} / {rows}", loss, "categorical cross-entropy: minus the log-probability of "
              "the true class, averaged over rows (the engine computes it from the logits)", ("Y", f"A{L}"),
              op="cce", den=rows)


def _add_output_mask(b, model, aL) -> bool:
    """For a sequence output that carries a mask, record ``mask_loss`` (1 real step, 0 padding); True if so."""
    mask = model.__dict__.get("output_mask")
    if mask is None or aL.ndim < 3 or tuple(np.shape(mask)) != tuple(aL.shape[:2]):
        return False
    m = np.asarray(to_numpy(mask), dtype=np.float64)
    made = [q for q in b.quantities if re.fullmatch(r"mask\d+\w*", q.name) and np.shape(q.value) == m.shape
            and np.array_equal(q.value, m)]
    words = "the output's mask: 1 at a real step, 0 at padding; padded steps leave the loss"
    if made:
        b.add("mask_loss", made[-1].name, m, words, (made[-1].name,), op="linear")
    else:
        b.add("mask_loss", "mask", m, words, kind="input", op="value")
    return True


def _add_masked_loss(b, model, L, n, loss, logits, name, fused=True):
    key = LOSSES.get(type(model.loss), "categorical_crossentropy")
    C = int(model.output_shape[-1])
    words = "the mean over the real steps (mask 1) of each step's loss"
    if key == "binary_crossentropy" and not fused:
        b.add(name, f"−Σ mask_loss·Σ_last (Y⊙log p + (1−Y)⊙log(1−p)) / ({C}·Σ mask_loss), p = clip(A{L}, ε, 1−ε)",
              loss, f"binary cross-entropy from the clipped output probabilities (no logits): {words}",
              ("Y", f"A{L}", "mask_loss"), op="masked_loss", loss="bce_prob", per_step=C, eps=EPS)
    elif key == "categorical_crossentropy" and not fused:
        b.add(name, f"−Σ mask_loss·Σ_last Y ⊙ log clip(A{L}, ε, 1) / Σ mask_loss", loss, "categorical "
              f"cross-entropy from the clipped output probabilities (no logits): {words}",
              ("Y", f"A{L}", "mask_loss"), op="masked_loss", loss="cce_prob", per_step=C, eps=EPS)
    elif key == "half_sse":
        b.add(name, "½·Σ mask_loss·Σ_last E²", loss, "half the sum of squared errors over the real steps",
              ("E", "mask_loss"), op="masked_loss", loss=key, per_step=C)
    elif key in ("mse", "mae"):
        what, term = ("mean squared error", "E²") if key == "mse" else ("mean absolute error", "|E|")
        b.add(name, f"Σ mask_loss·(Σ_last {term} / {C}) / Σ mask_loss", loss, f"{what}: {words}",
              ("E", "mask_loss"), op="masked_loss", loss=key, per_step=C)
    elif key == "binary_crossentropy":
        b.add(name, f"Σ mask_loss·bce({logits}, Y) / ({C}·Σ mask_loss)", loss, f"binary cross-entropy from the "
              f"logits: {words}", (logits, "Y", "mask_loss"), op="masked_loss", loss=key, per_step=C)
    else:
        b.add(name, f"−Σ mask_loss·Σ_last Y ⊙ log A{L} / Σ mask_loss", loss, f"categorical cross-entropy: {words}",
              ("Y", f"A{L}", "mask_loss"), op="masked_loss", loss=key, per_step=C)


def _add_masked_output_grad(b, model, L, da):
    """A cross-entropy's gradient at a masked sequence output that is not a sigmoid/softmax layer: the
    unmasked gradient over the N·T steps, each step scaled by ``mask·N·T / Σ mask`` (the engine's row scale)."""
    bce = LOSSES.get(type(model.loss)) == "binary_crossentropy"
    steps = da.size // da.shape[-1]
    den = da.size if bce else steps
    grad = f"(A{L} − Y) / (A{L}⊙(1 − A{L})) / {den}" if bce else f"−Y / A{L} / {den}"
    b.add(f"dA{L}", f"{grad} · mask_loss·{steps} / Σ mask_loss, 0 where A{L} is clipped", da, "gradient of the "
          "cross-entropy with respect to the output probabilities, each step weighted by its mask (padded steps "
          "give 0)", (f"A{L}", "Y", "mask_loss"), op="masked_prob_grad", layer=L, loss="bce" if bce else "cce",
          den=den, steps=steps, eps=EPS)


def _add_output_grad(b, model, L, da):
    key = LOSSES.get(type(model.loss), "categorical_crossentropy")
    if key == "binary_crossentropy":
        size = da.size
        b.add(f"dA{L}", f"(A{L} − Y) / (A{L}⊙(1 − A{L})) / {size}, 0 where A{L} is clipped", da, "gradient of "
              "the binary cross-entropy with respect to the output probabilities (0 outside [ε, 1−ε], where the "
              "clipped loss is flat)", (f"A{L}", "Y"), op="bce_prob_grad", layer=L, den=size, eps=EPS)
    elif key == "categorical_crossentropy":
        rows = da.size // da.shape[-1]
        b.add(f"dA{L}", f"−Y / A{L} / {rows}, 0 where A{L} is clipped", da, "gradient of the categorical "
              "cross-entropy with respect to the output probabilities (0 below ε, where the clipped loss is "
              "flat)", (f"A{L}", "Y"), op="cce_prob_grad", layer=L, den=rows, eps=EPS)
    elif isinstance(model.loss, HalfSSE):
        b.add(f"dA{L}", f"A{L} − Y = −E", da, "gradient of the loss with respect to the output: "
              "minus the error", ("E",), op="neg", layer=L)
    elif isinstance(model.loss, MeanAbsoluteError):
        size = da.size
        b.add(f"dA{L}", f"sign(A{L} − Y) / {size} = −sign(E) / {size}", da, "gradient of the mean absolute error "
              "with respect to the output (0 where the error is exactly 0, as NumPy's sign)", ("E",),
              op="sign_scale", layer=L, num=-1, den=size)
    else:
        size = da.size
        b.add(f"dA{L}", f"2·(A{L} − Y) / {size} = −2·E / {size}", da, "gradient of the mean squared error "
              "with respect to the output", ("E",), op="scale", layer=L, num=-2, den=size)
