"""Read a numeric table from a CSV file, and write predictions to one.

The first non-blank line is the header and names every column. Feature cells must be finite numbers (with
``.`` as the decimal point; surrounding spaces are fine). The target column may hold numbers or text, and
so may the columns kept as ``text`` (ids) and those not read at all (``features=`` picks the feature
columns by name, ``ignore=`` leaves some out).
Every error names the file, the line as an editor shows it (the header is usually line 1) and the column.
"""

from __future__ import annotations

import csv
import io
import operator
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open
from ..backend import DEFAULT_DTYPE, as_dtype
from ..errors import DataError, ShapeError, invalid_value

__all__ = ["Table", "read_csv", "write_csv"]


@dataclass(frozen=True, eq=False)
class Table:
    """A CSV file split into features and target.

    Attributes
    ----------
    path : str
        The file as it was given.
    columns : list of str
        Every column name, in file order.
    feature_names : list of str
        The columns of `X`, in file order (all columns but the target).
    target_name : str or None
        The target column, or None when no target was asked for.
    X : numpy.ndarray, shape (N, F)
        The feature cells as numbers.
    y : numpy.ndarray, shape (N,), or None
        The target cells: floats when every one is a number, otherwise strings (surrounding spaces removed).
    text : dict of str to numpy.ndarray, shape (N,)
        The columns asked for as ``text`` (e.g. ids), as strings with surrounding spaces removed.
    """

    path: str
    columns: list[str]
    feature_names: list[str]
    target_name: str | None
    X: np.ndarray
    y: np.ndarray | None
    text: dict[str, np.ndarray] = field(default_factory=dict)


def _decode(data: bytes, path: str) -> str:
    """UTF-8 text without a leading byte-order mark; undecodable bytes are a DataError naming where."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        pos = exc.start + len(data) - len(exc.object)  # the codec reports offsets past a stripped BOM
        line = data.count(b"\n", 0, pos) + 1
        raise DataError(
            f"{path} is not valid UTF-8: byte 0x{data[pos]:02x} at byte position {pos} "
            f"(line {line}) cannot be decoded ({exc.reason}); save the file as UTF-8"
        ) from None


def _records(text: str, delimiter: str, path: str) -> list[tuple[int, list[str]]]:
    """Non-blank records of the file with the line each starts on (1-based, as an editor counts)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    out, line = [], 1
    try:
        for fields in reader:
            if fields:  # the csv module returns [] for a blank line
                out.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as exc:
        # `line` is where the broken record starts: an unclosed quote runs to the end of the file
        raise DataError(f"line {line} of {path} is not valid CSV: {exc}") from None
    return out


def _header(line: int, fields: list[str], path: str) -> list[str]:
    names = [f.strip() for f in fields]
    seen: dict[str, int] = {}
    for j, col in enumerate(names):
        if not col:
            raise DataError(
                f"column {j + 1} of the header at line {line} of {path} has no name; every column needs one"
            )
        if col in seen:
            raise DataError(
                f"column name {col!r} appears twice in the header at line {line} of {path} "
                f"(columns {seen[col] + 1} and {j + 1}); column names must be unique"
            )
        seen[col] = j
    return names


def _parse_number(cell: str) -> float:
    """``float`` without its Python-only spellings (``1_000``); raises ValueError for anything else."""
    if "_" in cell:
        raise ValueError(cell)
    return float(cell)


def _cell_error(
    cell: str, column: str, line: int, path: str, value: float | None = None, expected: str = "a number"
) -> DataError:
    where = f"in column {column!r} at line {line} of {path}"
    if not cell.strip():
        return DataError(f"missing value {where}: the cell is empty; expected {expected}")
    if value is not None:
        return DataError(
            f"{cell.strip()!r} {where} is not finite (it reads as {value}); expected a finite number"
        )
    hint = " (use '.' as the decimal point)" if "," in cell else ""
    return DataError(f"{cell.strip()!r} {where} is not a number{hint}")


def _target_values(cells: list[str], lines: list[int], name: str, path: str, dt: np.dtype) -> np.ndarray:
    """Floats when every target cell is a number, else the stripped strings; empty cells are an error."""
    for cell, line in zip(cells, lines):
        if not cell.strip():
            raise _cell_error(cell, name, line, path, expected="a number or a label")
    try:
        values = np.array([_parse_number(c) for c in cells], dtype=np.float64)
    except ValueError:
        return np.array([c.strip() for c in cells], dtype=str)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise _cell_error(cells[i], name, lines[i], path, value=values[i])
    return _fit_dtype(values[:, None], lambda i, j: cells[i], [name], lines, path, dt)[:, 0]


def _fit_dtype(
    X: np.ndarray,
    cell_at: Callable[[int, int], str],
    names: list[str],
    lines: list[int],
    path: str,
    dt: np.dtype,
) -> np.ndarray:
    """Cast finite float64 values (N, F) to `dt`, naming the first one too large for it."""
    with np.errstate(over="ignore"):
        out = X.astype(dt)
    bad = ~np.isfinite(out)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise DataError(
            f"{cell_at(i, j).strip()!r} in column {names[j]!r} at line {lines[i]} of {path} "
            f"does not fit in {dt} "
            f"(largest is {np.finfo(dt).max:.3g})"
        )
    return out


def read_csv(
    path: str | os.PathLike[str],
    target: str | None = None,
    *,
    features: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    text: Sequence[str] = (),
    delimiter: str = ",",
    dtype: Any = DEFAULT_DTYPE,
) -> Table:
    """Read a CSV file with a header row into features `X` and an optional target `y`.

    Parameters
    ----------
    path : str or path-like
        A UTF-8 text file (a leading byte-order mark is ignored).
    target : str, optional
        The column to predict. None: no target, and ``Table.y`` is None.
    features : sequence of str, optional
        The feature columns, by name, in the order `X` gets them; every other column is left unread
        (whatever it holds). None: every column but the target, `ignore` and `text`, in file order.
    ignore : sequence of str
        Columns not read at all (e.g. a numeric id that must not become a feature).
    text : sequence of str
        Columns kept as strings in ``Table.text`` (e.g. an id to carry through to predictions).
    delimiter : str, default ","
        One character that separates fields.
    dtype : {"float32", "float64"}, default float32
        The dtype of ``X`` (and of ``y`` when the target is numeric).

    Returns
    -------
    Table

    Raises
    ------
    DataError
        An empty file, a header without data, unnamed or duplicate columns, ragged rows, cells that are
        empty, not numbers or not finite, an unknown `target` (or column of `features`, `ignore`, `text`),
        bytes that are not UTF-8.
    OSError
        The file cannot be opened.
    """
    path_str = os.fspath(path)
    dt = as_dtype(dtype)
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise invalid_value("delimiter", delimiter, "one character other than a quote or a line break")
    if target is not None and not isinstance(target, str):
        raise invalid_value("target", target, "a column name (str) or None")

    content = _decode(Path(path_str).read_bytes(), path_str)
    records = _records(content, delimiter, path_str)
    if not records:
        raise DataError(f"{path_str} is empty: expected a header row with column names, then data rows")
    header_line, header_fields = records[0]
    columns = _header(header_line, header_fields, path_str)
    rows = records[1:]
    if not rows:
        raise DataError(
            f"{path_str} has a header (line {header_line}) but no data rows; expected at least one row"
        )
    if target is not None and target not in columns:
        raise DataError(f"{path_str} has no column {target!r} to use as the target; columns: {columns}")
    t = None if target is None else columns.index(target)
    for role, names in (("feature", features or ()), ("to ignore", ignore), ("to keep as text", text)):
        missing = [c for c in names if c not in columns]
        if missing:
            raise DataError(f"{path_str} has no column {missing[0]!r} {role}; columns: {columns}")
    if features is None:
        left_out = {target, *ignore, *text}
        feature_idx = [j for j, col in enumerate(columns) if col not in left_out]
    else:
        feature_idx = [columns.index(col) for col in features]
    feature_names = [columns[j] for j in feature_idx]
    if not feature_idx:
        if columns == [target]:
            raise DataError(f"{path_str} has no feature columns: its only column is the target {target!r}")
        raise DataError(f"{path_str} has no feature columns: its columns {columns} are all the target, "
                        "ignored or kept as text")

    # float() also reads Python's '1_000'; only when the file holds a '_' is the stricter parser needed
    parse = _parse_number if "_" in content else float
    every = feature_idx == list(range(len(columns)))
    pick = (lambda fields: [fields[feature_idx[0]]]) if len(feature_idx) == 1 else operator.itemgetter(*feature_idx)
    lines: list[int] = []
    values: list[list[float]] = []
    for line, fields in rows:
        if len(fields) != len(columns):
            raise DataError(
                f"line {line} of {path_str}: row has {len(fields)} fields, header has {len(columns)} "
                f"({', '.join(columns)})"
            )
        cells = fields if every else pick(fields)
        try:
            values.append(list(map(parse, cells)))
        except ValueError:
            for cell, col in zip(cells, feature_names):
                try:
                    _parse_number(cell)
                except ValueError:
                    raise _cell_error(cell, col, line, path_str) from None
        lines.append(line)

    def cell_at(i: int, j: int) -> str:
        return rows[i][1][feature_idx[j]]

    X = np.array(values, dtype=np.float64)  # (N, F)
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise _cell_error(cell_at(i, j), feature_names[j], lines[i], path_str, value=X[i, j])
    X = _fit_dtype(X, cell_at, feature_names, lines, path_str, dt)

    y = None
    if t is not None:
        y = _target_values([fields[t] for _, fields in rows], lines, columns[t], path_str, dt)
    kept = {}
    for col in text:
        j = columns.index(col)
        kept[col] = np.array([fields[j].strip() for _, fields in rows], dtype=str)  # (N,)
    return Table(path_str, columns, feature_names, target, X, y, kept)


def write_csv(path: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a header and rows to a CSV file atomically: readers see the old file or the whole new one.

    The rows go to a temporary file in the same directory, which then replaces `path` (``os.replace``).
    Numbers are written with ``str``, the shortest text that reads back as the same float.

    Parameters
    ----------
    path : str or path-like
    columns : sequence of str
        The header.
    rows : iterable of sequences, or a 2-D array
        Each with ``len(columns)`` values.
    """
    path_str = os.fspath(path)
    columns = [str(c) for c in columns]
    if isinstance(rows, np.ndarray):
        if rows.ndim != 2:
            raise ShapeError(
                f"rows for {path_str} must be 2-dimensional (rows, columns); received shape {rows.shape}"
            )
        rows = rows.astype(
            str
        ).tolist()  # NumPy's shortest round-trip text, in C rather than one str() per value
    with atomic_open(path_str, "w", error_cls=DataError, newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=",", lineterminator="\n")
        writer.writerow(columns)
        for i, row in enumerate(rows):
            row = [row] if isinstance(row, (str, bytes)) else list(row)
            if len(row) != len(columns):
                raise DataError(
                    f"row {i} for {path_str} has {len(row)} value(s), "
                    f"but there are {len(columns)} columns "
                    f"({', '.join(columns)})"
                )
            writer.writerow(row)
