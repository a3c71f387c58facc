"""``glassnet train``: fit a multilayer perceptron to a CSV file and save it.

The task follows the target column: text, or a few distinct integers, is classification (softmax output,
sparse categorical cross-entropy, accuracy); other numbers are regression (linear output, mean squared
error, mae). The model standardizes its inputs itself: its first layer is a ``Normalization`` adapted on
the training rows, so the saved model reads raw rows (``gn.load(file).predict(X)`` is ``glassnet
predict``). A regression target is standardized for training, and the saved model ends with a
``Normalization(invert=True)`` that gives predictions in the target's units; every number printed for
regression is in those units too.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ..backend import get_device
from ..callbacks import Callback, ModelCheckpoint, ProgressBar
from ..checks import check_non_negative_int, check_positive_int
from ..data import encode_labels, train_val_split
from ..errors import ConfigError, DataError, invalid_value
from ..layers import Dense, Normalization
from ..model import Sequential
from ..optimizers import OPTIMIZERS, get_optimizer
from . import _common as c

__all__ = ["add_parser", "infer_task", "run"]

#: a numeric target with at most this many distinct integer values is taken for class labels
MAX_INFERRED_CLASSES = 20


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a network on a CSV file and save it",
        description="Train a multilayer perceptron on a CSV file (header row; every column but the target, "
        "--ignore and --id is a numeric feature) and save it. The model's first layer standardizes the "
        "features with the training rows' mean and variance (a Normalization layer), so the saved model "
        "reads raw rows; a regression target is standardized for training and the saved model's last layer "
        "turns its predictions back into the target's units.",
    )
    p.add_argument("--data", required=True, metavar="CSV", help="training data: a CSV file with a header row")
    p.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    c.add_column_options(p, "a column of ids (text or numbers), never a feature")
    p.add_argument(
        "--layers",
        default="64,32",
        metavar="64,32",
        help="units of each hidden layer, comma-separated; '' for none (default: 64,32)",
    )
    p.add_argument(
        "--activation", default="relu", metavar="NAME", help="activation of the hidden layers (default: relu)"
    )
    p.add_argument(
        "--optimizer",
        default="adam",
        metavar="NAME",
        help=f"one of {', '.join(sorted(OPTIMIZERS))} (default: adam)",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        metavar="X",
        help="learning rate (default: the optimizer's own, 0.001 for adam)",
    )
    p.add_argument("--epochs", type=int, default=100, metavar="N", help="passes over the data (default: 100)")
    p.add_argument("--batch-size", type=int, default=32, metavar="B", help="rows per update (default: 32)")
    p.add_argument(
        "--validation-split",
        type=float,
        default=None,
        metavar="F",
        help="hold out this fraction of rows, drawn at random with --seed, for validation",
    )
    p.add_argument(
        "--class-weight",
        default=None,
        metavar="W",
        help="weigh classes in the loss: 'balanced' (scikit-learn's n_rows / (n_classes · rows of the class)) "
        "or LABEL:WEIGHT pairs such as 'yes:3,no:1' (unlisted classes weigh 1); classification only",
    )
    p.add_argument(
        "--task",
        choices=["classification", "regression"],
        default=None,
        help="override the task inferred from the target (text or at most "
        f"{MAX_INFERRED_CLASSES} distinct integers: classification; other numbers: regression)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="seeds initialization, shuffling and the validation split (default: 0)",
    )
    p.add_argument("--save", required=True, metavar="FILE", help="where to write the trained model")
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="write a checkpoint (weights, optimizer and generator state, epoch, history) here every "
        "--checkpoint-every epochs, and when Ctrl-C stops training; continue it with --resume FILE",
    )
    p.add_argument(
        "--checkpoint-every", type=int, default=1, metavar="N", help="epochs between checkpoints (default: 1)"
    )
    p.add_argument(
        "--resume",
        metavar="FILE",
        help="continue from a checkpoint written with the same data and options; --epochs is the total",
    )
    c.add_device_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (no progress bar)")
    p.set_defaults(func=run)


def parse_layers(text: str) -> list[int]:
    """``"64,32"`` -> ``[64, 32]``; ``""`` -> ``[]``; anything else is a ConfigError naming --layers."""
    if not text.strip():
        return []
    try:
        units = [int(part) for part in text.split(",")]
    except ValueError:
        units = []
    if not units or any(u < 1 for u in units):
        raise invalid_value("--layers", text, "comma-separated positive integers such as 64,32")
    return units


def infer_task(y: np.ndarray, name: str) -> tuple[str, str]:
    """("classification" | "regression", why) from the target cells as :func:`read_csv` returns them."""
    if y.dtype.kind not in "iuf":
        return "classification", f"target {name!r} holds text, e.g. {c.first_text(y)!r}"
    distinct = np.unique(y)
    integer = bool(np.all(distinct == np.round(distinct)))
    k = len(distinct)
    if integer and k <= MAX_INFERRED_CLASSES and (k <= 2 or 2 * k <= len(y)):
        return "classification", f"target {name!r} holds {k} distinct integer values"
    what = "integer values" if integer else "numbers"
    return "regression", f"target {name!r} holds {k} distinct {what}"


class _TargetUnits(Callback):
    """Rewrites each epoch's logs in the target's units before the progress bar shows them."""

    def __init__(self, std: float) -> None:
        self.std = std

    def on_epoch_end(self, epoch, logs=None):
        for k in logs or {}:
            logs[k] = c.in_target_units(k, logs[k], self.std)


def _mean_std(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std in float64; a constant column gets std 1 (after centering it stays 0)."""
    mean = a.mean(axis=0, dtype=np.float64)
    std = a.std(axis=0, dtype=np.float64)
    return mean, np.where(std == 0, 1.0, std)


def _input_normalization(X: np.ndarray) -> Normalization:
    """A Normalization adapted on the training rows; a constant feature gets variance 1, not 0.

    Keras divides by max(std, 1e-7): a value unseen in training in a feature that was constant would be
    multiplied by 1e7. With variance 1 such a feature is only centered, as glassnet train always did.
    """
    norm = Normalization()
    norm.adapt(X)
    mean, variance = norm._adapted
    norm._adapted = (mean, np.where(variance == 0, 1.0, variance))
    return norm


def with_output_denormalization(model, mean: float, std: float, seed) -> Sequential:
    """``model`` (trained on standardized targets) followed by ``Normalization(invert=True)``: a new model
    with the same weights, buffers and optimizer state whose predictions are in the target's units."""
    from ..serialize import layer_from_config

    layers = [layer_from_config({"class": type(la).__name__, "config": la.get_config()}) for la in model.layers]
    denorm = Normalization(mean=mean, variance=std * std, invert=True, name="target_units")
    final = Sequential([*layers, denorm], seed=seed, dtype=model.dtype, device=model.device)
    final.compile(loss=type(model.loss)(),
                  optimizer=get_optimizer(model.optimizer.get_config()), metrics=[n for n, _ in model.metrics])
    final.build(model.input_shape)
    final.load_state_dict(model.state_dict(("params", "buffers", "optimizer", "rng")), strict=False)
    final.history = model.history
    final.metadata = {k: v for k, v in model.metadata.items() if k not in ("target_mean", "target_std")}
    return final


def describe(model) -> str:
    """``4 → 64 relu → 32 relu → 3 softmax``."""
    parts = [str(model.input_shape[0])]
    parts += [f"{la.units} {la.activation.key}" for la in model.layers if isinstance(la, Dense)]
    return " → ".join(parts)


def _interrupted(args, model, rows: int, batch_size: int) -> int:
    """Ctrl-C stopped training: keep what was trained in a checkpoint, say where and how to continue."""
    path = args.checkpoint or f"{args.save}.checkpoint"
    if not args.checkpoint:  # ModelCheckpoint has already written --checkpoint
        model.save(path)
    state = model._training
    per_epoch = -(-rows // batch_size)
    where = f"epoch {state.epoch + 1}, batch {state.batch} of {per_epoch}" if state.batch else f"epoch {state.epoch}"
    if args.json:
        c.print_json({"interrupted": True, "epoch": state.epoch, "batch": state.batch, "checkpoint": path})
    print(
        f"glassnet train: interrupted after {where}; checkpoint written to {path}\n"
        f"continue with the same command and --resume {path}",
        file=sys.stderr,
    )
    return 130


def _class_weight(spec, task, y, classes) -> dict[int, float] | None:
    """``--class-weight`` as fit's ``class_weight`` (class index -> weight), from the training rows ``y``."""
    if spec is None:
        return None
    if task != "classification":
        raise ConfigError(f"--class-weight {spec!r} needs a classification target; this one is a regression")
    if spec == "balanced":
        counts = np.bincount(y, minlength=len(classes))
        return {i: len(y) / (len(classes) * n) for i, n in enumerate(counts) if n}
    index = {str(label): i for i, label in enumerate(classes.tolist())}
    weights = {}
    for pair in spec.split(","):
        label, sep, value = pair.strip().rpartition(":")
        if not sep or label not in index:
            known = ", ".join(index)
            raise ConfigError(f"--class-weight {spec!r}: {pair.strip()!r} is not LABEL:WEIGHT with a label of the "
                              f"target (its classes: {known}), nor 'balanced'")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"--class-weight {spec!r}: the weight {value!r} of {label!r} is not a number") from None
        weights[index[label]] = c.positive_float(f"--class-weight of {label!r}", number)
    return weights


def run(args) -> int:
    hidden = parse_layers(args.layers)
    ignored, id_column = c.parse_columns(args, args.target)
    epochs = check_positive_int("--epochs", args.epochs)
    batch_size = check_positive_int("--batch-size", args.batch_size)
    lr = None if args.lr is None else c.positive_float("--lr", args.lr)
    split = None if args.validation_split is None else c.fraction("--validation-split", args.validation_split)
    seed = check_non_negative_int("--seed", args.seed)
    every = check_positive_int("--checkpoint-every", args.checkpoint_every)
    if every != 1 and not args.checkpoint:
        raise ConfigError("--checkpoint-every goes with --checkpoint FILE")
    if args.checkpoint:
        c.check_output_path(args.checkpoint, "--checkpoint")
    # an unknown name: get_optimizer raises the error that lists the valid ones
    opt_cls = OPTIMIZERS.get(args.optimizer.lower()) or type(get_optimizer(args.optimizer))
    optimizer = opt_cls() if lr is None else opt_cls(learning_rate=lr)
    c.check_output_path(args.save, "--save")
    device = get_device(args.device)  # unknown, or 'gpu' without CuPy: before reading any data

    table = c.read_table(args.data, args.target, ignore=ignored, text=[id_column] if id_column else [])
    task, why = infer_task(table.y, args.target)
    if args.task:
        task, why = args.task, "--task"
    if task == "classification":
        y, classes = encode_labels(c.as_labels(table.y), name=f"target {args.target!r}")
        if len(classes) < 2:
            raise DataError(
                f"target {args.target!r} of {table.path} holds one class only ({classes[0]!r}); "
                "classification needs at least 2"
            )
        out, loss, metrics = (
            Dense(len(classes), activation="softmax"),
            "sparse_categorical_crossentropy",
            ["accuracy"],
        )
    else:
        y = c.numeric_target(table.y, f"target {args.target!r} of {table.path}")
        out, loss, metrics = Dense(1), "mse", ["mae"]

    X, X_val, y_val = table.X, None, None
    if split:
        X, y, X_val, y_val = train_val_split(X, y, split, rng=seed)
    class_weight = _class_weight(args.class_weight, task, y, classes if task == "classification" else None)
    meta = {"task": task, "target": args.target, "features": table.feature_names}
    if task == "classification":
        meta["classes"] = classes.tolist()
    else:  # trained on standardized targets; a checkpoint keeps the scaling here, the saved model in a layer
        t_mean, t_std = _mean_std(y)
        meta |= {"target_mean": float(t_mean), "target_std": float(t_std)}

    hidden_layers = [Dense(u, activation=args.activation) for u in hidden]
    model = Sequential([_input_normalization(X), *hidden_layers, out], seed=seed, device=device)
    model.compile(loss=loss, optimizer=optimizer, metrics=metrics)
    model.build(X.shape[1])
    model.metadata = meta

    def prepared(X, y):
        return X, (y if task == "classification" else c.scale_target(y, meta, model.dtype))

    X, y = prepared(X, y)
    validation = prepared(X_val, y_val) if split else None
    quiet = args.json or args.quiet

    if not quiet:
        labels = (
            f"; {len(classes)} classes: {', '.join(map(str, classes.tolist()))}"
            if task == "classification"
            else ""
        )
        print(f"task: {task} ({why}){labels}")
        rows = f"{len(X)} for training, {len(X_val)} for validation" if split else "all for training"
        left_out = [f"--id {id_column}"] * bool(id_column) + [f"--ignore {col}" for col in ignored]
        left_out = f"; left out: {', '.join(left_out)}" if left_out else ""
        scaled = "features (by the model's first layer)" + (" and target" if task == "regression" else "")
        print(
            f"data: {len(table.X)} rows × {X.shape[1]} features from {table.path} ({rows}); "
            f"{scaled} standardized{left_out}"
        )
        on = "" if model.device == "cpu" else f"; on device {model.device!r}"
        print(f"model: {describe(model)}; loss {loss}; {optimizer!r}; {model.count_params():,} parameters{on}")

    callbacks = [] if quiet else [ProgressBar(file=sys.stderr)]
    if args.checkpoint:  # braces in a file name are not format fields here
        callbacks.insert(0, ModelCheckpoint(args.checkpoint.replace("{", "{{").replace("}", "}}"), every=every))
    if task == "regression":  # first: logs, history and checkpoints are all in the target's units
        callbacks.insert(0, _TargetUnits(meta["target_std"]))
    start = time.perf_counter()
    history = model.fit(
        X,
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        validation_data=validation,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=0,
        resume_from=args.resume,
    )
    seconds = time.perf_counter() - start
    if history.interrupted:
        return _interrupted(args, model, len(X), batch_size)
    t_std = meta.get("target_std", 1.0)

    final = {k: c.in_target_units(k, v, t_std) for k, v in model.evaluate(X, y).items()}
    if validation:
        final |= {f"val_{k}": c.in_target_units(k, v, t_std) for k, v in model.evaluate(*validation).items()}
    if task == "regression":
        model = with_output_denormalization(model, meta["target_mean"], t_std, seed)
    model.save(args.save)

    if args.json:
        c.print_json(
            {
                "task": task,
                "task_reason": why,
                "target": args.target,
                "features": table.feature_names,
                "classes": meta.get("classes"),
                "rows": {"train": len(X), "validation": len(X_val) if split else 0},
                "model": describe(model),
                "loss": loss,
                "optimizer": optimizer.get_config(),
                "batch_size": batch_size,
                "epochs": len(history.epoch),
                "seed": seed,
                "device": model.device,
                "seconds": seconds,
                "final": final,
                "history": history.history,
                "saved": args.save,
            }
        )
    else:
        shown = "  ".join(f"{k} {v:.6g}" for k, v in final.items())
        print(f"final, after {len(history.epoch)} epochs ({seconds:.2f} s): {shown}")
        print(f"saved model to {args.save}")
    return 0
