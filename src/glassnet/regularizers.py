"""Weight penalties added to the loss: L1 ``l1 * sum|w|`` and L2 ``l2 * sum(w**2)`` (Keras' scale)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_number
from .errors import ConfigError

__all__ = ["L1", "L1L2", "L2", "Regularizer", "get_regularizer"]


@dataclass(frozen=True)
class Regularizer:
    """``penalty(w) = l1 * sum(|w|) + l2 * sum(w**2)``; ``grad(w) = l1 * sign(w) + 2 * l2 * w``."""

    l1: float = 0.0
    l2: float = 0.0

    def __post_init__(self):
        for name in ("l1", "l2"):
            check_number(name, getattr(self, name), expected="a non-negative number")

    def __call__(self, w: np.ndarray) -> float:
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(w).sum())
        if self.l2:
            total += self.l2 * float((w * w).sum())
        return total

    def grad(self, w: np.ndarray) -> np.ndarray:
        """d penalty / dw, shape of ``w``: ``l1 * sign(w) + 2 * l2 * w``."""
        g = np.zeros_like(w)
        if self.l1:
            g += w.dtype.type(self.l1) * np.sign(w)
        if self.l2:
            g += w.dtype.type(2 * self.l2) * w
        return g

    def get_config(self) -> dict:
        """``{"l1": ..., "l2": ...}``, as saved in model files; ``Regularizer(**config)`` rebuilds it."""
        return {"l1": self.l1, "l2": self.l2}


def L1(l1: float = 0.01) -> Regularizer:
    """An L1 penalty ``l1 * sum(|w|)`` (Keras' ``L1``, default 0.01); ConfigError for a negative ``l1``."""
    return Regularizer(l1=l1)


def L2(l2: float = 0.01) -> Regularizer:
    """An L2 penalty ``l2 * sum(w**2)`` (Keras' ``L2``, default 0.01; no ½); ConfigError for a negative ``l2``."""
    return Regularizer(l2=l2)


def L1L2(l1: float = 0.0, l2: float = 0.0) -> Regularizer:
    """Both penalties, ``l1 * sum(|w|) + l2 * sum(w**2)`` (Keras' ``L1L2``, defaults 0)."""
    return Regularizer(l1=l1, l2=l2)


def get_regularizer(reg) -> Regularizer | None:
    """None, a Regularizer, a config dict, or the names ``"l1"``/``"l2"`` (strength 0.01)."""
    if reg is None or isinstance(reg, Regularizer):
        return reg
    if isinstance(reg, dict):
        return Regularizer(**reg)
    if isinstance(reg, str) and reg.lower() in ("l1", "l2"):
        return L1() if reg.lower() == "l1" else L2()
    raise ConfigError(f"Unknown regularizer {reg!r}; use gn.regularizers.L1(x), L2(x), L1L2(a, b), 'l1' or 'l2'")
