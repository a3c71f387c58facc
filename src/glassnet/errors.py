"""The errors glassnet raises on bad input.

Every error a user can cause is a :class:`GlassnetError`. Subclasses also derive from the builtin
exception that scikit-learn and NumPy users expect (``ValueError``, ``TypeError``, ``OSError``), so
``except ValueError`` keeps working. Messages say what is wrong, what was expected, what was received
and where (layer index and name, file, row and column).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DivergenceError",
    "ExportError",
    "GlassnetError",
    "GlassnetWarning",
    "ModelFileError",
    "NotBuiltError",
    "ShapeError",
    "invalid_value",
]


class GlassnetError(Exception):
    """Base class of every error glassnet raises on bad input."""


class ConfigError(GlassnetError, ValueError):
    """An invalid hyperparameter or an unknown name (activation, loss, optimizer, ...)."""


class ShapeError(GlassnetError, ValueError):
    """Arrays whose shapes do not fit the model or each other."""


class DataError(GlassnetError, ValueError):
    """Data that cannot be used: NaN/inf, non-numeric cells, ragged rows, unknown labels, empty sets."""


class DivergenceError(GlassnetError, ArithmeticError, ValueError):
    """Training produced a non-finite loss; the model keeps its last finite weights.

    Also a ValueError, as scikit-learn's SGD estimators raise on floating-point overflow.
    """


class ModelFileError(GlassnetError, ValueError):
    """A file that is not a readable glassnet model (wrong format, truncated, corrupted)."""


class NotBuiltError(GlassnetError, RuntimeError, ValueError):
    """A model used before it was built or compiled.

    Also a ValueError, like scikit-learn's NotFittedError and Keras' "model has not yet been built".
    """


class ExportError(GlassnetError, ValueError):
    """A trace or report that cannot be exported as asked (too large, unsupported network)."""


class GlassnetWarning(UserWarning):
    """Something works but looks wrong (saturated units, exploding gradients, ...)."""


def invalid_value(name: str, value: object, expected: str) -> ConfigError:
    """Build the Keras-style message for an invalid hyperparameter.

    >>> str(invalid_value("units", 0, "a positive integer"))
    'Received an invalid value for `units`, expected a positive integer. Received: units=0'
    """
    return ConfigError(
        f"Received an invalid value for `{name}`, expected {expected}. Received: {name}={value!r}"
    )
