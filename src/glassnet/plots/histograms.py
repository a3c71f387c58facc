"""Per-layer histograms of weights, activations and gradients over training.

:class:`HistogramRecorder` is a callback that keeps, every few epochs, each parametrized layer's kernel,
output and kernel gradient; :func:`plot_histograms` draws them as a grid (rows: layers; columns:
weights, activations, gradients), each panel overlaying the recorded epochs. Gradients that shrink
layer after layer towards the input are vanishing; ones that grow are exploding; a ReLU layer whose
activations pile up at exactly 0 has dead units (each panel says its share of zeros).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..backend import to_numpy
from ..callback_base import Callback
from ..checks import check_positive_int
from ..errors import DataError, ShapeError
from ._common import check_path, pyplot, save

__all__ = ["KINDS", "HistogramRecorder", "plot_histograms"]

#: the columns of the grid, in order
KINDS = ("weights", "activations", "gradients")


class HistogramRecorder(Callback):
    """Record per-layer weights, activations and gradients every ``every`` epochs of ``fit``.

    At the end of epoch 1, of every ``every``-th epoch and of the last one it appends to
    :attr:`snapshots` one dict ``{"epoch": e, "weights": {layer: values}, "activations": {...},
    "gradients": {...}}``, ``e`` counted from 1, ``layer`` a name such as ``"1 dense"`` (the layer's
    1-based number in the model and its name). For each layer with parameters it records:

    - weights: its kernel ``W`` (all its parameters, for a layer without ``W``);
    - gradients: the same parameters' ``grads``, i.e. those of the epoch's last training batch;
    - activations: its output ``a`` on ``probe`` (run with ``training=False``) or, without a probe, on
      the epoch's last training batch.

    Each is kept flattened, as float64, and at most ``max_values`` of them (an even random sample from a
    generator seeded with 0), so long runs of large layers stay small.

    Parameters
    ----------
    every : int, default 1
        Record every ``every`` epochs.
    probe : array, optional
        A fixed batch of inputs whose activations are recorded (the same rows at every epoch).
    max_values : int, default 20000
        The most values kept per layer and kind in one snapshot.
    """

    def __init__(self, every: int = 1, probe=None, max_values: int = 20_000) -> None:
        self.every = check_positive_int("every", every)
        self.probe = None if probe is None else np.asarray(probe)
        self.max_values = check_positive_int("max_values", max_values)
        self.snapshots: list[dict] = []
        self._last: dict[int, object] = {}

    def on_train_begin(self, logs=None):
        if self.probe is not None and tuple(self.probe.shape[1:]) != tuple(self.model.input_shape or ()):
            raise ShapeError(f"HistogramRecorder: probe has shape {self.probe.shape}; the model takes "
                             f"{(None, *self.model.input_shape)}")
        self.snapshots = []
        self._last = {}

    def on_batch_end(self, batch, logs=None):
        # references only (a forward pass rebinds each layer's `a`): the last batch's outputs at epoch end
        self._last = {i: getattr(layer, "a", None) for i, layer in self._layers()}

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == (getattr(self, "params", None) or {}).get("epochs")
        if epoch == 0 or (epoch + 1) % self.every == 0 or last:
            self.snapshots.append(self.snapshot(epoch + 1))

    def _layers(self):
        return [(i, layer) for i, layer in enumerate(self.model.layers) if layer.params]

    def _keep(self, a) -> np.ndarray:
        v = np.asarray(to_numpy(a), dtype=np.float64).ravel()
        if v.size > self.max_values:
            v = v[np.random.default_rng(0).choice(v.size, self.max_values, replace=False)]
        return v

    def snapshot(self, epoch: int) -> dict:
        """The model's current weights, gradients and activations as one snapshot labelled ``epoch``."""
        layers = self._layers()
        snap = {"epoch": int(epoch)} | {kind: {} for kind in KINDS}
        for i, layer in layers:
            name = f"{i + 1} {layer.display_name}"
            keys = ["W"] if "W" in layer.params else list(layer.params)
            snap["weights"][name] = self._keep(np.concatenate([to_numpy(layer.params[k]).ravel() for k in keys]))
            snap["gradients"][name] = self._keep(np.concatenate([to_numpy(layer.grads[k]).ravel() for k in keys]))
        if self.probe is not None:
            self.model.forward(self.model.to_device(self.probe.astype(self.model.dtype, copy=False)))
            outputs = {i: getattr(layer, "a", None) for i, layer in layers}
        else:
            outputs = self._last
        for i, layer in layers:
            if outputs.get(i) is not None:
                snap["activations"][f"{i + 1} {layer.display_name}"] = self._keep(outputs[i])
        return snap


def _pick(snapshots: list, most: int) -> list:
    """At most ``most`` snapshots, evenly spaced, always the first and the last."""
    if len(snapshots) <= most:
        return snapshots
    idx = np.unique(np.round(np.linspace(0, len(snapshots) - 1, most)).astype(int))
    return [snapshots[i] for i in idx]


def plot_histograms(source, path, bins: int = 40, max_epochs: int = 8, title: str | None = None):
    """Draw a grid of histograms: rows are layers, columns weights / activations / gradients.

    Each panel overlays the recorded epochs as outlines coloured from dark (first) to light (last), on a
    shared set of bins, and notes the last epoch's standard deviation, and for activations the share of
    exact zeros (dead ReLU units).

    Parameters
    ----------
    source : HistogramRecorder or list of dict
        The recorder passed to ``fit`` (its :attr:`~HistogramRecorder.snapshots`), or such snapshots.
    path : str or path-like
        ``.png``, ``.svg`` or ``.pdf``.
    bins : int, default 40
    max_epochs : int, default 8
        The most epochs overlaid: more snapshots are thinned evenly, keeping the first and the last.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Saved and closed; ``fig.axes`` in row-major order (3 per layer), each with one outline patch per
        epoch drawn.
    """
    path = check_path(path)
    bins = check_positive_int("bins", bins)
    max_epochs = check_positive_int("max_epochs", max_epochs)
    snapshots = source.snapshots if isinstance(source, HistogramRecorder) else source
    if not isinstance(snapshots, Sequence) or not snapshots:
        raise DataError("plot_histograms has no snapshots to draw: pass a HistogramRecorder that was in "
                        "fit's callbacks, or its list of snapshots")
    if not all(isinstance(s, dict) and "epoch" in s and all(k in s for k in KINDS) for s in snapshots):
        raise DataError(f"plot_histograms: each snapshot must be a dict with keys 'epoch', {', '.join(map(repr, KINDS))}"
                        " (as HistogramRecorder.snapshots holds)")
    snapshots = _pick(list(snapshots), max_epochs)
    layers = list(dict.fromkeys(name for s in snapshots for name in s["weights"]))
    if not layers:
        raise DataError("plot_histograms: the snapshots hold no layer (the model has no parameters)")
    plt = pyplot()
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(len(layers), 3, figsize=(12, 2.3 * len(layers) + 0.8), squeeze=False)
    for r, name in enumerate(layers):
        for c, kind in enumerate(KINDS):
            ax = axes[r][c]
            series = [(s["epoch"], s[kind][name]) for s in snapshots if name in s[kind]]
            if not series:
                ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
            else:
                every = np.concatenate([v for _, v in series])
                lo, hi = float(every.min()), float(every.max())
                edges = np.linspace(lo, hi if hi > lo else lo + 1e-12, bins + 1)
                for n, (epoch, v) in enumerate(series):
                    ax.hist(v, bins=edges, histtype="step", color=cmap(n / max(len(series) - 1, 1)),
                            label=f"epoch {epoch}")
                v = series[-1][1]
                note = f"std {v.std():.3g}"
                if kind == "activations":
                    note += f", zeros {np.mean(v == 0):.0%}"
                ax.text(0.98, 0.95, note, ha="right", va="top", fontsize=8, transform=ax.transAxes)
            if r == 0:
                ax.set_title(kind)
            if c == 0:
                ax.set_ylabel(f"layer {name}\ncount")
            if r == len(layers) - 1:
                ax.set_xlabel("value")
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, plt, path)
