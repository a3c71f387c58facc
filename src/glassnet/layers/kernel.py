"""What Dense and the convolutions share: a kernel ``W``, an optional bias ``b`` and an activation."""

from __future__ import annotations

from ..initializers import get_initializer, initializer_name
from ..regularizers import get_regularizer
from .activations import Activation, get_activation
from .base import Layer

__all__ = ["KernelLayer"]


class KernelLayer(Layer):
    """A layer ``A = f(Z)`` whose ``Z`` is linear in a kernel ``W`` plus a bias ``b``.

    Holds the settings common to Dense, Conv1D and Conv2D (Keras' names) and their part of the config.
    """

    def _init_kernel(self, activation, use_bias, kernel_initializer, bias_initializer,
                     kernel_regularizer, bias_regularizer) -> None:
        self.activation: Activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.regularizers = {"W": get_regularizer(kernel_regularizer)}
        if self.use_bias:
            self.regularizers["b"] = get_regularizer(bias_regularizer)
        self.need_input_grad = True  # the model turns this off for its first layer

    def _kernel_config(self) -> dict:
        regs = {k: (r.get_config() if r is not None else None) for k, r in self.regularizers.items()}
        return {
            "activation": self.activation.get_config() | {"class": type(self.activation).__name__},
            "use_bias": self.use_bias,
            "kernel_initializer": initializer_name(self.kernel_initializer),
            "bias_initializer": initializer_name(self.bias_initializer),
            "kernel_regularizer": regs.get("W"),
            "bias_regularizer": regs.get("b"),
            "name": self.name,
        }
