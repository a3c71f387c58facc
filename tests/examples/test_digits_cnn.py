"""examples/digits_cnn.py: the small CNN reaches ≥ 98% test accuracy on scikit-learn's 8×8 digits."""

import importlib.util
from pathlib import Path

import sklearn  # noqa: F401  (in the dev extra: the example loads its digits; missing, this fails)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_cnn.py"


def test_digits_cnn_reaches_98_percent():
    spec = importlib.util.spec_from_file_location("digits_cnn", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    accuracy = example.main(epochs=100, seed=0, verbose=0)
    assert accuracy >= 0.98, f"test accuracy {accuracy:.4f} < 0.98"
