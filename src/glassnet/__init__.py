"""glassnet: a neural-network library in NumPy in which every number can be seen."""

from . import callbacks, data, initializers, layers, losses, metrics, models, optimizers, regularizers, schedules
from .errors import (
    ConfigError,
    DataError,
    DivergenceError,
    ExportError,
    GlassnetError,
    GlassnetWarning,
    ModelFileError,
    NotBuiltError,
    ShapeError,
)
from .gradcheck import gradcheck
from .model import Sequential
from .serialize import load_model as load
from . import trace

__version__ = "0.1.0"

__all__ = [
    "Sequential",
    "load",
    "gradcheck",
    "layers",
    "losses",
    "optimizers",
    "initializers",
    "regularizers",
    "schedules",
    "callbacks",
    "metrics",
    "data",
    "models",
    "trace",
    "GlassnetError",
    "ConfigError",
    "ShapeError",
    "DataError",
    "DivergenceError",
    "ModelFileError",
    "NotBuiltError",
    "ExportError",
    "GlassnetWarning",
    "__version__",
]
