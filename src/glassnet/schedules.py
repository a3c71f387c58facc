"""Learning-rate schedules: callables from the step count ``t`` (0 at the first update) to a rate."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .checks import check_bool, check_number, check_positive_int, is_int
from .errors import ConfigError, invalid_value

__all__ = ["ExponentialDecay", "InverseTimeDecay", "Schedule", "StepDecay", "get_schedule"]


def _positive(name, v, allow_zero=False) -> float:
    return check_number(name, v, low_open=not allow_zero,
                        expected="a non-negative number" if allow_zero else "a positive number")


def _steps(name, v) -> int | float:
    """A positive number of updates; an integer stays an int. ``t / decay_steps`` needs no whole number
    (Keras documents an integer but computes in floats), unlike StepDecay's ``t // step_size``."""
    value = _positive(name, v)
    return int(v) if is_int(v) else value


@dataclass(frozen=True)
class Schedule:
    initial_learning_rate: float

    def __post_init__(self):
        self._set("initial_learning_rate", _positive("initial_learning_rate", self.initial_learning_rate))

    def _set(self, name, value) -> None:
        """Store a checked setting as a plain Python number (frozen: ``object.__setattr__``), so configs are JSON."""
        object.__setattr__(self, name, value)

    def __call__(self, t: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        """``{"class": name, <settings>}``, as saved in model files."""
        return {"class": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr_t = lr0 · gamma^floor(t / step_size)`` (PyTorch's StepLR, counted in updates)."""

    step_size: int = 1000
    gamma: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        self._set("step_size", check_positive_int("step_size", self.step_size))  # t // step_size counts whole steps
        self._set("gamma", _positive("gamma", self.gamma))

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
        self._set("decay_steps", _steps("decay_steps", self.decay_steps))
        self._set("decay_rate", _positive("decay_rate", self.decay_rate))
        self._set("staircase", check_bool("staircase", self.staircase))

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
        self._set("decay_steps", _steps("decay_steps", self.decay_steps))
        self._set("decay_rate", _positive("decay_rate", self.decay_rate, allow_zero=True))
        self._set("staircase", check_bool("staircase", self.staircase))

    def __call__(self, t):
        p = t / self.decay_steps
        return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p) if self.staircase else p))


SCHEDULES = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, InverseTimeDecay)}


def get_schedule(config: dict) -> Schedule:
    """A schedule from its :meth:`Schedule.get_config` dict; ConfigError names what does not fit."""
    if not isinstance(config, dict):
        raise invalid_value("schedule", config, "a dict from Schedule.get_config()")
    cfg = dict(config)
    name = cfg.pop("class", None)
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ConfigError(f"Unknown schedule {name!r}; valid schedules are: {', '.join(SCHEDULES)}")
    cls = SCHEDULES[name]
    names = [f.name for f in fields(cls)]
    unknown = [k for k in cfg if k not in names]
    if unknown:
        raise ConfigError(f"Unknown setting {unknown[0]!r} for schedule {name}; its settings are: {', '.join(names)}")
    if "initial_learning_rate" not in cfg:
        raise ConfigError(f"Schedule {name} needs initial_learning_rate; received {config!r}")
    return cls(**cfg)
