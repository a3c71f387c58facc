"""``glassnet gradcheck``: finite-difference checks of every layer, every loss and a small model per loss.

The layers: Dense with each activation, each activation layer, Dropout, Conv1D, Conv2D, the pooling
layers, BatchNormalization (training mode), SimpleRNN, LSTM, GRU (from a given initial state too),
Embedding, Bidirectional, TimeDistributed, and a Masking → LSTM model on padded sequences; Residual blocks
and Flatten/Reshape are compositions of these and are checked in the test suite.

Each check compares the analytic gradient with central differences in float64 (``glassnet.gradcheck``);
a row passes when its max relative error is below 1e-6. Inputs are seeded, so the table is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..gradcheck import gradcheck
from ..layers import (
    GRU,
    LSTM,
    AveragePool1D,
    AveragePool2D,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    Masking,
    MaxPool1D,
    MaxPool2D,
    SimpleRNN,
    TimeDistributed,
)
from ..layers.activations import ACTIVATIONS
from ..losses import LOSSES
from ..model import Sequential
from . import _common as c

__all__ = ["TOLERANCE", "add_parser", "check_all", "run", "subjects"]

TOLERANCE = 1e-6
N, F, K = 5, 4, 3  # samples, input features, outputs

#: the output activation each loss is used with in a model
_OUTPUT = {
    "half_sse": "sigmoid",
    "mse": "linear",
    "mae": "linear",
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "gradcheck",
        help="check every layer's and loss's gradients against finite differences",
        description="Compare analytic gradients with central finite differences (float64) for Dense with "
        "each activation, each activation layer, Dropout, Conv1D, Conv2D, pooling, BatchNormalization, "
        "SimpleRNN, LSTM, GRU, Embedding, Bidirectional, TimeDistributed, masked sequences, every loss and a "
        "small model per loss. Exit status 1 if any max "
        f"relative error reaches {TOLERANCE:g}.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _loss_data(key: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and targets a loss accepts: probabilities for cross-entropies, any numbers otherwise."""
    if key == "binary_crossentropy":
        return rng.uniform(0.1, 0.9, (N, K)), rng.integers(0, 2, (N, K)).astype(np.float64)
    if key in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        codes = rng.integers(0, K, N)
        y = codes if key.startswith("sparse") else np.eye(K)[codes]
        return _softmax(rng.standard_normal((N, K))), y
    return rng.standard_normal((N, K)), rng.standard_normal((N, K))


def subjects(seed: int = 0) -> Iterator[tuple[str, object, np.ndarray, np.ndarray | None]]:
    """(label, layer / loss / model, X, y) for every check, in table order."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, F))  # (N, F)
    for key in ACTIVATIONS:
        yield f"Dense({K}, {key!r})", Dense(K, activation=key), X, None
    for key, cls in ACTIVATIONS.items():
        yield cls.__name__, cls(), X, None
    yield "Dropout(0.5)", Dropout(0.5), X, None
    seq = rng.standard_normal((3, 6, 2))  # (N, T, C)
    img = rng.standard_normal((2, 5, 5, 2))  # (N, H, W, C)
    for label, layer, x in (
        ("Conv1D(3, 3, 'same')", Conv1D(3, 3, padding="same"), seq),
        ("Conv1D(3, 2, causal, dilation 2)", Conv1D(3, 2, padding="causal", dilation_rate=2), seq),
        ("Conv2D(3, 3, stride 2, 'same')", Conv2D(3, 3, strides=2, padding="same"), img),
        ("MaxPool1D(2)", MaxPool1D(2), seq),
        ("AveragePool1D(2)", AveragePool1D(2), seq),
        ("GlobalAveragePooling1D", GlobalAveragePooling1D(), seq),
        ("MaxPool2D(2)", MaxPool2D(2), img),
        ("AveragePool2D(2)", AveragePool2D(2), img),
        ("GlobalAveragePooling2D", GlobalAveragePooling2D(), img),
        ("BatchNormalization", BatchNormalization(), X),
        ("SimpleRNN(3, sequences)", SimpleRNN(3, return_sequences=True), seq),
        ("LSTM(3)", LSTM(3), seq),
        ("GRU(3)", GRU(3), seq),
        ("Embedding(7, 3)", Embedding(7, 3), rng.integers(0, 7, (N, 6))),
        ("Bidirectional(LSTM(3, sequences))", Bidirectional(LSTM(3, return_sequences=True)), seq),
        ("Bidirectional(GRU(3), sum)", Bidirectional(GRU(3), merge_mode="sum"), seq),
        ("TimeDistributed(Dense(3))", TimeDistributed(Dense(3)), seq),
    ):
        yield label, layer, x, None
    lstm = LSTM(3)
    lstm.initial_state = [rng.standard_normal((3, 3)), rng.standard_normal((3, 3))]
    yield "LSTM(3) from an initial state", lstm, seq, None
    padded = seq.copy()
    padded[0, 4:] = 0  # sample 0 is 4 steps long, sample 1 starts after 2 padded steps
    padded[1, :2] = 0
    masked = Sequential([Masking(), LSTM(3, return_sequences=True)], seed=seed, dtype="float64")
    masked.compile(loss="mse", optimizer="sgd")
    masked.build((6, 2))
    yield "model Masking → LSTM(3, sequences), mse", masked, padded, rng.standard_normal((3, 6, 3))
    for key, cls in LOSSES.items():
        y_pred, y_true = _loss_data(key, rng)
        yield f"loss {key}", cls(), y_pred, y_true
    for key in LOSSES:
        model = Sequential(
            [Dense(5, activation="tanh"), Dense(K, activation=_OUTPUT[key])], seed=seed, dtype="float64"
        )
        model.compile(loss=key, optimizer="sgd")
        model.build(F)
        _, y_true = _loss_data(key, rng)
        if key in ("binary_crossentropy", "half_sse"):  # targets in [0, 1] for a sigmoid output
            y_true = rng.integers(0, 2, (N, K)).astype(np.float64)
        yield f"model {F}→5 tanh→{K} {_OUTPUT[key]}, {key}", model, X, y_true


def check_all(seed: int = 0) -> list[dict]:
    """One row per checked array: subject, array, elements, max_rel_error, passed."""
    rows = []
    for label, subject, X, y in subjects(seed):
        report = gradcheck(subject, X, y, seed=seed)
        for array, err in report.errors.items():
            rows.append(
                {
                    "subject": label,
                    "array": array,
                    "elements": report.checked[array],
                    "max_rel_error": err,
                    "passed": err < TOLERANCE,
                }
            )
    return rows


def run(args) -> int:
    rows = check_all()
    ok = all(r["passed"] for r in rows)
    if args.json:
        c.print_json({"tolerance": TOLERANCE, "passed": ok, "checks": rows})
        return 0 if ok else 1
    width = max(len(r["subject"]) for r in rows)
    print(f"{'subject':<{width}}  {'array':<10}  {'max rel error':>13}  result")
    print("-" * (width + 35))
    for r in rows:
        verdict = "pass" if r["passed"] else "FAIL"
        print(f"{r['subject']:<{width}}  {r['array']:<10}  {r['max_rel_error']:>13.3e}  {verdict}")
    failed = sum(not r["passed"] for r in rows)
    print(
        f"\n{len(rows) - failed} of {len(rows)} passed (max relative error < {TOLERANCE:g}, float64 central "
        "differences)" + (f"; {failed} FAILED" if failed else "")
    )
    return 0 if ok else 1
