"""Fully connected layer ``Z = X·W + b`` followed by its activation ``A = f(Z)``."""

from __future__ import annotations

import numpy as np

from ..checks import check_positive_int
from ..errors import ShapeError
from .activations import Linear
from .kernel import KernelLayer

__all__ = ["Dense"]


class Dense(KernelLayer):
    """A fully connected layer.

    Forward: ``Z = X·W + b`` then ``A = f(Z)``. Backward, given ``dA``:
    ``dZ = dA * f'(Z)``, ``dW = Xᵀ·dZ``, ``db = Σ_rows dZ``, ``dX = dZ·Wᵀ``.

    ``Dense(units, activation="relu")`` is sugar for a Dense followed by a ReLU layer: the activation
    is an :class:`~glassnet.layers.activations.Activation` layer held in ``self.activation``.

    Shapes: ``X (N, n_in)``, ``W (n_in, n_out)``, ``b (n_out,)``, ``Z, A (N, n_out)``.

    Parameters
    ----------
    units : int
        Number of outputs ``n_out``.
    activation : str, Activation or None
        ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"silu"``
        (``"swish"``), ``"softplus"``, ``"selu"``, ``"hard_sigmoid"``, ``"softmax"``, ``"linear"`` (None means
        linear).
    use_bias : bool
        Whether to add ``b``.
    kernel_initializer, bias_initializer : str or callable
        Defaults ``"glorot_uniform"`` and ``"zeros"`` as in Keras; the seed tutorial uses ``"uniform"``.
    kernel_regularizer, bias_regularizer : Regularizer, "l1", "l2" or None
    """

    supports_masking = True  # on (N, T, C) each step is its own row: a mask of padded steps passes on

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.units = check_positive_int("units", units)
        self._init_kernel(activation, use_bias, kernel_initializer, bias_initializer,
                          kernel_regularizer, bias_regularizer)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def build(self, input_shape, rng, dtype=np.float32):
        if len(input_shape) < 1 or input_shape[-1] is None or input_shape[-1] < 1:
            raise ShapeError(f"Dense layer {self.display_name!r} needs inputs with a known last dimension; "
                             f"received input shape {tuple(input_shape)}")
        n_in = int(input_shape[-1])
        self.params = {"W": self.kernel_initializer((n_in, self.units), rng, dtype)}
        if self.use_bias:
            self.params["b"] = self.bias_initializer((self.units,), rng, dtype)
        self._new_grads()
        out = super().build(input_shape, rng, dtype)
        self.activation.build(out, rng, dtype)
        return out

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = x  # (N, n_in)
        z = x @ self.params["W"]  # (N, n_out)
        if self.use_bias:
            z += self.params["b"]
        self.z = z
        self.a = self.activation.forward(z, training)
        return self.a

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.da = dy  # kept for the trace: dL/dA of this layer
        return self.backward_z(self.activation.backward(dy))

    def backward_z(self, dz: np.ndarray) -> np.ndarray | None:
        """Backward from dL/dZ (used directly when the loss fuses the activation's gradient)."""
        self.dz = dz
        x = self.x
        if x.ndim > 2:  # Dense on the last axis of (N, ..., n_in)
            x, dz = x.reshape(-1, x.shape[-1]), dz.reshape(-1, dz.shape[-1])
        np.matmul(x.T, dz, out=self.grads["W"])  # (n_in, n_out)
        if self.use_bias:
            dz.sum(axis=0, out=self.grads["b"])  # (n_out,)
        if not self.need_input_grad:
            return None
        return self.dz @ self.params["W"].T  # (N, n_in)

    def get_config(self):
        return {"units": self.units} | self._kernel_config()

    def extra_repr(self):
        act = "" if isinstance(self.activation, Linear) else f", activation={self.activation.key!r}"
        return f"{self.units}{act}"
