"""Metrics reported beside the loss: ``accuracy`` and ``mae``."""

from __future__ import annotations

import numpy as np

from .errors import ConfigError

__all__ = ["METRICS", "accuracy", "get_metric", "mae"]


def accuracy(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Fraction of rows classified right.

    One output column: a row counts as class 1 when ŷ > 0.5. Several columns: the arg-max of ŷ is
    compared with the arg-max of the one-hot ``y``.
    """
    if y_pred.shape[-1] == 1:
        return float(np.mean((y_pred > 0.5) == (y_true > 0.5)))
    return float(np.mean(y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)))


def mae(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Mean absolute error ``mean(|y - ŷ|)``."""
    return float(np.mean(np.abs(y_true - y_pred)))


METRICS = {"accuracy": accuracy, "mae": mae}
_ALIASES = {"acc": "accuracy", "mean_absolute_error": "mae"}


def get_metric(name) -> tuple[str, callable]:
    """(name, function) for a metric name or a callable ``f(y_pred, y_true) -> float``."""
    if callable(name):
        return getattr(name, "__name__", "metric"), name
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in METRICS:
        raise ConfigError(f"Unknown metric {name!r}; valid metrics are: {', '.join(sorted(METRICS))}")
    return key, METRICS[key]
