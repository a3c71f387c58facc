"""``glassnet predict``: a saved model's predictions for the rows of a CSV file.

The features are the columns the model was trained on, found by name and standardized as in training; the
target column and any other column are ignored. Classification writes the predicted label and one
probability column per class; regression writes the prediction in the target's units.
"""

from __future__ import annotations

import csv
import sys

import numpy as np

from ..data import write_csv
from ..model import load_model
from . import _common as c

__all__ = ["add_parser", "prediction_table", "run"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict the rows of a CSV file with a saved model",
        description="Predict every row of a CSV file with a model saved by `glassnet train`. The model's "
        "feature columns are looked up by name and standardized as in training; other columns (the target, "
        "ids) are ignored. Output: a column `prediction`, plus `prob_<class>` per class for classification.",
    )
    p.add_argument("--model", required=True, metavar="FILE", help="a model file written by `glassnet train`")
    p.add_argument(
        "--data", required=True, metavar="CSV", help="rows to predict: a CSV file with a header row"
    )
    p.add_argument("--out", metavar="CSV", help="write the predictions here (default: print them)")
    c.add_device_option(p)
    p.set_defaults(func=run)


def read_rows(model, path: str, target: str | None = None):
    """The model's inputs for the rows of ``path`` and the table they came from.

    ``target`` names a column to read as a target (evaluate); for predict, the training target, when the
    file has it, is read as a target only so that text in it is no error.
    """
    if target is None:
        known = model.metadata.get("target")
        target = known if known and known in c.csv_columns(path) else None
    table = c.read_table(path, target)
    return c.model_inputs(model, table), table


def prediction_table(model, X: np.ndarray) -> tuple[list[str], list[list]]:
    """(header, rows): ``prediction`` and, for classification, ``prob_<class>`` per class."""
    out = model.predict(X)  # (N, K)
    meta = model.metadata
    if "classes" in meta:
        classes = np.asarray(meta["classes"])
        labels = classes[out.argmax(axis=1)]
        header = ["prediction"] + [f"prob_{k}" for k in classes.tolist()]
        return header, [[label, *p] for label, p in zip(labels.tolist(), out)]
    if "target_mean" in meta:  # back to the target's units, in the model's precision
        out = (out * meta["target_std"] + meta["target_mean"]).astype(model.dtype)
    if out.shape[1] == 1:
        return ["prediction"], [[v] for v in out[:, 0]]
    return [f"output_{j}" for j in range(out.shape[1])], [list(row) for row in out]


def run(args) -> int:
    model = load_model(args.model, device=args.device)
    if args.out:
        c.check_output_path(args.out, "--out")
    X, _ = read_rows(model, args.data)
    header, rows = prediction_table(model, X)
    if args.out:
        write_csv(args.out, header, rows)
        print(f"wrote {len(rows)} predictions to {args.out}", file=sys.stderr)
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return 0
