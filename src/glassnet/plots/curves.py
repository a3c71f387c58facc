"""Curves over epochs: one run's loss and metrics, and several optimizers on one network side by side."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, DivergenceError, ShapeError
from ._common import check_path, pyplot, save

__all__ = ["compare_optimizers", "plot_comparison", "plot_loss"]


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


def _log_if_positive(ax, curves) -> None:
    if all((v > 0).all() for v in curves):
        ax.set_yscale("log")


def plot_loss(history_or_dict: Any, path, title: str | None = None):
    """Draw the loss per epoch (and any metric beside it) and save the picture to ``path``.

    Curves whose name ends in ``loss`` (``loss``, ``val_loss``) share the left panel, on a log scale when
    every value is positive; other metrics (``accuracy``, ``val_accuracy``, ``mae``, ...) share a panel
    of their own, so training and validation curves sit together.

    Parameters
    ----------
    history_or_dict : History, dict or sequence
        ``model.fit``'s History, a dict ``{name: values per epoch}`` (an ``"epoch"`` entry, if present,
        gives the x values), or a plain sequence of losses.
    path : str or path-like
        The image file; its extension picks the format (``.png``, ``.svg``, ``.pdf``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        The figure, saved and closed: its axes and lines can still be read, or it can be saved again.
    """
    path = check_path(path)
    x, curves = _curves(history_or_dict)
    plt = pyplot()
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
    axes[0][0].set_ylabel(ylabel)
    if others:
        axes[0][1].set_ylabel("metric")
    _log_if_positive(axes[0][0], losses.values())
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, plt, path)


def _default_optimizers(batch_size: int) -> dict:
    from ..optimizers import SGD, Adam, RMSProp

    return {
        "GD (full batch)": (SGD(learning_rate=0.1), None),
        "SGD": (SGD(learning_rate=0.1), 1),
        "mini-batch": (SGD(learning_rate=0.1), batch_size),
        "momentum": (SGD(learning_rate=0.1, momentum=0.9), batch_size),
        "Nesterov": (SGD(learning_rate=0.1, momentum=0.9, nesterov=True), batch_size),
        "RMSProp": (RMSProp(learning_rate=0.01), batch_size),
        "Adam": (Adam(learning_rate=0.01), batch_size),
    }


def _entry(name: str, value: Any, batch_size: int | None):
    """(optimizer, batch size) of one entry: an optimizer, a name, a factory, or a pair with a batch size."""
    from ..optimizers import Optimizer, get_optimizer

    if isinstance(value, tuple):
        if len(value) != 2:
            raise ConfigError(f"optimizers[{name!r}] must be an optimizer or a pair (optimizer, batch_size); "
                              f"received a tuple of {len(value)}")
        value, batch_size = value
    if not isinstance(value, (Optimizer, str, dict)) and callable(value):
        value = value()  # a class or a factory: a fresh optimizer
    return get_optimizer(value), batch_size


def compare_optimizers(make_model: Callable[[], Any], X, y, optimizers: Mapping | None = None, *,
                       epochs: int = 50, batch_size: int = 32, loss=None, metrics=None,
                       validation_data=None, path=None, title: str | None = None) -> dict:
    """Train the same network from the same initial weights under several optimizers; draw the losses.

    ``make_model()`` is called once to draw the initial weights, then once per optimizer for a fresh
    model into which those weights are copied (``set_weights``), so every run starts from the same
    point and sees the same data; each is compiled with its optimizer and fitted for ``epochs`` epochs
    (``verbose=0``). The default entries, with their batch sizes:

    =================  =========================================  ============
    name               optimizer                                  batch size
    =================  =========================================  ============
    GD (full batch)    ``SGD(learning_rate=0.1)``                 None (all rows)
    SGD                ``SGD(learning_rate=0.1)``                 1
    mini-batch         ``SGD(learning_rate=0.1)``                 ``batch_size``
    momentum           ``SGD(0.1, momentum=0.9)``                 ``batch_size``
    Nesterov           ``SGD(0.1, momentum=0.9, nesterov=True)``  ``batch_size``
    RMSProp            ``RMSProp(learning_rate=0.01)``            ``batch_size``
    Adam               ``Adam(learning_rate=0.01)``               ``batch_size``
    =================  =========================================  ============

    Parameters
    ----------
    make_model : callable
        Returns a new Sequential, built or not (it is built for ``X``), compiled or not.
    X, y : arrays
        The training data, as ``fit`` takes it.
    optimizers : dict, optional
        ``{name: optimizer}`` or ``{name: (optimizer, batch_size)}``; an optimizer is an instance (used by
        that run only), a name (``"adam"``) or a factory (``gn.optimizers.Adam``). Without a batch size
        an entry uses ``batch_size``.
    epochs : int, default 50
    batch_size : int, default 32
    loss : str or Loss, optional
        Defaults to the loss ``make_model``'s model is compiled with, else ``"mse"``.
    metrics : list, optional
        Passed to ``compile``.
    validation_data : tuple, optional
        Passed to ``fit``; the histories then hold ``val_loss`` too.
    path : str or path-like, optional
        Where to draw every run's loss on one chart (:func:`plot_comparison`); nothing is drawn without it.
    title : str, optional

    Returns
    -------
    dict
        ``{name: History}`` in the order of ``optimizers``.
    """
    if path is not None:
        path = check_path(path)
    entries = _default_optimizers(batch_size) if optimizers is None else dict(optimizers)
    if not entries:
        raise ConfigError("compare_optimizers needs at least one optimizer; received an empty dict")
    runs = {name: _entry(name, value, batch_size) for name, value in entries.items()}
    seen: dict[int, str] = {}
    for name, (opt, _) in runs.items():
        if id(opt) in seen:
            raise ConfigError(f"optimizers {seen[id(opt)]!r} and {name!r} are the same optimizer object; an "
                              "optimizer belongs to one model: give each entry its own (or a name or a factory)")
        seen[id(opt)] = name

    X = np.asarray(X)
    first = make_model()
    if not first.built:
        first.build(X.shape[1:])
    initial = first.get_weights()
    loss = loss if loss is not None else (first.loss if first.loss is not None else "mse")

    histories = {}
    for name, (opt, size) in runs.items():
        model = make_model()
        if model is first:
            raise ConfigError("make_model must return a new model on every call; it returned the same one twice")
        if not model.built:
            model.build(X.shape[1:])
        try:
            model.set_weights(initial)
        except ShapeError as e:
            raise ShapeError(f"make_model must build the same network each time: {e}") from None
        model.compile(loss=loss, optimizer=opt, metrics=metrics)
        try:
            histories[name] = model.fit(X, y, epochs=epochs, batch_size=size, validation_data=validation_data,
                                        verbose=0)
        except DivergenceError as e:
            raise DivergenceError(f"compare_optimizers: the run {name!r} diverged: {e}") from None
    if path is not None:
        plot_comparison(histories, path, title=title)
    return histories


def plot_comparison(histories: Mapping, path, key: str = "loss", title: str | None = None):
    """Draw one curve per run (``{name: History or sequence}``) on one chart, on a log scale when positive.

    With ``key="loss"`` and histories that also hold ``val_loss``, each run's validation curve is drawn
    dashed in the same colour (legend entries stay one per run).

    Parameters
    ----------
    histories : dict
        ``{name: History}`` as :func:`compare_optimizers` returns, or ``{name: values per epoch}``.
    path : str or path-like
        ``.png``, ``.svg`` or ``.pdf``.
    key : str, default "loss"
        Which logged value to draw.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Saved and closed; its legend has one entry per run.
    """
    path = check_path(path)
    if not isinstance(histories, Mapping) or not histories:
        raise DataError("plot_comparison takes a non-empty dict {name: History or values}; received "
                        f"{type(histories).__name__ if not isinstance(histories, Mapping) else 'an empty dict'}")
    series = {}
    for name, h in histories.items():
        logs = h.history if hasattr(h, "history") else {key: h}
        if key not in logs:
            raise DataError(f"plot_comparison: run {name!r} has no {key!r} values; it has {sorted(logs)}")
        series[name] = (np.asarray(logs[key], dtype=np.float64).ravel(),
                        np.asarray(logs.get(f"val_{key}", []), dtype=np.float64).ravel())
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (train, val) in series.items():
        (line,) = ax.plot(np.arange(1, len(train) + 1), train, label=name)
        if val.size:
            ax.plot(np.arange(1, len(val) + 1), val, linestyle="--", color=line.get_color())
    ax.set_xlabel("epoch")
    ax.set_ylabel(key + (" (dashed: validation)" if any(v.size for _, v in series.values()) else ""))
    _log_if_positive(ax, [np.concatenate(s) for s in series.values()])
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save(fig, plt, path)
