"""``glassnet predict``: a saved model's predictions for the rows of a CSV file, or of many.

The features are the columns the model was trained on, found by name and put in its order; every other
column (the target, ids, notes) is left unread, whatever it holds. ``--id COL`` copies a column to the
output as its first column. Classification writes the predicted label and one probability column per
class; regression writes the prediction in the target's units. ``--json`` gives the same as one JSON
object (on stdout, or in ``--out``).

Data bigger than memory comes as several files (``--data 'part-*.csv'``, a glob or a list) and ``--out``
a directory: each file is one task that reads it with glassnet's reader and writes
``DIR/<file stem>.csv`` (``.json`` with ``--json``), run by Dask's threads here, or with ``--scheduler
ADDRESS`` on the workers of that Dask cluster (:mod:`glassnet.dask`); the model is shipped to each worker
once. The workers must see the files at the same paths (a shared file system).
"""

from __future__ import annotations

import csv
import glob
import json
import os
import sys

import numpy as np

from ..atomic import atomic_open
from ..data import write_csv
from ..errors import ConfigError, DataError
from ..model import load_model
from . import _common as c

__all__ = ["add_parser", "input_files", "predict_file", "prediction_table", "read_rows", "run"]

#: seconds a Dask scheduler (``--scheduler``) has to answer before the command gives up
CONNECT_TIMEOUT_S = 5.0


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
        "--data", required=True, nargs="+", metavar="CSV",
        help="rows to predict: a CSV file with a header row; or several, as names or globs ('part-*.csv'), "
        "each predicted on its own into --out DIR",
    )
    p.add_argument("--out", metavar="FILE|DIR", help="write the predictions here, CSV or with --json JSON "
                   "(default: print them); a directory gets one file per input, DIR/<input stem>.csv; a "
                   "name ending in / is created as one")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on this Dask cluster (e.g. tcp://10.0.0.5:8786; "
                   f"it must answer within {CONNECT_TIMEOUT_S:g} s), one task per input file; needs --out")
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


def prediction_table(model, out: np.ndarray) -> tuple[list[str], list[list]]:
    """(header, rows) of the model's outputs ``out``: ``prediction`` and, for classification,
    ``prob_<class>`` per class."""
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


def _table(model, path: str, ignored, id_column: str | None, predict=None) -> tuple[list[str], list[list]]:
    """(header, rows) of predictions for the file at ``path``, the ``--id`` column first when given."""
    X, table = read_rows(model, path, ignore=ignored, id_column=id_column)
    header, rows = prediction_table(model, (predict or model.predict)(X))
    if id_column:
        if id_column in header:
            raise DataError(f"--id {id_column}: the output already has a column {id_column!r}")
        header = [id_column, *header]
        rows = [[i, *row] for i, row in zip(table.text[id_column].tolist(), rows)]
    return header, rows


def run(args) -> int:
    ignored, id_column = c.parse_columns(args)
    paths = input_files(args.data)
    if len(paths) > 1 or args.scheduler or (args.out and (os.path.isdir(args.out) or args.out.endswith(("/", os.sep)))):
        return _run_files(args, paths, ignored, id_column)
    model = load_model(args.model, device=args.device)
    if args.out:
        c.check_output_path(args.out, "--out")
    header, rows = _table(model, paths[0], ignored, id_column)
    if args.json:
        text = _json_text(model, args.model, paths[0], id_column, header, rows)
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


def input_files(patterns: list[str]) -> list[str]:
    """The files ``--data`` names, in order: each pattern with ``*``, ``?`` or ``[`` is a glob (its matches
    sorted), any other a file name; a file named twice counts once. A glob matching nothing is a DataError."""
    paths: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?[") and not os.path.exists(pattern):
            found = sorted(p for p in glob.glob(pattern) if not os.path.isdir(p))
            if not found:
                raise DataError(f"--data {pattern}: no file matches this pattern")
        else:
            found = [pattern]
        paths += [p for p in found if p not in paths]
    return paths


def predict_file(model, path: str, out: str, ignored=(), id_column: str | None = None, as_json: bool = False,
                 names: tuple[str, str] | None = None) -> int:
    """Predict the rows of the CSV file ``path`` into the file ``out`` (CSV, or JSON); the number of rows.

    One task of a many-file prediction: it runs where Dask puts it (a thread here, a cluster's worker),
    with the model that worker received once (see :func:`glassnet.dask.predict_block`). ``names``: the
    model file and ``path`` as the user gave them, for the JSON.
    """
    from ..dask import predict_block

    header, rows = _table(model, path, ignored, id_column, predict=lambda X: predict_block(model, X))
    if as_json:
        with atomic_open(out, "w", error_cls=DataError, encoding="utf-8") as f:
            f.write(_json_text(model, *(names or (None, path)), id_column, header, rows))
    else:
        write_csv(out, header, rows)
    return len(rows)


def _run_files(args, paths: list[str], ignored, id_column: str | None) -> int:
    """Every input file predicted on its own into ``--out`` DIR, by Dask: one task per file."""
    jobs = _output_files(args.out, paths, ".json" if args.json else ".csv")
    gdask = _dask_bridge()
    from dask import compute, delayed

    model = load_model(args.model, device=args.device)
    client = gdask.connect(args.scheduler, timeout=CONNECT_TIMEOUT_S) if args.scheduler else None
    shipped = gdask.delayed_model(model)  # one key of the graph: each worker receives the model once
    tasks = [delayed(predict_file, pure=False)(shipped, os.path.abspath(src), os.path.abspath(dst), ignored,
                                               id_column, args.json, (args.model, src)) for src, dst in jobs]
    try:
        os.makedirs(os.path.dirname(os.path.abspath(jobs[0][1])), exist_ok=True)  # --out DIR/ is created
        counts = compute(*tasks, scheduler=client or "threads")
    finally:
        if client is not None:
            client.close()
    if not args.quiet:
        where = f" on {args.scheduler}" if args.scheduler else ""
        target = jobs[0][1] if len(jobs) == 1 else f"{args.out} ({len(jobs)} files)"
        print(f"wrote {sum(counts)} predictions to {target}{where}", file=sys.stderr)
    return 0


def _output_files(out: str | None, paths: list[str], suffix: str) -> list[tuple[str, str]]:
    """(input, output) pairs, ``out/<input stem><suffix>`` for a directory ``out``; checked before any work.

    ``out`` must be an existing directory, or a name ending in ``/`` whose parent exists (it is created);
    with one input (``--scheduler``) it may also name the output file itself.
    """
    is_dir_name = bool(out) and out.endswith(("/", os.sep))
    if len(paths) == 1 and out and not is_dir_name and not os.path.isdir(out):
        return [(paths[0], c.check_output_path(out, "--out"))]
    why = f"with {len(paths)} input files" if len(paths) > 1 else "with --scheduler"
    if not out:
        raise ConfigError(f"{why}, --out DIR is needed: a directory for one output file per input")
    if not os.path.isdir(out):
        if os.path.exists(out) or not is_dir_name:
            raise ConfigError(f"--out {out} is not a directory; {why} it must be one, for one output file per "
                              "input (a name ending in / is created)")
        c.check_output_path(out.rstrip("/" + os.sep), "--out")  # its parent exists
    jobs, taken = [], {}
    inputs = {os.path.realpath(p) for p in paths}
    for src in paths:
        dst = os.path.join(out, os.path.splitext(os.path.basename(src))[0] + suffix)
        if dst in taken:
            raise ConfigError(f"--data {taken[dst]} and {src} would both write {dst}; give the files different names")
        if os.path.realpath(dst) in inputs:
            raise ConfigError(f"--out {out}: the predictions of {src} would overwrite the input file {dst}")
        taken[dst] = src
        jobs.append((src, dst))
    return jobs


def _dask_bridge():
    """glassnet.dask, imported only for a many-file prediction (Dask is an optional dependency)."""
    try:
        from .. import dask as gdask
    except ModuleNotFoundError as e:
        raise ConfigError(f"several input files, an --out directory and --scheduler need Dask ({e}); "
                          "pip install 'glassnet[dask]'") from None
    return gdask


def _json_text(model, model_path, data_path, id_column, header: list[str], rows: list[list]) -> str:
    obj = _as_json(model, model_path, data_path, id_column, header, rows)
    return json.dumps(c.to_jsonable(obj), indent=1) + "\n"


def _as_json(model, model_path, data_path, id_column, header: list[str], rows: list[list]) -> dict:
    """``{"model", "data", "rows", "columns", "predictions": [{column: value}, ...]}`` plus the task facts."""
    meta = model.metadata
    return {
        "model": model_path,
        "data": data_path,
        "task": meta.get("task"),
        "classes": meta.get("classes"),
        "id": id_column,
        "rows": len(rows),
        "columns": header,
        "predictions": [dict(zip(header, (_number(v) for v in row))) for row in rows],
    }


def _number(v):
    """NumPy scalars as Python numbers; a float32 as the shortest decimal that reads back as it."""
    if isinstance(v, np.floating):
        return float(str(v))
    return v.item() if isinstance(v, np.generic) else v
