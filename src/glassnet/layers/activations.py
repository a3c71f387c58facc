"""Activation functions as layers.

Each activation is a layer with no parameters. Elementwise activations also expose
``slope(z, a)`` — the derivative da/dz evaluated elementwise, which the tutorial calls the "slope"
and the trace shows — so ``backward(dy) = dy * slope``.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import check_bool
from ..errors import ConfigError, invalid_value
from .base import Layer

__all__ = [
    "ACTIVATIONS",
    "ALIASES",
    "ELU",
    "GELU",
    "SELU",
    "Activation",
    "HardSigmoid",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_activation",
]


class _ByName(type):
    """``Activation("tanh")`` builds the named activation layer, as ``keras.layers.Activation("tanh")`` does."""

    def __call__(cls, *args, **kwargs):
        if cls is not Activation:
            return super().__call__(*args, **kwargs)
        if len(args) > 1 or set(kwargs) - {"activation", "name", "input_shape"}:
            raise ConfigError("Activation(activation, name=None, input_shape=None) builds the named activation "
                              f"layer; received {len(args)} positional arguments and {sorted(kwargs)}")
        activation = args[0] if args else kwargs.pop("activation", None)
        if activation is None:
            raise ConfigError("Activation needs the activation to build, e.g. Activation('tanh')")
        layer = get_activation(activation)
        layer = type(layer)(**{k: v for k, v in kwargs.items() if k in ("name", "input_shape")},
                            **{k: v for k, v in layer.get_config().items() if k != "name"})
        return layer


class Activation(Layer, metaclass=_ByName):
    """An elementwise activation ``a = f(z)``; subclasses define ``f`` and ``slope``.

    ``Activation("tanh")`` (or any name or class :func:`get_activation` takes) builds that activation's layer,
    as ``keras.layers.Activation`` does: ``Activation("relu")`` is a :class:`ReLU`.
    """

    key = "activation"
    formula = "f(Z)"
    slope_formula = "f'(Z)"
    supports_masking = True  # elementwise (softmax: over the last axis), so a mask of padded steps passes on

    def f(self, z: np.ndarray) -> np.ndarray:
        """The activation ``a = f(z)``, elementwise."""
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


def _sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-z) = inf for very negative z gives exactly 0, never NaN
        return 1.0 / (1.0 + np.exp(-z))


class Sigmoid(Activation):
    """Logistic sigmoid ``a = 1 / (1 + exp(-z))``; slope ``a * (1 - a)``.

    The tutorial's exact formula: for very negative z, exp(-z) overflows to inf and a is exactly 0,
    never NaN.
    """

    key = "sigmoid"
    formula = "1 / (1 + exp(-Z))"
    slope_formula = "A * (1 - A)"

    def f(self, z):
        return _sigmoid(z)

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


# erf(x) to full double precision (Cephes' ndtr.c, Moshier): a rational approximation in x² below 1 and
# erfc(|x|) = exp(-x²)·P(|x|)/Q(|x|) above, vectorized (NumPy has no erf and SciPy is not a dependency)
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _poly(coefs, x):
    """Horner's rule, highest power first."""
    out = np.full_like(x, coefs[0])
    for c in coefs[1:]:
        out = out * x + c
    return out


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise, in the dtype of ``x`` (max error 2.3e-16 in float64)."""
    ax = np.minimum(np.abs(x), 27.0)  # erfc(27) underflows: beyond it erf is ±1
    x2 = ax * ax
    inner = x * _poly(_ERF_T, x2) / _poly(_ERF_U, x2)  # |x| < 1
    ratio = np.where(ax < 8, _poly(_ERFC_P, ax) / _poly(_ERFC_Q, ax), _poly(_ERFC_R, ax) / _poly(_ERFC_S, ax))
    outer = np.sign(x) * (1 - np.exp(-x2) * ratio)  # |x| ≥ 1
    return np.where(ax < 1, inner, outer)


class GELU(Activation):
    """Gaussian error linear unit (Hendrycks & Gimpel), Keras' and PyTorch's default exact form:
    ``a = z·Φ(z) = z/2·(1 + erf(z/√2))``; slope ``Φ(z) + z·φ(z)``.

    ``approximate=True`` is the tanh form ``a = z/2·(1 + tanh(u))``, ``u = √(2/π)·(z + 0.044715·z³)``;
    slope ``(1 + t)/2 + z/2·(1 - t²)·√(2/π)·(1 + 3·0.044715·z²)`` with ``t = tanh(u)``.
    """

    key = "gelu"
    _C = math.sqrt(2 / math.pi)

    def __init__(self, approximate: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.approximate = check_bool("approximate", approximate)

    @property
    def formula(self):
        if self.approximate:
            return "Z/2 * (1 + tanh(sqrt(2/pi) * (Z + 0.044715 * Z^3)))"
        return "Z/2 * (1 + erf(Z / sqrt(2)))"

    @property
    def slope_formula(self):
        if self.approximate:
            return "(1 + T)/2 + Z/2 * (1 - T^2) * sqrt(2/pi) * (1 + 0.134145 * Z^2)"
        return "Phi(Z) + Z * phi(Z)"

    def f(self, z):
        if self.approximate:
            return 0.5 * z * (1 + np.tanh(self._C * (z + 0.044715 * z**3)))
        return 0.5 * z * (1 + erf(z * (1 / math.sqrt(2))))

    def slope(self, z, a):
        if self.approximate:
            t = np.tanh(self._C * (z + 0.044715 * z**3))
            return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * self._C * (1 + 3 * 0.044715 * z * z)
        cdf = 0.5 * (1 + erf(z * (1 / math.sqrt(2))))  # Φ(z)
        pdf = np.exp(-0.5 * z * z) * (1 / math.sqrt(2 * math.pi))  # φ(z)
        return cdf + z * pdf

    def get_config(self):
        return {"name": self.name, "approximate": self.approximate}

    def extra_repr(self):
        return "approximate=True" if self.approximate else ""


class SiLU(Activation):
    """Sigmoid linear unit, also called swish (Keras' ``silu``/``swish``, PyTorch's ``SiLU``):
    ``a = z·σ(z)``; slope ``σ(z)·(1 + z·(1 - σ(z)))`` = ``A + σ(Z)·(1 - A)``.
    """

    key = "silu"
    formula = "Z / (1 + exp(-Z))"
    slope_formula = "A + sigmoid(Z) * (1 - A)"

    def f(self, z):
        return z * _sigmoid(z)

    def slope(self, z, a):
        s = _sigmoid(z)
        return a + s * (1 - a)


class Softplus(Activation):
    """``a = log(1 + exp(z))``, computed as ``logaddexp(0, z)`` so large z never overflows; slope ``σ(z)``."""

    key = "softplus"
    formula = "ln(1 + exp(Z))"
    slope_formula = "1 / (1 + exp(-Z))"

    def f(self, z):
        return np.logaddexp(z.dtype.type(0), z)

    def slope(self, z, a):
        return _sigmoid(z)


class SELU(Activation):
    """Scaled ELU (Klambauer et al. 2017): ``a = scale·z`` for z > 0, ``scale·alpha·(exp(z) - 1)`` otherwise,
    with the paper's ``alpha ≈ 1.6733`` and ``scale ≈ 1.0507``; slope ``scale`` or ``A + scale·alpha``.
    """

    key = "selu"
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    formula = "1.0507 * (Z if Z > 0 else 1.6733 * (exp(Z) - 1))"
    slope_formula = "1.0507 if Z > 0 else A + 1.0507 * 1.6733"

    def f(self, z):
        t = z.dtype.type
        return t(self.scale) * np.where(z > 0, z, t(self.alpha) * np.expm1(np.minimum(z, 0)))

    def slope(self, z, a):
        return np.where(z > 0, self.scale, a + self.scale * self.alpha).astype(z.dtype)


class HardSigmoid(Activation):
    """Keras 3's (and PyTorch's) piecewise-linear sigmoid ``a = relu6(z + 3) / 6 = clip(z/6 + 1/2, 0, 1)``;
    slope ``1/6`` for -3 < z < 3, else 0.
    """

    key = "hard_sigmoid"
    formula = "min(max(Z + 3, 0), 6) / 6"
    slope_formula = "1/6 if -3 < Z < 3 else 0"

    def f(self, z):
        return np.clip(z * z.dtype.type(1 / 6) + z.dtype.type(0.5), 0, 1)

    def slope(self, z, a):
        return np.where((z > -3) & (z < 3), 1 / 6, 0).astype(z.dtype)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.key: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softmax, Linear, GELU, SiLU, Softplus, SELU,
                             HardSigmoid)
}
#: other names Keras and PyTorch give the same activations
ALIASES = {"swish": "silu", "hardsigmoid": "hard_sigmoid"}


def get_activation(activation) -> Activation:
    """An activation layer from a name (``"relu"``), a class, an instance, or None (linear)."""
    if activation is None:
        return Linear()
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, type) and issubclass(activation, Activation):
        return activation()
    if isinstance(activation, str):
        key = ALIASES.get(activation.lower(), activation.lower())
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]()
    raise ConfigError(
        f"Unknown activation {activation!r}; valid activations are: {', '.join(sorted(ACTIVATIONS))} "
        f"(also {', '.join(sorted(ALIASES))})"
    )
