"""Ready-made (model, X, y) triples to trace: the seed tutorial's network, XOR and a small spiral.

All are float64 and seeded, so a trace of a preset is the same numbers on every machine.
"""

from __future__ import annotations

import numpy as np

from ..data import article as article_data
from ..data import one_hot
from ..data import spiral as spiral_data
from ..data import xor as xor_data
from ..errors import ConfigError
from ..layers import (
    BatchNormalization,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    MaxPool2D,
    ReLU,
)
from ..losses import HalfSSE
from ..model import Sequential
from ..optimizers import SGD, Adam, RMSProp
from ..regularizers import L2

__all__ = ["PRESETS", "preset"]

PRESETS = {
    "article": "the tutorial: 4 → 3 sigmoid → 1 sigmoid, U[0,1) weights, half SSE, gradient descent lr=0.1, "
               "3 samples",
    "xor": "XOR: 2 → 4 tanh → 1 sigmoid, binary cross-entropy, SGD with momentum 0.9, 4 samples",
    "spiral": "spiral arms: 2 → 4 tanh → 3 softmax, categorical cross-entropy, Adam lr=0.05, 3 × 4 samples",
    "rmsprop-spiral": "spiral arms: 2 → 6 elu (L2 1e-3) → 3 softmax, categorical cross-entropy, RMSProp lr=0.02 with "
                      "clipnorm=1, 3 × 4 samples",
    "cnn-tiny": "a tiny CNN: 6×6 images → Conv2D 2 filters 3×3 relu → MaxPool2D 2×2 → Flatten → 3 softmax, "
                "categorical cross-entropy, Adam lr=0.01, 6 synthetic images (vertical, horizontal, diagonal strokes)",
    "fcn-tiny": "a tiny FCN (Wang et al.): series of 8 steps → Conv1D 4 filters k3 same, no bias (BatchNormalization's "
                "beta takes its place) → BatchNormalization → ReLU → GlobalAveragePooling1D → 2 softmax, categorical "
                "cross-entropy, Adam lr=0.01, 6 synthetic series",
    "lstm-tiny": "a character model: windows of 4 characters of 'hello hello' → Embedding 5×3 → LSTM 4 → 5 softmax "
                 "(the next character), categorical cross-entropy, Adam lr=0.05, 6 sequences",
    "gru-tiny": "series of 5 steps → GRU 3 → 2 softmax (rising or falling), categorical cross-entropy, Adam lr=0.05, "
                "6 synthetic series",
}
DEFAULT_SEEDS = {"article": 2024, "xor": 0, "spiral": 0, "rmsprop-spiral": 0, "cnn-tiny": 0, "fcn-tiny": 0, "lstm-tiny": 0, "gru-tiny": 0}


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
    elif name == "rmsprop-spiral":
        X, codes = spiral_data(n_per_class=4, n_classes=3, noise=0.2, rng=seed)
        y = one_hot(codes, 3, dtype="float64")
        layers = [Dense(6, activation="elu", kernel_regularizer=L2(1e-3)), Dense(3, activation="softmax")]
        loss, optimizer = "categorical_crossentropy", RMSProp(learning_rate=0.02, clipnorm=1.0)
    elif name in ("cnn-tiny", "fcn-tiny"):
        X, y, layers, loss, optimizer = _conv_preset(name, seed)
    elif name in ("lstm-tiny", "gru-tiny"):
        X, y, layers, loss, optimizer = _recurrent_preset(name, seed)
    else:
        X, codes = spiral_data(n_per_class=4, n_classes=3, noise=0.2, rng=seed)
        y = one_hot(codes, 3, dtype="float64")
        layers = [Dense(4, activation="tanh"), Dense(3, activation="softmax")]
        loss, optimizer = "categorical_crossentropy", Adam(learning_rate=0.05)
    model = Sequential(layers, seed=seed, dtype="float64", name=name)
    model.compile(loss=loss, optimizer=optimizer)
    model.build(X.shape[1:])
    return model, X, y


def _conv_preset(name: str, seed: int):
    """(X, y, layers, loss, optimizer) of cnn-tiny and fcn-tiny: a few tiny synthetic samples, two per class."""
    rng = np.random.default_rng(seed)
    codes = np.array([0, 1, 2, 0, 1, 2] if name == "cnn-tiny" else [0, 1, 0, 1, 0, 1])
    if name == "cnn-tiny":  # a stroke on a faint noisy background: vertical, horizontal or diagonal
        X = 0.1 * rng.standard_normal((6, 6, 6, 1))
        for x, c in zip(X, codes):
            at = int(rng.integers(1, 5))
            if c == 0:
                x[:, at, 0] += 1.0
            elif c == 1:
                x[at, :, 0] += 1.0
            else:
                x[np.arange(6), np.arange(6), 0] += 1.0
        layers = [Conv2D(2, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(3, activation="softmax")]
    else:  # 8 steps of a rising ramp (class 0) or a bump in the middle (class 1), with noise
        t = np.linspace(-1.0, 1.0, 8)
        shapes = np.stack([t, 1.0 - 2.0 * t ** 2])
        X = (shapes[codes] + 0.2 * rng.standard_normal((6, 8)))[..., None]
        # no bias: the batch's mean takes it straight out again, so its gradient is 0 up to rounding (a number
        # no workbook can match to 1e-9, and Adam would turn it into steps of ±lr·1e-9)
        layers = [Conv1D(4, 3, padding="same", use_bias=False), BatchNormalization(), ReLU(), GlobalAveragePooling1D(),
                  Dense(2, activation="softmax")]
    y = one_hot(codes, int(codes.max()) + 1, dtype="float64")
    return X, y, layers, "categorical_crossentropy", Adam(learning_rate=0.01)


def _recurrent_preset(name: str, seed: int):
    """(X, y, layers, loss, optimizer) of lstm-tiny (next character of 'hello hello') and gru-tiny (6 series)."""
    from ..layers import GRU, LSTM, Embedding

    if name == "lstm-tiny":
        text = "hello hello"
        vocab = sorted(set(text))  # ' ', 'e', 'h', 'l', 'o'
        ids = np.array([vocab.index(ch) for ch in text])
        X = np.stack([ids[i:i + 4] for i in range(len(ids) - 4)])[:6]  # (6, 4) character ids
        codes = ids[4:10]  # the character after each window
        layers = [Embedding(len(vocab), 3), LSTM(4), Dense(len(vocab), activation="softmax")]
        y = one_hot(codes, len(vocab), dtype="float64")
    else:  # 5 steps of a rising (class 0) or falling (class 1) ramp, with noise
        rng = np.random.default_rng(seed)
        codes = np.array([0, 1, 0, 1, 0, 1])
        ramp = np.linspace(-1.0, 1.0, 5)
        X = (np.where(codes[:, None] == 0, ramp, -ramp) + 0.3 * rng.standard_normal((6, 5)))[..., None]
        layers = [GRU(3), Dense(2, activation="softmax")]
        y = one_hot(codes, 2, dtype="float64")
    return X, y, layers, "categorical_crossentropy", Adam(learning_rate=0.05)
