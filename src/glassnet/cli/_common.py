"""Helpers shared by the CLI commands: argument checks, CSV input, JSON output, and the model's metadata.

A model trained by ``glassnet train`` carries in ``model.metadata`` what ``predict`` and ``evaluate`` need
to treat new rows as the training rows were treated::

    task            "classification" or "regression"
    target          the target column's name
    features        the feature columns' names, in the order the model reads them
    classes         classification: the labels; output unit i is classes[i]

The scaling lives in the model itself: a first ``Normalization`` layer adapted on the training rows and,
for regression, a last ``Normalization(invert=True)`` that puts predictions in the target's units, so
``gn.load(file).predict(raw_rows)`` is what ``glassnet predict`` prints. Files written before that (and
training checkpoints, for the target) keep the scaling here instead, which ``predict`` and ``evaluate``
still apply::

    feature_mean    per feature, subtracted before the model sees it (training rows' mean)
    feature_std     per feature, divided by after that (training rows' std; 1 for a constant column)
    target_mean     regression: the model predicts (y - target_mean) / target_std
    target_std
"""

from __future__ import annotations

import csv
import json
import os
import sys
from typing import Any

import numpy as np

from ..checks import check_number
from ..data import check_labels, read_csv
from ..errors import ConfigError, DataError
from ..jsonable import to_jsonable

__all__ = [
    "add_column_options",
    "add_device_option",
    "as_labels",
    "check_output_path",
    "csv_columns",
    "first_text",
    "fraction",
    "in_target_units",
    "model_inputs",
    "numeric_target",
    "parse_columns",
    "positive_float",
    "print_json",
    "read_model_rows",
    "read_table",
    "scale_target",
    "standardize",
    "target_codes",
    "to_jsonable",
]


# -- arguments ---------------------------------------------------------------------------------------
# Integer options use glassnet.checks directly (check_positive_int("--epochs", args.epochs)).
def positive_float(flag: str, value: Any) -> float:
    """``value`` as a float if it is a finite number > 0, else a ConfigError naming the option."""
    return check_number(flag, value, low_open=True, expected="a positive number")


def fraction(flag: str, value: Any) -> float:
    """``value`` as a float if it is a number in (0, 1), else a ConfigError naming the option."""
    return check_number(flag, value, low_open=True, high=1.0, expected="a number strictly between 0 and 1")


def check_output_path(path: str, flag: str) -> str:
    """Fail before any work when ``path`` cannot be written: its directory must exist and it is no directory."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"{flag} {path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"{flag} {path} is a directory; expected a file name")
    return path


def add_device_option(parser) -> None:
    """``--device NAME``: where the model computes (None: ``GLASSNET_DEVICE``, else the CPU)."""
    parser.add_argument(
        "--device",
        default=None,
        metavar="NAME",
        help="where the model computes: cpu, or gpu (CuPy on a CUDA GPU); default: $GLASSNET_DEVICE, else cpu",
    )


def add_column_options(parser, id_help: str) -> None:
    """``--ignore COL[,COL]`` and ``--id COL``: columns of the CSV file that are no features."""
    parser.add_argument("--ignore", default="", metavar="COL[,COL]",
                        help="columns to leave out (never features), comma-separated")
    parser.add_argument("--id", default=None, metavar="COL", help=id_help)


def parse_columns(args, target: str | None = None) -> tuple[list[str], str | None]:
    """(--ignore's column names, --id's) from ``args``; naming the target is a ConfigError."""
    ignored = [c.strip() for c in (args.ignore or "").split(",") if c.strip()]
    for flag, names in (("--ignore", ignored), ("--id", [args.id] if args.id else [])):
        if target is not None and target in names:
            raise ConfigError(f"{flag} {target}: that is the target column (--target); it cannot be left out")
    return ignored, (args.id.strip() if args.id else None)


# -- CSV input ---------------------------------------------------------------------------------------
def _os_error(path: str, e: OSError) -> DataError:
    return DataError(f"cannot read {path}: {e.strerror or e}")


def read_table(path: str, target: str | None, **columns):
    """:func:`glassnet.data.read_csv` (``columns``: its ``features``, ``ignore``, ``text``), with a missing
    or unreadable file as a DataError too."""
    try:
        return read_csv(path, target, **columns)
    except OSError as e:
        raise _os_error(path, e) from None


def csv_columns(path: str) -> list[str]:
    """The header's column names (the first non-blank line), read without parsing the rows."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            for fields in csv.reader(f):
                if fields:
                    return [c.strip() for c in fields]
    except OSError as e:
        raise _os_error(path, e) from None
    except (UnicodeDecodeError, csv.Error):
        return []  # read_csv says what is wrong, with the line
    raise DataError(f"{path} is empty: expected a header row with column names, then data rows")


# -- JSON output ------------------------------------------------------------------------------------
# to_jsonable (arrays to nested lists, NumPy scalars to Python numbers) comes from glassnet.jsonable


def print_json(obj: Any) -> None:
    json.dump(to_jsonable(obj), sys.stdout, indent=1)
    sys.stdout.write("\n")


# -- labels and the model's metadata -----------------------------------------------------------------
def as_labels(y: np.ndarray) -> np.ndarray:
    """Target cells as labels: integer-valued numbers become ints (so class 1 prints as ``1``, not ``1.0``)."""
    if y.dtype.kind == "f" and np.all(y == np.round(y)) and np.abs(y).max() < 2**53:
        return y.astype(np.int64)
    return y


def standardize(X: np.ndarray, meta: dict, dtype) -> np.ndarray:
    """``(X - feature_mean) / feature_std`` in ``dtype``; X unchanged (but cast) when there are no stats."""
    if "feature_mean" not in meta:
        return X.astype(dtype, copy=False)
    mean = np.asarray(meta["feature_mean"], dtype=np.float64)  # (F,)
    std = np.asarray(meta["feature_std"], dtype=np.float64)  # (F,)
    return ((X - mean) / std).astype(dtype)


def read_model_rows(model, path: str, target: str | None = None, ignore=(), id_column: str | None = None):
    """(inputs for ``model``, the table) from the rows of ``path``.

    A model trained by ``glassnet train`` reads exactly its feature columns, found by name and put in
    its order; every other column is left unread whatever it holds (a missing one is a DataError naming
    it and the file; one named by ``ignore`` is a ConfigError). A model without feature names (saved
    from Python) reads every column but the target, ``ignore`` and ``id_column``, in file order.
    Old model files that keep their scaling in the metadata get it applied here.
    """
    features = model.metadata.get("features") or None
    columns = csv_columns(path)
    if features:
        missing = [f for f in features if f not in columns]
        if missing and columns:
            raise DataError(f"{path} lacks column(s) the model was trained on: {', '.join(missing)}; "
                            f"expected {features}, received {columns}")
        wrongly = [f for f in features if f in ignore or f == id_column]
        if wrongly:
            raise ConfigError(f"the model reads column {wrongly[0]!r} (a feature it was trained on); "
                              "it cannot be left out with --ignore or --id")
    text = [id_column] if id_column else []
    table = read_table(path, target, features=features, ignore=() if features else ignore, text=text)
    return standardize(table.X, model.metadata, model.dtype), table


def model_inputs(model, table) -> np.ndarray:
    """The table's feature columns in the model's order, standardized as in training (old model files).

    Columns the model was not trained on are ignored; a missing one is a DataError naming it.
    A model without metadata (saved from Python) reads every feature column as it is.
    """
    meta = model.metadata
    features = meta.get("features")
    if not features:
        return table.X
    missing = [f for f in features if f not in table.feature_names]
    if missing:
        raise DataError(
            f"{table.path} lacks column(s) the model was trained on: {', '.join(missing)}; "
            f"expected {features}, received {table.feature_names}"
        )
    X = table.X[:, [table.feature_names.index(f) for f in features]]  # (N, F) in training order
    return standardize(X, meta, model.dtype)


def target_codes(model, y: np.ndarray, name: str) -> np.ndarray:
    """Class codes of target cells for a classification model; a label it never saw is a DataError."""
    classes = np.asarray(model.metadata["classes"])
    labels = as_labels(y)
    if classes.dtype.kind in "U" and labels.dtype.kind in "iuf":
        # the training target held text, so compare as text: cell "7" is label "7", not class code 7
        labels = np.array([str(v) for v in labels.tolist()])
    return check_labels(labels, classes, name)


def numeric_target(y: np.ndarray, name: str) -> np.ndarray:
    """Target cells as float64 numbers; text is a DataError (regression needs numbers)."""
    if y.dtype.kind not in "iuf":
        raise DataError(f"{name} holds text such as {first_text(y)!r}; regression needs numbers")
    return y.astype(np.float64)


def scale_target(y: np.ndarray, meta: dict, dtype) -> np.ndarray:
    """Regression targets in the units the model predicts, ``(y - target_mean) / target_std``."""
    if "target_mean" not in meta:
        return y.astype(dtype)
    return ((y - meta["target_mean"]) / meta["target_std"]).astype(dtype)


def in_target_units(name: str, value: float, target_std: float) -> float:
    """A log value of a regression model in the target's units: mse scales with std², mae with std."""
    if name.endswith("loss"):
        return value * target_std * target_std
    if name.endswith("mae"):
        return value * target_std
    return value


def first_text(y: np.ndarray) -> str:
    """The first cell of a text target that is not a number (what makes the column text)."""
    for v in y.tolist():
        try:
            float(v)
        except ValueError:
            return v
    return str(y[0])
