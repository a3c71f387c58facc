"""Does the output layer give what the loss takes? A warning at compile for pairings that train silently.

Such a model trains without an error, on clipped or meaningless probabilities: a cross-entropy after a
linear or relu output, a categorical cross-entropy after several sigmoid units or one unit, a binary
cross-entropy after a softmax over one unit. Keras warns about some of these; glassnet names the fix.
"""

from __future__ import annotations

import warnings

from .errors import GlassnetWarning
from .layers.activations import ACTIVATIONS, Activation

__all__ = ["warn_output_mismatch"]

_PROBABILITY_OUTPUTS = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax",
                        "sparse_categorical_crossentropy": "softmax"}


def warn_output_mismatch(model, stacklevel: int = 3) -> None:
    """A GlassnetWarning, naming the fix, when the output layer does not give what the loss takes.

    Called once the model is both compiled and built (by ``compile`` or by ``build``, whichever comes
    last): such a model trains without an error, on clipped or meaningless probabilities.
    """
    loss = model.loss.key
    if loss not in _PROBABILITY_OUTPUTS or not model.layers:
        return
    last = model.layers[-1]
    act = last.activation if hasattr(last, "backward_z") else last  # Dense, Conv1D, Conv2D, or an activation
    if not isinstance(act, Activation) or ACTIVATIONS.get(act.key) is not type(act):
        return  # not an output we know: say nothing
    units, want = model.output_shape[-1], _PROBABILITY_OUTPUTS[loss]
    if act.key not in ("sigmoid", "hard_sigmoid", "softmax"):
        problem = (f"after a {act.key} output: glassnet's cross-entropies take probabilities, not logits (there "
                   "is no from_logits option), so the loss is computed on clipped values")
        fix = f"use activation='{want}' on the last layer"
    elif want == "softmax" and units == 1:
        problem = ("with a single output unit: a softmax over one unit is always 1, and one sigmoid unit is "
                   "not a distribution over classes")
        fix = ("for two classes use one sigmoid unit with loss='binary_crossentropy', or softmax with one "
               "unit per class")
    elif want == "sigmoid" and act.key == "softmax" and units == 1:
        problem = "after a softmax over one unit, which is always 1"
        fix = "use activation='sigmoid' on the last layer"
    elif want == "softmax" and act.key != "softmax":
        problem = f"after a {act.key} output of {units} units: its rows are not distributions over classes"
        fix = ("use activation='softmax' on the last layer (or loss='binary_crossentropy' for independent, "
               "multi-label outputs)")
    else:
        return
    warnings.warn(GlassnetWarning(f"Loss {loss!r} {problem}; {fix}."), stacklevel=stacklevel)
