"""The network as a diagram: neurons as nodes, one column per layer, weights (or gradients) as edges."""

from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from ..checks import check_positive_int, is_int
from ..errors import ConfigError, ExportError, NotBuiltError, ShapeError
from ._common import check_path, pyplot, save

__all__ = ["NEGATIVE", "POSITIVE", "plot_network"]

#: edge colours by sign (matplotlib's tab:blue, tab:red); an exact zero is grey
POSITIVE, NEGATIVE, ZERO = "tab:blue", "tab:red", "0.6"
_MAX_WIDTH = 4.0  # line width of the largest magnitude drawn, in points


def _dense_layers(model) -> list[tuple[int, object]]:
    """(model index, layer) of each Dense layer; ExportError for a layer a diagram of neurons cannot show."""
    from ..layers.dense import Dense

    if not model.built:
        raise NotBuiltError("plot_network needs a built model: fit it, load it or call model.build(n_features)")
    if len(model.input_shape) != 1:
        raise ExportError(f"plot_network draws Dense networks on feature vectors; the model's input shape is "
                          f"{model.input_shape}, not (features,)")
    dense = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Dense):
            dense.append((i, layer))
        elif layer.params or tuple(layer.output_shape) != tuple(layer.input_shape):
            # activations, dropout, normalization keep the neurons as they are; anything else does not
            raise ExportError(f"plot_network draws Dense networks; layer {i} ({layer.display_name}, "
                              f"{type(layer).__name__}) is not a Dense layer")
    if not dense:
        raise ExportError("plot_network draws Dense networks; the model has no Dense layer")
    return dense


def _trace_step(trace, step):
    if not is_int(step):
        raise ConfigError(f"Received an invalid value for `step`, expected a step number of the trace. "
                          f"Received: step={step!r}")
    for s in trace.steps:
        if s.step == int(step):
            return s
    numbers = [s.step for s in trace.steps]
    raise ConfigError(f"the trace has no step {step}; its steps are {numbers[0]}..{numbers[-1]}" if numbers
                      else "the trace has no steps")


def _edge_values(model, what: str, trace, step) -> list[np.ndarray]:
    """One (n_in, n_out) array per Dense layer: its weights or gradients, live or from a trace step."""
    dense = _dense_layers(model)
    if trace is None:
        key = "params" if what == "weights" else "grads"
        return [np.asarray(to_numpy(getattr(layer, key)["W"]), dtype=np.float64) for _, layer in dense]
    s = _trace_step(trace, step)
    values = []
    for k, (i, layer) in enumerate(dense, start=1):  # the tracer numbers Dense layers 1..n
        name = f"dW{k}" if what == "gradients" else f"W{k}"
        try:
            v = s[name].value if what == "gradients" else s.params_before[name]
        except KeyError:
            raise ShapeError(f"the trace does not fit the model: step {s.step} has no {name} for layer {i} "
                             f"({layer.display_name})") from None
        v = np.asarray(v, dtype=np.float64)
        if v.shape != layer.params["W"].shape:
            raise ShapeError(f"the trace does not fit the model: {name} has shape {v.shape} in the trace, but "
                             f"layer {i} ({layer.display_name}) has W of shape {layer.params['W'].shape}")
        values.append(v)
    return values


def plot_network(model, path, what: str | None = None, *, trace=None, step: int = 1, max_units: int = 16,
                 title: str | None = None):
    """Draw a Dense network's neurons and connections, edges coloured by sign and sized by magnitude.

    One column of nodes per layer: the inputs, then each Dense layer's units. An edge from input ``i``
    to unit ``j`` of layer ``k`` shows ``W{k}[i, j]`` (or ``dW{k}[i, j]``): blue (:data:`POSITIVE`) when
    positive, red (:data:`NEGATIVE`) when negative, its width proportional to the magnitude, scaled by
    the largest magnitude in the whole picture (so vanishing gradients in early layers show as hairlines).
    Biases are not drawn.

    A column wider than ``max_units`` shows its first ``max_units`` units and writes ``+n more`` under
    them; edges are drawn between the shown units only. Activation, Dropout and Normalization layers
    keep the neurons as they are and are skipped; any other layer is an ExportError.

    Parameters
    ----------
    model : Sequential
        A built model of Dense layers on feature vectors.
    path : str or path-like
        ``.png``, ``.svg`` or ``.pdf``.
    what : {"weights", "gradients"}, optional
        Default ``"gradients"`` with a ``trace``, else ``"weights"``. Without a trace, gradients are
        the layers' ``grads``: those of the last training batch.
    trace : glassnet.trace.Trace, optional
        Draw step ``step`` of this trace: its ``dW{k}``, or its weights at the step's start.
    step : int, default 1
        The trace's step number (1-based, as the trace numbers them).
    max_units : int, default 16
        The most nodes drawn in one column.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Saved and closed. Its axes hold one scatter of every drawn node and one LineCollection of every
        drawn edge, in layer order, each layer's edges in ``W``'s row-major order.
    """
    path = check_path(path)
    what = what if what is not None else ("gradients" if trace is not None else "weights")
    if what not in ("weights", "gradients"):
        raise ConfigError(f'Received an invalid value for `what`, expected "weights" or "gradients". '
                          f"Received: what={what!r}")
    max_units = check_positive_int("max_units", max_units)
    values = _edge_values(model, what, trace, step)
    plt = pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba
    from matplotlib.lines import Line2D

    sizes = [values[0].shape[0]] + [v.shape[1] for v in values]
    shown = [min(n, max_units) for n in sizes]
    ys = [(m - 1) / 2 - np.arange(m) for m in shown]  # each column centred on 0

    drawn = [v[: shown[k], : shown[k + 1]] for k, v in enumerate(values)]  # (shown_in, shown_out)
    peak = max((float(np.abs(d).max()) for d in drawn if d.size), default=0.0) or 1.0
    segments, colours, widths = [], [], []
    colour = {1: to_rgba(POSITIVE, 0.8), -1: to_rgba(NEGATIVE, 0.8), 0: to_rgba(ZERO, 0.8)}
    for k, d in enumerate(drawn):
        for i in range(d.shape[0]):
            for j in range(d.shape[1]):
                segments.append([(k, ys[k][i]), (k + 1, ys[k + 1][j])])
                colours.append(colour[int(np.sign(d[i, j]))])
                widths.append(0.2 + (_MAX_WIDTH - 0.2) * abs(d[i, j]) / peak)

    tallest = max(shown)
    fig, ax = plt.subplots(figsize=(max(4.0, 2.2 * len(sizes)), max(3.0, 0.45 * tallest + 1.5)))
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=widths, zorder=1))
    x = np.concatenate([np.full(m, k, dtype=np.float64) for k, m in enumerate(shown)])
    ax.scatter(x, np.concatenate(ys), s=220 if tallest <= 8 else 90, c="white", edgecolors="k", zorder=2)
    bottom = -(tallest - 1) / 2 - 0.8
    for k, (n, m) in enumerate(zip(sizes, shown)):
        if n > m:
            ax.text(k, ys[k][-1] - 0.7, f"+{n - m} more", ha="center", va="top", fontsize=8)
    names = [f"inputs\n({sizes[0]})"]
    for k, ((_, layer), n) in enumerate(zip(_dense_layers(model), sizes[1:]), start=1):
        names.append(f"layer {k}: {layer.display_name}\n({n}, {layer.activation.key})")
    ax.set_xticks(range(len(sizes)), names, fontsize=8)
    ax.set_xlim(-0.4, len(sizes) - 0.6)
    ax.set_ylim(bottom - 0.5, (tallest - 1) / 2 + 0.6)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.legend(handles=[Line2D([], [], color=POSITIVE, lw=2, label="positive"),
                       Line2D([], [], color=NEGATIVE, lw=2, label="negative")],
              loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False, fontsize=8)
    label = "weights W" if what == "weights" else "gradients dW"
    if trace is not None:
        label += f" (trace step {step}" + (", at the step's start)" if what == "weights" else ")")
    elif what == "gradients":
        label += " (last training batch)"
    ax.set_title(title or f"{label}; width ∝ |value|, largest {peak:.3g}", fontsize=10)
    fig.tight_layout()
    return save(fig, plt, path)
