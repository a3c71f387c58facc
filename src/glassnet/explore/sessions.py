"""Explorer sessions: one model, its data, optimizer and history per browser tab, each behind its own lock.

A session trains with the engine's own ``Sequential.train_step`` on mini-batches of its training rows
(shuffled at each epoch by the session's generator, as ``fit`` does); its losses are ``Sequential.evaluate``
on the training and test rows. Nothing is computed twice: the page draws what these methods return.

:class:`SessionRegistry` holds the sessions of one server and drops those idle for longer than
``idle_timeout`` seconds (default 30 minutes) whenever it is used.
"""

from __future__ import annotations

import copy
import os
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..checks import check_non_negative_int, check_number, check_positive_int, is_int
from ..data import one_hot
from ..errors import ConfigError, ExportError, invalid_value
from ..layers import Dense, Dropout
from ..layers.activations import get_activation
from ..model import Sequential
from ..optimizers import SGD, AdaGrad, Adam, RMSProp
from ..regularizers import L2
from ..trace import check_traceable, record
from .datasets import DATASETS, MAX_CSV_BYTES, make_dataset

__all__ = ["IDLE_TIMEOUT_S", "LIMITS", "OPTIMIZERS", "Config", "Session", "SessionRegistry"]

IDLE_TIMEOUT_S = 30 * 60
#: bounds that keep one request short: samples, hidden layers, units per layer, steps per call, grid side
LIMITS = {"n_samples": 5000, "hidden_layers": 6, "units": 256, "steps": 1000, "grid": 200, "sessions": 32}
OPTIMIZERS = {
    "sgd": lambda lr: SGD(learning_rate=lr),
    "momentum": lambda lr: SGD(learning_rate=lr, momentum=0.9),
    "nesterov": lambda lr: SGD(learning_rate=lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: Adam(learning_rate=lr),
    "rmsprop": lambda lr: RMSProp(learning_rate=lr),
    "adagrad": lambda lr: AdaGrad(learning_rate=lr),
}


def _field(name, check):
    """Run ``check``; a ConfigError gets ``.field = name`` so the API can name the field apart."""
    try:
        return check()
    except ConfigError as e:
        e.field = name
        raise


def _fail(name: str, value, expected: str) -> ConfigError:
    e = invalid_value(name, value, expected)
    e.field = name
    return e


@dataclass(frozen=True)
class Config:
    """A session's settings, validated; ``Config.from_dict`` takes the JSON of ``POST /api/session``.

    ``hidden`` lists the units of the hidden Dense layers (``[]``: logistic regression); the output layer
    is Dense(1, sigmoid) with binary cross-entropy for two classes, Dense(K, softmax) with categorical
    cross-entropy for more. ``batch_size`` None means full batch; ``l2`` puts an L2 penalty on every
    kernel; ``dropout`` a Dropout after every hidden layer. ``csv`` is an uploaded file's text.
    """

    dataset: str = "xor"
    noise: float = 0.1
    n_samples: int = 200
    seed: int = 0
    hidden: tuple = (4,)
    activation: str = "tanh"
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    batch_size: int | None = 10
    l2: float = 0.0
    dropout: float = 0.0
    test_fraction: float = 0.3
    csv: str | None = field(default=None, repr=False)
    filename: str = "upload.csv"

    @classmethod
    def from_dict(cls, data) -> Config:
        """Validate a JSON object; ConfigError (with ``.field``) names the first bad key and echoes its value."""
        if not isinstance(data, dict):
            raise _fail("config", data, "a JSON object")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            e = ConfigError(f"Unknown config key {unknown[0]!r}; valid keys are: "
                            f"{', '.join(cls.__dataclass_fields__)}")
            e.field = unknown[0]
            raise e
        d = {**asdict(cls()), **data}
        if d["dataset"] not in DATASETS:
            raise _fail("dataset", d["dataset"], f"one of {', '.join(DATASETS)}")
        hidden = d["hidden"]
        if not isinstance(hidden, (list, tuple)) or len(hidden) > LIMITS["hidden_layers"] or not all(
                is_int(u) and 1 <= u <= LIMITS["units"] for u in hidden):
            raise _fail("hidden", hidden, f"a list of up to {LIMITS['hidden_layers']} layer sizes, each an "
                        f"integer in [1, {LIMITS['units']}]")
        if not isinstance(d["activation"], str):
            raise _fail("activation", d["activation"], "an activation name")
        _field("activation", lambda: get_activation(d["activation"]))
        if d["optimizer"] not in OPTIMIZERS:
            raise _fail("optimizer", d["optimizer"], f"one of {', '.join(OPTIMIZERS)}")
        if d["batch_size"] is not None:
            _field("batch_size", lambda: check_positive_int("batch_size", d["batch_size"]))
        if d["csv"] is not None and not isinstance(d["csv"], str):
            raise _fail("csv", "...", "the CSV file's text")
        if d["csv"] is not None and len(d["csv"]) > MAX_CSV_BYTES:
            raise _fail("csv", f"<{len(d['csv']):,} characters>", f"a file of at most {MAX_CSV_BYTES:,} bytes")
        return cls(
            dataset=d["dataset"],
            noise=_field("noise", lambda: check_number("noise", d["noise"], high=2.0, high_open=False)),
            n_samples=_field("n_samples", lambda: _int_in("n_samples", d["n_samples"], 4, LIMITS["n_samples"])),
            seed=_field("seed", lambda: check_non_negative_int("seed", d["seed"])),
            hidden=tuple(int(u) for u in hidden), activation=d["activation"].lower(), optimizer=d["optimizer"],
            learning_rate=_field("learning_rate", lambda: check_number("learning_rate", d["learning_rate"],
                                                                       low_open=True, high=10.0, high_open=False)),
            batch_size=None if d["batch_size"] is None else int(d["batch_size"]),
            l2=_field("l2", lambda: check_number("l2", d["l2"], high=1.0, high_open=False)),
            dropout=_field("dropout", lambda: check_number("dropout", d["dropout"], high=0.9, high_open=False)),
            test_fraction=_field("test_fraction", lambda: check_number("test_fraction", d["test_fraction"],
                                                                       high=0.9, high_open=False)),
            csv=d["csv"], filename=str(d["filename"]),
        )

    def public(self) -> dict:
        """The settings as JSON, without an upload's text."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        out.pop("csv")
        return out


def _int_in(name, value, low, high):
    if not is_int(value) or not low <= value <= high:
        raise _fail(name, value, f"an integer in [{low}, {high}]")
    return int(value)


def build_model(config: Config, n_features: int, n_classes: int) -> Sequential:
    """The session's network: float64, seeded with ``config.seed``, compiled, built for ``n_features``."""
    reg = L2(config.l2) if config.l2 > 0 else None
    layers = []
    for units in config.hidden:
        layers.append(Dense(units, activation=config.activation, kernel_regularizer=reg))
        if config.dropout > 0:
            layers.append(Dropout(config.dropout))
    binary = n_classes == 2
    layers.append(Dense(1 if binary else n_classes, activation="sigmoid" if binary else "softmax",
                        kernel_regularizer=reg))
    model = Sequential(layers, seed=config.seed, dtype="float64", name="explorer")
    model.compile(loss="binary_crossentropy" if binary else "categorical_crossentropy",
                  optimizer=OPTIMIZERS[config.optimizer](config.learning_rate), metrics=["accuracy"])
    return model.build(n_features)


def targets(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Targets as the model's loss takes them: (N, 1) 0/1 for two classes, one-hot (N, K) for more."""
    if n_classes == 2:
        return codes.reshape(-1, 1).astype(np.float64)
    return one_hot(codes, n_classes, dtype="float64")


class Session:
    """One tab's model, data (split into train and test rows), batch schedule and loss history."""

    def __init__(self, config: Config, session_id: str | None = None):
        self.id = session_id or secrets.token_hex(8)
        self.config = config
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        X, codes, self.classes = make_dataset(config.dataset, config.n_samples, config.noise, config.seed,
                                              csv=config.csv, filename=config.filename)
        k = len(self.classes)
        n = len(X)
        n_test = 0 if config.dataset == "article" else min(round(n * config.test_fraction), n - 1)
        order = np.random.default_rng([config.seed, 2]).permutation(n)
        test, train = order[:n_test], order[n_test:]
        self.X_train, self.codes_train, self.Y_train = X[train], codes[train], targets(codes[train], k)
        self.X_test, self.codes_test, self.Y_test = X[test], codes[test], targets(codes[test], k)
        self.model = build_model(config, X.shape[1], k)
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = 0.1 * np.maximum(hi - lo, 1e-6)
        self.extent = np.c_[lo - pad, hi + pad]  # (F, 2): the boundary's window, fixed for the session
        self.step_count = 0
        self.epoch = 0
        self._rng = np.random.default_rng([config.seed, 1])  # the batch order; the model's own rng is for dropout
        self._new_epoch()
        self.history = [self.evaluate()]
        self.traced = None  # (step, Trace, model file bytes before that step) of the last traced step

    # -- training ----------------------------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        """Rows per step: ``config.batch_size``, at most the training rows (all of them when None)."""
        n = len(self.X_train)
        return n if self.config.batch_size is None else min(self.config.batch_size, n)

    def _new_epoch(self) -> None:
        n = len(self.X_train)
        self._order = np.arange(n) if self.batch_size == n else self._rng.permutation(n)
        self._pos = 0

    def next_rows(self) -> np.ndarray:
        """Row indices (into the training rows) of the next step's mini-batch."""
        return self._order[self._pos:self._pos + self.batch_size]

    def step(self, steps: int = 1, trace: bool = False) -> dict:
        """Run ``steps`` training steps; with ``trace`` (one step) record it first on a copy and keep it.

        Returns the history entry after the steps plus ``batch_loss``, the last step's loss on its batch.
        """
        steps = check_positive_int("steps", steps)
        if steps > LIMITS["steps"]:
            raise _fail("steps", steps, f"an integer in [1, {LIMITS['steps']}]")
        if trace:
            self.traced = (self.step_count + 1, self.next_trace(), self.model_bytes())
        for _ in range(steps):
            rows = self.next_rows()
            loss, _ = self.model.train_step(self.X_train[rows], self.Y_train[rows])
            self.step_count += 1
            self._pos += len(rows)
            if self._pos >= len(self.X_train):
                self.epoch += 1
                self._new_epoch()
        entry = self.evaluate()
        self.history.append(entry)
        return {**entry, "batch_loss": float(loss)}

    def evaluate(self) -> dict:
        """Loss and accuracy on the training and test rows (``Sequential.evaluate``); test None without rows."""
        train = self.model.evaluate(self.X_train, self.Y_train)
        test = self.model.evaluate(self.X_test, self.Y_test) if len(self.X_test) else {}
        return {"step": self.step_count, "epoch": self.epoch, "train_loss": train["loss"],
                "test_loss": test.get("loss"), "train_accuracy": train["accuracy"],
                "test_accuracy": test.get("accuracy")}

    # -- trace and files ---------------------------------------------------------------------------------
    def trace_reason(self) -> str | None:
        """None when the tracer can lay out this network; else its ExportError message."""
        try:
            check_traceable(self.model)
        except ExportError as e:
            return str(e)
        return None

    def next_trace(self):
        """The next step, recorded by ``gn.trace.record`` on a deep copy: the session does not advance.

        The copy trains full batch on exactly the rows of the session's next mini-batch, so the trace's
        step 1 is the session's next step number for number. ExportError when the network is not traceable.
        """
        check_traceable(self.model)
        rows = self.next_rows()
        return record(copy.deepcopy(self.model), self.X_train[rows], self.Y_train[rows], steps=1)

    def model_bytes(self) -> bytes:
        """The current model file (``Sequential.save``: config, weights and optimizer state)."""
        with tempfile.TemporaryDirectory(prefix="glassnet-explore-") as tmp:
            path = os.path.join(tmp, "model.glassnet")
            self.model.save(path)
            with open(path, "rb") as f:
                return f.read()

    # -- views -------------------------------------------------------------------------------------------
    def boundary(self, n: int = 40) -> dict:
        """The model's predictions on an n×n grid over the data: ``predicted[i][j]`` is at (xs[j], ys[i])."""
        if self.X_train.shape[1] != 2:
            return {"available": False,
                    "reason": f"the data has {self.X_train.shape[1]} features: a boundary is drawn for 2"}
        xs = np.linspace(*self.extent[0], n)
        ys = np.linspace(*self.extent[1], n)[::-1]  # row 0 at the top of the canvas
        gx, gy = np.meshgrid(xs, ys)
        p = self.model.predict(np.c_[gx.ravel(), gy.ravel()])  # (n*n, 1) or (n*n, K)
        if p.shape[1] == 1:
            p = np.c_[1.0 - p, p]
        return {"available": True, "n": n, "xs": xs.tolist(), "ys": ys.tolist(),
                "predicted": p.argmax(axis=1).reshape(n, n).tolist(),
                "probability": p.max(axis=1).reshape(n, n).tolist()}

    def weights(self) -> dict:
        """Every Dense layer's W (n_in, n_out) and b, with the layer sizes from input to output."""
        dense = [layer for layer in self.model.layers if isinstance(layer, Dense)]
        return {"sizes": [self.X_train.shape[1]] + [layer.units for layer in dense],
                "layers": [{"name": f"{i}", "activation": layer.activation.key,
                            "W": layer.params["W"].tolist(), "b": layer.params["b"].tolist()}
                           for i, layer in enumerate(dense, start=1)]}

    def data(self) -> dict:
        """The training and test rows with their class codes, and the class labels."""
        return {"classes": [str(c) for c in self.classes], "extent": self.extent.tolist(),
                "train": {"X": self.X_train.tolist(), "y": self.codes_train.tolist()},
                "test": {"X": self.X_test.tolist(), "y": self.codes_test.tolist()}}

    def info(self) -> dict:
        """The settings, where training stands, and whether the network can be traced (and why not)."""
        return {"id": self.id, "config": self.config.public(), "step": self.step_count, "epoch": self.epoch,
                "n_train": len(self.X_train), "n_test": len(self.X_test), "batch_size": self.batch_size,
                "classes": [str(c) for c in self.classes], "trace_error": self.trace_reason()}


class SessionRegistry:
    """The sessions of one server, by id; a session unused for ``idle_timeout`` seconds is dropped."""

    def __init__(self, idle_timeout: float = IDLE_TIMEOUT_S, max_sessions: int = LIMITS["sessions"],
                 clock=time.monotonic):
        self.idle_timeout = float(idle_timeout)
        self.max_sessions = int(max_sessions)
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def sweep(self) -> list[str]:
        """Drop the sessions idle for longer than ``idle_timeout``; returns their ids."""
        now = self._clock()
        with self._lock:
            gone = [sid for sid, s in self._sessions.items() if now - s.last_used > self.idle_timeout]
            for sid in gone:
                del self._sessions[sid]
        return gone

    def create(self, config: Config) -> Session:
        """A new session; ConfigError, DataError for bad settings or data, RuntimeError when full."""
        self.sweep()
        session = Session(config)  # outside the lock: generating data and building take a moment
        session.last_used = self._clock()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise RuntimeError(f"The explorer holds {self.max_sessions} sessions already; close a tab or "
                                   f"wait until one has been idle for {self.idle_timeout:g} s")
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        """The session, marked as used now; KeyError for an unknown or expired id."""
        self.sweep()
        with self._lock:
            session = self._sessions[session_id]
            session.last_used = self._clock()
        return session

    def delete(self, session_id: str) -> bool:
        """Drop a session; whether it existed."""
        with self._lock:
            return self._sessions.pop(session_id, None) is not None
