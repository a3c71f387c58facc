"""Sample and class weights, checked once where they enter ``fit`` and ``evaluate``.

A weight ``wᵢ ≥ 0`` per row scales that row's loss: the loss of a batch is ``Σ wᵢ·lᵢ / Σ wᵢ``, so a weight of
2 counts a row twice and a weight of 0 drops it (scikit-learn's convention). ``class_weight`` (Keras) gives
every row of a class the same weight; with ``sample_weight`` the two multiply.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..checks import check_number, is_int
from ..errors import ConfigError, DataError, ShapeError, invalid_value
from .validate import check_array

__all__ = ["check_sample_weight", "class_weight_rows", "label_weight_table", "require_positive"]


def check_sample_weight(w, n: int, name: str = "sample_weight") -> np.ndarray | None:
    """``w`` as float64 weights of shape (n,), or None for None.

    ShapeError for another shape; DataError for text, NaN/inf or a negative weight. The caller's array is
    never written to.
    """
    if w is None:
        return None
    w = check_array(w, name, dtype=np.float64, min_ndim=1, max_ndim=1)
    if len(w) != n:
        raise ShapeError(f"{name} has {len(w)} values for {n} rows; expected one weight per row, shape ({n},)")
    negative = w < 0
    if negative.any():
        row = int(np.argmax(negative))
        raise DataError(f"{name} has the negative weight {w[row]} at row {row}; weights must be ≥ 0")
    return w


def require_positive(w: np.ndarray | None, name: str = "sample_weight") -> None:
    """DataError when every weight is 0: such a loss is 0/0."""
    if w is not None and not w.any():
        raise DataError(f"{name} is zero for every row; at least one weight must be positive")


def class_weight_rows(class_weight, Y: np.ndarray, n_outputs: int) -> np.ndarray:
    """Each row's weight, float64 (N,), from ``class_weight``, a dict class index → weight (Keras).

    The class of a row is its integer label (sparse labels, ``Y`` int codes), the argmax of its target row
    (one-hot targets, ``Y`` of shape (N, K)), or its 0/1 label (one output, ``Y`` of shape (N, 1)). A class
    missing from the dict weighs 1, as in Keras.
    """
    if not isinstance(class_weight, Mapping):
        raise ConfigError(f"class_weight must be a dict mapping class indices to weights, e.g. {{0: 1.0, 1: 5.0}}; "
                          f"received {type(class_weight).__name__} {class_weight!r}")
    if Y.ndim > (1 if Y.dtype.kind in "iu" else 2):  # a label per step of a sequence: Keras refuses it too
        raise ConfigError(f"class_weight weighs whole rows, but the targets of shape {Y.shape} label every step of "
                          "a sequence; pass sample_weight (one weight per row) instead, as Keras asks "
                          "(it refuses class_weight for targets of 3 or more dimensions)")
    if Y.dtype.kind in "iu":  # sparse labels: already checked to be 0..n_outputs-1
        classes, k = Y, n_outputs
    elif Y.ndim == 2 and Y.shape[1] > 1:
        classes, k = np.argmax(Y, axis=1), Y.shape[1]  # (N,)
    elif Y.ndim == 2:
        labels = Y[:, 0]
        bad = (labels != 0) & (labels != 1)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"class_weight needs class labels: with one output, y must hold 0 or 1; y holds "
                            f"{labels[row]} at row {row}")
        classes, k = labels.astype(np.int64), 2
    else:
        raise ConfigError(f"class_weight needs targets of shape (samples, classes) or class labels; the targets "
                          f"have shape {Y.shape}")
    table = np.ones(k)  # (K,): the weight of each class
    for key, value in class_weight.items():
        if not is_int(key) or not 0 <= key < k:
            raise ConfigError(f"class_weight has the key {key!r}, which is not a class of this model; expected "
                              f"class indices 0..{k - 1}")
        table[int(key)] = check_number(f"class_weight[{key}]", value, expected="a finite number ≥ 0")
    return table[classes]  # (N,)


def label_weight_table(class_weight, codes: np.ndarray, classes: np.ndarray, w: np.ndarray | None = None):
    """The weight of each class, float64 (K,), for scikit-learn's ``class_weight``; None for None.

    ``class_weight`` is a dict label → weight (labels from ``classes``; absent ones weigh 1) or "balanced":
    ``n_samples / (n_classes * bincount(y))`` over the labels' codes (N,), with counts of ``w`` when given (a
    weight of 2 counts a row twice). ConfigError for anything else.
    """
    k = len(classes)
    if class_weight is None:
        return None
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.bincount(codes, weights=w, minlength=k)  # (K,): rows, or Σ w, per class
        present = np.count_nonzero(np.bincount(codes, minlength=k))  # classes in y
        with np.errstate(divide="ignore"):
            return np.where(counts > 0, counts.sum() / (present * counts), 1.0)
    if not isinstance(class_weight, Mapping):
        raise invalid_value("class_weight", class_weight, "None, 'balanced' or a dict mapping class labels to weights")
    index = {c: i for i, c in enumerate(classes.tolist())}
    table = np.ones(k)
    for label, value in class_weight.items():
        i = index.get(label.item() if isinstance(label, np.generic) else label)
        if i is None:
            raise ConfigError(f"class_weight has the key {label!r}, which is not one of the classes "
                              f"{classes.tolist()!r}")
        table[i] = check_number(f"class_weight[{label!r}]", value, expected="a finite number ≥ 0")
    return table
