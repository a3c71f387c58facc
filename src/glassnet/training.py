"""The training loop behind ``Sequential.fit`` and the input checks shared by fit/predict/evaluate."""

from __future__ import annotations

import numpy as np

from .callbacks import Callback, EpochLogger, History, ProgressBar
from .data.validate import batches, check_array, check_lengths, train_val_split
from .errors import ConfigError, DivergenceError, ShapeError, invalid_value
from .losses import SparseCategoricalCrossEntropy

__all__ = ["fit", "check_inputs", "check_targets", "iterate", "evaluate_prepared"]


def check_inputs(model, X) -> np.ndarray:
    """X as a C-contiguous array of the model's dtype whose shape fits the first layer."""
    X = check_array(X, "X", dtype=model.dtype, min_ndim=2)
    if not model.built:
        model.build(X.shape[1:])
    if X.shape[1:] != tuple(model.input_shape):
        first = model.layers[0]
        raise ShapeError(
            f"X has shape {X.shape}: {X.shape[1:] if X.ndim > 2 else X.shape[1]} features per row, but layer 0 "
            f"({first.display_name}) was built for input shape {tuple(model.input_shape)}"
        )
    return X


def check_targets(model, X, y) -> np.ndarray:
    """y validated and shaped like the model's outputs (one-hot for sparse labels)."""
    sparse = isinstance(model.loss, SparseCategoricalCrossEntropy)
    y = check_array(y, "y", dtype=np.float64 if sparse else model.dtype, min_ndim=1)
    check_lengths(X, y)
    return model.loss.prepare(y, (len(X),) + tuple(model.output_shape), model.dtype)


def iterate(n: int, batch_size: int | None):
    """Slices covering n rows in order (inference)."""
    if batch_size is None or batch_size >= n:
        yield slice(0, n)
        return
    yield from batches(n, batch_size, None)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise invalid_value(name, value, "a positive integer")


def fit(model, X, y, *, epochs, batch_size, shuffle, validation_data, validation_split, callbacks, verbose,
        initial_epoch=0):
    model._require_compiled("fit()")
    _positive_int("epochs", epochs)
    if batch_size is not None:
        _positive_int("batch_size", batch_size)
    if verbose not in (0, 1, 2):
        raise invalid_value("verbose", verbose, "0, 1 or 2")
    X = check_inputs(model, X)
    Y = check_targets(model, X, y)
    if validation_split and validation_data is not None:
        raise ConfigError("Pass either validation_data or validation_split, not both")
    if validation_split:
        X, Y, Xv, Yv = train_val_split(X, Y, validation_split)
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ConfigError("validation_data must be a tuple (X_val, y_val)")
        Xv = check_inputs(model, validation_data[0])
        Yv = check_targets(model, Xv, validation_data[1])
    else:
        Xv = Yv = None

    # History and the progress display come last, as in Keras, so they see what callbacks add to the
    # logs (ReduceLROnPlateau's "lr")
    history = History()
    cbs: list[Callback] = list(callbacks or []) + [history]
    if verbose == 1 and not any(isinstance(c, ProgressBar) for c in callbacks or []):
        cbs.append(ProgressBar())
    elif verbose == 2:
        cbs.append(EpochLogger())
    params = {"epochs": epochs, "initial_epoch": initial_epoch, "batch_size": batch_size, "samples": len(X)}
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise ConfigError(f"callbacks must be glassnet Callback instances; received {cb!r}")
        cb.model, cb.params = model, params

    batch_cbs = [cb for cb in cbs if type(cb).on_batch_end is not Callback.on_batch_end]
    model.stop_training = False
    model.history = history
    n = len(X)
    for cb in cbs:
        cb.on_train_begin()
    try:
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            totals = dict.fromkeys(["loss"] + [name for name, _ in model.metrics], 0.0)
            rng = model.rng if shuffle and batch_size is not None and batch_size < n else None
            for b, idx in enumerate(batches(n, batch_size, rng)):
                xb, yb = X[idx], Y[idx]
                loss, a = model.train_step(xb, yb)
                m = len(xb)
                totals["loss"] += loss * m
                for name, f in model.metrics:
                    totals[name] += f(a, yb) * m
                for cb in batch_cbs:
                    cb.on_batch_end(b, {"loss": loss})
            if not np.isfinite(model.flat_params).all():
                model._diverged(float("nan"))
            logs = {k: v / n for k, v in totals.items()}
            if Xv is not None:
                logs |= {f"val_{k}": v for k, v in evaluate_prepared(model, Xv, Yv, batch_size).items()}
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    except DivergenceError:
        for cb in cbs:
            if isinstance(cb, ProgressBar):
                cb.on_train_end()
        raise
    for cb in cbs:
        cb.on_train_end()
    return history


def evaluate_prepared(model, X, Y, batch_size=None) -> dict[str, float]:
    """Loss and metrics over checked inputs X and prepared targets Y, in inference mode."""
    totals: dict[str, float] = {}
    for s in iterate(len(X), batch_size):
        a = model.forward(X[s], training=False)
        n = a.shape[0]
        totals["loss"] = totals.get("loss", 0.0) + model.compute_loss(a, Y[s]) * n
        for name, f in model.metrics:
            totals[name] = totals.get(name, 0.0) + f(a, Y[s]) * n
    return {k: v / len(X) for k, v in totals.items()}
