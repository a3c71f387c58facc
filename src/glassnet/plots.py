"""Pictures of training: loss curves and decision boundaries, written to image files.

matplotlib is an optional dependency (``pip install glassnet[plot]``). It is imported on the first call,
with the non-interactive Agg backend, so importing this module costs nothing and needs no display.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import DataError, ExportError, ShapeError

__all__ = ["plot_decision_boundary", "plot_loss"]


def _pyplot():
    """matplotlib.pyplot on the Agg backend, or an ExportError that says how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ExportError(
            "plotting needs matplotlib, which is not installed: pip install glassnet[plot]"
        ) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _curves(history: Any) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """(x values or None, {name: values}) from a History, a dict of lists, or one sequence of losses."""
    x = None
    if hasattr(history, "history") and isinstance(history.history, Mapping):  # callbacks.History
        if getattr(history, "epoch", None):
            x = np.asarray(history.epoch) + 1  # History counts epochs from 0, people from 1
        history = history.history
    if isinstance(history, Mapping):
        curves = {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in history.items() if k != "epoch"}
        if "epoch" in history:
            x = np.asarray(history["epoch"], dtype=np.float64).ravel()
    elif isinstance(history, (Sequence, np.ndarray)) and not isinstance(history, str):
        curves = {"loss": np.asarray(history, dtype=np.float64).ravel()}
    else:
        raise DataError(
            f"plot_loss takes a History, a dict of per-epoch values or a sequence of losses; "
            f"received {type(history).__name__}"
        )
    curves = {k: v for k, v in curves.items() if v.size}
    if not curves:
        raise DataError("plot_loss received no values to plot")
    for k, v in curves.items():
        if x is not None and len(v) != len(x):
            raise ShapeError(f"plot_loss: {k!r} has {len(v)} values but there are {len(x)} epochs")
    return x, curves


def _save(fig, plt, path) -> None:
    path = os.fspath(path)
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot write the plot to {path}: {e}") from None
    finally:
        plt.close(fig)


def plot_loss(history_or_dict: Any, path, title: str | None = None) -> None:
    """Draw the loss per epoch (and any metric beside it) and save the picture to ``path``.

    Curves whose name ends in ``loss`` (``loss``, ``val_loss``) share the left panel, on a log scale when
    every value is positive; other metrics (``accuracy``, ``mae``, ...) get a panel of their own.

    Parameters
    ----------
    history_or_dict : History, dict or sequence
        ``model.fit``'s History, a dict ``{name: values per epoch}`` (an ``"epoch"`` entry, if present,
        gives the x values), or a plain sequence of losses.
    path : str or path-like
        The image file; its extension picks the format (``.png``, ``.svg``, ``.pdf``).
    title : str, optional
    """
    x, curves = _curves(history_or_dict)
    plt = _pyplot()
    losses = {k: v for k, v in curves.items() if k.endswith("loss")}
    ylabel = "loss" if losses else "value"
    losses = losses or curves
    others = {k: v for k, v in curves.items() if k not in losses}
    fig, axes = plt.subplots(1, 2 if others else 1, figsize=(10 if others else 6, 4), squeeze=False)
    for ax, group in zip(axes[0], (losses, others)):
        for name, values in group.items():
            ax.plot(x if x is not None else np.arange(1, len(values) + 1), values, label=name)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend()
    ax = axes[0][0]
    ax.set_ylabel(ylabel)
    if all((v > 0).all() for v in losses.values()):
        ax.set_yscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, plt, path)


def plot_decision_boundary(model, X, y, path, resolution: int = 200) -> None:
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
    resolution : int, default 200
        Grid points along each axis.
    """
    from .data.labels import encode_labels
    from .data.validate import check_array, check_lengths

    X = check_array(X, "X", dtype=np.float64, min_ndim=2, max_ndim=2)
    if X.shape[1] != 2:
        raise ShapeError(f"plot_decision_boundary needs 2 input features; X has shape {X.shape}")
    check_lengths(X, y)
    codes, classes = encode_labels(y)
    plt = _pyplot()

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
        ax.scatter(
            X[mask, 0],
            X[mask, 1],
            color=colors[min(i, len(colors) - 1)],
            edgecolors="k",
            linewidths=0.5,
            s=20,
            label=str(label),
        )
    ax.legend(title="class", loc="best")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    fig.tight_layout()
    _save(fig, plt, path)
