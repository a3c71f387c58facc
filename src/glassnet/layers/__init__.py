"""Layers: Dense, activations and Dropout (each follows the contract in ``base.py``)."""

from .activations import ELU, Activation, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .base import Layer
from .dense import Dense
from .dropout import Dropout

__all__ = [
    "Layer",
    "Dense",
    "Dropout",
    "Activation",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Linear",
    "get_activation",
    "LAYERS",
]

LAYERS = {cls.__name__: cls for cls in (Dense, Dropout, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softmax, Linear)}
