"""Checks that turn user data into the arrays the engine trusts.

Every array that enters a model passes :func:`check_array` once, at the boundary; after that the engine
assumes C-contiguous, finite floating-point arrays and never checks again. Positions in messages are
0-based array indices (``row 3`` is ``X[3]``). Class labels are handled in :mod:`glassnet.data.labels`
.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..backend import DEFAULT_DTYPE, as_dtype, make_rng
from ..checks import check_non_negative_int, check_number, check_positive_int, is_int
from ..errors import ConfigError, DataError, ShapeError, invalid_value
from .pages import PageBudget, memory_map

__all__ = [
    "batches",
    "check_array",
    "check_lengths",
    "check_number",  # from glassnet.checks, re-exported for code that imported it from here
    "check_positive_int",  # likewise
    "memory_map",
    "train_val_split",
]

# What each rank means under the batch-first convention, for shape messages.
_AXES = {
    1: "(samples,)",
    2: "(samples, features)",
    3: "(samples, time, channels)",
    4: "(samples, height, width, channels)",
}
_KINDS = {"U": "text", "S": "bytes", "c": "complex numbers", "M": "dates", "m": "time spans", "V": "records"}


def _where(index: tuple[int, ...]) -> str:
    """``row 3`` / ``row 3, column 1`` / ``index (0, 2, 1)`` for an index into an array of that rank."""
    index = tuple(int(i) for i in index)
    if len(index) == 1:
        return f"row {index[0]}"
    if len(index) == 2:
        return f"row {index[0]}, column {index[1]}"
    return f"index {index}"


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_sequence(x: Any) -> bool:
    return isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.ndim > 0)


def _describe(children: list[Any], i: int, path: str, name: str) -> str:
    label = f"row {i}" if not path else f"{name}{path}[{i}]"
    child = children[i]
    if not _is_sequence(child):
        return f"{label} is a single value"
    return f"{label} has {len(child)} value{'' if len(child) == 1 else 's'}"


def _ragged_message(a: Any, name: str) -> str | None:
    """Describe the first place where nested sequences disagree in length, or None if none does."""
    if not _is_sequence(a):
        return None
    level, paths = [a], [""]
    while level:  # breadth first, so the message names the shallowest mismatch
        next_level, next_paths = [], []
        for node, path in zip(level, paths):
            children = list(node)
            for i in range(1, len(children)):
                a0, ai = children[0], children[i]
                if _is_sequence(a0) != _is_sequence(ai) or (_is_sequence(ai) and len(ai) != len(a0)):
                    first, other = _describe(children, 0, path, name), _describe(children, i, path, name)
                    return f"{name} is ragged: {first} but {other}; expected equal lengths"
            for i, child in enumerate(children):
                if _is_sequence(child):
                    next_level.append(child)
                    next_paths.append(f"{path}[{i}]")
        level, paths = next_level, next_paths
    return None


def _check_objects(a: np.ndarray, name: str) -> np.ndarray:
    """Convert an object array whose every element is a real number; otherwise name the first that is not."""
    for index in np.ndindex(a.shape):
        v = a[index]
        where = f" at {_where(index)}" if index else ""
        if isinstance(v, (bool, np.bool_)):
            raise DataError(
                f"{name} contains a boolean ({v!r}){where}; booleans must be cast explicitly, "
                f"e.g. {name}.astype(np.float32)"
            )
        if not isinstance(v, numbers.Real):
            raise DataError(f"{name} contains {_short_repr(v)} ({type(v).__name__}){where}; expected numbers")
    return a.astype(np.float64)


def check_array(
    a: Any,
    name: str = "X",
    *,
    dtype: Any = DEFAULT_DTYPE,
    min_ndim: int = 1,
    max_ndim: int | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Return `a` as a C-contiguous, finite floating-point array, or say exactly what is wrong with it.

    Parameters
    ----------
    a : array_like
        Numbers: an ndarray, nested lists, or anything ``numpy.asarray`` accepts.
    name : str, default "X"
        How messages call the array.
    dtype : {"float32", "float64"}, default float32
        The dtype of the result. An array that already has it and is C-contiguous is returned as is (a
        view, never a copy): a memory-mapped file (``np.load(path, mmap_mode="r")``) stays on disk, and
        its finiteness is checked chunk by chunk.
    min_ndim, max_ndim : int
        Allowed number of dimensions (``max_ndim=None``: no upper bound).
    allow_empty : bool, default False
        Whether an array with a zero-length axis is accepted.

    Returns
    -------
    numpy.ndarray
        Same shape as `a`, dtype `dtype`.

    Raises
    ------
    DataError
        Text, objects, booleans, complex numbers, ragged lists, empty arrays, NaN or inf.
    ShapeError
        A scalar or the wrong number of dimensions.

    Examples
    --------
    >>> check_array([[1, 2], [3, 4]], min_ndim=2, max_ndim=2).dtype
    dtype('float32')
    """
    dt = as_dtype(dtype)
    try:
        src = np.asarray(a)
    except ValueError as exc:  # numpy refuses ragged nested sequences
        raise DataError(
            _ragged_message(a, name) or f"{name} cannot be converted to an array of numbers: {exc}"
        ) from None
    except TypeError as exc:
        raise DataError(
            f"{name} of type {type(a).__name__} cannot be converted to an array of numbers: {exc}"
        ) from None

    kind = src.dtype.kind
    if kind == "b":
        raise DataError(
            f"{name} has dtype bool; booleans must be cast explicitly, e.g. {name}.astype(np.float32)"
        )
    if kind == "O":
        src = _check_objects(src, name)
    elif kind not in "iuf":
        what = _KINDS.get(kind, "non-numeric values")
        raise DataError(f"{name} has dtype {src.dtype} ({what}); expected numbers")

    if src.ndim == 0:
        raise ShapeError(
            f"{name} must be an array with a batch dimension; received a scalar ({_short_repr(src[()])})"
        )
    if src.ndim < min_ndim or (max_ndim is not None and src.ndim > max_ndim):
        if max_ndim == min_ndim:
            expected = f"{min_ndim}-dimensional {_AXES.get(min_ndim, '')}".rstrip()
        elif max_ndim is None:
            expected = f"at least {min_ndim}-dimensional"
        else:
            expected = f"{min_ndim}- to {max_ndim}-dimensional"
        raise ShapeError(f"{name} must be {expected}; received shape {src.shape}")

    if src.size == 0 and not allow_empty:
        axis = src.shape.index(0)
        what = {0: "row", 1: "column"}.get(axis, f"entry along axis {axis}")
        raise DataError(f"{name} is empty: expected at least one {what}; received shape {src.shape}")

    with np.errstate(over="ignore"):  # an overflow becomes inf and is reported below
        out = np.ascontiguousarray(src, dtype=dt)
    index = _first_non_finite(out)
    if index is not None:
        if np.isfinite(src[index]):
            raise DataError(
                f"{name} has value {_short_repr(src[index])} at {_where(index)} that does not fit in {dt} "
                f"(largest is {np.finfo(dt).max:.3g})"
            )
        bad = "NaN" if np.isnan(src[index]) else ("inf" if src[index] > 0 else "-inf")
        raise DataError(f"{name} contains {bad} at {_where(index)}; expected finite numbers")
    return out


def _finite_sum_of_squares(block: np.ndarray) -> bool:
    flat = block.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.dot(flat, flat)))


def _first_non_finite(a: np.ndarray, chunk: int = 1 << 20) -> tuple[int, ...] | None:
    """Index of the first NaN/inf in `a` (at least 1-D), or None; looks at about `chunk` values at a time.

    A whole-array ``np.isfinite`` would allocate a boolean array a quarter the size of the data; chunks
    keep the check's memory small, and a memory-mapped file is read as one bounded pass
    (:class:`~glassnet.data.pages.PageBudget`): its pages are released every ~16 MB and at the end.
    A chunk whose sum of squares is finite holds no NaN or inf (they would make it NaN or inf), and that
    one BLAS dot product is about three times faster than ``isfinite``; only a chunk where it is not
    finite (a NaN, an inf, or squares that overflow) is searched element by element.
    """
    row = int(np.prod(a.shape[1:]))  # values per row
    fast = a.dtype.kind == "f" and a.flags.c_contiguous
    for s in PageBudget(a).slices(max(1, chunk // max(1, row))):
        block = a[s]
        if fast and _finite_sum_of_squares(block):
            continue
        finite = np.isfinite(block)
        if not finite.all():
            index = tuple(int(i) for i in np.argwhere(~finite)[0])
            return (s.start + index[0],) + index[1:]
    return None


def _n_rows(a: Any, name: str) -> int:
    try:
        return len(a)
    except TypeError:  # a scalar, or a 0-d array
        raise ShapeError(
            f"{name} must be an array with a batch dimension; received {_short_repr(a)}"
        ) from None


def check_lengths(X: Any, y: Any) -> None:
    """Raise ShapeError unless `X` and `y` have the same number of rows (samples)."""
    nx, ny = _n_rows(X, "X"), _n_rows(y, "y")
    if nx != ny:
        raise ShapeError(f"X and y have different numbers of rows: X has {nx}, y has {ny}")


def train_val_split(
    X: Any, y: Any, fraction: float, rng: np.random.Generator | int | None = None
) -> tuple[Any, Any, Any, Any]:
    """Hold out a fraction of the rows for validation, as Keras' ``validation_split`` does.

    Without `rng` the last ``n - floor(n * (1 - fraction))`` rows are the validation set, unshuffled, so a
    file sorted by class gives a one-class validation set, exactly as in Keras. With `rng` (a Generator or
    seed) the validation rows are drawn at random; both parts keep the original row order.

    Parameters
    ----------
    X : array, shape (N, ...)
    y : array, shape (N, ...) or None
    fraction : float
        In (0, 1). Messages call it ``validation_split``, the name users pass to ``fit``.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    X_train, y_train, X_val, y_val
        Views (no shuffle) or copies (shuffle); ``y_*`` are None when `y` is None.
    """
    check_number("validation_split", fraction, low_open=True, high=1.0, expected="a number strictly between 0 and 1")
    if y is not None:
        check_lengths(X, y)
    n = _n_rows(X, "X")
    split_at = int(np.floor(n * (1.0 - fraction)))
    if split_at == 0 or split_at == n:
        raise ConfigError(
            f"Training data contains {n} samples, which is not sufficient to split it into a validation "
            f"and training set as specified by `validation_split={fraction}`; provide more data or a "
            f"different value for `validation_split`"
        )
    if rng is None:
        train, val = slice(0, split_at), slice(split_at, n)
    else:
        perm = make_rng(rng).permutation(n)
        train, val = np.sort(perm[:split_at]), np.sort(perm[split_at:])
    if y is None:
        return X[train], None, X[val], None
    return X[train], y[train], X[val], y[val]


def batches(
    n: int, batch_size: int | None, rng: np.random.Generator | int | None = None
) -> Iterator[slice | np.ndarray]:
    """Split row indices ``0 .. n-1`` into mini-batches that cover every row exactly once.

    Parameters
    ----------
    n : int
        Number of rows.
    batch_size : int or None
        Rows per batch; the last batch holds the remainder. None means one batch of all rows.
    rng : numpy.random.Generator or int, optional
        Shuffle the rows with it. Without it the batches are slices in order (cheap views).

    Returns
    -------
    iterator of slice or numpy.ndarray of int64
        Index ``X[b]`` with each.

    Examples
    --------
    >>> list(batches(5, 2))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    n = check_non_negative_int("n", n)
    if batch_size is not None and (not is_int(batch_size) or batch_size < 1):
        raise invalid_value("batch_size", batch_size, "a positive integer or None")
    size = n if batch_size is None else int(batch_size)
    # Validation happens above, at call time; the generator below only yields.
    order = None if rng is None else make_rng(rng).permutation(n)
    return _batch_iter(n, max(size, 1), order)


def _batch_iter(n: int, size: int, order: np.ndarray | None) -> Iterator[slice | np.ndarray]:
    for start in range(0, n, size):
        stop = min(start + size, n)
        yield slice(start, stop) if order is None else order[start:stop]
