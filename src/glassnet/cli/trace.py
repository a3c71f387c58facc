"""``glassnet trace``: lay out training steps number by number — in the terminal, and as JSON, HTML or xlsx.

``--preset NAME`` traces a ready-made float64 network (``glassnet.trace.PRESETS``); ``--model FILE --data CSV --target COL``
traces a saved model on the rows of a CSV file (features looked up by name, like ``glassnet evaluate``).
The model file is not changed: the steps train a copy in memory. A model trained by ``glassnet train``
starts with a Normalization layer (and a regressor ends with one that restores the target's units): these
hold no trainable parameters, so the trace shows the layers between them, on the standardized inputs and
targets they see in training.
"""

from __future__ import annotations

import copy
import sys
import warnings

import numpy as np

from ..checks import check_positive_int
from ..data import encode_labels, one_hot, read_csv
from ..errors import ConfigError, DataError, GlassnetWarning
from ..losses import CategoricalCrossEntropy, SparseCategoricalCrossEntropy
from ..model import load_model
from ..optimizers import get_optimizer
from . import _common as c

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "trace",
        help="lay out training steps number by number (terminal, --json, --html, --xlsx)",
        description="Record N training steps and print every named number of each: inputs, weights, "
        "Z, A, the error and loss, slopes, deltas, gradients, the optimizer's state and the updated weights. "
        "--xlsx writes a workbook whose computed cells are live formulas; --html one self-contained page.",
    )
    from ..trace.presets import PRESETS
    p.add_argument("--preset", metavar="NAME", help="a ready-made network: " + ", ".join(PRESETS))
    p.add_argument("--model", metavar="FILE", help="a saved model (needs --data and --target)")
    p.add_argument("--data", metavar="CSV", help="rows to train on: a CSV file with a header row")
    p.add_argument("--target", metavar="COL", help="the column holding the targets")
    p.add_argument("--steps", type=int, default=1, metavar="N", help="training steps to record (default 1)")
    p.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help="rows per step (default: all rows, full batch)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="a preset's seed (other starting weights)")
    p.add_argument("--json", metavar="F", help="write the trace as JSON")
    p.add_argument("--html", metavar="F", help="write the trace as one self-contained HTML page")
    p.add_argument("--xlsx", metavar="F", help="write the trace as a workbook of live formulas")
    p.add_argument("--max-cells", type=int, default=200_000, metavar="N",
                   help="refuse a workbook of more cells than this (default: 200000)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..trace import record  # here, not at import: `glassnet --help` works in a build without the tracer

    model, X, y = _source(args)
    steps = check_positive_int("--steps", args.steps)
    batch_size = None if args.batch_size is None else check_positive_int("--batch-size", args.batch_size)
    max_cells = check_positive_int("--max-cells", args.max_cells)
    outputs = [(flag, path) for flag, path in (("--xlsx", args.xlsx), ("--json", args.json), ("--html", args.html))
               if path]
    for flag, path in outputs:
        c.check_output_path(path, flag)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GlassnetWarning)
        trace = record(model, X, y, steps=steps, batch_size=batch_size)
    for w in caught:
        print(f"glassnet trace: warning: {w.message}", file=sys.stderr)
    trace.preset = args.preset
    for flag, path in outputs:
        if flag == "--xlsx":
            trace.to_xlsx(path, max_cells=max_cells)
        else:
            getattr(trace, "to_" + flag[2:])(path)
    print(trace, end="")
    for flag, path in outputs:
        print(f"wrote {path}")
    return 0


def _source(args):
    """(model, X, y) from --preset or from --model/--data/--target."""
    from ..trace import PRESETS, preset

    if args.preset and args.model:
        raise ConfigError("pass either --preset NAME or --model FILE, not both")
    if args.preset:
        extra = [flag for flag, v in (("--data", args.data), ("--target", args.target)) if v]
        if extra:
            raise ConfigError(f"{' and '.join(extra)} go with --model FILE, not with --preset")
        return preset(args.preset, seed=args.seed)
    if not args.model:
        raise ConfigError("nothing to trace: pass --preset " + "|".join(PRESETS)
                          + ", or --model FILE --data CSV --target COL")
    if args.seed is not None:
        raise ConfigError("--seed picks a preset's starting weights; a model file carries its own weights")
    missing = [flag for flag, v in (("--data", args.data), ("--target", args.target)) if not v]
    if missing:
        raise ConfigError(f"--model needs {' and '.join(missing)}")
    model = load_model(args.model)
    features = model.metadata.get("features") or None
    if features:
        missing = [f for f in features if f not in c.csv_columns(args.data)]
        if missing:
            raise DataError(f"{args.data} lacks column(s) the model was trained on: {', '.join(missing)}")
    try:
        table = read_csv(args.data, args.target, features=features, dtype=model.dtype)
    except OSError as e:
        raise DataError(f"cannot read {args.data}: {e.strerror or e}") from None
    X = c.model_inputs(model, table)
    model, X, units = _without_normalization(model, X)
    y = _targets(model, table.y, f"column {args.target!r} of {args.data}")
    if units is not None:  # the core was trained on standardized targets
        y = ((y - units.state["mean"]) / units.std()).astype(model.dtype)
    return model, X, y


def _without_normalization(model, X):
    """(model, X, output layer) with a leading Normalization applied to X and a trailing inverted one taken off.

    Those layers hold no trainable parameters: the trace shows the layers between them, on what they see in
    training (the targets in the units the loss compares; ``gn.trace.record`` on the whole model lays the
    Normalization layers out too). The model returned is a copy with the same weights
    and optimizer state; the third item is the removed ``Normalization(invert=True)``, or None.
    """
    from ..layers import Normalization
    from ..model import Sequential
    from ..serialize import layer_from_config

    layers = list(model.layers)
    first = layers[0] if layers and isinstance(layers[0], Normalization) and not layers[0].invert else None
    last = layers[-1] if len(layers) > 1 and isinstance(layers[-1], Normalization) and layers[-1].invert else None
    if first is None and last is None:
        return model, X, None
    if first is not None:
        X = first.forward(np.asarray(X, dtype=model.dtype))
    keep = layers[1 if first else 0: -1 if last else None]
    core = Sequential([layer_from_config({"class": type(la).__name__, "config": la.get_config()}) for la in keep],
                      seed=model.seed, dtype=model.dtype)
    core.compile(loss=copy.deepcopy(model.loss), optimizer=get_optimizer(model.optimizer.get_config()),
                 metrics=[n for n, _ in model.metrics])
    core.build(model.layers[1 if first else 0].input_shape)
    core.set_weights([w for la in keep for w in (*la.params.values(), *la.state.values())])
    core.load_state_dict(model.state_dict(("optimizer",)))
    core.metadata = model.metadata
    return core, X, last


def _targets(model, y: np.ndarray, name: str) -> np.ndarray:
    """Target cells as the model trains on them: class codes (one-hot for categorical cross-entropy) or numbers."""
    meta = model.metadata
    if "classes" in meta:
        codes = c.target_codes(model, y, name)
    elif y.dtype.kind in "iuf":
        if not isinstance(model.loss, CategoricalCrossEntropy):
            return c.scale_target(y.astype(np.float64), meta, model.dtype)
        codes, _ = encode_labels(c.as_labels(y), name)
    else:
        codes, _ = encode_labels(y, name)
    if isinstance(model.loss, CategoricalCrossEntropy) and not isinstance(model.loss, SparseCategoricalCrossEntropy):
        return one_hot(codes, model.layers[-1].units, dtype=model.dtype)
    return codes
