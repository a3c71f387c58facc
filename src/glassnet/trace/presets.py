"""Ready-made (model, X, y) triples to trace: the seed tutorial's network, XOR and a small spiral.

All are float64 and seeded, so a trace of a preset is the same numbers on every machine.
"""

from __future__ import annotations

from ..data import article as article_data
from ..data import one_hot
from ..data import spiral as spiral_data
from ..data import xor as xor_data
from ..errors import ConfigError
from ..layers import Dense
from ..losses import HalfSSE
from ..model import Sequential
from ..optimizers import SGD, Adam

__all__ = ["PRESETS", "preset"]

PRESETS = {
    "article": "the tutorial: 4 → 3 sigmoid → 1 sigmoid, U[0,1) weights, half SSE, gradient descent lr=0.1, "
               "3 samples",
    "xor": "XOR: 2 → 4 tanh → 1 sigmoid, binary cross-entropy, SGD with momentum 0.9, 4 samples",
    "spiral": "spiral arms: 2 → 4 tanh → 3 softmax, categorical cross-entropy, Adam lr=0.05, 3 × 4 samples",
}
DEFAULT_SEEDS = {"article": 2024, "xor": 0, "spiral": 0}


def preset(name: str, seed: int | None = None):
    """``(model, X, y)`` for a preset: compiled, built, float64; ``seed`` draws other starting weights.

    ``"article"`` with the default seed 2024 starts from the weights that tests/test_article.py draws
    for the tutorial's literal loop (``default_rng(2024).uniform`` for wh, bh, wout, bout in turn).
    """
    if name not in PRESETS:
        raise ConfigError(f"Unknown trace preset {name!r}; valid presets are: {', '.join(PRESETS)}")
    seed = DEFAULT_SEEDS[name] if seed is None else seed
    if name == "article":
        X, y = article_data()
        uniform = {"kernel_initializer": "uniform", "bias_initializer": "uniform"}
        layers = [Dense(3, activation="sigmoid", **uniform), Dense(1, activation="sigmoid", **uniform)]
        loss, optimizer = HalfSSE(), SGD(learning_rate=0.1)
    elif name == "xor":
        X, y = xor_data()
        layers = [Dense(4, activation="tanh"), Dense(1, activation="sigmoid")]
        loss, optimizer = "binary_crossentropy", SGD(learning_rate=0.5, momentum=0.9)
    else:
        X, codes = spiral_data(n_per_class=4, n_classes=3, noise=0.2, rng=seed)
        y = one_hot(codes, 3, dtype="float64")
        layers = [Dense(4, activation="tanh"), Dense(3, activation="softmax")]
        loss, optimizer = "categorical_crossentropy", Adam(learning_rate=0.05)
    model = Sequential(layers, seed=seed, dtype="float64", name=name)
    model.compile(loss=loss, optimizer=optimizer)
    model.build(X.shape[1])
    return model, X, y
