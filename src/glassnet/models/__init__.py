"""Ready-made architectures: ``tsc`` holds Wang et al.'s time-series baselines (mlp, fcn, resnet)."""

from . import tsc

__all__ = ["tsc"]
