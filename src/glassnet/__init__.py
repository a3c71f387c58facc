"""glassnet: a neural-network library in NumPy in which every number can be seen."""

from . import (
    callbacks,
    data,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    schedules,
    trace,
)
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
from .model import load_model as load

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DivergenceError",
    "ExportError",
    "GlassnetError",
    "GlassnetWarning",
    "ModelFileError",
    "NotBuiltError",
    "Sequential",
    "ShapeError",
    "__version__",
    "callbacks",
    "data",
    "gradcheck",
    "initializers",
    "layers",
    "load",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "schedules",
    "trace",
]
