"""The networks the workloads train: glassnet models, their PyTorch twins and their matrix products.

A workload's ``layers`` is an MLP's widths ``(n_in, hidden..., n_classes)`` (ReLU hidden layers,
softmax output), a :class:`ConvNet`, an :class:`LSTMNet` or a :class:`GRUNet`:

- ``fcn``: Wang et al.'s FCN (:func:`glassnet.models.tsc.fcn`): Conv1D 128 k8 → 256 k5 → 128 k3, each
  'same' padding, BatchNormalization and ReLU, then global average pooling over time and softmax;
- ``cnn``: the digits CNN of ``examples/digits_cnn.py``: Conv2D 16 3×3 (ReLU) → MaxPool 2 → Conv2D 32
  3×3 (ReLU), both 'same', then global average pooling and softmax;
- :class:`LSTMNet`, :class:`GRUNet`: an LSTM or a GRU whose last hidden state feeds a softmax Dense layer.

:func:`torch_twin` translates the glassnet model layer by layer; :func:`torch_weights` gives
``trainable_weights(model)`` (``get_weights()`` without buffers) in the order and layout of the twin's
trained parameters and :func:`glassnet_weights` takes them back. Array by array, :func:`to_torch` and
:func:`from_torch` convert between glassnet's channels-last layout and torch's channels-first one::

    Dense   W (n_in, n_out)       ↔  Linear.weight (n_out, n_in)        W.T
    Conv1D  W (K, C_in, F)        ↔  Conv1d.weight (F, C_in, K)         W.transpose(2, 1, 0)
    Conv2D  W (KH, KW, C_in, F)   ↔  Conv2d.weight (F, C_in, KH, KW)    W.transpose(3, 2, 0, 1)
    LSTM    W (C, 4U), U (U, 4U)  ↔  weight_ih_l0 (4U, C), weight_hh_l0 (4U, U)   W.T, U.T
    biases, BN gamma and beta (C,) are the same; the LSTM's b is bias_ih_l0
    GRU     W (C, 3U), U (U, 3U)  ↔  weight_ih_l0 (3U, C), weight_hh_l0 (3U, U)   W[:, P].T, U[:, P].T
            b (2, 3U)             ↔  bias_ih_l0, bias_hh_l0 (3U,)                  b[0, P], b[1, P]

BatchNorm keeps its epsilon; torch's momentum is 1 - Keras' (0.99 → 0.01). The LSTM's gates are in the
same order (i, f, g, o) in both; torch's second bias ``bias_hh_l0`` is held at zero and not trained
(glassnet, like Keras, has one), so :func:`trainable` leaves it out. The GRU (Keras' ``reset_after=True``,
torch's formula) has both biases in both; its gates are z, r, n in glassnet and r, z, n in torch, so
``P = [U:2U, 0:U, 2U:3U]`` reorders the columns. Torch takes convolutions' inputs channels first:
``(N, C, T)`` and ``(N, C, H, W)``; the recurrent nets batch first ``(N, T, C)`` as glassnet does.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ..errors import ConfigError, invalid_value

__all__ = ["CONV_ARCHS", "ConvNet", "GRUNet", "LSTMNet", "RecurrentNet", "build_glassnet", "describe", "from_torch",
           "gemm_shapes", "glassnet_weights", "to_torch", "torch_input", "torch_twin", "torch_weights", "trainable"]

CONV_ARCHS = {
    "fcn": "Conv1D 128 k8 → 256 k5 → 128 k3 (each BN, ReLU) → GAP",
    "cnn": "Conv2D 16 3×3 → MaxPool 2 → Conv2D 32 3×3 → GAP",
}


@dataclass(frozen=True)
class ConvNet:
    """A convolutional classifier: ``arch`` (a key of :data:`CONV_ARCHS`) on samples of ``input_shape``."""

    arch: str
    input_shape: tuple[int, ...]  # one sample: (T, C) for "fcn", (H, W, C) for "cnn"
    n_classes: int

    def __post_init__(self):
        if self.arch not in CONV_ARCHS:
            raise invalid_value("arch", self.arch, " or ".join(repr(a) for a in CONV_ARCHS))


@dataclass(frozen=True)
class RecurrentNet:
    """A recurrent layer of ``units`` over sequences of ``input_shape`` (T, C), its last state into a softmax Dense."""

    input_shape: tuple[int, int]  # one sample: (T, C)
    units: int
    n_classes: int
    arch = ""  # "lstm" or "gru"
    gates = 0  # column blocks of W, U and b: 4 or 3


@dataclass(frozen=True)
class LSTMNet(RecurrentNet):
    """An ``LSTM(units)`` over sequences of ``input_shape`` (T, C), its last hidden state into a softmax Dense."""

    arch = "lstm"
    gates = 4


@dataclass(frozen=True)
class GRUNet(RecurrentNet):
    """A ``GRU(units)`` (``reset_after=True``, torch's ``nn.GRU``) over sequences of ``input_shape`` (T, C), its last
    hidden state into a softmax Dense."""

    arch = "gru"
    gates = 3


def describe(layers) -> str:
    """``784→256→10`` for an MLP; the architecture in words, ``→ n_classes``, for a conv net or a recurrent net."""
    if isinstance(layers, ConvNet):
        return f"{CONV_ARCHS[layers.arch]} → {layers.n_classes}"
    if isinstance(layers, RecurrentNet):
        return f"{layers.arch.upper()} {layers.units} (last step) → {layers.n_classes}"
    return "→".join(map(str, layers))


def _stack(layers, seed=None):
    """The glassnet model of ``layers``, not built yet (no parameters), and its input shape."""
    from ..layers import GRU, LSTM, Conv2D, Dense, GlobalAveragePooling2D, MaxPool2D
    from ..model import Sequential
    from ..models.tsc import fcn

    if isinstance(layers, RecurrentNet):
        cell = {"lstm": LSTM, "gru": GRU}[layers.arch]
        return Sequential([cell(layers.units), Dense(layers.n_classes, activation="softmax")],
                          seed=seed), layers.input_shape
    if not isinstance(layers, ConvNet):
        stack = [Dense(u, activation="relu") for u in layers[1:-1]] + [Dense(layers[-1], activation="softmax")]
        return Sequential(stack, seed=seed), (layers[0],)
    if layers.arch == "fcn":
        return fcn(layers.n_classes, seed=seed), layers.input_shape
    stack = [Conv2D(16, 3, padding="same", activation="relu"), MaxPool2D(2),
             Conv2D(32, 3, padding="same", activation="relu"), GlobalAveragePooling2D(),
             Dense(layers.n_classes, activation="softmax")]
    return Sequential(stack, seed=seed), layers.input_shape


def _walk(layers):
    """(layer, input shape, output shape) of each layer of ``layers``' model, without building it."""
    model, shape = _stack(layers)
    for layer in model.layers:
        out = layer.compute_output_shape(shape)
        yield layer, shape, out
        shape = out


def build_glassnet(layers, seed: int):
    """The glassnet model of ``layers`` (MLP widths or a :class:`ConvNet`), built, not compiled, on the CPU.

    On the CPU whatever ``GLASSNET_DEVICE`` says: the harness moves a contestant's model itself.
    """
    model, shape = _stack(layers, seed)
    return model.build(shape).to("cpu")


def gemm_shapes(layers) -> list[tuple[int, int, int]]:
    """Per weighted layer, the product ``Z = A·W`` as (rows per sample, k, n): A (rows·batch, k), W (k, n).

    A Dense layer has one row per sample; a convolution one per output position, ``A`` being its im2col
    matrix with ``k = K·C_in`` (the kernel's taps times the input channels). Not for a recurrent net, whose
    products the floor lays out itself.
    """
    if not isinstance(layers, ConvNet):
        return [(1, a, b) for a, b in pairwise(layers)]
    shapes = []
    for layer, shape, out in _walk(layers):
        if hasattr(layer, "filters"):  # Conv1D, Conv2D
            shapes.append((int(np.prod(out[:-1])), int(np.prod(layer.kernel_size)) * shape[-1], layer.filters))
        elif hasattr(layer, "units"):  # Dense
            shapes.append((1, shape[-1], layer.units))
    return shapes


# -- the PyTorch twin ------------------------------------------------------------------------------------
_TO_TORCH = {2: (1, 0), 3: (2, 1, 0), 4: (3, 2, 0, 1)}  # glassnet W axes, by ndim, in torch's order
_FROM_TORCH = {2: (1, 0), 3: (2, 1, 0), 4: (2, 3, 1, 0)}


def to_torch(w: np.ndarray) -> np.ndarray:
    """A glassnet parameter in torch's layout (a contiguous copy; 1-D arrays as they are)."""
    return np.ascontiguousarray(w.transpose(_TO_TORCH[w.ndim])) if w.ndim > 1 else w


def from_torch(w: np.ndarray) -> np.ndarray:
    """A torch parameter in glassnet's layout (a contiguous copy)."""
    return np.ascontiguousarray(w.transpose(_FROM_TORCH[w.ndim])) if w.ndim > 1 else w.copy()


def trainable(twin) -> list:
    """The twin's trained parameters, in the order of :func:`torch_weights` (no LSTM ``bias_hh``)."""
    return [p for p in twin.parameters() if p.requires_grad]


def _gru_columns(units: int) -> np.ndarray:
    """P: torch's GRU columns (r, z, n) as glassnet's (z, r, n)."""
    return np.r_[units:2 * units, 0:units, 2 * units:3 * units]


def torch_weights(layers, weights: list[np.ndarray]) -> list[np.ndarray]:
    """glassnet's trainable ``weights`` as the twin's :func:`trainable` parameters: order, count and layout.

    One array each, by :func:`to_torch`, except a GRU's (its first three): ``W[:, P].T``, ``U[:, P].T``
    and its bias (2, 3U) split into ``bias_ih`` and ``bias_hh`` (``b[0, P]``, ``b[1, P]``).
    """
    if not isinstance(layers, GRUNet):
        return [to_torch(w) for w in weights]
    (W, U, b), rest = weights[:3], weights[3:]
    P = _gru_columns(layers.units)
    gru = [np.ascontiguousarray(W[:, P].T), np.ascontiguousarray(U[:, P].T), b[0, P].copy(), b[1, P].copy()]
    return gru + [to_torch(w) for w in rest]


def glassnet_weights(layers, params: list[np.ndarray]) -> list[np.ndarray]:
    """The inverse of :func:`torch_weights`: the twin's trained parameters (as NumPy arrays) in glassnet's layout."""
    if not isinstance(layers, GRUNet):
        return [from_torch(p) for p in params]
    (w_ih, w_hh, b_ih, b_hh), rest = params[:4], params[4:]
    back = np.argsort(_gru_columns(layers.units))  # torch's columns back into glassnet's order
    gru = [np.ascontiguousarray(w_ih.T[:, back]), np.ascontiguousarray(w_hh.T[:, back]),
           np.stack([b_ih[back], b_hh[back]])]
    return gru + [from_torch(p) for p in rest]


def torch_input(layers, X: np.ndarray):
    """X as the twin takes it: channels first for a convolution, as it is for an MLP or a recurrent net."""
    import torch

    if isinstance(layers, ConvNet):
        X = np.ascontiguousarray(np.moveaxis(X, -1, 1))  # (N, C, T) or (N, C, H, W)
    return torch.from_numpy(X)


def torch_twin(layers, weights: list[np.ndarray]):
    """``torch.nn.Sequential`` doing what glassnet's model of ``layers`` does, with ``weights`` copied in.

    ``weights`` as :func:`~glassnet.bench.contestants.trainable_weights` gives them. The glassnet model is walked, not built, so the
    twin costs no glassnet memory. The last layer's softmax is left out (``CrossEntropyLoss`` takes
    logits). Covers the layers of the workloads: Dense, Conv1D/Conv2D, BatchNormalization, ReLU,
    MaxPool2D ('valid'), global average pooling, LSTM and GRU (their last step).
    """
    import torch
    from torch import nn

    from ..layers import (
        GRU,
        LSTM,
        Activation,
        BatchNormalization,
        Conv1D,
        Conv2D,
        Dense,
        GlobalAveragePooling1D,
        GlobalAveragePooling2D,
        MaxPool2D,
    )

    class LastStep(nn.Module):
        """``nn.LSTM`` or ``nn.GRU`` (batch_first) returning h_T only, as glassnet's with return_sequences=False."""

        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    def activation(act, last: bool):
        if act.key == "relu":
            return [nn.ReLU()]
        if act.key == "linear" or (act.key == "softmax" and last):
            return []
        raise ConfigError(f"No PyTorch twin for activation {act.key!r}")

    mods, steps = [], list(_walk(layers))
    for i, (layer, shape, _) in enumerate(steps):
        last, c_in = i == len(steps) - 1, shape[-1]
        if isinstance(layer, Dense):
            mods += [nn.Linear(c_in, layer.units)] + activation(layer.activation, last)
        elif isinstance(layer, LSTM) and not layer.return_sequences:
            lstm = nn.LSTM(c_in, layer.units, batch_first=True)
            with torch.no_grad():
                lstm.bias_hh_l0.zero_()
            lstm.bias_hh_l0.requires_grad_(False)  # glassnet has one bias; the sum is what counts
            mods.append(LastStep(lstm))
        elif isinstance(layer, GRU) and not layer.return_sequences:
            mods.append(LastStep(nn.GRU(c_in, layer.units, batch_first=True)))  # both biases trained, as ours
        elif isinstance(layer, (Conv1D, Conv2D)):
            conv = nn.Conv1d if isinstance(layer, Conv1D) else nn.Conv2d
            mods += [conv(c_in, layer.filters, layer.kernel_size, layer.strides, layer.padding,
                          layer.dilation_rate)] + activation(layer.activation, last)
        elif isinstance(layer, BatchNormalization):
            bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            mods.append(bn(c_in, eps=layer.epsilon, momentum=1 - layer.momentum))
        elif isinstance(layer, MaxPool2D) and layer.padding == "valid":
            mods.append(nn.MaxPool2d(layer.pool_size, layer.strides))
        elif isinstance(layer, (GlobalAveragePooling1D, GlobalAveragePooling2D)):
            pool = nn.AdaptiveAvgPool1d if isinstance(layer, GlobalAveragePooling1D) else nn.AdaptiveAvgPool2d
            mods += [pool(1), nn.Flatten()]
        elif isinstance(layer, Activation):
            mods += activation(layer, last)
        else:
            raise ConfigError(f"No PyTorch twin for layer {i} ({layer.display_name}, {type(layer).__name__})")
    twin = nn.Sequential(*mods)
    params, arrays = trainable(twin), torch_weights(layers, weights)
    assert [tuple(p.shape) for p in params] == [a.shape for a in arrays]
    with torch.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(torch.from_numpy(a))
    return twin
