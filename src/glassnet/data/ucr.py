"""Read time series in the two formats of the UCR/UEA archive into (N, T, C) arrays.

``.ts`` (the sktime/aeon format): comment lines (``#`` or ``%``), a header of ``@key value`` lines, then ``@data``
and one series per line. Values are comma-separated, dimensions (channels) are separated by ``:`` and
the class label comes last::

    @problemName GunPoint
    @univariate true
    @equalLength true
    @seriesLength 150
    @classLabel true 1 2
    @data
    -0.64,-0.64,...,-0.63:2

``.tsv`` (the 2018 archive's own files, also ``.txt``/``.csv`` of older releases): one series per line,
the label first, then the values, separated by tabs (or commas, or spaces). ``NaN`` marks a missing value.

Every error names the file and the line as an editor counts it (1-based).
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import DEFAULT_DTYPE, as_dtype
from ..errors import ConfigError, DataError, invalid_value
from .csv import _decode

__all__ = ["UCRData", "aeon_ucr_path", "load_ucr"]

_MISSING = {"?", "nan"}
_COMMENT = ("#", "%")
_ZNORM = (None, "series", "train")


@dataclass(frozen=True, eq=False)
class UCRData:
    """A UCR file's series and labels; unpacks as ``X, y = load_ucr(path)``.

    Attributes
    ----------
    X : numpy.ndarray, shape (N, T, C)
        The series: N series of T time steps and C channels (C = 1 for a univariate set).
    y : numpy.ndarray, shape (N,), or None
        Class labels (int64 when every label is an integer, else str), regression targets (float64,
        ``@targetlabel true``) or None when the file has no labels (``@classLabel false``).
    classes : numpy.ndarray or None
        The class labels in the order ``@classLabel`` declares them; for a ``.tsv`` file the sorted
        distinct labels. None for regression or unlabelled files.
    stats : tuple (mean, std) of arrays of shape (C,), or None
        The statistics ``znorm="train"`` used; pass them to the test file's ``load_ucr(stats=...)``.
    name : str
        ``@problemName``, or the file name without ``_TRAIN``/``_TEST`` and extension.
    path : str
    """

    X: np.ndarray
    y: np.ndarray | None
    classes: np.ndarray | None
    stats: tuple[np.ndarray, np.ndarray] | None
    name: str
    path: str

    def __iter__(self):
        return iter((self.X, self.y))


def load_ucr(
    path: str | os.PathLike[str],
    *,
    znorm: str | None = None,
    stats: tuple[Any, Any] | None = None,
    label_map: Mapping[Any, Any] | None = None,
    dtype: Any = DEFAULT_DTYPE,
) -> UCRData:
    """Read a UCR ``.ts`` or ``.tsv`` file into series ``X`` (N, T, C) and labels ``y`` (N,).

    Parameters
    ----------
    path : str or path-like
        ``*.ts`` is read as the ``.ts`` format; any other name (``*.tsv``, ``*.txt``, ``*.csv``) as a
        delimited file with the label first, unless its first line starts with ``@``, ``#`` or ``%``.
    znorm : {None, "series", "train"}
        None: values as stored. ``"series"``: each series (and channel) to mean 0 and std 1 over time,
        ``(x - mean_t x) / std_t x`` (Fawaz et al. 2019). ``"train"``: with one mean and std per channel
        over every series and time step (Wang et al. 2017), computed from this file or taken from `stats`.
    stats : tuple (mean, std), optional
        With ``znorm="train"``: the training file's ``UCRData.stats``, applied to this (test) file.
    label_map : mapping, optional
        Replaces each label by ``label_map[label]`` (keys as written in the file, e.g. ``{"1": 0}``, or
        as read, e.g. ``{1: 0}``); a label it lacks is a DataError naming the line.
    dtype : {"float32", "float64"}, default float32

    Returns
    -------
    UCRData
        Unpacks as ``X, y``; also carries ``classes``, ``stats``, ``name``.

    Raises
    ------
    DataError
        An empty file, no ``@data``, a bad header value, a value that is not a number, a label not
        declared by ``@classLabel``, series of different lengths (or channels), timestamps.
    OSError
        The file cannot be opened.

    Examples
    --------
    >>> train = load_ucr("GunPoint_TRAIN.ts", znorm="train")               # doctest: +SKIP
    >>> X_test, y_test = load_ucr("GunPoint_TEST.ts", znorm="train", stats=train.stats)  # doctest: +SKIP
    """
    path_str = os.fspath(path)
    dt = as_dtype(dtype)
    if znorm not in _ZNORM:
        raise invalid_value("znorm", znorm, "None, 'series' or 'train'")
    if stats is not None and znorm != "train":
        raise ConfigError(f"stats are training statistics for znorm='train'; received znorm={znorm!r}")

    text = _decode(Path(path_str).read_bytes(), path_str)
    lines = [(i + 1, s.strip()) for i, s in enumerate(text.split("\n"))]
    lines = [(n, s) for n, s in lines if s]
    if not lines:
        raise DataError(f"line 1 of {path_str}: the file is empty; expected UCR time series "
                        "(a .ts header ending in @data, or .tsv rows)")
    if path_str.lower().endswith(".ts") or lines[0][1].startswith(("@",) + _COMMENT):
        series, labels, lines_of, header = _read_ts(lines, path_str)
    else:
        series, labels, lines_of, header = _read_delimited(lines, path_str)
    name = header.get("problemname") or _stem(path_str)

    X = np.array(series, dtype=np.float64).transpose(0, 2, 1)  # (N, C, T) -> (N, T, C)
    y, classes = _labels(labels, lines_of, header, label_map, path_str)
    X, stats = _znormalize(X, znorm, stats, path_str)
    with np.errstate(over="ignore"):
        Xd = X.astype(dt)
    if np.isinf(Xd).any() and not np.isinf(X).any():
        n = int(np.argwhere(np.isinf(Xd))[0][0])
        raise DataError(f"line {lines_of[n]} of {path_str}: a value does not fit in {dt}")
    return UCRData(np.ascontiguousarray(Xd), y, classes, stats, name, path_str)


# -- the .ts format ---------------------------------------------------------------------------------------
def _flag(key: str, value: str, line: int, path: str) -> bool:
    word = value.split()[0].lower() if value.split() else ""
    if word not in ("true", "false"):
        raise DataError(f"line {line} of {path}: @{key} must be true or false; received {value!r}")
    return word == "true"


def _read_header(lines, path) -> tuple[dict, int]:
    """The header as a dict (lower-case keys) and the index in `lines` of the first series after @data."""
    header: dict[str, Any] = {"lines": {}}  # "lines": the line each key was read from, for messages
    for k, (n, s) in enumerate(lines):
        if s.startswith(_COMMENT):
            continue
        if not s.startswith("@"):
            raise DataError(
                f"line {n} of {path}: {s[:40]!r} comes before @data; expected header lines (@key value) "
                "ending with a @data line, then the series"
            )
        spelled, _, value = s[1:].partition(" ")
        key, value = spelled.lower(), value.strip()
        if key == "data":
            return header, k + 1
        if key in ("timestamps", "missing", "univariate", "equallength", "targetlabel"):
            header[key] = _flag(spelled, value, n, path)
        elif key in ("serieslength", "dimensions"):
            if not value.isdigit() or int(value) < 1:
                raise DataError(f"line {n} of {path}: @{spelled} must be a positive integer; received {value!r}")
            header[key] = int(value)
        elif key == "classlabel":
            words = value.split()
            header[key] = _flag(spelled, value, n, path)
            header["classes"] = words[1:] if header[key] else None
        else:  # @problemName and keys this reader does not need
            header[key] = value
        header["lines"][key] = n
    raise DataError(
        f"line {lines[-1][0]} of {path}: the file ends without a @data line; expected the header "
        "(@problemName, @classLabel, ...) to end with @data, followed by one series per line"
    )


def _values(cells: list[str], line: int, dim: int, path: str, missing_ok: bool) -> list[float]:
    """The numbers of one dimension of one series; ``?``/``NaN`` are NaN where missing values are allowed."""
    try:
        out = list(map(float, cells))
        if all(map(math.isfinite, out)):
            return out
    except ValueError:
        pass
    out = []
    for j, cell in enumerate(cells):
        where = f"line {line} of {path}: {cell.strip()!r} (value {j + 1}" + (f" of dimension {dim})" if dim else ")")
        try:
            v = float(cell)
        except ValueError:
            v = None
        if cell.strip().lower() in _MISSING:
            if not missing_ok:
                raise DataError(f"{where} marks a missing value, but the file does not declare @missing true")
            v = math.nan
        elif v is None:
            raise DataError(f"{where} is not a number")
        elif not math.isfinite(v):
            raise DataError(f"{where} is not a finite number")
        out.append(v)
    return out


def _read_ts(lines, path):
    header, start = _read_header(lines, path)
    if header.get("timestamps"):
        raise DataError(
            f"line {header['lines']['timestamps']} of {path}: @timeStamps true is not supported; "
            "store the values only (one comma-separated list per dimension)"
        )
    labelled = header.get("classlabel", False) or header.get("targetlabel", False)
    missing_ok = bool(header.get("missing", False))
    declared_dims = header.get("dimensions", 1 if header.get("univariate") else None)
    series, labels, lines_of = [], [], []
    for n, s in lines[start:]:
        if s.startswith(_COMMENT):
            continue
        if s.startswith("@"):
            raise DataError(f"line {n} of {path}: header line {s.split()[0]!r} after @data")
        parts = s.split(":")
        if labelled:
            if len(parts) < 2:
                raise DataError(
                    f"line {n} of {path}: expected the series' values, a ':' and its label; no ':' found"
                )
            labels.append(parts.pop().strip())
        dims = [_values(p.split(","), n, d + 1 if len(parts) > 1 else 0, path, missing_ok)
                for d, p in enumerate(parts)]
        series.append(dims)
        lines_of.append(n)
    if not series:
        raise DataError(f"line {lines[start - 1][0]} of {path}: no series after @data; expected one per line")
    _check_dims(series, lines_of, declared_dims, header, path)
    _check_lengths(series, lines_of, header, path)
    return series, (labels if labelled else None), lines_of, header


def _check_dims(series, lines_of, declared, header, path) -> None:
    c0 = len(series[0]) if declared is None else declared
    for dims, n in zip(series, lines_of):
        if len(dims) != c0:
            where = header["lines"].get("dimensions") or header["lines"].get("univariate")
            why = (f"the header (line {where}) declares {declared}" if declared is not None
                   else f"the first series (line {lines_of[0]}) has {c0}")
            raise DataError(f"line {n} of {path}: series has {len(dims)} dimension(s) but {why}")


def _check_lengths(series, lines_of, header, path) -> None:
    equal = header.get("equallength")
    want = header.get("serieslength")
    if want is not None:
        why = f"@seriesLength {want} (line {header['lines']['serieslength']})"
    else:
        want, why = len(series[0][0]), f"the first series (line {lines_of[0]}) has {len(series[0][0])}"
    for dims, n in zip(series, lines_of):
        for d, values in enumerate(dims):
            if len(values) == want:
                continue
            dim = f" in dimension {d + 1}" if len(dims) > 1 else ""
            if equal is False:
                raise DataError(
                    f"line {n} of {path}: series has {len(values)} values{dim} but {why}; the file declares "
                    "@equalLength false, and glassnet needs series of one length (N, T, C): pad or "
                    "resample them to equal length"
                )
            raise DataError(f"line {n} of {path}: series has {len(values)} values{dim} but {why}; "
                            "every series must have the same length")


# -- the .tsv format --------------------------------------------------------------------------------------
def _read_delimited(lines, path):
    sample = lines[0][1]
    sep = "\t" if "\t" in sample else ("," if "," in sample else None)
    series, labels, lines_of = [], [], []
    for n, s in lines:
        fields = s.split(sep)
        if len(fields) < 2:
            raise DataError(f"line {n} of {path}: expected a label then the series' values; found one field")
        labels.append(fields[0].strip())
        series.append([_values(fields[1:], n, 0, path, missing_ok=True)])
        lines_of.append(n)
    _check_lengths(series, lines_of, {}, path)
    return series, labels, lines_of, {"classlabel": True, "classes": None, "lines": {}}


# -- labels and normalization ------------------------------------------------------------------------------
def _as_label_array(texts: list[str]) -> np.ndarray:
    """int64 when every label is an integer (``"2"``, ``"-1"``, ``"1.0"``), else the texts."""
    try:
        values = np.array([float(t) for t in texts])
    except ValueError:
        return np.array(texts, dtype=str)
    if np.isfinite(values).all() and (values == np.round(values)).all() and np.abs(values).max() < 2**53:
        return values.astype(np.int64)
    return np.array(texts, dtype=str)


def _labels(labels, lines_of, header, label_map, path):
    if labels is None:
        return None, None
    if header.get("targetlabel"):
        return _targets(labels, lines_of, path), None
    declared = header.get("classes")
    if declared:
        allowed = set(declared)
        for t, n in zip(labels, lines_of):
            if t not in allowed:
                raise DataError(
                    f"line {n} of {path}: class label {t!r} is not declared by @classLabel "
                    f"(line {header['lines']['classlabel']}: {' '.join(declared)})"
                )
    y = _as_label_array(labels)
    classes = _as_label_array(declared) if declared else np.unique(y)
    if label_map is not None:
        y = _map_labels(labels, y, lines_of, label_map, path)
        classes = np.unique(y)
    return y, classes


def _targets(labels, lines_of, path) -> np.ndarray:
    out = []
    for t, n in zip(labels, lines_of):
        try:
            out.append(float(t))
        except ValueError:
            raise DataError(f"line {n} of {path}: target {t!r} is not a number (@targetlabel true)") from None
    return np.array(out, dtype=np.float64)


def _map_labels(texts, y, lines_of, label_map, path) -> np.ndarray:
    if not isinstance(label_map, Mapping):
        raise invalid_value("label_map", label_map, "a mapping from labels to new labels")
    out = []
    for t, v, n in zip(texts, y.tolist(), lines_of):
        if t in label_map:
            out.append(label_map[t])
        elif v in label_map:
            out.append(label_map[v])
        else:
            raise DataError(f"line {n} of {path}: label {t!r} is not in label_map (keys: {list(label_map)})")
    return np.array(out)


def _znormalize(X, znorm, stats, path):
    """X (N, T, C) in float64, normalized as asked; returns (X, stats or None)."""
    if znorm is None:
        return X, None
    if znorm == "series":
        mean = np.nanmean(X, axis=1, keepdims=True)  # (N, 1, C)
        std = np.nanstd(X, axis=1, keepdims=True)  # (N, 1, C)
        return (X - mean) / np.where(std > 0, std, 1.0), None
    C = X.shape[2]
    if stats is None:
        mean = np.nanmean(X, axis=(0, 1))  # (C,)
        std = np.nanstd(X, axis=(0, 1))  # (C,)
        std = np.where(std > 0, std, 1.0)  # a constant channel stays centred at 0
    else:
        try:
            mean, std = (np.asarray(s, dtype=np.float64).reshape(-1) for s in stats)
        except (TypeError, ValueError):
            raise invalid_value("stats", stats, "a pair (mean, std) as in UCRData.stats") from None
        if mean.shape != (C,) or std.shape != (C,) or not (std > 0).all():
            raise ConfigError(
                f"stats for {path} must be (mean, std) with {C} value(s) each and std > 0 (one per channel); "
                f"received mean shape {mean.shape}, std shape {std.shape}"
            )
    return (X - mean) / std, (mean, std)


def _stem(path: str) -> str:
    stem = Path(path).name.split(".")[0]
    for suffix in ("_TRAIN", "_TEST"):
        if stem.upper().endswith(suffix):
            return stem[: -len(suffix)]
    return stem


# -- data shipped inside the aeon wheel ------------------------------------------------------------------------
def aeon_ucr_path(name: str, split: str = "train") -> str:
    """The path of ``<name>_<SPLIT>.ts`` among the UCR sets that the ``aeon`` package ships in its wheel.

    aeon is not imported (that takes seconds); only its installed data folder is looked up.

    >>> aeon_ucr_path("GunPoint", "test")  # doctest: +SKIP
    '.../site-packages/aeon/datasets/data/GunPoint/GunPoint_TEST.ts'
    """
    if split not in ("train", "test"):
        raise invalid_value("split", split, "'train' or 'test'")
    spec = importlib.util.find_spec("aeon")
    if spec is None or spec.origin is None:
        raise DataError("the UCR data sets come with the aeon package: pip install 'glassnet[tsc]' (or aeon)")
    root = Path(spec.origin).parent / "datasets" / "data"
    path = root / name / f"{name}_{split.upper()}.ts"
    if not path.is_file():
        shipped = sorted(p.parent.name for p in root.glob("*/*_TRAIN.ts"))
        raise DataError(f"aeon ships no UCR set {name!r} ({path} not found); it ships: {', '.join(shipped)}")
    return str(path)
