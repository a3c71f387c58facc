"""Preprocessing inside the model: Normalization (Keras 3's layer), so a saved model reads raw inputs."""

from __future__ import annotations

import numpy as np

from ..checks import check_bool, is_int
from ..errors import ConfigError, DataError, ShapeError, invalid_value
from .base import Layer

__all__ = ["EPSILON", "Normalization"]

#: Keras' ``backend.epsilon()``: the smallest standard deviation Normalization divides by
EPSILON = 1e-7


class Normalization(Layer):
    """Shift and scale each feature to mean 0 and variance 1 with statistics fixed before training.

    Forward, per feature (the last axis), with ``mean`` and ``variance`` from :meth:`adapt` or the
    constructor, as Keras 3 computes it::

        std = max(sqrt(variance), 1e-7)
        y = (x - mean) / std                  # invert=False
        y = mean + x · std                    # invert=True: back to the original units

    Backward (the statistics are constants): ``dx = dy / std`` (``dy · std`` when inverted).
    ``mean`` and ``variance`` are buffers (``add_weight(..., trainable=False)``): saved, loaded and copied
    with the model, never trained.

    Parameters
    ----------
    axis : int, default -1
        The feature axis; only the last is supported (channels last).
    mean, variance : float or array of shape (C,), optional
        The statistics, if known; otherwise call :meth:`adapt` before training. Both or neither.
    invert : bool, default False
        Apply the inverse transformation: turn standardized values back into the original units
        (e.g. a regressor's output layer, adapted on the targets).

    Shapes: ``x, y (N, ..., C)``; ``mean, variance (C,)``.

    >>> import numpy as np
    >>> layer = Normalization()
    >>> layer.adapt(np.array([[0.0, 7.0], [2.0, 9.0]]))
    >>> layer.build((2,), None, np.float64)
    (2,)
    >>> layer.forward(np.array([[0.0, 7.0]]))
    array([[-1., -1.]])
    """

    state_names = ("mean", "variance")

    def __init__(self, axis: int = -1, mean=None, variance=None, invert: bool = False,
                 name: str | None = None) -> None:
        super().__init__(name)
        if not is_int(axis):
            raise invalid_value("axis", axis, "an integer (only -1, the last axis, is supported)")
        self.axis = int(axis)
        if (mean is None) != (variance is None):
            raise ConfigError("When setting `mean` or `variance`, both must be set (Keras' rule). "
                              f"Received: mean={mean} and variance={variance}")
        self.invert = check_bool("invert", invert)
        self.init_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.init_variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        if self.init_variance is not None and not (np.all(np.isfinite(self.init_variance))
                                                   and np.all(self.init_variance >= 0)):
            raise invalid_value("variance", variance, "finite numbers ≥ 0")
        self._adapted: tuple[np.ndarray, np.ndarray] | None = None

    # -- statistics ---------------------------------------------------------------------------------
    def adapt(self, data) -> None:
        """Set ``mean`` and ``variance`` to the per-feature statistics of ``data`` (N, ..., C).

        The variance is the biased one (``mean((x - mean)²)``), as Keras' ``adapt`` computes it. Called
        on a built layer (e.g. inside a model) it overwrites the buffers in place.
        """
        data = np.asarray(data)
        if data.ndim < 1 or data.size == 0 or data.dtype.kind not in "biuf":
            raise DataError(f'Layer "{self.display_name}" (Normalization) adapts to a non-empty numeric array; '
                            f"received {data.dtype} data of shape {data.shape}")
        x = data.reshape(-1, data.shape[-1]).astype(np.float64) if data.ndim > 1 else data.astype(np.float64)[:, None]
        if not np.all(np.isfinite(x)):
            raise DataError(f'Layer "{self.display_name}" (Normalization) cannot adapt to NaN or infinite values')
        mean = x.mean(axis=0)  # (C,)
        variance = x.var(axis=0)  # (C,) biased, as Keras
        if self.built:
            C = self.input_shape[-1]
            if mean.shape[0] != C:
                raise ShapeError(f'Layer "{self.display_name}" (Normalization) is built for {C} features; '
                                 f"adapt received data with {mean.shape[0]}")
            self.state["mean"][...] = self.xp.asarray(mean.astype(self.dtype))
            self.state["variance"][...] = self.xp.asarray(variance.astype(self.dtype))
        self._adapted = (mean, variance)

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        if not input_shape:
            raise ShapeError(f'Layer "{self.display_name}" (Normalization) needs inputs with a feature axis; '
                             f"received shape {(None, *input_shape)}")
        if self.axis not in (-1, len(input_shape)):
            raise ConfigError(f'Layer "{self.display_name}" (Normalization) normalizes the last axis only; '
                              f"received axis={self.axis} for inputs of shape {(None, *input_shape)}. Use axis=-1.")
        C = input_shape[-1]
        if self._adapted is not None:
            mean, variance = self._adapted
        elif self.init_mean is not None:
            mean, variance = self.init_mean, self.init_variance
        else:  # not adapted yet (or about to be loaded from a file): the identity until then
            mean, variance = np.zeros(C), np.ones(C)
        self.params, self.grads, self.state = {}, {}, {}
        for key, value in (("mean", mean), ("variance", variance)):
            value = np.broadcast_to(value, (C,)) if np.ndim(value) == 0 else np.asarray(value)
            if value.shape != (C,):
                raise ShapeError(f'Layer "{self.display_name}" (Normalization) expects {key} of shape ({C},) '
                                 f"for inputs with {C} features; received shape {value.shape}")
            self.add_weight(key, value.astype(dtype), trainable=False)  # (C,)
        return super().build(input_shape, rng, dtype)

    def std(self) -> np.ndarray:
        """``max(sqrt(variance), 1e-7)`` per feature, shape (C,): what the layer divides by."""
        return self.xp.maximum(self.xp.sqrt(self.state["variance"]), self.dtype.type(EPSILON))

    # -- contract -----------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        std = self.std()  # (C,)
        if self.invert:
            return self.state["mean"] + x * std  # (N, ..., C)
        return (x - self.state["mean"]) / std  # (N, ..., C)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        std = self.std()  # (C,)
        return dy * std if self.invert else dy / std

    def get_config(self) -> dict:
        listed = {k: (None if v is None else v.tolist())
                  for k, v in (("mean", self.init_mean), ("variance", self.init_variance))}
        return {"axis": self.axis, **listed, "invert": self.invert, "name": self.name}

    def extra_repr(self) -> str:
        return "invert=True" if self.invert else ""
