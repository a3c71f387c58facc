"""``glassnet predict``: a saved model's predictions for the rows of a CSV file.

The features are the columns the model was trained on, found by name and put in its order; every other
column (the target, ids, notes) is left unread, whatever it holds. ``--id COL`` copies a column to the
output as its first column. Classification writes the predicted label and one probability column per
class; regression writes the prediction in the target's units. ``--json`` gives the same as one JSON
object (on stdout, or in ``--out``).
"""

from __future__ import annotations

import csv
import json
import sys

import numpy as np

from ..atomic import atomic_open
from ..data import write_csv
from ..errors import DataError
from ..model import load_model
from . import _common as c

__all__ = ["add_parser", "prediction_table", "read_rows", "run"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict the rows of a CSV file with a saved model",
        description="Predict every row of a CSV file with a model saved by `glassnet train`. The model's "
        "feature columns are looked up by name (in any order); every other column (the target, ids, text) "
        "is ignored. Output: a column `prediction`, plus `prob_<class>` per class for classification, "
        "after the --id column when one is given.",
    )
    p.add_argument("--model", required=True, metavar="FILE", help="a model file written by `glassnet train`")
    p.add_argument(
        "--data", required=True, metavar="CSV", help="rows to predict: a CSV file with a header row"
    )
    p.add_argument("--out", metavar="FILE", help="write the predictions here, CSV or with --json JSON "
                   "(default: print them)")
    c.add_column_options(p, "copy this column (e.g. an id, text or numbers) to the output, as its first column")
    p.add_argument("--json", action="store_true", help="predictions as one JSON object (to stdout, or --out)")
    c.add_device_option(p)
    p.set_defaults(func=run)


def read_rows(model, path: str, target: str | None = None, ignore=(), id_column: str | None = None):
    """The model's inputs for the rows of ``path`` and the table they came from.

    ``target`` names a column to read as a target (evaluate). A model trained by ``glassnet train``
    reads its feature columns only (see :func:`_common.read_model_rows`); for one saved from Python,
    the training target, when the file has it, is read as a target so that it is no feature.
    """
    if target is None and not model.metadata.get("features"):
        known = model.metadata.get("target")
        target = known if known and known in c.csv_columns(path) else None
    return c.read_model_rows(model, path, target, ignore, id_column)


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
    ignored, id_column = c.parse_columns(args)
    model = load_model(args.model, device=args.device)
    if args.out:
        c.check_output_path(args.out, "--out")
    X, table = read_rows(model, args.data, ignore=ignored, id_column=id_column)
    header, rows = prediction_table(model, X)
    if id_column:
        if id_column in header:
            raise DataError(f"--id {id_column}: the output already has a column {id_column!r}")
        header = [id_column, *header]
        rows = [[i, *row] for i, row in zip(table.text[id_column].tolist(), rows)]
    if args.json:
        text = json.dumps(c.to_jsonable(_as_json(model, args, header, rows)), indent=1) + "\n"
        if args.out:
            with atomic_open(args.out, "w", error_cls=DataError, encoding="utf-8") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
    elif args.out:
        write_csv(args.out, header, rows)
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    if args.out and not args.quiet:
        print(f"wrote {len(rows)} predictions to {args.out}", file=sys.stderr)
    return 0


def _as_json(model, args, header: list[str], rows: list[list]) -> dict:
    """``{"model", "data", "rows", "columns", "predictions": [{column: value}, ...]}`` plus the task facts."""
    meta = model.metadata
    return {
        "model": args.model,
        "data": args.data,
        "task": meta.get("task"),
        "classes": meta.get("classes"),
        "id": args.id,
        "rows": len(rows),
        "columns": header,
        "predictions": [dict(zip(header, (_number(v) for v in row))) for row in rows],
    }


def _number(v):
    """NumPy scalars as Python numbers; a float32 as the shortest decimal that reads back as it."""
    if isinstance(v, np.floating):
        return float(str(v))
    return v.item() if isinstance(v, np.generic) else v
