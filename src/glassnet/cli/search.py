"""``glassnet search``: cross-validate a grid of settings on a CSV file, locally or on a Dask cluster.

The rows are read as ``glassnet train`` reads them (same task inference, ``--ignore``/``--id``). The
candidates are :class:`~glassnet.sklearn.GlassClassifier` or ``GlassRegressor`` settings (``--grid``),
each trained on the features standardized with all rows' mean and variance (as ``glassnet train``
standardizes its training rows) and, for regression, on the standardized target; scores are the
estimator's own (accuracy, R²). ``--save`` writes the best candidate, refit on all rows, as a model that
reads raw rows like ``glassnet train``'s: a ``Normalization`` layer first, the network, and for regression a
``Normalization(invert=True)`` back to the target's units (a two-class network's one sigmoid output becomes
the equal two-way softmax, so ``glassnet predict`` prints both classes' probabilities).
"""

from __future__ import annotations

import ast
import sys

import numpy as np

from ..checks import check_non_negative_int, check_positive_int
from ..data import encode_labels
from ..errors import ConfigError, DataError, invalid_value
from ..layers import Normalization
from ..model import Sequential
from ..optimizers import get_optimizer
from ..serialize import layer_from_config
from . import _common as c
from .train import _input_normalization, infer_task

__all__ = ["add_parser", "parse_grid", "run", "standalone_model"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="cross-validate a grid of settings on a CSV file, here or on a Dask cluster",
        description="Cross-validate every candidate of --grid (GlassClassifier or GlassRegressor settings, "
        "the task inferred from the target as `glassnet train` does) on a CSV file, on every core of this "
        "machine or on a Dask cluster (--scheduler). Prints the candidates best first; --json, --csv and "
        "--save write the table and the best model, refit on all rows.",
    )
    p.add_argument("--data", required=True, metavar="CSV", help="the rows: a CSV file with a header row")
    p.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    c.add_column_options(p, "a column of ids (text or numbers), never a feature")
    p.add_argument("--grid", required=True, metavar="SPEC",
                   help="NAME=[values];NAME=[values], Python literals, e.g. "
                   "\"hidden_layer_sizes=[(32,),(64,32)];learning_rate=[1e-3,1e-2]\" (bare words are text: "
                   "activation=[relu,tanh])")
    p.add_argument("--method", choices=["grid", "random", "halving"], default="grid",
                   help="grid: every combination; random: --n-iter of them; halving: successive halving, "
                   "the best third of the candidates training three times as many epochs, up to --epochs "
                   "(default: grid)")
    p.add_argument("--n-iter", type=int, default=10, metavar="N", help="candidates drawn by --method random "
                   "(default: 10)")
    p.add_argument("--cv", type=int, default=5, metavar="K", help="folds (default: 5)")
    p.add_argument("--epochs", type=int, default=100, metavar="N",
                   help="epochs of every candidate unless --grid sets them; halving's most (default: 100)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seeds every fit and the draw of candidates (default: 0)")
    p.add_argument("--task", choices=["classification", "regression"], default=None,
                   help="override the task inferred from the target")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="run the fits on this Dask scheduler's workers (default: every core of this machine)")
    p.add_argument("--json", default=None, metavar="FILE", help="write the results as JSON here ('-': stdout)")
    p.add_argument("--csv", default=None, metavar="FILE", help="write the results table as CSV here")
    p.add_argument("--save", default=None, metavar="FILE", help="write the best model, refit on all rows, here")
    p.set_defaults(func=run)


# -- the grid ---------------------------------------------------------------------------------------
class _BareWords(ast.NodeTransformer):
    """``relu`` in ``[relu, tanh]`` is the text "relu"."""

    def visit_Name(self, node):
        return ast.copy_location(ast.Constant(node.id), node)


def parse_grid(text: str) -> dict[str, list]:
    """``"a=[1,2];b=[(3,),(4,5)]"`` -> ``{"a": [1, 2], "b": [(3,), (4, 5)]}``; ConfigError naming --grid else."""
    grid = {}
    for part in _split(text):
        name, sep, values = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ConfigError(f"--grid: {part.strip()!r} is not NAME=[values]; expected e.g. "
                              "\"hidden_layer_sizes=[(32,),(64,32)];learning_rate=[1e-3,1e-2]\"")
        try:
            tree = _BareWords().visit(ast.parse(values.strip(), mode="eval"))
            value = ast.literal_eval(tree)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            raise ConfigError(f"--grid: the values of {name!r}, {values.strip()!r}, are not a list of Python "
                              "literals such as [1e-3, 1e-2] or [(32,), (64, 32)]") from None
        if not isinstance(value, list):
            raise ConfigError(f"--grid: the values of {name!r} must be a list in brackets, e.g. {name}=[a, b]; "
                              f"received {values.strip()!r}")
        if name in grid:
            raise ConfigError(f"--grid names {name!r} twice")
        grid[name] = value
    if not grid:
        raise ConfigError("--grid is empty; expected NAME=[values];NAME=[values]")
    return grid


def _split(text: str) -> list[str]:
    """``text`` split at the semicolons outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ";" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


# -- the saved model --------------------------------------------------------------------------------
def standalone_model(estimator, X_raw: np.ndarray, meta: dict, target_stats=None, seed: int = 0) -> Sequential:
    """The fitted estimator's network as a model of raw rows: ``Normalization`` (adapted on ``X_raw``), its
    layers with their weights, and ``Normalization(invert=True)`` with ``target_stats = (mean, std)``.

    A two-class network's last ``Dense(1, sigmoid)`` becomes ``Dense(2, softmax)`` with weights
    ``[0 | W]`` and ``[0, b]``: ``softmax(0, z) = (1 - σ(z), σ(z))``, the same probabilities.
    """
    net = estimator.model_
    weights = net.get_weights()
    configs = [{"class": type(la).__name__, "config": la.get_config()} for la in net.layers]
    last = configs[-1]["config"]
    if meta.get("task") == "classification" and last["units"] == 1:
        configs[-1]["config"] = {**last, "units": 2, "activation": "softmax"}
        W, b = weights[-2], weights[-1]  # (n_in, 1), (1,)
        weights[-2] = np.hstack([np.zeros_like(W), W])  # (n_in, 2)
        weights[-1] = np.concatenate([np.zeros_like(b), b])  # (2,)
    layers = [_input_normalization(X_raw), *(layer_from_config(cfg) for cfg in configs)]
    if target_stats is not None:
        mean, std = target_stats
        layers.append(Normalization(mean=mean, variance=std * std, invert=True, name="target_units"))
    model = Sequential(layers, seed=seed, dtype=net.dtype)
    if meta.get("task") == "classification":
        model.compile(loss="sparse_categorical_crossentropy", optimizer=get_optimizer(net.optimizer.get_config()),
                      metrics=["accuracy"])
    else:
        model.compile(loss="mse", optimizer=get_optimizer(net.optimizer.get_config()), metrics=["mae"])
    model.build(X_raw.shape[1])
    first = len(model.layers[0].params) + len(model.layers[0].state)  # the input Normalization's buffers
    mine = model.get_weights()
    model.set_weights(mine[:first] + weights + mine[first + len(weights):])
    model.metadata = dict(meta)
    return model


# -- the command ------------------------------------------------------------------------------------
def run(args) -> int:
    from ..search import check_params, search  # scikit-learn: only when the command runs
    from ..sklearn import GlassClassifier, GlassRegressor

    grid = parse_grid(args.grid)
    ignored, id_column = c.parse_columns(args, args.target)
    cv = check_positive_int("--cv", args.cv)
    if cv < 2:
        raise invalid_value("--cv", args.cv, "an integer of at least 2 (folds)")
    epochs = check_positive_int("--epochs", args.epochs)
    n_iter = check_positive_int("--n-iter", args.n_iter)
    seed = check_non_negative_int("--seed", args.seed)
    # before the data is read: the names and values (class_weight is the classifier's only)
    check_params((GlassClassifier if "class_weight" in grid else GlassRegressor)((64, 32), epochs=epochs),
                 grid, args.method)
    for flag in ("json", "csv", "save"):
        path = getattr(args, flag)
        if path and not (flag == "json" and path == "-"):
            c.check_output_path(path, f"--{flag}")

    table = c.read_table(args.data, args.target, ignore=ignored, text=[id_column] if id_column else [])
    task, why = (args.task, "--task") if args.task else infer_task(table.y, args.target)
    meta = {"task": task, "target": args.target, "features": table.feature_names}
    target_stats = None
    if task == "classification":
        y = c.as_labels(table.y)
        classes = encode_labels(y, name=f"target {args.target!r}")[1]
        if len(classes) < 2:
            raise DataError(f"target {args.target!r} of {table.path} holds one class only ({classes[0]!r}); "
                            "classification needs at least 2")
        estimator = GlassClassifier((64, 32), epochs=epochs, random_state=seed)
    else:
        y_raw = c.numeric_target(table.y, f"target {args.target!r} of {table.path}")
        std = float(y_raw.std()) or 1.0
        target_stats = (float(y_raw.mean()), std)
        y = (y_raw - target_stats[0]) / std
        estimator = GlassRegressor((64, 32), epochs=epochs, random_state=seed)
    X = Sequential([_input_normalization(table.X)]).predict(table.X)  # (N, F): what the saved model's first layer does

    quiet = args.quiet or args.json == "-"
    if not quiet:
        where = args.scheduler or "every core of this machine"
        print(f"task: {task} ({why}); {len(X)} rows × {X.shape[1]} features from {table.path}, standardized; "
              f"{args.method} search, {cv}-fold, on {where}", file=sys.stderr)
    result = search(estimator, grid, X, y, cv=cv, method=args.method, n_iter=n_iter, scheduler=args.scheduler,
                    random_state=seed, progress=not quiet)

    if task == "classification":
        meta["classes"] = result.best_estimator.classes_.tolist()
    if args.save:
        standalone_model(result.best_estimator, table.X, meta, target_stats, seed).save(args.save)
    if args.csv:
        result.to_csv(args.csv)
    if args.json == "-":
        c.print_json(result.to_dict())
    elif args.json:
        result.to_json(args.json)
    if not quiet:
        _print_table(result)
        for flag, what in (("json", "results"), ("csv", "results table"), ("save", "best model")):
            if getattr(args, flag):
                print(f"wrote the {what} to {getattr(args, flag)}")
    return 0


def _print_table(result) -> None:
    halving = "iter" in result.results[0]
    print(f"{'rank':>4}  {'mean':>8}  {'std':>7}  {'fit s':>6}  " + ("epochs  " if halving else "") + "params")
    for r in result.results:
        epochs = f"{r['n_resources']:>6}  " if halving else ""
        params = ", ".join(f"{k}={v!r}" for k, v in r["params"].items() if not (halving and k == "epochs"))
        print(f"{r['rank_test_score']:>4}  {r['mean_test_score']:>8.4f}  {r['std_test_score']:>7.4f}  "
              f"{r['mean_fit_time']:>6.2f}  {epochs}{params}")
    print(f"best ({result.scoring} {result.best_score:.4f}, mean of {result.n_splits} folds): "
          + ", ".join(f"{k}={v!r}" for k, v in result.best_params.items())
          + f"; {result.n_fits} fits in {result.seconds:.1f} s on {result.where}")
