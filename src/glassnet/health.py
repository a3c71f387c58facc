"""Numerical health of a training run: warnings before a run silently goes wrong.

``model.fit(..., health=True)`` or ``callbacks=[HealthMonitor(...)]`` watches every batch and warns with
:class:`~glassnet.errors.GlassnetWarning`, naming the layer (index and name), when

- **exploding gradients**: a layer's gradient norm ``sqrt(Σ_params Σ g²)`` exceeds ``max_grad_norm``
  (default 1e3) or is not finite;
- **vanishing gradients**: a layer's gradient norm is below ``vanishing_ratio`` (default 1e-4) times the
  largest layer gradient norm of the same batch (the signal dies on its way back through the layers);
- **dead ReLUs**: more than ``dead_fraction`` (default 0.5) of a ReLU layer's units output 0 for every
  sample of an epoch (a unit is a feature, or a channel of a convolution);
- **saturated sigmoid/tanh units**: in a hidden layer, more than ``saturated_fraction`` (default 0.9) of
  an epoch's outputs lie within ``saturation_margin`` (default 0.01) of the activation's limits (0 and 1
  for sigmoid, -1 and 1 for tanh), where the slope is nearly 0. The output layer is not checked:
  confident predictions saturate it by design.

Gradients are read after the batch's backward pass, as the optimizer receives them (after clipping).
Each problem is warned once per layer and fit; every finding is also kept in ``monitor.events``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .callback_base import Callback
from .checks import check_number, check_positive_int
from .errors import GlassnetWarning
from .layers.activations import Activation, ReLU, Sigmoid, Tanh

__all__ = ["HealthMonitor"]


def _positive(name, value):
    return check_number(name, value, low_open=True, expected="a positive number")


def _fraction(name, value):
    return check_number(name, value, high=1.0, expected="a number in [0, 1)")


def _walk(layers, prefix=""):
    """(label, layer) for every layer, descending into containers (a Residual block's sublayers)."""
    for i, layer in enumerate(layers):
        label = f"{prefix}{i}"
        subs = list(layer._sublayers()) if hasattr(layer, "_sublayers") else []
        if subs:
            for sub_prefix, sub in subs:
                yield f"{label}.{sub_prefix.rstrip('.')} ({sub.display_name})", sub
        else:
            yield f"{label} ({layer.display_name})", layer


class HealthMonitor(Callback):
    """Warn about exploding/vanishing gradients, dead ReLUs and saturated units (see the module docstring).

    Parameters
    ----------
    max_grad_norm : float, default 1e3
    vanishing_ratio : float, default 1e-4
    dead_fraction : float, default 0.5
    saturated_fraction : float, default 0.9
    saturation_margin : float, default 0.01
    every : int, default 1
        Look at every ``every``-th batch (the checks cost a few reductions per layer).
    """

    def __init__(self, max_grad_norm=1e3, vanishing_ratio=1e-4, dead_fraction=0.5, saturated_fraction=0.9,
                 saturation_margin=0.01, every=1):
        self.max_grad_norm = _positive("max_grad_norm", max_grad_norm)
        self.vanishing_ratio = _fraction("vanishing_ratio", vanishing_ratio)
        self.dead_fraction = _fraction("dead_fraction", dead_fraction)
        self.saturated_fraction = _fraction("saturated_fraction", saturated_fraction)
        self.saturation_margin = _fraction("saturation_margin", saturation_margin)
        self.every = check_positive_int("every", every)
        self.events: list[dict] = []

    # -- setup -------------------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._warned: set[tuple[str, str]] = set()
        self._epoch = self.params.get("initial_epoch", 0) if self.params else 0
        self._with_params = [(label, la) for label, la in _walk(self.model.layers) if la.params]
        last = self.model.layers[-1]
        self._watched = []  # (label, activation layer, kind) of hidden activations
        for label, layer in _walk(self.model.layers[:-1]) if len(self.model.layers) > 1 else []:
            act = layer if isinstance(layer, Activation) else getattr(layer, "activation", None)
            for kind, cls in (("relu", ReLU), ("sigmoid", Sigmoid), ("tanh", Tanh)):
                if isinstance(act, cls) and layer is not last:
                    self._watched.append((label, act, kind))
        self._reset()

    def _reset(self):
        self._alive = {label: None for label, _, kind in self._watched if kind == "relu"}
        self._saturated = {label: [0, 0] for label, _, kind in self._watched if kind != "relu"}

    def _warn(self, kind, label, value, message):
        self.events.append({"epoch": self._epoch, "kind": kind, "layer": label, "value": value})
        if (kind, label) not in self._warned:
            self._warned.add((kind, label))
            warnings.warn(GlassnetWarning(message), stacklevel=3)

    # -- checks ------------------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if batch % self.every:
            return
        self._check_gradients(batch)
        for label, act, kind in self._watched:
            a = getattr(act, "a", None)
            if a is None:
                continue
            if kind == "relu":
                alive = (a > 0).reshape(-1, a.shape[-1]).any(axis=0)  # (units,)
                prev = self._alive[label]
                self._alive[label] = alive if prev is None else (prev | alive)
            else:
                m = self.saturation_margin
                low, high = (0.0, 1.0) if kind == "sigmoid" else (-1.0, 1.0)
                counts = self._saturated[label]
                counts[0] += int(np.count_nonzero((a <= low + m) | (a >= high - m)))
                counts[1] += a.size

    def _check_gradients(self, batch):
        norms = {}
        for label, layer in self._with_params:
            total = sum(float(np.dot(g.ravel(), g.ravel())) for g in layer.grads.values())  # inf on overflow
            norms[label] = math.sqrt(total) if math.isfinite(total) else math.inf
        if not norms:
            return
        largest = max(norms.values())
        for label, norm in norms.items():
            if not norm <= self.max_grad_norm:
                self._warn("exploding", label, norm,
                           f"Exploding gradients in layer {label}: gradient norm {norm:.3g} at epoch "
                           f"{self._epoch + 1}, batch {batch} exceeds max_grad_norm={self.max_grad_norm:g}. "
                           "Lower the learning rate, clip gradients (clipnorm=) or normalize the inputs.")
            elif len(norms) > 1 and math.isfinite(largest) and norm < self.vanishing_ratio * largest:
                self._warn("vanishing", label, norm,
                           f"Vanishing gradients in layer {label}: gradient norm {norm:.3g} at epoch "
                           f"{self._epoch + 1}, batch {batch} is below vanishing_ratio={self.vanishing_ratio:g} "
                           f"times the largest layer's ({largest:.3g}). Try ReLU activations, He/Glorot "
                           "initialization or fewer layers.")

    def on_epoch_end(self, epoch, logs=None):
        for label, alive in self._alive.items():
            if alive is None:
                continue
            dead = 1.0 - float(alive.mean())
            if dead > self.dead_fraction:
                self._warn("dead_relu", label, dead,
                           f"Dead ReLUs in layer {label}: {dead:.0%} of its {alive.size} units output 0 for "
                           f"every sample of epoch {epoch + 1} (threshold dead_fraction={self.dead_fraction:g}); "
                           "they no longer learn. Lower the learning rate, or use LeakyReLU/ELU.")
        for label, (saturated, total) in self._saturated.items():
            if total and saturated / total > self.saturated_fraction:
                frac = saturated / total
                self._warn("saturated", label, frac,
                           f"Saturated units in layer {label}: {frac:.0%} of its outputs in epoch {epoch + 1} lie "
                           f"within {self.saturation_margin:g} of the activation's limits (threshold "
                           f"saturated_fraction={self.saturated_fraction:g}), where its slope is nearly 0. "
                           "Normalize the inputs, use smaller initial weights or a lower learning rate.")
        self._reset()
