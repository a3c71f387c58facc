"""Layers: Dense, activations, Dropout, convolutions, pooling, normalization, reshaping, residual blocks,
recurrent layers (SimpleRNN, LSTM, GRU), Embedding, Masking and the wrappers Bidirectional and TimeDistributed.

Each follows the contract in ``base.py``.
"""

from .activations import (
    ELU,
    GELU,
    SELU,
    Activation,
    HardSigmoid,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
)
from .base import Layer
from .conv import Conv1D, Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .input import Input
from .masking import Masking
from .normalization import BatchNormalization
from .pooling import (
    AveragePool1D,
    AveragePool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    MaxPool1D,
    MaxPool2D,
)
from .preprocessing import Normalization
from .recurrent import GRU, LSTM, SimpleRNN
from .reshape import Flatten, Reshape
from .residual import Residual
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "ELU",
    "GELU",
    "GRU",
    "LAYERS",
    "LSTM",
    "SELU",
    "Activation",
    "AveragePool1D",
    "AveragePool2D",
    "BatchNormalization",
    "Bidirectional",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "HardSigmoid",
    "Input",
    "Layer",
    "LeakyReLU",
    "Linear",
    "Masking",
    "MaxPool1D",
    "MaxPool2D",
    "Normalization",
    "ReLU",
    "Reshape",
    "Residual",
    "SiLU",
    "Sigmoid",
    "SimpleRNN",
    "Softmax",
    "Softplus",
    "Tanh",
    "TimeDistributed",
    "get_activation",
]

LAYERS = {
    cls.__name__: cls
    for cls in (Dense, Dropout, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softmax, Linear, Conv1D, Conv2D, MaxPool1D,
                MaxPool2D, AveragePool1D, AveragePool2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                BatchNormalization, Flatten, Reshape, Residual, SimpleRNN, LSTM, GRU, Embedding,
                Normalization, Masking, Bidirectional, TimeDistributed)
}
