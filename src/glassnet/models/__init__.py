"""Ready-made architectures: ``tsc`` holds Wang et al.'s time-series baselines (mlp, fcn, resnet) and an LSTM;
``forecast`` the one-step window forecaster (an LSTM over the previous values)."""

from . import forecast, tsc

__all__ = ["forecast", "tsc"]
