"""The divergence guard: a run whose numbers stop being finite gets its last good state back.

The model keeps two copies (made by :func:`glassnet.state.lay_out`): ``model._backup``, the parameters as
they were before the last update (the optimizer writes it, fused kernels included), and
``model._buffers``, each registered buffer with its value before the last forward pass. A step whose loss
is not finite, or whose forward pass left a buffer non-finite (a batch can overflow BatchNorm's moving
variance while the normalized output, and so the loss, stays finite), puts both back and raises
:class:`~glassnet.errors.DivergenceError`: the parameters are those of the last step whose loss was finite,
the buffers as that step's forward pass left them.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import DivergenceError

__all__ = ["before_forward", "check_epoch", "check_step", "diverged", "snapshot"]


def snapshot(model) -> None:
    """Make the current parameters and buffers the last good state (``set_weights``, ``load_state_dict``)."""
    model._backup[...] = model.flat_params
    for buffer, copy in model._buffers:
        copy[...] = buffer


def before_forward(model) -> None:
    """Keep the buffers as they are before a training forward pass moves them."""
    for buffer, copy in model._buffers:
        copy[...] = buffer


def _buffers_finite(model) -> bool:
    xp = model.xp
    return all(bool(xp.isfinite(a).all()) for a, _ in model._buffers)


def check_step(model, loss: float) -> None:
    """After a training forward pass: DivergenceError if the loss or a buffer is not finite."""
    if not math.isfinite(loss) or (model._buffers and not _buffers_finite(model)):
        diverged(model, loss)


def check_epoch(model) -> None:
    """At an epoch's end: DivergenceError if a parameter or a buffer is not finite (the last update may
    have overflowed without a step left to see it in the loss)."""
    if not bool(model.xp.isfinite(model.flat_params).all()) or not _buffers_finite(model):
        diverged(model, float("nan"))


def diverged(model, loss: float) -> None:
    """Put back the last good parameters and buffers, then raise DivergenceError naming where it began."""
    where = _first_non_finite(model)
    model.flat_params[...] = model._backup
    for buffer, copy in model._buffers:
        buffer[...] = copy
    note = ""
    opt = model.optimizer
    if any(not bool(model.xp.isfinite(v).all()) for v in opt.state.values()):
        opt.reset()  # its moments hold the overflow; keeping them would poison the next fit at once
        note = f" The optimizer's state was not finite and has been reset ({type(opt).__name__} at step 0)."
    raise DivergenceError(
        f"Training diverged: the loss became {loss} at step {opt.iterations + 1}"
        f"{where}. The model keeps its last weights with a finite loss, buffers included.{note} "
        "Try a lower learning rate or gradient clipping (clipnorm=, clipvalue=)."
    )


def _first_non_finite(model) -> str:
    for i, layer in enumerate(model.layers):
        for kind, arrays in (("parameter", layer.params), ("buffer", layer.state)):
            for k, p in arrays.items():
                if not np.isfinite(p).all():
                    return f"; non-finite values first appeared in {kind} {k} of layer {i} ({layer.display_name})"
    for i, layer in enumerate(model.layers):
        a = getattr(layer, "a", None)
        if a is not None and not np.isfinite(a).all():
            return f"; non-finite values first appeared in the output of layer {i} ({layer.display_name})"
    return ""
