"""``glassnet demo``: the seed tutorial's network, end to end.

Analytics Vidhya's "Understanding and coding neural networks from scratch": three samples of four binary
features, 4 inputs → 3 sigmoid units → 1 sigmoid unit, weights and biases drawn uniform in [0, 1),
learning rate 0.1, 5000 epochs of full-batch gradient descent on ½·Σ(y − output)² (the tutorial's update
rule exactly). The error printed is measured after each epoch's update, on all three samples, from
``E = y − output``: ``½·ΣE²`` (the loss) and ``mean|E|``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from ..callbacks import Callback, ProgressBar
from ..checks import check_non_negative_int, check_positive_int
from ..data import article
from ..errors import ConfigError, ExportError
from ..layers import Dense
from ..model import Sequential
from ..optimizers import SGD
from . import _common as c

__all__ = ["ARTICLE_NAMES", "add_parser", "article_model", "run"]

#: design.md's names of the parameters and the tutorial's
ARTICLE_NAMES = {"W1": "wh", "b1": "bh", "W2": "wout", "b2": "bout"}
LR = 0.1
LOG_EVERY = 100
TRACE_STEPS = 3


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the seed tutorial's network end to end: training log, predictions, trace, plots",
        description="Train the seed tutorial's 4-3-1 sigmoid network on its three samples (uniform [0, 1) "
        "initial weights, learning rate 0.1, full-batch gradient descent on ½·Σ(y − output)²). Every "
        f"{LOG_EVERY} epochs it prints the error after that epoch: ½·ΣE² and mean|E| with E = y − output. "
        "The tutorial's own random weights are unknown, so its published predictions "
        "[0.980, 0.968, 0.045] are matched in spirit; --seed 32 happens to land within 0.001 of them.",
    )
    p.add_argument(
        "--out",
        default="demo-out",
        metavar="DIR",
        help="write loss.png, network.png, article-trace.xlsx and article-trace.html here "
        "(default: demo-out)",
    )
    p.add_argument(
        "--sgd",
        action="store_true",
        help="update after every sample, in order (batch size 1) instead of once per epoch",
    )
    p.add_argument("--epochs", type=int, default=5000, metavar="N", help="training epochs (default: 5000)")
    p.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed of the initial weights (default: 0)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (errors by epoch, weights, predictions) and nothing else",
    )
    p.set_defaults(func=run)


def article_model(seed: int) -> Sequential:
    """The tutorial's network, built for 4 inputs and compiled: half_sse loss, plain SGD at lr 0.1, float64."""
    model = Sequential(
        [
            Dense(3, activation="sigmoid", kernel_initializer="uniform", bias_initializer="uniform"),
            Dense(1, activation="sigmoid", kernel_initializer="uniform", bias_initializer="uniform"),
        ],
        seed=seed,
        dtype="float64",
    )
    model.compile(loss="half_sse", optimizer=SGD(learning_rate=LR))
    return model.build(4)


def named_weights(model) -> dict[str, np.ndarray]:
    """``{"W1": ..., "b1": ..., "W2": ..., "b2": ...}`` (copies)."""
    return dict(zip(ARTICLE_NAMES, model.get_weights()))


class ErrorLog(Callback):
    """Measures the error after every epoch; optionally shows it (``show``) and logs it every 100 epochs.

    On a terminal the progress is a tqdm bar on stderr with the log lines above it; when stderr is no
    terminal (``glassnet demo > log 2>&1``) there is no bar and no ``\\r``, only the log lines.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, show: bool) -> None:
        self.X, self.y, self.show = X, y, show
        self.loss: list[float] = []
        self.mean_abs: list[float] = []
        self.bar = None

    def measure(self, model) -> None:
        E = self.y - model.forward(self.X, training=False)  # (3, 1)
        self.loss.append(float(0.5 * np.sum(E * E)))
        self.mean_abs.append(float(np.mean(np.abs(E))))

    def on_train_begin(self, logs=None):
        if self.show and ProgressBar.is_terminal(sys.stderr):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.params["epochs"], unit="epoch", file=sys.stderr, dynamic_ncols=True)

    def on_epoch_end(self, epoch, logs=None):
        self.measure(self.model)
        if not self.show:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(error=f"{self.loss[-1]:.6f}", refresh=False)
        if (epoch + 1) % LOG_EVERY == 0:
            line = f"epoch {epoch + 1:>5}  error ½·ΣE² = {self.loss[-1]:.6f}  mean|E| = {self.mean_abs[-1]:.6f}"
            if self.bar is not None:
                self.bar.write(line, file=sys.stdout)
            else:
                print(line, flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _write_files(
    out: str, epochs: list[int], log: ErrorLog, model: Sequential, initial: dict, seed: int, batch_size
) -> tuple[dict, list]:
    """loss.png, network.png (the trained weights) and, when glassnet.trace is there, the trace of the
    run's first steps; (written, notes)."""
    from ..plots import plot_loss, plot_network

    written, notes = {}, []
    for key, name, draw in (
        ("loss_png", "loss.png", lambda path: plot_loss(
            {"epoch": epochs, "loss (½·ΣE²)": log.loss, "mean|E|": log.mean_abs},
            path,
            title="The seed tutorial's network: error after each epoch",
        )),
        ("network_png", "network.png", lambda path: plot_network(
            model, path, title="The seed tutorial's network after training: weights (blue > 0, red < 0)"
        )),
    ):
        _write(out, key, name, draw, written, notes)

    try:
        from .. import trace as gn_trace

        record = gn_trace.record
    except (ImportError, AttributeError):
        notes.append("article-trace.xlsx/html not written: glassnet.trace is not available in this build")
        return written, notes
    model = article_model(seed)
    model.set_weights([initial[k] for k in ARTICLE_NAMES])
    X, y = article()
    trace = record(model, X, y, steps=TRACE_STEPS, batch_size=batch_size)
    for key, name, export in (
        ("trace_xlsx", "article-trace.xlsx", trace.to_xlsx),
        ("trace_html", "article-trace.html", trace.to_html),
    ):
        _write(out, key, name, export, written, notes)
    return written, notes


def _write(out, key, name, write, written, notes) -> None:
    """``write(out/name)``: its path into ``written[key]``, or why not into ``notes``."""
    path = os.path.join(out, name)
    try:
        write(path)
        written[key] = path
    except ExportError as e:
        notes.append(f"{name} not written: {e}")


def _show(name: str, value: np.ndarray) -> str:
    text = np.array2string(np.atleast_2d(value), precision=6, floatmode="fixed", suppress_small=False)
    return f"{name} ({ARTICLE_NAMES.get(name, '')}) =\n" + "\n".join(
        "  " + line for line in text.splitlines()
    )


def run(args) -> int:
    epochs = check_positive_int("--epochs", args.epochs)
    seed = check_non_negative_int("--seed", args.seed)
    batch_size = 1 if args.sgd else None
    try:  # before training, so a bad --out costs nothing
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {args.out}: cannot create the directory ({e.strerror or e})") from None
    X, y = article()
    model = article_model(seed)
    initial = named_weights(model)
    mode = "one sample at a time (batch size 1, in order)" if args.sgd else "full batch"
    quiet = args.json or args.quiet
    if not quiet:
        print(
            f"The seed tutorial's network: 4 inputs → 3 sigmoid → 1 sigmoid, weights uniform in [0, 1) "
            f"(seed {seed}), learning rate {LR}, {epochs} epochs, {mode}."
        )
        print("error after each epoch: ½·ΣE² (the loss, half_sse) and mean|E|, with E = y − output")

    log = ErrorLog(X, y, show=not quiet)
    log.measure(model)  # epoch 0: the initial weights
    model.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=False, callbacks=[log], verbose=0)
    final = named_weights(model)
    predictions = model.predict(X)  # (3, 1)
    written, notes = _write_files(args.out, list(range(epochs + 1)), log, model, initial, seed, batch_size)
    for note in notes:
        print(f"glassnet demo: {note}", file=sys.stderr)

    if args.json:
        c.print_json(
            {
                "settings": {
                    "network": "4 -> 3 sigmoid -> 1 sigmoid",
                    "initializer": "uniform [0, 1)",
                    "dtype": "float64",
                    "loss": "half_sse",
                    "optimizer": "SGD",
                    "learning_rate": LR,
                    "epochs": epochs,
                    "batch_size": batch_size,
                    "shuffle": False,
                    "seed": seed,
                },
                "error": {
                    "definition": "after each epoch's update, on all samples: loss = ½·ΣE², "
                    "mean_abs = mean|E|, E = y − output; epoch 0 = initial weights",
                    "epoch": list(range(epochs + 1)),
                    "loss": log.loss,
                    "mean_abs": log.mean_abs,
                },
                "article_names": ARTICLE_NAMES,
                "initial_weights": initial,
                "final_weights": final,
                "X": X,
                "y": y,
                "predictions": predictions,
                "files": written,
            }
        )
        return 0

    print("\ninitial weights:")
    for name, value in initial.items():
        print(_show(name, value))
    print("\nfinal weights:")
    for name, value in final.items():
        print(_show(name, value))
    print("\npredictions (output after training) vs targets y:")
    for p, t in zip(predictions[:, 0], y[:, 0]):
        print(f"  {p:.6f}   (y = {t:g})")
    print(
        f"the published run ends near [0.980, 0.968, 0.045]; this one at "
        f"[{', '.join(f'{p:.3f}' for p in predictions[:, 0])}]"
    )
    for path in written.values():
        print(f"wrote {path}")
    return 0
