"""Learning-rate schedules: bad settings are ConfigErrors naming the setting, never a plain TypeError.

Their values against closed forms and torch's schedulers are checked in tests/test_optimizers.py.
"""

import json
import re

import numpy as np
import pytest

import glassnet as gn
from glassnet.optimizers import SGD, get_optimizer
from glassnet.schedules import ExponentialDecay, InverseTimeDecay, StepDecay, get_schedule


def test_step_size_must_be_a_positive_integer():
    # t // 0.1 would give a fresh decay every tenth of an update: StepLR counts whole updates
    with pytest.raises(gn.ConfigError) as err:
        StepDecay(0.01, step_size=0.1)
    assert str(err.value) == ("Received an invalid value for `step_size`, expected a positive integer. "
                              "Received: step_size=0.1")


BAD = [
    # (schedule, setting, bad value, expected)
    *[(cls, "initial_learning_rate", v, "a positive number")
      for cls in (StepDecay, ExponentialDecay, InverseTimeDecay) for v in ("0.1", None, True, 0, -0.1, float("nan"))],
    *[(StepDecay, "step_size", v, "a positive integer") for v in (0.1, 2.0, "3", None, True, 0, -1)],
    *[(StepDecay, "gamma", v, "a positive number") for v in ("0.5", None, False, 0)],
    *[(cls, "decay_steps", v, "a positive number")
      for cls in (ExponentialDecay, InverseTimeDecay) for v in ("10", None, True, 0, float("inf"))],
    *[(ExponentialDecay, "decay_rate", v, "a positive number") for v in ("0.9", None, True, 0)],
    *[(InverseTimeDecay, "decay_rate", v, "a non-negative number") for v in ("0.5", None, True, -0.5)],
    *[(cls, "staircase", v, "True or False")
      for cls in (ExponentialDecay, InverseTimeDecay) for v in ("yes", None, 1, 0.0)],
]


@pytest.mark.parametrize("cls,name,value,expected", BAD,
                         ids=[f"{c.__name__}-{n}={v!r}" for c, n, v, _ in BAD])
def test_bad_settings_are_config_errors(cls, name, value, expected):
    kwargs = {"initial_learning_rate": 0.1, name: value}
    with pytest.raises(gn.ConfigError) as err:
        cls(**kwargs)
    assert str(err.value) == (f"Received an invalid value for `{name}`, expected {expected}. "
                              f"Received: {name}={value!r}")


def test_numpy_numbers_are_stored_as_python_numbers():
    # so that the optimizer's config (and the model file's JSON) can hold the schedule
    s = StepDecay(np.float32(0.5), step_size=np.int64(3), gamma=np.float64(0.25))
    e = ExponentialDecay(0.1, decay_steps=np.int32(4), decay_rate=0.5, staircase=np.bool_(True))
    assert type(s.initial_learning_rate) is float and type(s.step_size) is int and type(s.gamma) is float
    assert type(e.decay_steps) is int and e.staircase is True
    json.dumps(SGD(learning_rate=s).get_config())
    assert s(3) == 0.5 * 0.25


def test_fractional_decay_steps_are_allowed():
    # lr0 · rate^(t / steps) needs no whole number of steps (Keras computes it in floats)
    assert ExponentialDecay(1.0, decay_steps=2.5, decay_rate=0.5)(5) == 0.25
    assert InverseTimeDecay(1.0, decay_steps=0.5, decay_rate=1.0)(1) == 1 / 3


@pytest.mark.parametrize("schedule", [StepDecay(0.1, step_size=3, gamma=0.5),
                                      ExponentialDecay(0.1, decay_steps=2, decay_rate=0.8, staircase=True),
                                      InverseTimeDecay(0.1, decay_steps=4, decay_rate=1.0)])
def test_config_round_trips(schedule):
    config = json.loads(json.dumps(schedule.get_config()))
    assert get_schedule(config) == schedule
    optimizer = get_optimizer(json.loads(json.dumps(SGD(learning_rate=schedule).get_config())))
    assert optimizer.learning_rate == schedule


@pytest.mark.parametrize("config,message", [
    ({"class": "StepDecay", "initial_learning_rate": 0.1, "step_size": 0.1},
     "Received an invalid value for `step_size`, expected a positive integer. Received: step_size=0.1"),
    ({"class": "StepDecay", "initial_learning_rate": 0.1, "stepsize": 3},
     "Unknown setting 'stepsize' for schedule StepDecay; its settings are: initial_learning_rate, step_size, gamma"),
    ({"class": "StepDecay", "step_size": 3}, "Schedule StepDecay needs initial_learning_rate"),
    ({"class": "CosineDecay", "initial_learning_rate": 0.1}, "Unknown schedule 'CosineDecay'"),
    ({"class": ["StepDecay"]}, "Unknown schedule ['StepDecay']"),
    ("StepDecay", "Received an invalid value for `schedule`, expected a dict from Schedule.get_config()"),
])
def test_bad_configs_are_config_errors(config, message):
    with pytest.raises(gn.ConfigError, match=re.escape(message)):
        get_schedule(config)
