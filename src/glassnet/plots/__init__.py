"""Pictures of networks and their training, written to image files (PNG, SVG or PDF by the extension).

- curves: :func:`plot_loss` (loss and metrics, training and validation), :func:`compare_optimizers` and
  :func:`plot_comparison` (one network, the same initial weights, several optimizers on one chart);
- classifiers: :func:`plot_decision_boundary` (2-D inputs), :func:`plot_confusion_matrix`;
- the network: :func:`plot_network` (neurons and weights, or a traced step's gradients),
  :class:`HistogramRecorder` and :func:`plot_histograms` (weights, activations and gradients per layer
  over training), :func:`plot_feature_maps` and :func:`plot_filters` (convolutions).

matplotlib is an optional dependency (``pip install glassnet[plot]``). It is imported on the first call,
with the non-interactive Agg backend, so importing this module costs nothing and needs no display.
Every plot function returns the matplotlib Figure it saved, already closed: its axes, lines and
collections can be read (the tests do), or it can be saved again with ``fig.savefig``.
"""

from ._common import FORMATS
from .classification import confusion_matrix, plot_confusion_matrix, plot_decision_boundary
from .conv import plot_feature_maps, plot_filters
from .curves import compare_optimizers, plot_comparison, plot_loss
from .histograms import KINDS, HistogramRecorder, plot_histograms
from .network import NEGATIVE, POSITIVE, plot_network

__all__ = [
    "FORMATS",
    "KINDS",
    "NEGATIVE",
    "POSITIVE",
    "HistogramRecorder",
    "compare_optimizers",
    "confusion_matrix",
    "plot_comparison",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_feature_maps",
    "plot_filters",
    "plot_histograms",
    "plot_loss",
    "plot_network",
]
