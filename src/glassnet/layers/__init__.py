"""Layers: Dense, activations, Dropout, convolutions, pooling, normalization, reshaping, residual blocks.

Each follows the contract in ``base.py``.
"""

from .activations import ELU, Activation, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .base import Layer
from .conv import Conv1D, Conv2D
from .dense import Dense
from .dropout import Dropout
from .normalization import BatchNormalization
from .pooling import (
    AveragePool1D,
    AveragePool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    MaxPool1D,
    MaxPool2D,
)
from .reshape import Flatten, Reshape
from .residual import Residual

__all__ = [
    "Layer",
    "Dense",
    "Dropout",
    "Conv1D",
    "Conv2D",
    "MaxPool1D",
    "MaxPool2D",
    "AveragePool1D",
    "AveragePool2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "BatchNormalization",
    "Flatten",
    "Reshape",
    "Residual",
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

LAYERS = {
    cls.__name__: cls
    for cls in (Dense, Dropout, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softmax, Linear, Conv1D, Conv2D, MaxPool1D,
                MaxPool2D, AveragePool1D, AveragePool2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                BatchNormalization, Flatten, Reshape, Residual)
}
