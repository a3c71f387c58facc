"""Inside a convolutional network: one sample's feature maps at a layer, and a layer's filters."""

from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from ..checks import check_positive_int, is_int
from ..errors import ConfigError, ExportError, NotBuiltError, ShapeError
from ._common import check_path, pyplot, save

__all__ = ["plot_feature_maps", "plot_filters"]


def _grid(plt, n: int, panel: tuple[float, float]):
    cols = min(n, 8)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel[0] * cols + 0.6, panel[1] * rows + 0.8), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _find_layer(model, layer) -> int:
    """The index in ``model.layers`` of ``layer``: an index (negative from the end), a name or the layer."""
    n = len(model.layers)
    if is_int(layer) and not isinstance(layer, bool):
        if -n <= int(layer) < n:
            return int(layer) % n
        raise ConfigError(f"the model has {n} layers (indices 0..{n - 1}); received layer={layer}")
    if isinstance(layer, str):
        names = [la.display_name for la in model.layers]
        if layer in names:
            return names.index(layer)
        raise ConfigError(f"the model has no layer named {layer!r}; its layers are {names}")
    for i, la in enumerate(model.layers):
        if la is layer:
            return i
    raise ConfigError(f"layer must be an index into model.layers, a layer's name or one of the model's layers; "
                      f"received {layer!r}")


def plot_feature_maps(model, x, layer, path, max_channels: int = 32, title: str | None = None):
    """Draw each channel of layer ``layer``'s output for one sample ``x`` (``training=False``).

    For an output of shape (T, C) (Conv1D, pooling over sequences) each channel is a curve over time;
    for (H, W, C) (Conv2D) an image, all on one colour scale. At most ``max_channels`` channels, the
    first ones, are drawn.

    Parameters
    ----------
    model : Sequential
        A built model.
    x : array
        One sample, of the model's input shape (no batch axis), or a batch of one.
    layer : int, str or Layer
        An index into ``model.layers`` (negative counts from the end), a layer's name, or the layer.
    path : str or path-like
        ``.png``, ``.svg`` or ``.pdf``.
    max_channels : int, default 32
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Saved and closed; one visible axes per channel drawn, in channel order.
    """
    path = check_path(path)
    max_channels = check_positive_int("max_channels", max_channels)
    if not model.built:
        raise NotBuiltError("plot_feature_maps needs a built model: fit it, load it or call model.build(...)")
    i = _find_layer(model, layer)
    x = np.asarray(x, dtype=model.dtype)
    shape = tuple(model.input_shape)
    if x.shape == shape:
        x = x[None]
    elif x.shape != (1, *shape):
        raise ShapeError(f"plot_feature_maps takes one sample of shape {shape} (or a batch of one, "
                         f"{(1, *shape)}); received x of shape {x.shape}")
    out_shape = tuple(model.layers[i].output_shape)
    if len(out_shape) not in (2, 3):
        raise ExportError(f"plot_feature_maps draws outputs of shape (T, C) or (H, W, C); layer {i} "
                          f"({model.layers[i].display_name}) outputs {out_shape}")
    a = model.to_device(x)
    for la in model.layers[: i + 1]:
        a = la.forward(a, training=False)
    a = np.asarray(to_numpy(a), dtype=np.float64)[0]  # (T, C) or (H, W, C)
    n = min(a.shape[-1], max_channels)
    plt = pyplot()
    fig, axes = _grid(plt, n, (1.8, 1.2) if a.ndim == 2 else (1.6, 1.6))
    lo, hi = float(a[..., :n].min()), float(a[..., :n].max())
    for c, ax in enumerate(axes):
        if a.ndim == 2:
            ax.plot(a[:, c], lw=1)
            ax.set_ylim(lo - 0.05 * (hi - lo + 1e-12), hi + 0.05 * (hi - lo + 1e-12))
            ax.tick_params(labelsize=6)
        else:
            ax.imshow(a[..., c], cmap="viridis", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(f"channel {c}", fontsize=8)
    more = f" (first {n} of {a.shape[-1]} channels)" if n < a.shape[-1] else ""
    fig.suptitle(title or f"layer {i} ({model.layers[i].display_name}): output {a.shape}{more}", fontsize=10)
    fig.tight_layout()
    return save(fig, plt, path)


def plot_filters(layer, path, max_filters: int = 32, title: str | None = None):
    """Draw each filter of a built Conv1D or Conv2D layer, on one red–blue scale centred on 0.

    A Conv2D filter ``W[:, :, :, f]`` is drawn as its ``C_in`` kernels (KH, KW) side by side; a Conv1D
    filter ``W[:, :, f]`` as an image of ``C_in`` rows (input channels) by ``K`` columns (taps). At most
    ``max_filters`` filters, the first ones, are drawn.

    Parameters
    ----------
    layer : Conv1D or Conv2D
        A built layer (``model.layers[i]``).
    path : str or path-like
        ``.png``, ``.svg`` or ``.pdf``.
    max_filters : int, default 32
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Saved and closed; one visible axes per filter drawn, each with one image.
    """
    from ..layers.conv import Conv1D, Conv2D

    path = check_path(path)
    max_filters = check_positive_int("max_filters", max_filters)
    if not isinstance(layer, (Conv1D, Conv2D)):
        raise ExportError(f"plot_filters draws the filters of a Conv1D or Conv2D layer; received "
                          f"{type(layer).__name__}")
    if not layer.built:
        raise NotBuiltError(f'Layer "{layer.display_name}" is not built yet: build the model first')
    W = np.asarray(to_numpy(layer.params["W"]), dtype=np.float64)  # (*K, C_in, F)
    n = min(W.shape[-1], max_filters)
    peak = float(np.abs(W[..., :n]).max()) or 1.0
    plt = pyplot()
    fig, axes = _grid(plt, n, (1.6, 1.6))
    for f, ax in enumerate(axes):
        if W.ndim == 3:
            image = W[:, :, f].T  # (C_in, K)
        else:  # the C_in kernels (KH, KW) in a row, one blank column between them
            kh, kw, c_in = W.shape[:3]
            image = np.full((kh, c_in * (kw + 1) - 1), np.nan)
            for c in range(c_in):
                image[:, c * (kw + 1): c * (kw + 1) + kw] = W[:, :, c, f]
        ax.imshow(image, cmap="RdBu", vmin=-peak, vmax=peak)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"filter {f}", fontsize=8)
    shape = "×".join(map(str, W.shape))
    more = f", first {n} of {W.shape[-1]}" if n < W.shape[-1] else ""
    fig.suptitle(title or f"{layer.display_name}: W {shape}{more}; red < 0 < blue, |max| {peak:.3g}",
                 fontsize=10)
    fig.tight_layout()
    return save(fig, plt, path)
