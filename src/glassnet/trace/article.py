"""The seed tutorial's names and step titles, for a trace of the tutorial's network.

Analytics Vidhya, "Understanding and coding neural networks from scratch in Python and R", explains one
training step of a 4-3-1 sigmoid network in twelve numbered steps (Step 0 ... Step 11). A trace of a
network of that shape (two sigmoid Dense layers, half SSE, plain gradient descent) is laid out in the
same order, under the same titles, with the tutorial's variable names beside ours.

The tutorial's deltas have the opposite sign of ours: it adds ``lr · A1ᵀ·d_output`` to ``wout`` where we
subtract ``lr · dW2``. With half SSE, ``d_output = E ⊙ slope2 = −dZ2``; both are shown.
"""

from __future__ import annotations

from .records import Quantity

__all__ = ["NAMES", "STEPS", "arrange"]

#: our name -> the tutorial's variable
NAMES = {
    "A0": "X", "Y": "y", "W1": "wh", "b1": "bh", "W2": "wout", "b2": "bout",
    "Z1": "hidden_layer_input", "A1": "hiddenlayer_activations", "Z2": "output_layer_input", "A2": "output",
    "E": "E", "slope2": "slope_output_layer", "slope1": "slope_hidden_layer",
    "d_output": "d_output", "Error_at_hidden_layer": "Error_at_hidden_layer", "d_hiddenlayer": "d_hiddenlayer",
    "W1_new": "wh (updated)", "b1_new": "bh (updated)", "W2_new": "wout (updated)", "b2_new": "bout (updated)",
}

#: (title, the quantities under it, in order)
STEPS = [
    ("Step 0: Read input and output", ["A0", "Y"]),
    ("Step 1: Initialize weights and biases with random values", ["W1", "b1", "W2", "b2"]),
    ("Step 2: Calculate hidden layer input", ["Z1"]),
    ("Step 3: Perform non-linear transformation on hidden linear input", ["A1"]),
    ("Step 4: Perform linear and non-linear transformation of hidden layer activation at output layer",
     ["Z2", "A2"]),
    ("Step 5: Calculate gradient of Error (E) at output layer", ["E", "loss", "dA2"]),
    ("Step 6: Compute slope at output and hidden layer", ["slope2", "slope1"]),
    ("Step 7: Compute delta at output layer", ["d_output", "dZ2"]),
    ("Step 8: Calculate Error at hidden layer", ["Error_at_hidden_layer", "dA1"]),
    ("Step 9: Compute delta at hidden layer", ["d_hiddenlayer", "dZ1"]),
    ("Step 10: Update weight at both output and hidden layer", ["dW2", "dW1", "W2_new", "W1_new"]),
    ("Step 11: Update biases at both output and hidden layer", ["db2", "db1", "b2_new", "b1_new"]),
]


def arrange(quantities: list[Quantity], step: int) -> list[Quantity]:
    """The tutorial's order, titles and names; adds its sign-flipped deltas (exact negations of ours)."""
    by = {q.name: q for q in quantities}
    extra = [
        Quantity("d_output", "E ⊙ slope2  (= −dZ2)", -by["dZ2"].value,
                 "the tutorial's delta at the output layer: error times slope; the opposite sign of dZ2",
                 ("E", "slope2"), op="mul", layer=2),
        Quantity("Error_at_hidden_layer", "d_output·W2ᵀ  (= −dA1)", -by["dA1"].value,
                 "the tutorial's error at the hidden layer: output delta times the output weights transposed",
                 ("d_output", "W2"), op="matmul_bt", layer=1),
        Quantity("d_hiddenlayer", "Error_at_hidden_layer ⊙ slope1  (= −dZ1)", -by["dZ1"].value,
                 "the tutorial's delta at the hidden layer: its error times its slope",
                 ("Error_at_hidden_layer", "slope1"), op="mul", layer=1),
    ]
    by.update({q.name: q for q in extra})
    ordered = []
    for title, names in STEPS:
        if step > 1 and title.startswith("Step 1:"):
            title = "Step 1: Weights and biases (from the previous step's update)"
        for name in names:
            q = by.pop(name)
            q.section, q.article = title, NAMES.get(name)
            ordered.append(q)
    assert not by, f"quantities without a tutorial step: {sorted(by)}"
    return ordered
