"""Finite-difference gradient checks for a model, a layer or a loss (float64, central differences).

For every checked element ``p`` the numerical slope is ``(L(p + h) - L(p - h)) / 2h``. A parameter's
error is ``max|analytic - numeric| / max(max|analytic|, max|numeric|, 1e-3·G)``: the worst deviation relative
to the gradient's own scale, which stays meaningful where single elements are near zero, and at least to a
thousandth of ``G``, the largest gradient checked with it: an array whose true gradient is 0 (a bias before a
batch normalization) is measured against the finite difference's rounding noise at that scale, not against
itself. A wrong gradient of an array a thousand times smaller than the largest still shows (a doubled one
gives about 1).

By default the forward pass that is differentiated is the training-mode one, the one ``fit``
backpropagates through: batch normalization uses the batch's statistics (so ``L`` depends on them),
and dropout draws one fixed mask (its generator is reseeded before every forward). ``training=False``
checks the inference-mode forward and backward instead (moving statistics, dropout off).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .checks import check_bool, check_number
from .errors import ConfigError
from .layers.activations import get_activation
from .layers.base import Layer
from .losses import Loss
from .model import Sequential
from .training import check_inputs, check_targets

__all__ = ["GradcheckReport", "gradcheck"]


@dataclass
class GradcheckReport:
    """Max relative error per checked array (``W1``, ``b1``, ... for a model; ``W``, ``x`` for a layer)."""

    subject: str
    errors: dict[str, float] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)
    #: the tolerance ``passed`` compares the largest error with (``gradcheck(..., tol=)``)
    tol: float = 1e-6

    @property
    def max_error(self) -> float:
        """The largest relative error over all checked arrays (0.0 when nothing was checked)."""
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self) -> bool:
        """Whether every relative error is below ``tol`` (strictly)."""
        return self.max_error < self.tol

    def to_dict(self) -> dict:
        """The report as JSON-able data: subject, errors, checked (element counts) and max_error."""
        return {"subject": self.subject, "errors": self.errors, "checked": self.checked, "max_error": self.max_error}

    def __str__(self) -> str:
        lines = [f"gradcheck {self.subject}"]
        lines += [f"  {k:<10} max rel error {v:.3e}  ({self.checked[k]} elements)" for k, v in self.errors.items()]
        return "\n".join(lines)


#: an array's gradient is measured against at least this fraction of the largest gradient checked with it
FLOOR = 1e-3


def _rel_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 0.0) -> float:
    scale = max(float(np.abs(analytic).max(initial=0)), float(np.abs(numeric).max(initial=0)), floor)
    diff = float(np.abs(analytic - numeric).max(initial=0))
    return 0.0 if diff == 0 else diff / max(scale, 1e-300)


def _errors(report, pairs: dict) -> None:
    """Fill ``report`` from ``{name: (analytic, numeric)}``: each array's error relative to its own scale, or
    to ``FLOOR`` × the largest gradient of the check when its own is smaller (a bias before a batch
    normalization has a true gradient of 0, where the finite difference sees only rounding noise)."""
    top = max((max(float(np.abs(a).max(initial=0)), float(np.abs(n).max(initial=0))) for a, n in pairs.values()),
              default=0.0)
    for name, (a, n) in pairs.items():
        report.errors[name] = _rel_error(a, n, FLOOR * top)
        report.checked[name] = len(n)


def _numeric(f, arr: np.ndarray, idx, h: float) -> np.ndarray:
    out = np.empty(len(idx))
    flat = arr.reshape(-1)
    for j, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        out[j] = (up - down) / (2 * h)
    return out


def _indices(size: int, max_checks: int | None, rng) -> np.ndarray:
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, max_checks, replace=False))


def _as64(x) -> np.ndarray:
    return np.array(x, dtype=np.float64)


def _walk(layers):
    """Every layer of ``layers`` and, depth first, the sublayers of containers (a residual block's branches)."""
    for layer in layers:
        yield layer
        sublayers = getattr(layer, "_sublayers", None)
        if sublayers is not None:
            yield from _walk(sub for _, sub in sublayers())


def _repeatable(forward, layers, training: bool, seed: int):
    """``forward(training)`` as a function of the parameters alone, so finite differences can be taken.

    In training mode two things would change between evaluations: dropout would draw a new mask, and
    batch normalization would move its moving statistics. Every layer with a generator gets a fresh one
    seeded the same way before each call (one mask throughout), and every layer's state is put back
    after it, so the check leaves the statistics where it found them.
    """
    layers = list(_walk(layers))
    saved = [(layer, {k: v.copy() for k, v in layer.state.items()}) for layer in layers if layer.state]

    def run():
        for i, layer in enumerate(layers):
            if getattr(layer, "rng", None) is not None:
                layer.rng = np.random.default_rng([seed, i])
        out = forward(training)
        for layer, state in saved:
            for k, v in layer.state.items():
                v[...] = state[k]
        return out

    return run


def gradcheck(subject, X, y=None, *, training: bool = True, h: float = 1e-6, max_checks: int | None = 2000,
              seed: int = 0, tol: float = 1e-6) -> GradcheckReport:
    """Compare analytic gradients with central differences in float64.

    Parameters
    ----------
    subject : Sequential, Layer or Loss
        A compiled model (checks every parameter, named W1, b1, ...), a layer (checks its parameters
        and its input gradient ``x`` against ``L = Σ out·R`` for a fixed random R), or a loss (checks
        dL/dŷ, and dL/dZ through the fused activation where it has one).
    X, y : arrays
        Inputs and targets (for a loss: predictions and targets).
    training : bool, default True
        Differentiate the training-mode forward (what ``fit`` uses: batch statistics in batch
        normalization, dropout with one fixed mask) or, with False, the inference-mode one. Only layers
        such as BatchNormalization and Dropout behave differently; the subject is a copy, and its moving
        statistics are restored after every forward. Ignored for a loss.
    h : float, default 1e-6
        The finite-difference step: ``(L(p + h) - L(p - h)) / 2h``.
    max_checks : int or None, default 2000
        At most this many elements per array are checked (a seeded sample); None checks all.
    seed : int, default 0
        Seeds the sample of elements, the random R of a layer check and the fixed dropout mask.
    tol : float, default 1e-6
        The report's ``passed`` is True when every max relative error is below it.

    Returns
    -------
    GradcheckReport
        ``errors``: the largest relative error per array; ``passed`` is True when all are below ``tol``.

    Raises
    ------
    ConfigError
        A subject that is not a Sequential, Layer or Loss, a bad ``training``, or a recurrent layer with
        truncated backpropagation (``bptt=k``), whose gradient is not the whole graph's by design.
    NotBuiltError
        A model that is not compiled.
    DataError, ShapeError
        ``X`` or ``y`` that ``fit`` would refuse too.
    """
    training = check_bool("training", training)
    tol = check_number("tol", tol, low_open=True)
    if not isinstance(subject, (Sequential, Layer, Loss)):
        raise ConfigError(f"gradcheck takes a Sequential, a Layer or a Loss; received {type(subject).__name__}")
    _refuse_truncated(subject)
    rng = np.random.default_rng(seed)
    if isinstance(subject, Sequential):
        report = _check_model(subject, X, y, training, h, max_checks, rng, seed)
    elif isinstance(subject, Layer):
        report = _check_layer(subject, X, training, h, max_checks, rng, seed)
    else:
        report = _check_loss(subject, X, y, h, max_checks, rng)
    report.tol = tol
    return report


def _refuse_truncated(subject) -> None:
    """ConfigError for a recurrent layer with ``bptt=k``: its gradient is, by design, not the full graph's."""
    layers = subject.layers if isinstance(subject, Sequential) else [subject] if isinstance(subject, Layer) else []
    todo = list(layers)
    while todo:
        layer = todo.pop()
        todo += [v for v in vars(layer).values() if isinstance(v, Layer)]  # wrapped layers (Bidirectional...)
        todo += [v for vals in vars(layer).values() if isinstance(vals, (list, tuple))
                 for v in vals if isinstance(v, Layer)]
        if getattr(layer, "bptt", None):
            raise ConfigError(f"Layer {layer.display_name!r} has bptt={layer.bptt}: truncated backpropagation "
                              "through time stops the gradient every bptt steps on purpose, so it is not the "
                              "finite-difference gradient of the whole graph; check the layer with bptt=None "
                              "(tests/layers/test_recurrent_features.py checks the truncated gradient against "
                              "the truncated graph)")


def _check_model(model, X, y, training, h, max_checks, rng, seed) -> GradcheckReport:
    model._require_compiled("gradcheck()")
    m = copy.deepcopy(model).to("cpu")  # finite differences in float64 on the host, whatever the device
    m.dtype = np.dtype(np.float64)
    for layer in m.layers:
        layer.dtype = m.dtype
        layer.params = {k: v.astype(np.float64) for k, v in layer.params.items()}
        layer.state = {k: v.astype(np.float64) for k, v in layer.state.items()}
    if m.built:
        m._flatten_params()
    X = check_inputs(m, X)
    Y = check_targets(m, X, y)

    forward = _repeatable(lambda mode: m.forward(X, training=mode), m.layers, training, seed)

    def loss():
        return m.compute_loss(forward(), Y)

    a = forward()
    m.compute_loss(a, Y)
    m.backward(a, Y)
    mode = "training" if training else "inference"
    report = GradcheckReport(subject=f"model ({len(m.layers)} layers, loss {m.loss.key}, {mode} mode)")
    n, pairs = 0, {}
    for i, layer in enumerate(m.layers):
        if not layer.params:
            continue
        n += 1
        for k, p in layer.params.items():
            idx = _indices(p.size, max_checks, rng)
            pairs[f"{k}{n}"] = (layer.grads[k].reshape(-1)[idx], _numeric(loss, p, idx, h))
    _errors(report, pairs)
    return report


def _check_layer(layer, X, training, h, max_checks, rng, seed) -> GradcheckReport:
    layer = copy.deepcopy(layer)
    ids = layer.input_dtype(X)  # an Embedding's integer ids stay integers: there is no gradient for them
    X = np.asarray(X, dtype=ids) if ids is not None and ids.kind in "iu" else _as64(X)
    if not layer.built:
        layer.build(X.shape[1:], np.random.default_rng(seed), np.float64)
    else:
        layer.params = {k: v.astype(np.float64) for k, v in layer.params.items()}
        layer.state = {k: v.astype(np.float64) for k, v in layer.state.items()}
        layer.dtype = np.dtype(np.float64)
    layer._new_grads()
    if hasattr(layer, "need_input_grad"):
        layer.need_input_grad = True

    run = _repeatable(lambda mode: layer.forward(X, training=mode), [layer], training, seed)
    R = rng.standard_normal(run().shape)

    def loss():
        return float(np.sum(run() * R))

    run()
    dx = layer.backward(R)
    report = GradcheckReport(subject=f"layer {layer!r}, {'training' if training else 'inference'} mode")
    targets = dict(layer.params) | ({} if dx is None else {"x": X})
    analytic = dict(layer.grads) | {"x": dx}
    pairs = {}
    for k, arr in targets.items():
        idx = _indices(arr.size, max_checks, rng)
        pairs[k] = (np.asarray(analytic[k]).reshape(-1)[idx], _numeric(loss, arr, idx, h))
    _errors(report, pairs)
    return report


def _check_loss(loss, y_pred, y_true, h, max_checks, rng) -> GradcheckReport:
    a = _as64(y_pred)
    y = loss.prepare(np.asarray(y_true), a.shape, np.float64)
    report = GradcheckReport(subject=f"loss {loss.key}")
    idx = _indices(a.size, max_checks, rng)
    report.errors["y_pred"] = _rel_error(loss.backward(a, y).reshape(-1)[idx],
                                         _numeric(lambda: loss.forward(a, y), a, idx, h))
    report.checked["y_pred"] = len(idx)
    if loss.fused_activation:
        act = get_activation(loss.fused_activation)
        z = np.log(np.clip(a, 1e-12, None)) if loss.fused_activation == "softmax" else np.log(a / (1 - a))
        dz = loss.fused_backward(act.forward(z), y)
        num = _numeric(lambda: loss.forward(act.forward(z), y, z), z, idx, h)
        report.errors["z (fused)"] = _rel_error(dz.reshape(-1)[idx], num)
        report.checked["z (fused)"] = len(idx)
    return report
