"""Metrics reported beside the loss (Keras' names): ``accuracy``, ``precision``, ``recall``, ``auc``,
``top_k_categorical_accuracy``, ``mae``, ``mse``, ``rmse``.

Each is a function ``f(y_pred, y_true) -> float`` of one batch's outputs and targets (one-hot rows for
sparse labels). ``fit`` and ``evaluate`` report the mean over batches weighted by their rows, which for
``precision``, ``recall``, ``auc`` and ``rmse`` is not the value over all rows at once (Keras accumulates
counts over the epoch): with ``batch_size=None`` (``evaluate``'s default, and full-batch ``fit``) the two
agree. See docs/deviations.md.

Precision, recall and AUC treat every output as one binary decision (Keras' defaults: threshold 0.5,
labels above 0.5 are positive, several columns micro-averaged).
"""

from __future__ import annotations

import numpy as np

from .backend import to_numpy
from .errors import ConfigError

__all__ = ["METRICS", "accuracy", "auc", "get_metric", "mae", "mse", "precision", "recall", "rmse",
           "top_k_categorical_accuracy"]


def accuracy(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Fraction of rows classified right.

    One output column: a row counts as class 1 when ŷ > 0.5. Several columns: the arg-max of ŷ is
    compared with the arg-max of the one-hot ``y``.
    """
    if y_pred.shape[-1] == 1:
        return float(np.mean((y_pred > 0.5) == (y_true > 0.5)))
    return float(np.mean(y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)))


def _binary(y_pred, y_true) -> tuple[np.ndarray, np.ndarray]:
    """Scores and 0/1 labels, flattened: every output is one binary decision."""
    return to_numpy(y_pred).reshape(-1), to_numpy(y_true).reshape(-1) > 0.5


def precision(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """``TP / (TP + FP)`` with ŷ > 0.5 predicted positive; 0 when nothing is predicted positive (Keras)."""
    s, pos = _binary(y_pred, y_true)
    predicted = s > 0.5
    n = int(predicted.sum())
    return float(np.sum(predicted & pos)) / n if n else 0.0


def recall(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """``TP / (TP + FN)`` with ŷ > 0.5 predicted positive; 0 when there is no positive label (Keras)."""
    s, pos = _binary(y_pred, y_true)
    n = int(pos.sum())
    return float(np.sum((s > 0.5) & pos)) / n if n else 0.0


def _average_ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks of ``s``, tied values sharing the mean of their ranks."""
    order = np.argsort(s, kind="mergesort")
    ordered = s[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]  # where each run of equal values starts
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(s))
    ranks[order] = ((starts + ends + 1) / 2)[np.cumsum(first) - 1]
    return ranks


def auc(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Area under the ROC curve, exact (the trapezoids through every distinct score, ties included).

    Computed as the Mann-Whitney statistic: the probability that a positive scores above a negative,
    ``(Σ ranks of positives − P(P+1)/2) / (P·N)``. Keras approximates the same area with 200 thresholds.
    A batch with no positive or no negative label has no ROC curve: 0, as Keras gives.
    """
    s, pos = _binary(y_pred, y_true)
    p = int(pos.sum())
    n = len(s) - p
    if p == 0 or n == 0:
        return 0.0
    return float((_average_ranks(s)[pos].sum() - p * (p + 1) / 2) / (p * n))


def top_k_categorical_accuracy(y_pred: np.ndarray, y_true: np.ndarray, k: int = 5) -> float:
    """Fraction of rows whose true class (arg-max of the one-hot ``y``) is among the ``k`` highest scores.

    Ties at the boundary count as in the top k, as in Keras (``in_top_k``).
    """
    y_pred, y_true = to_numpy(y_pred), to_numpy(y_true)
    scores = y_pred.reshape(-1, y_pred.shape[-1])  # (rows, classes)
    true = y_true.reshape(-1, y_true.shape[-1]).argmax(axis=-1)
    true_score = scores[np.arange(len(scores)), true]
    higher = (scores > true_score[:, None]).sum(axis=-1)  # classes scored strictly above the true one
    return float(np.mean(higher < k))


def mae(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Mean absolute error ``mean(|y - ŷ|)``."""
    return float(np.mean(np.abs(y_true - y_pred)))


def mse(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Mean squared error ``mean((y - ŷ)²)``."""
    d = y_true - y_pred
    return float(np.mean(d * d))


def rmse(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Root mean squared error ``sqrt(mean((y - ŷ)²))``."""
    return float(np.sqrt(mse(y_pred, y_true)))


METRICS = {f.__name__: f for f in (accuracy, precision, recall, auc, top_k_categorical_accuracy, mae, mse, rmse)}
_ALIASES = {"acc": "accuracy", "mean_absolute_error": "mae", "mean_squared_error": "mse",
            "root_mean_squared_error": "rmse"}


def get_metric(name) -> tuple[str, callable]:
    """(name, function) for a metric name or a callable ``f(y_pred, y_true) -> float``."""
    if callable(name):
        return getattr(name, "__name__", "metric"), name
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in METRICS:
        raise ConfigError(f"Unknown metric {name!r}; valid metrics are: {', '.join(sorted(METRICS))}")
    return key, METRICS[key]
