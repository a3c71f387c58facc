"""Pictures of a classifier: its decision regions in the plane, and its confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, DataError, ShapeError
from ._common import check_path, pyplot, save

__all__ = ["confusion_matrix", "plot_confusion_matrix", "plot_decision_boundary"]


def plot_decision_boundary(model, X, y, path, resolution: int = 200):
    """Colour the plane by the class ``model`` predicts and draw the samples on top; save to ``path``.

    For a model with one output the class is ``output > 0.5`` (a sigmoid unit) and the 0.5 contour is
    drawn; with several outputs it is the arg-max. ``X`` must be in the space the model was trained in
    (already scaled, if the model was trained on scaled features).

    Parameters
    ----------
    model : Sequential
        A built model with 2 input features.
    X : array, shape (N, 2)
    y : array, shape (N,) or (N, 1)
        Labels (numbers or text) or class codes; they colour the points.
    path : str or path-like
        ``.png``, ``.svg`` or ``.pdf``.
    resolution : int, default 200
        Grid points along each axis.

    Returns
    -------
    matplotlib.figure.Figure
        Saved and closed; its legend has one entry per class.
    """
    from ..data.labels import encode_labels
    from ..data.validate import check_array, check_lengths

    path = check_path(path)
    X = check_array(X, "X", dtype=np.float64, min_ndim=2, max_ndim=2)
    if X.shape[1] != 2:
        raise ShapeError(f"plot_decision_boundary needs 2 input features; X has shape {X.shape}")
    check_lengths(X, y)
    codes, classes = encode_labels(y)
    plt = pyplot()

    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-3
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g0.ravel(), g1.ravel()])  # (resolution², 2)
    out = np.asarray(model.predict(grid.astype(model.dtype)), dtype=np.float64)
    out = out.reshape(len(grid), -1)  # (resolution², K)

    fig, ax = plt.subplots(figsize=(6, 5))
    if out.shape[1] == 1:
        field = out[:, 0].reshape(g0.shape)
        ax.contourf(g0, g1, field, levels=20, cmap="RdBu_r", alpha=0.6)
        ax.contour(g0, g1, field, levels=[0.5], colors="k", linewidths=1)
        colors = [plt.get_cmap("RdBu_r")(v) for v in (0.0, 1.0)]
    else:
        k = out.shape[1]
        colors = [plt.get_cmap("tab10")(i % 10) for i in range(max(k, len(classes)))]
        field = out.argmax(axis=1).reshape(g0.shape)
        ax.contourf(g0, g1, field, levels=np.arange(k + 1) - 0.5, colors=colors[:k], alpha=0.35)
    # code i is the i-th class in sorted order: the output unit it was trained on (encode_labels)
    for i, label in enumerate(classes):
        mask = codes == i
        ax.scatter(X[mask, 0], X[mask, 1], color=colors[min(i, len(colors) - 1)], edgecolors="k",
                   linewidths=0.5, s=20, label=str(label))
    ax.legend(title="class", loc="best")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    fig.tight_layout()
    return save(fig, plt, path)


_NORMALIZE = {False: None, None: None, True: "true", "true": "true", "pred": "pred", "all": "all"}


def confusion_matrix(y_true, y_pred, labels: Sequence | None = None,
                     normalize: bool | str = False) -> tuple[np.ndarray, np.ndarray]:
    """Counts ``C[i, j]`` of samples of true class ``labels[i]`` predicted as ``labels[j]``; (C, labels).

    As scikit-learn's ``confusion_matrix``: rows are true classes, columns predicted ones, and the
    classes default to the sorted union of both label arrays. A label outside ``labels`` is a DataError
    (scikit-learn drops such samples silently).

    Parameters
    ----------
    y_true, y_pred : array, shape (N,) or (N, 1)
        Labels: numbers or text (predicted classes, not scores: take ``argmax`` or threshold first).
    labels : sequence, optional
        The classes, in the order of the rows and columns.
    normalize : bool or {"true", "pred", "all"}, default False
        ``True`` or ``"true"``: each row sums to 1 (the share of each true class); ``"pred"``: each
        column; ``"all"``: the whole matrix. A row or column without samples stays 0.

    Returns
    -------
    matrix : numpy.ndarray, shape (K, K)
        int64 counts, float64 when normalized.
    labels : numpy.ndarray, shape (K,)
    """
    from ..data.labels import _label_vector
    from ..data.validate import check_lengths

    if normalize not in _NORMALIZE:
        raise ConfigError(f"Received an invalid value for `normalize`, expected False, True, \"true\", \"pred\" "
                          f"or \"all\". Received: normalize={normalize!r}")
    t, p = _label_vector(y_true, "y_true"), _label_vector(y_pred, "y_pred")
    try:
        check_lengths(t, p)
    except ShapeError:
        raise ShapeError(f"y_true and y_pred have different lengths: {len(t)} and {len(p)}") from None
    if labels is None:
        labels = np.unique(np.concatenate([t, p]))
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or len(np.unique(labels)) != len(labels):
        raise ConfigError(f"labels must be a non-empty sequence of distinct classes; received {labels.tolist()!r}")
    index = {v: i for i, v in enumerate(labels.tolist())}
    codes = []
    for name, values in (("y_true", t), ("y_pred", p)):
        unknown = sorted({v for v in values.tolist() if v not in index}, key=str)
        if unknown:
            raise DataError(f"{name} holds label(s) {unknown[:5]} that are not in labels={labels.tolist()}")
        codes.append(np.array([index[v] for v in values.tolist()], dtype=np.int64))
    k = len(labels)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (codes[0], codes[1]), 1)  # (K, K)
    how = _NORMALIZE[normalize]
    if how is None:
        return matrix, labels
    total = {"true": matrix.sum(axis=1, keepdims=True), "pred": matrix.sum(axis=0, keepdims=True),
             "all": matrix.sum()}[how]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(matrix / total), labels


def plot_confusion_matrix(y_true, y_pred, path, labels: Sequence | None = None, normalize: bool | str = False):
    """Draw :func:`confusion_matrix` as a grid of coloured cells, each with its count (or share) written in.

    Parameters
    ----------
    y_true, y_pred : array, shape (N,) or (N, 1)
        True and predicted labels.
    path : str or path-like
        ``.png``, ``.svg`` or ``.pdf``.
    labels : sequence, optional
        The classes, in order; default: the sorted labels seen in either array.
    normalize : bool or {"true", "pred", "all"}, default False
        As in :func:`confusion_matrix`.

    Returns
    -------
    matplotlib.figure.Figure
        Saved and closed; ``fig.axes[0].images[0].get_array()`` is the matrix, rows true, columns predicted.
    """
    path = check_path(path)
    matrix, labels = confusion_matrix(y_true, y_pred, labels, normalize)
    plt = pyplot()
    k = len(labels)
    size = min(4 + 0.45 * k, 14)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if k <= 30:  # beyond that the numbers would not fit their cells
        high = matrix.max() / 2 if matrix.size else 0
        for i in range(k):
            for j in range(k):
                v = matrix[i, j]
                ax.text(j, i, f"{v:.2f}" if matrix.dtype.kind == "f" else f"{v}", ha="center", va="center",
                        fontsize=9, color="white" if v > high else "black")
    names = [str(v) for v in labels.tolist()]
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right"
                  if max(map(len, names)) > 3 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (f" (normalized over {_NORMALIZE[normalize]})" if _NORMALIZE[normalize]
                                       else ""))
    fig.tight_layout()
    return save(fig, plt, path)
