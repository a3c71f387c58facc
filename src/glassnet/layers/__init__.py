"""Layers: Dense, activations, Dropout, convolutions, pooling, normalization, reshaping, residual blocks,
recurrent layers (SimpleRNN, LSTM, GRU) and Embedding.

Each follows the contract in ``base.py``.
"""

from .activations import ELU, Activation, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .base import Layer
from .conv import Conv1D, Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .normalization import BatchNormalization
from .pooling import (
    AveragePool1D,
    AveragePool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    MaxPool1D,
    MaxPool2D,
)
from .recurrent import GRU, LSTM, SimpleRNN
from .reshape import Flatten, Reshape
from .residual import Residual

__all__ = [
    "ELU",
    "GRU",
    "LAYERS",
    "LSTM",
    "Activation",
    "AveragePool1D",
    "AveragePool2D",
    "BatchNormalization",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "Layer",
    "LeakyReLU",
    "Linear",
    "MaxPool1D",
    "MaxPool2D",
    "ReLU",
    "Reshape",
    "Residual",
    "Sigmoid",
    "SimpleRNN",
    "Softmax",
    "Tanh",
    "get_activation",
]

LAYERS = {
    cls.__name__: cls
    for cls in (Dense, Dropout, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softmax, Linear, Conv1D, Conv2D, MaxPool1D,
                MaxPool2D, AveragePool1D, AveragePool2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                BatchNormalization, Flatten, Reshape, Residual, SimpleRNN, LSTM, GRU, Embedding)
}
