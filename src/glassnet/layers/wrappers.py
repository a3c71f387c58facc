"""Layers that wrap layers (Keras' wrappers): ``Bidirectional`` and ``TimeDistributed``.

A wrapper owns no arrays of its own (a :class:`~glassnet.layers.composite.Composite`, like
:class:`~glassnet.layers.Residual`): its ``params``, ``grads``, ``state`` and ``regularizers`` are its
sublayers' dicts under prefixed names, so the model's flat buffers, optimizers, ``state_dict``, files and
gradient checks treat it as one layer.
"""

from __future__ import annotations

import copy

import numpy as np

from ..errors import ConfigError, ShapeError, invalid_value
from .base import Layer
from .composite import Composite
from .recurrent import _Recurrent

__all__ = ["Bidirectional", "TimeDistributed"]

MERGE_MODES = ("concat", "sum", "mul", "ave")


class _Wrapper(Composite):
    """A composite whose sublayers also follow its dtype, input-gradient switch and state resets."""

    @property
    def dtype(self):
        """The dtype of the wrapper and of every sublayer (setting it sets theirs)."""
        return self.__dict__.get("_dtype", np.dtype(np.float32))

    @dtype.setter
    def dtype(self, value) -> None:
        self.__dict__["_dtype"] = np.dtype(value)
        for _, layer in self._sublayers():
            layer.dtype = np.dtype(value)

    @property
    def need_input_grad(self) -> bool:
        """Whether backward returns dL/dx (the model turns it off for its first layer); set on the sublayers."""
        return self.__dict__.get("_need_input_grad", True)

    @need_input_grad.setter
    def need_input_grad(self, value: bool) -> None:
        self.__dict__["_need_input_grad"] = bool(value)
        for _, layer in self._sublayers():
            if hasattr(layer, "need_input_grad"):
                layer.need_input_grad = bool(value)

    def reset_states(self) -> None:
        """Reset the carried states of stateful sublayers (those that have ``reset_states``)."""
        for _, layer in self._sublayers():
            if hasattr(layer, "reset_states"):
                layer.reset_states()


def _layer_entry(layer: Layer, **overrides) -> dict:
    return {"class": type(layer).__name__, "config": layer.get_config() | overrides}


class Bidirectional(_Wrapper):
    """A recurrent layer run over the sequence both ways, the two outputs merged (Keras' ``Bidirectional``).

    Two copies of ``layer`` with the same settings and their own weights: ``forward_layer`` reads
    ``x_1 … x_T``, ``backward_layer`` reads ``x_T … x_1``. With ``return_sequences`` the backward output is
    flipped back into time order, so step t of the result sees both the past and the future of ``x_t``::

        y_f = forward(x)                    # (N, T, U), or (N, U) without return_sequences
        y_b = flip(backward(flip(x)))       # flip: reverse the time axis (the outer flip only for sequences)
        y   = [y_f, y_b]  (concat, (..., 2U))  |  y_f + y_b  (sum)  |  y_f * y_b  (mul)  |  (y_f + y_b)/2  (ave)

    Backward splits dL/dy the same way, runs each copy's backpropagation through time and adds the two
    input gradients (the backward one flipped back): ``dx = dx_f + flip(dx_b)``.

    With a mask (``Embedding(mask_zero=True)``, ``Masking``) the backward copy gets the flipped mask, so a
    post-padded sequence reaches it pre-padded and it starts at the last real step; with
    ``return_sequences`` masked steps of both outputs are zero (Keras forces ``zero_output_for_mask``).
    This equals ``torch.nn.LSTM(bidirectional=True)`` over packed sequences.

    Weights: ``params`` are ``forward.W, forward.U, forward.b, backward.W, backward.U, backward.b`` and
    ``get_weights()`` lists them in that order (Keras: the forward layer's, then the backward layer's).
    Torch's ``weight_ih_l0_reverse`` is ``backward.W``ᵀ (and so on, as for the wrapped layer).

    >>> from glassnet.layers import LSTM
    >>> layer = Bidirectional(LSTM(4, return_sequences=True))
    >>> layer.build((7, 3), np.random.default_rng(0))
    (7, 8)
    >>> list(layer.params)[:3]
    ['forward.W', 'forward.U', 'forward.b']

    Parameters
    ----------
    layer : SimpleRNN, LSTM or GRU
        A template: the wrapper builds two fresh copies of it (the template's own weights are not used).
    merge_mode : {"concat", "sum", "mul", "ave"}, default "concat"
        How the two outputs combine. Keras' ``None`` (a list of both outputs) has no place in a Sequential,
        whose layers pass one array on.
    """

    supports_masking = True

    def __init__(self, layer: Layer, merge_mode: str = "concat", name: str | None = None) -> None:
        if not isinstance(layer, _Recurrent):
            raise ConfigError("Bidirectional wraps a recurrent layer (SimpleRNN, LSTM or GRU); received "
                              f"{layer!r} of type {type(layer).__name__}")
        if merge_mode not in MERGE_MODES:
            raise invalid_value("merge_mode", merge_mode, " or ".join(repr(m) for m in MERGE_MODES))
        # set before Layer.__init__, whose empty params/grads/state and dtype go through the wrapper's setters
        self.layer_name = layer.name
        self.forward_layer = copy.deepcopy(layer)
        self.backward_layer = copy.deepcopy(layer)
        self.forward_layer.name = "forward_" + layer.display_name
        self.backward_layer.name = "backward_" + layer.display_name
        self.merge_mode = merge_mode
        super().__init__(name)

    def _sublayers(self):
        return [("forward.", self.forward_layer), ("backward.", self.backward_layer)]

    @property
    def return_sequences(self) -> bool:
        """The wrapped layer's ``return_sequences``: output (N, T, ·) or (N, ·)."""
        return self.forward_layer.return_sequences

    @property
    def states(self) -> list | None:
        """The final states of the last forward, the forward copy's then the backward copy's (Keras):
        ``[h_f, h_b]``, for LSTMs ``[h_f, c_f, h_b, c_b]``; None before a forward pass."""
        f, b = self.forward_layer.__dict__.get("states"), self.backward_layer.__dict__.get("states")
        return None if f is None or b is None else [*f, *b]

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(tuple(input_shape))
        return shape[:-1] + (2 * shape[-1],) if self.merge_mode == "concat" else shape

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2:
            raise ShapeError(f'Layer "{self.display_name}" (Bidirectional) takes sequences of shape (N, T, C); '
                             f"received input shape {(None, *input_shape)}")
        self.forward_layer.build(input_shape, rng, dtype)
        self.backward_layer.build(input_shape, rng, dtype)
        self.input_shape, self.output_shape = input_shape, self.compute_output_shape(input_shape)
        self.dtype, self.built = np.dtype(dtype), True
        return self.output_shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 3:
            raise ShapeError(f'Layer "{self.display_name}" (Bidirectional) takes sequences of shape (N, T, C); '
                             f"received shape {tuple(x.shape)}")
        mask = self.input_mask  # (N, T) or None
        self.forward_layer.input_mask = mask
        self.backward_layer.input_mask = None if mask is None else self.xp.ascontiguousarray(mask[:, ::-1])
        yf = self.forward_layer.forward(x, training)  # (N, T, U) or (N, U)
        yb = self.backward_layer.forward(x[:, ::-1], training)  # read from the last step to the first
        self.keep = None
        if self.return_sequences:
            yb = yb[:, ::-1]  # back into time order: yb[:, t] has read x_T … x_t
            if mask is not None:  # masked steps output zeros (Keras' zero_output_for_mask)
                self.keep = mask[..., None].astype(yf.dtype)  # (N, T, 1)
                yf, yb = yf * self.keep, yb * self.keep
        self.yf, self.yb = yf, yb
        if self.merge_mode == "concat":
            self.a = self.xp.concatenate([yf, yb], axis=-1)  # (..., 2U)
        elif self.merge_mode == "sum":
            self.a = yf + yb
        elif self.merge_mode == "mul":
            self.a = yf * yb
        else:  # ave
            self.a = (yf + yb) * yf.dtype.type(0.5)
        return self.a

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if self.merge_mode == "concat":
            units = self.yf.shape[-1]
            dyf, dyb = dy[..., :units], dy[..., units:]
        elif self.merge_mode == "sum":
            dyf = dyb = dy
        elif self.merge_mode == "mul":
            dyf, dyb = dy * self.yb, dy * self.yf
        else:  # ave
            dyf = dyb = dy * dy.dtype.type(0.5)
        if self.keep is not None:
            dyf, dyb = dyf * self.keep, dyb * self.keep
        if self.return_sequences:
            dyb = dyb[:, ::-1]  # into the backward layer's own (reversed) time order
        xp = self.xp
        dxf = self.forward_layer.backward(xp.ascontiguousarray(dyf))
        dxb = self.backward_layer.backward(xp.ascontiguousarray(dyb))
        if dxf is None:  # the model's first layer: no input gradient wanted
            return None
        return dxf + dxb[:, ::-1]  # (N, T, C)

    def compute_mask(self, mask):
        """The input's mask with ``return_sequences`` (the output keeps the time axis), else None."""
        return mask if self.return_sequences else None

    def get_config(self):
        return {"layer": _layer_entry(self.forward_layer, name=self.layer_name), "merge_mode": self.merge_mode,
                "name": self.name}

    def extra_repr(self):
        inner = f"{type(self.forward_layer).__name__}({self.forward_layer.extra_repr()})"
        return inner + ("" if self.merge_mode == "concat" else f", merge_mode={self.merge_mode!r}")


class TimeDistributed(_Wrapper):
    """Apply ``layer`` to every time step of (N, T, ...) with the same weights (Keras' ``TimeDistributed``).

    The time axis is folded into the batch: ``y = layer(x.reshape(N·T, ...)).reshape(N, T, ...)``, and
    backward unfolds the same way, so each weight's gradient is the sum over every step and sample.

    A ``Dense`` on (N, T, C) already acts on the last axis step by step (Keras' Dense does the same), with
    the same weights, output and gradients as ``TimeDistributed(Dense(...))``; prefer it for a softmax
    output, whose gradient the model then fuses with the cross-entropy. TimeDistributed is for layers that
    do not act on the last axis alone, e.g. ``TimeDistributed(Conv1D(...))`` over (N, T, L, C), or
    ``Flatten`` per step. A mask passes through unchanged (the wrapped layer sees none).

    The arrays keep the wrapped layer's names (``W``, ``b``).

    >>> from glassnet.layers import Dense
    >>> layer = TimeDistributed(Dense(2))
    >>> layer.build((5, 3), np.random.default_rng(0))
    (5, 2)

    Parameters
    ----------
    layer : Layer
        Applied to inputs of shape (N·T, ...): it must take the shape of one step.
    """

    supports_masking = True

    def __init__(self, layer: Layer, name: str | None = None) -> None:
        if not isinstance(layer, Layer):
            raise ConfigError(f"TimeDistributed wraps a glassnet layer; received {layer!r} of type "
                              f"{type(layer).__name__}")
        self.layer = layer  # before Layer.__init__, whose empty dicts go through the wrapper's setters
        super().__init__(name)

    def _sublayers(self):
        return [("", self.layer)]

    def _where(self) -> str:
        return f'Layer "{self.display_name}" (TimeDistributed) takes inputs of shape (N, T, ...) of 3 dims or more'

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.layer.compute_output_shape(tuple(input_shape[1:])))

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ShapeError(f"{self._where()}; received input shape {(None, *input_shape)}")
        step = self.layer.build(input_shape[1:], rng, dtype)
        self.input_shape, self.output_shape = input_shape, (input_shape[0], *step)
        self.dtype, self.built = np.dtype(dtype), True
        return self.output_shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim < 3:
            raise ShapeError(f"{self._where()}; received shape {tuple(x.shape)}")
        N, T = x.shape[:2]
        self.layer.input_mask = None
        y = self.layer.forward(x.reshape((N * T, *x.shape[2:])), training)  # (N·T, ...): steps as rows
        self.a = y.reshape((N, T, *y.shape[1:]))
        return self.a

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        N, T = dy.shape[:2]
        dx = self.layer.backward(dy.reshape((N * T, *dy.shape[2:])))
        return None if dx is None else dx.reshape((N, T, *dx.shape[1:]))

    def get_config(self):
        return {"layer": _layer_entry(self.layer), "name": self.name}

    def extra_repr(self):
        return f"{type(self.layer).__name__}({self.layer.extra_repr()})"
