"""Layer kinds the tracer lays out: one module per family, each registering a :class:`LayerTracer`.

A kind records, for its layer, the forward quantities (reading the arrays the engine cached during the
step) and the backward ones (the gradient arriving at its output is already recorded as ``dA{k}``; it
records its parameters' gradients and, unless it is the first layer, ``dA{k-1}``). It registers the workbook
formulas of the ops it uses in the same module (:func:`glassnet.trace.formulas.formula`). It never
recomputes what the engine computed: values come from ``ctx.rec`` (what the tap captured) and the layer's
own caches.

To add a kind: subclass :class:`LayerTracer`, decorate it with ``@register(LayerClass, ...)`` (from :mod:`.base`) and import
its module below.
"""

from __future__ import annotations

# each kind module registers its tracers and formulas: Dense and activations; convolutions, pooling and
# reshaping; embeddings; batch norm, dropout and Normalization; SimpleRNN, LSTM and GRU through time;
# Bidirectional, TimeDistributed and Masking; blocks
from . import conv, dense, embedding, norm, recurrent, residual, wrappers  # noqa: F401
from .base import TRACERS, LayerTracer, check_layer, register, supported, tracer_for

__all__ = ["TRACERS", "LayerTracer", "check_layer", "register", "supported", "tracer_for"]
