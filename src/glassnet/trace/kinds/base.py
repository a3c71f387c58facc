"""The registry of layer kinds and the :class:`LayerTracer` each kind subclasses (see the package docstring)."""

from __future__ import annotations

from ...errors import ExportError

__all__ = ["TRACERS", "LayerTracer", "check_layer", "register", "supported", "tracer_for"]

#: layer class -> its tracer (subclasses find their nearest registered base)
TRACERS: dict[type, LayerTracer] = {}


class LayerTracer:
    """How one kind of layer is laid out; every method has a default a kind may keep."""

    #: what the tracer covers of this kind, for the refusal message of other kinds
    covers = ""

    def check(self, layer, k: int) -> None:
        """Raise ExportError if this particular layer has a setting the tracer cannot lay out."""

    def describe(self, layer, k: int) -> dict:
        """Extra facts for ``trace.network["layers"]`` (units, kernel size, activation...)."""
        return {}

    def summary(self, layer) -> str:
        """A few words for the network's summary line: ``3 sigmoid``, ``Conv1D 4 k3``."""
        return type(layer).__name__

    def param_name(self, layer, key: str, k: int) -> str:
        """The trace's name of parameter or buffer ``key`` of layer number ``k``: ``W3``, ``moving_mean2``."""
        return f"{key}{k}"

    def sublayers(self, layer) -> list:
        """Layers inside this one whose forward and backward the tap must also capture (Residual's)."""
        return []

    def after_forward(self, layer, rec: dict) -> None:
        """Called right after the layer's forward in the step: copy into ``rec`` the caches a later call may overwrite."""

    def after_backward(self, layer, rec: dict) -> None:
        """Called right after the layer's backward in the step."""

    def forward(self, b, ctx) -> None:
        """Record the forward quantities, ending with ``ctx.out`` (the layer's output)."""
        raise NotImplementedError

    def backward(self, b, ctx) -> None:
        """Record the backward quantities from ``ctx.d_out``: gradients of the parameters, then ``ctx.d_inp``."""
        raise NotImplementedError

    def update_buffers(self, b, ctx) -> None:
        """Record the buffers' new values (``moving_mean2_new``...), after the forward; most kinds have none."""


def register(*classes: type):
    """Class decorator: the decorated LayerTracer lays out layers of ``classes``."""
    def wrap(cls):
        tracer = cls()
        for c in classes:
            TRACERS[c] = tracer
        return cls
    return wrap


def tracer_for(layer) -> LayerTracer | None:
    """The tracer of ``layer``'s class or its nearest registered base class, or None."""
    for c in type(layer).__mro__:
        if c in TRACERS:
            return TRACERS[c]
    return None


def supported() -> str:
    """The layer classes the tracer lays out, for messages."""
    return ", ".join(sorted({c.__name__ for c in TRACERS}))


def check_layer(layer, k: int) -> LayerTracer:
    """The layer's tracer, or ExportError naming the layer."""
    tracer = tracer_for(layer)
    if tracer is None:
        raise ExportError(f"Cannot trace layer {k} ({layer.display_name}, {type(layer).__name__}): the tracer lays "
                          f"out {supported()}")
    tracer.check(layer, k)
    return tracer
