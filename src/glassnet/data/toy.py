"""Small generated data sets for examples, traces and tests (nothing is downloaded).

Every function returns ``(X, y)`` with ``X`` float64 of shape (N, F). Classification sets give ``y`` as
int64 class codes of shape (N,); the article, XOR and sine sets give float64 targets of shape (N, 1).
Randomness comes only from `rng`: a ``numpy.random.Generator`` or an int seed (None: fresh entropy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import make_rng
from ..checks import check_number, check_positive_int, is_int
from ..errors import invalid_value

__all__ = ["article", "blobs", "moons", "sine", "spiral", "xor"]

Rng = np.random.Generator | int | None


def _non_negative(name: str, value: Any) -> float:
    return check_number(name, value, expected="a finite number >= 0")


def article() -> tuple[np.ndarray, np.ndarray]:
    """The seed article's three samples of four binary features, and their targets.

    Returns
    -------
    X : numpy.ndarray, shape (3, 4)
    y : numpy.ndarray, shape (3, 1)

    Examples
    --------
    >>> X, y = article()
    >>> X.shape, y.ravel().tolist()
    ((3, 4), [1.0, 1.0, 0.0])
    """
    X = np.array([[1, 0, 1, 0], [1, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float64)
    y = np.array([[1], [1], [0]], dtype=np.float64)
    return X, y


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four corners of the unit square; y = x1 XOR x2, shape (4, 1). Not linearly separable."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return X, y


def spiral(
    n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, rng: Rng = None
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class (CS231n / nnfs ``spiral_data``).

    For class c with ``r = linspace(0, 1, n)`` and ``t = linspace(4c, 4(c+1), n) + noise * N(0, 1)``:
    ``X = r * [sin(2.5 t), cos(2.5 t)]``. Rows are grouped by class (class 0 first), as in nnfs.

    Returns
    -------
    X : numpy.ndarray, shape (n_per_class * n_classes, 2)
    y : numpy.ndarray of int64, shape (n_per_class * n_classes,)
    """
    n = check_positive_int("n_per_class", n_per_class)
    k = check_positive_int("n_classes", n_classes)
    noise = _non_negative("noise", noise)
    rng = make_rng(rng)
    X = np.empty((n * k, 2))
    y = np.repeat(np.arange(k, dtype=np.int64), n)
    r = np.linspace(0.0, 1.0, n)  # radius grows from the centre
    for c in range(k):
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n) + rng.standard_normal(n) * noise  # angle
        X[c * n : (c + 1) * n] = np.c_[r * np.sin(t * 2.5), r * np.cos(t * 2.5)]
    return X, y


def blobs(
    n: int = 300, centers: int | Any = 3, n_features: int = 2, std: float = 1.0, rng: Rng = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters around random or given centres (like sklearn's ``make_blobs``), rows shuffled.

    Parameters
    ----------
    n : int, default 300
        Samples in all; they are split as evenly as possible, the first clusters taking the remainder.
    centers : int or array_like of shape (K, n_features), default 3
        The number of clusters (centres drawn uniformly from the box [-10, 10]^F) or the centres.
    n_features : int, default 2
        Ignored when `centers` are given.
    std : float, default 1.0
        Standard deviation of every cluster.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    X : numpy.ndarray, shape (n, n_features)
    y : numpy.ndarray of int64, shape (n,)
        The cluster of each sample.
    """
    n = check_positive_int("n", n)
    std = _non_negative("std", std)
    rng = make_rng(rng)
    if is_int(centers):
        k = check_positive_int("centers", centers)
        centres = rng.uniform(-10.0, 10.0, size=(k, check_positive_int("n_features", n_features)))
    else:
        centres = np.asarray(centers, dtype=np.float64)
        if centres.ndim != 2 or centres.size == 0 or not np.isfinite(centres).all():
            raise invalid_value("centers", centers, "a positive integer or a finite (K, n_features) array")
    k = len(centres)
    y = np.repeat(np.arange(k, dtype=np.int64), [n // k + (c < n % k) for c in range(k)])
    X = centres[y] + std * rng.standard_normal((n, centres.shape[1]))  # (n, F)
    order = rng.permutation(n)
    return X[order], y[order]


def moons(n: int = 200, noise: float = 0.1, rng: Rng = None) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (like sklearn's ``make_moons``), rows shuffled.

    Class 0: ``(cos s, sin s)``; class 1: ``(1 - cos s, 0.5 - sin s)``, ``s`` in [0, pi]; then Gaussian
    noise of standard deviation `noise` on both coordinates.

    Returns
    -------
    X : numpy.ndarray, shape (n, 2)
    y : numpy.ndarray of int64, shape (n,)
    """
    n = check_positive_int("n", n)
    noise = _non_negative("noise", noise)
    rng = make_rng(rng)
    n_outer = n // 2
    n_inner = n - n_outer
    s_out = np.linspace(0.0, np.pi, n_outer)
    s_in = np.linspace(0.0, np.pi, n_inner)
    X = np.r_[np.c_[np.cos(s_out), np.sin(s_out)], np.c_[1.0 - np.cos(s_in), 0.5 - np.sin(s_in)]]
    y = np.r_[np.zeros(n_outer, dtype=np.int64), np.ones(n_inner, dtype=np.int64)]
    order = rng.permutation(n)
    X, y = X[order], y[order]
    return X + noise * rng.standard_normal(X.shape), y


def sine(n: int = 200, noise: float = 0.1, rng: Rng = None) -> tuple[np.ndarray, np.ndarray]:
    """A regression set: ``x ~ U(-pi, pi)``, ``y = sin x + noise * N(0, 1)``; rows in random order.

    Returns
    -------
    X : numpy.ndarray, shape (n, 1)
    y : numpy.ndarray, shape (n, 1)
    """
    n = check_positive_int("n", n)
    noise = _non_negative("noise", noise)
    rng = make_rng(rng)
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    return x, np.sin(x) + noise * rng.standard_normal((n, 1))
