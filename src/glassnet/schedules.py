"""Learning-rate schedules: callables from the step count ``t`` (0 at the first update) to a rate."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .data.validate import check_number
from .errors import ConfigError

__all__ = ["ExponentialDecay", "InverseTimeDecay", "Schedule", "StepDecay", "get_schedule"]


def _positive(name, v, allow_zero=False):
    check_number(name, v, low_open=not allow_zero,
                 expected="a non-negative number" if allow_zero else "a positive number")


@dataclass(frozen=True)
class Schedule:
    initial_learning_rate: float

    def __post_init__(self):
        _positive("initial_learning_rate", self.initial_learning_rate)

    def __call__(self, t: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"class": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr_t = lr0 · gamma^floor(t / step_size)`` (PyTorch's StepLR, counted in updates)."""

    step_size: int = 1000
    gamma: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        _positive("step_size", self.step_size)
        _positive("gamma", self.gamma)

    def __call__(self, t):
        return self.initial_learning_rate * self.gamma ** (t // self.step_size)


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr_t = lr0 · decay_rate^(t / decay_steps)``; with ``staircase`` the exponent is floored (Keras)."""

    decay_steps: int = 1000
    decay_rate: float = 0.96
    staircase: bool = False

    def __post_init__(self):
        super().__post_init__()
        _positive("decay_steps", self.decay_steps)
        _positive("decay_rate", self.decay_rate)

    def __call__(self, t):
        p = t / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


@dataclass(frozen=True)
class InverseTimeDecay(Schedule):
    """``lr_t = lr0 / (1 + decay_rate · t / decay_steps)`` (Keras; nnfs' ``decay`` with decay_steps=1)."""

    decay_steps: int = 1
    decay_rate: float = 0.0
    staircase: bool = False

    def __post_init__(self):
        super().__post_init__()
        _positive("decay_steps", self.decay_steps)
        _positive("decay_rate", self.decay_rate, allow_zero=True)

    def __call__(self, t):
        p = t / self.decay_steps
        return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p) if self.staircase else p))


SCHEDULES = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, InverseTimeDecay)}


def get_schedule(config: dict) -> Schedule:
    cfg = dict(config)
    name = cfg.pop("class", None)
    if name not in SCHEDULES:
        raise ConfigError(f"Unknown schedule {name!r}; valid schedules are: {', '.join(SCHEDULES)}")
    return SCHEDULES[name](**cfg)
