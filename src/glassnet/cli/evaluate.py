"""``glassnet evaluate``: a saved model's loss and metric on the labelled rows of a CSV file.

Classification reports the cross-entropy and accuracy (a label the model never saw is an error);
regression reports the mean squared error and mae in the target's units.
"""

from __future__ import annotations

from ..model import load_model
from . import _common as c
from .predict import read_rows

__all__ = ["add_parser", "evaluate", "run"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a saved model on a labelled CSV file",
        description="Score a model saved by `glassnet train` on a CSV file that holds the target column: "
        "the model's features are looked up by name; other columns are ignored.",
    )
    p.add_argument("--model", required=True, metavar="FILE", help="a model file written by `glassnet train`")
    p.add_argument("--data", required=True, metavar="CSV", help="labelled rows: a CSV file with a header row")
    p.add_argument("--target", required=True, metavar="COL", help="the column holding the true values")
    c.add_column_options(p, "a column of ids (text or numbers), never a feature")
    c.add_device_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def evaluate(model, path: str, target: str, ignore=(), id_column=None) -> tuple[dict[str, float], int]:
    """(``{"loss": ..., <metric>: ...}`` in the target's units, number of rows) of ``model`` on ``path``."""
    X, table = read_rows(model, path, target, ignore, id_column)
    name = f"column {target!r} of {path}"
    meta = model.metadata
    if "classes" in meta:
        y = c.target_codes(model, table.y, name)
    else:
        y = c.scale_target(c.numeric_target(table.y, name), meta, model.dtype)
    std = meta.get("target_std", 1.0)
    return {k: c.in_target_units(k, v, std) for k, v in model.evaluate(X, y).items()}, len(X)


def run(args) -> int:
    ignored, id_column = c.parse_columns(args, args.target)
    model = load_model(args.model, device=args.device)
    scores, rows = evaluate(model, args.data, args.target, ignored, id_column)
    if args.json:
        c.print_json({"model": args.model, "data": args.data, "target": args.target, "rows": rows} | scores)
    else:
        print(f"{rows} rows: " + "  ".join(f"{k} {v:.6g}" for k, v in scores.items()))
    return 0
