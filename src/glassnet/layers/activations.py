"""Activation functions as layers.

Each activation is a layer with no parameters. Elementwise activations also expose
``slope(z, a)`` — the derivative da/dz evaluated elementwise, which the tutorial calls the "slope"
and the trace shows — so ``backward(dy) = dy * slope``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, invalid_value
from .base import Layer

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "Activation",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get_activation",
]


class Activation(Layer):
    """An elementwise activation ``a = f(z)``; subclasses define ``f`` and ``slope``."""

    key = "activation"
    formula = "f(Z)"
    slope_formula = "f'(Z)"

    def f(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def slope(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """da/dz, elementwise, from the pre-activation ``z`` and/or the activation ``a``."""
        raise NotImplementedError

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.z = x
        self.a = self.f(x)
        return self.a

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * self.slope(self.z, self.a)

    def get_config(self) -> dict:
        return {"name": self.name}


class Sigmoid(Activation):
    """Logistic sigmoid ``a = 1 / (1 + exp(-z))``; slope ``a * (1 - a)``.

    The tutorial's exact formula: for very negative z, exp(-z) overflows to inf and a is exactly 0,
    never NaN.
    """

    key = "sigmoid"
    formula = "1 / (1 + exp(-Z))"
    slope_formula = "A * (1 - A)"

    def f(self, z):
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))

    def slope(self, z, a):
        return a * (1 - a)


class Tanh(Activation):
    """Hyperbolic tangent; slope ``1 - a**2``."""

    key = "tanh"
    formula = "tanh(Z)"
    slope_formula = "1 - A^2"

    def f(self, z):
        return np.tanh(z)

    def slope(self, z, a):
        return 1 - a * a


class ReLU(Activation):
    """``a = max(z, 0)``; slope 1 where z > 0, else 0."""

    key = "relu"
    formula = "max(Z, 0)"
    slope_formula = "1 if Z > 0 else 0"

    def f(self, z):
        return np.maximum(z, 0)

    def slope(self, z, a):
        return (z > 0).astype(z.dtype)

    def forward(self, x, training=False):
        self.z = x
        self.mask = x > 0  # kept for backward: multiplying by it is cheaper than np.where
        self.a = np.multiply(x, self.mask)
        return self.a

    def backward(self, dy):
        return np.multiply(dy, self.mask)


class LeakyReLU(Activation):
    """``a = z`` for z > 0, ``alpha * z`` otherwise (alpha defaults to 0.01, as in PyTorch)."""

    key = "leaky_relu"
    slope_formula = "1 if Z > 0 else alpha"

    def __init__(self, alpha: float = 0.01, name: str | None = None) -> None:
        super().__init__(name)
        if not np.isfinite(alpha) or alpha < 0:
            raise invalid_value("alpha", alpha, "a non-negative number")
        self.alpha = float(alpha)

    @property
    def formula(self):
        return f"Z if Z > 0 else {self.alpha:g} * Z"

    def f(self, z):
        return np.where(z > 0, z, z * z.dtype.type(self.alpha))

    def slope(self, z, a):
        return np.where(z > 0, 1, self.alpha).astype(z.dtype)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}

    def extra_repr(self):
        return f"alpha={self.alpha:g}"


class ELU(Activation):
    """``a = z`` for z > 0, ``alpha * (exp(z) - 1)`` otherwise; slope 1 or ``a + alpha``."""

    key = "elu"
    slope_formula = "1 if Z > 0 else A + alpha"

    def __init__(self, alpha: float = 1.0, name: str | None = None) -> None:
        super().__init__(name)
        if not np.isfinite(alpha) or alpha <= 0:
            raise invalid_value("alpha", alpha, "a positive number")
        self.alpha = float(alpha)

    @property
    def formula(self):
        return f"Z if Z > 0 else {self.alpha:g} * (exp(Z) - 1)"

    def f(self, z):
        alpha = z.dtype.type(self.alpha)
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))

    def slope(self, z, a):
        return np.where(z > 0, 1, a + z.dtype.type(self.alpha)).astype(z.dtype)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}

    def extra_repr(self):
        return f"alpha={self.alpha:g}"


class Linear(Activation):
    """The identity ``a = z``; slope 1."""

    key = "linear"
    formula = "Z"
    slope_formula = "1"

    def f(self, z):
        return z

    def slope(self, z, a):
        return np.ones_like(z)

    def backward(self, dy):
        return dy


class Softmax(Activation):
    """Softmax over the last axis, shifted by the row maximum so exp never overflows.

    Not elementwise: ``dz = a * (da - sum(da * a, axis=-1))``. With a cross-entropy loss the model
    skips this and uses the fused gradient ``dz = (a - y) / N``.
    """

    key = "softmax"
    formula = "exp(Z - max Z) / sum(exp(Z - max Z))"
    slope_formula = "A * (dA - sum(dA * A))"

    def f(self, z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def forward(self, x, training=False):
        self.z = x
        zmax = x.max(axis=-1, keepdims=True)  # (N, 1)
        e = np.exp(x - zmax)  # (N, K)
        total = e.sum(axis=-1, keepdims=True)  # (N, 1)
        self.a = e / total
        # log Σ exp(Z) per row, kept so a cross-entropy need not exponentiate again: log A = Z - log_sum
        self.log_sum = zmax + np.log(total)  # (N, 1)
        return self.a

    def slope(self, z, a):
        raise NotImplementedError("softmax has a Jacobian, not an elementwise slope")

    def backward(self, dy):
        a = self.a
        return a * (dy - (dy * a).sum(axis=-1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.key: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softmax, Linear)
}


def get_activation(activation) -> Activation:
    """An activation layer from a name (``"relu"``), a class, an instance, or None (linear)."""
    if activation is None:
        return Linear()
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, type) and issubclass(activation, Activation):
        return activation()
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]()
    raise ConfigError(
        f"Unknown activation {activation!r}; valid activations are: {', '.join(sorted(ACTIVATIONS))}"
    )
