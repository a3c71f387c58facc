"""Class labels: encode them as integer codes, decode them back, check them against known classes.

Labels may be numbers or strings; classes are sorted as ``numpy.unique`` sorts them (scikit-learn's
LabelEncoder convention), so code ``k`` is ``classes[k]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import DEFAULT_DTYPE, as_dtype
from ..checks import check_positive_int
from ..errors import DataError, ShapeError
from .validate import _short_repr

__all__ = ["check_labels", "decode_labels", "encode_labels", "one_hot"]


def _label_vector(y: Any, name: str) -> np.ndarray:
    """Labels as a non-empty 1-D array; a column (N, 1) is flattened."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ShapeError(
            f"{name} must be 1-dimensional (samples,) or a column (samples, 1) of labels; "
            f"received shape {y.shape}"
        )
    if y.size == 0:
        raise DataError(f"{name} is empty: expected at least one label")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise DataError(f"{name} contains NaN at row {int(np.argmax(np.isnan(y)))}; expected a label")
    return y


def encode_labels(y: Any, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Map labels to integer codes ``0 .. K-1`` in sorted order of the labels (like sklearn's LabelEncoder).

    ``classes[codes]`` gives the labels back.

    Parameters
    ----------
    y : array_like, shape (N,) or (N, 1)
        Labels of one type: numbers or text.
    name : str, default "y"
        How messages call the labels.

    Returns
    -------
    codes : numpy.ndarray of int64, shape (N,)
    classes : numpy.ndarray, shape (K,)
        The sorted distinct labels.

    Examples
    --------
    >>> codes, classes = encode_labels(["b", "a", "b"])
    >>> codes.tolist(), classes.tolist()
    ([1, 0, 1], ['a', 'b'])
    """
    y = _label_vector(y, name)
    try:
        classes, codes = np.unique(y, return_inverse=True)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in y.tolist()})
        raise DataError(
            f"{name} mixes label types ({', '.join(kinds)}) that cannot be ordered; "
            "expected labels of one type"
        ) from None
    return codes.reshape(-1).astype(np.int64), classes


def _check_codes(codes: np.ndarray, n_classes: int, name: str) -> None:
    bad = (codes < 0) | (codes >= n_classes)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{name} has code {int(codes[row])} at row {row}; expected class codes 0..{n_classes - 1} "
            f"({n_classes} classes)"
        )


def decode_labels(codes: Any, classes: Any, name: str = "codes") -> np.ndarray:
    """Return ``classes[codes]``: the labels behind integer class codes (inverse of :func:`encode_labels`)."""
    codes, classes = np.asarray(codes), np.asarray(classes)
    if codes.dtype.kind not in "iu":
        raise DataError(f"{name} has dtype {codes.dtype}; expected integer class codes")
    _check_codes(codes.reshape(-1), len(classes), name)
    return classes[codes]


def check_labels(codes_or_labels: Any, classes: Any, name: str = "y") -> np.ndarray:
    """Return the codes of labels a model already knows; name the first label it never saw.

    Integers are taken as codes (checked to lie in ``0 .. K-1``) when the known classes are not numbers;
    everything else is looked up among `classes`.

    Parameters
    ----------
    codes_or_labels : array_like, shape (N,) or (N, 1)
    classes : array_like, shape (K,)
        The labels seen during training (``classes`` from :func:`encode_labels`).
    name : str, default "y"

    Returns
    -------
    numpy.ndarray of int64, shape (N,)
        Indices into `classes`.
    """
    labels, classes = _label_vector(codes_or_labels, name), np.asarray(classes)
    numeric = "biuf"
    if labels.dtype.kind in "iu" and classes.dtype.kind not in numeric:
        _check_codes(labels, len(classes), name)
        return labels.astype(np.int64)

    same_family = (labels.dtype.kind in numeric) == (classes.dtype.kind in numeric) and "O" not in (
        labels.dtype.kind + classes.dtype.kind
    )
    if same_family and len(classes):
        order = np.argsort(classes, kind="stable")
        pos = np.minimum(np.searchsorted(classes[order], labels), len(classes) - 1)
        seen = classes[order][pos] == labels
        codes = order[pos]
    else:  # text against numbers (or Python objects): only an element-wise lookup can tell
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        found = [lookup.get(v) for v in labels.tolist()]
        seen = np.array([i is not None for i in found])
        codes = np.array([-1 if i is None else i for i in found])
    if not seen.all():
        row = int(np.argmin(seen))
        known = classes.tolist()
        shown = repr(known) if len(known) <= 20 else repr(known[:20])[:-1] + ", ...]"
        raise DataError(
            f"{name} has label {_short_repr(labels[row])} at row {row} that the model never saw during "
            f"training; known labels: {shown}"
        )
    return codes.astype(np.int64)


def one_hot(codes: Any, n_classes: int, dtype: Any = DEFAULT_DTYPE) -> np.ndarray:
    """Rows of the identity matrix: ``out[i, codes[i]] = 1``, shape (N, n_classes).

    >>> one_hot([2, 0], 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    n_classes = check_positive_int("n_classes", n_classes)
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ShapeError(f"codes must be 1-dimensional (samples,); received shape {codes.shape}")
    if codes.dtype.kind not in "iu":
        raise DataError(f"codes has dtype {codes.dtype}; expected integer class codes")
    _check_codes(codes, n_classes, "codes")
    out = np.zeros((len(codes), n_classes), dtype=as_dtype(dtype))  # (N, K)
    out[np.arange(len(codes)), codes] = 1
    return out
