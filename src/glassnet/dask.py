"""Batch prediction over data bigger than memory: a model mapped over the partitions of a Dask collection.

:func:`predict` takes a ``dask.array`` (chunked along rows) or a ``dask.dataframe`` and returns a lazy
collection of the same kind, computed partition by partition wherever Dask runs: the threads of this
process, or the workers of a cluster (a ``distributed.Client``, e.g. from :func:`connect`)::

    import dask.array as da
    import glassnet.dask

    X = da.from_zarr("features.zarr")                    # (N, F), N too large for memory
    y = glassnet.dask.predict("m.glassnet", X)           # lazy, (N, K) float32
    y.to_zarr("predictions.zarr")                        # computed partition by partition

Every partition's predictions are exactly ``model.predict`` of its rows, in the model's dtype. They equal
one in-memory ``model.predict(X)`` of all rows bit for bit when every partition starts at a multiple of
16 rows; elsewhere a row may differ in the last bit, since the BLAS (OpenBLAS) rounds a row of a matrix
product by its place in the kernel's block of rows, and a partition moves its rows within those blocks.

The model is shipped once, never embedded in each task: it is a single key of the task graph
(:func:`delayed_model`) on which every partition's task depends, so a cluster sends it to each worker
once and the worker's tasks share it. A model given by path is read here, on the client, when
:func:`predict` is called (a bad file fails at once, not on a worker); the loaded model is then shipped
like any other.

``glassnet predict --data 'part-*.csv' --out preds/ [--scheduler ADDRESS]`` is the same idea for CSV files:
one task per file that reads it with glassnet's own reader and writes ``preds/<file stem>.csv``.

Importing this module needs Dask (``pip install 'glassnet[dask]'``); a DataFrame input also needs
``dask.dataframe`` (pandas and pyarrow); :func:`connect` needs ``dask.distributed``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed

from .checks import check_positive_int
from .errors import ConfigError, DataError, NotBuiltError, ShapeError
from .model import Sequential, load_model

__all__ = ["connect", "delayed_model", "predict", "predict_block", "prediction_columns"]

# Not a setting: a model's layers keep their last forward's arrays (for backward and the trace), so two
# threads must not run one model object at once. Threads of one worker share the model it received.
_FORWARD_LOCK = threading.Lock()


def predict(model_or_path, data, *, batch_size: int | None = None, columns=None):
    """The model's predictions for every row of a Dask collection, as a lazy collection of the same kind.

    Parameters
    ----------
    model_or_path : Sequential, str or path
        A built model, or a model file (read here, on the client, at once).
    data : dask.array.Array or dask.dataframe.DataFrame
        An array of shape (N, ...) whose rows fit the model: it may be chunked along rows only; other axes
        are rechunked to one chunk. A DataFrame: the columns the model reads are, in this order,
        ``columns`` when given, else ``model.metadata["features"]`` (a model trained by
        ``glassnet train``), else every numeric column; the others are left unread.
    batch_size : int, optional
        Rows per forward pass within a partition (``model.predict``'s ``batch_size``); None: the whole
        partition at once.
    columns : sequence of str, optional
        DataFrame input only: the feature columns, by name, in the order the model reads them.

    Returns
    -------
    dask.array.Array or dask.dataframe.DataFrame
        For an array: shape (N, *model.output_shape), the model's dtype, chunked as ``data`` along rows.
        For a DataFrame: its index, and the columns ``glassnet predict`` writes (see
        :func:`prediction_columns`): ``prediction`` and ``prob_<class>`` per class for a classifier
        trained by ``glassnet train``; ``prediction`` (one output) or ``output_0``, ``output_1``, ...
        otherwise.

    Raises
    ------
    ConfigError
        ``model_or_path`` neither a model nor a path; ``batch_size`` not a positive integer.
    ModelFileError
        A path that is no readable model file.
    NotBuiltError
        A model that was never built (it has no weights to predict with).
    DataError
        ``data`` not a Dask array or DataFrame; a DataFrame lacking a feature column, or one that is not
        numeric; ``columns`` given with an array.
    ShapeError
        An array whose rows do not have the model's input shape.

    Examples
    --------
    >>> import dask.array as da, numpy as np, glassnet as gn, glassnet.dask
    >>> model = gn.Sequential([gn.layers.Dense(2)], seed=0).build(3)
    >>> X = da.ones((10, 3), chunks=4, dtype="float32")
    >>> y = glassnet.dask.predict(model, X)
    >>> y.shape, y.chunks[0], y.dtype
    ((10, 2), (4, 4, 2), dtype('float32'))
    >>> bool((y.compute() == model.predict(np.ones((10, 3)))).all())
    True
    """
    model = _as_model(model_or_path)
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    if isinstance(data, da.Array):
        if columns is not None:
            raise DataError("columns= names DataFrame columns; received a dask array, whose rows are the inputs")
        return _predict_array(model, data, batch_size)
    if dask.is_dask_collection(data) and dask.utils.is_dataframe_like(data):
        return _predict_frame(model, data, batch_size, columns)
    raise DataError(
        f"data must be a dask.array.Array or a dask.dataframe.DataFrame; received {type(data).__module__}."
        f"{type(data).__qualname__} (for data in memory, use model.predict)"
    )


def delayed_model(model: Sequential) -> Delayed:
    """The model as one key of a Dask graph: pass it to tasks, and each worker receives it once.

    ``dask.delayed(model, pure=True)``: the tasks that take it depend on that key instead of each holding
    a copy, and the key's name is the model's hash, so the same model gives the same key.
    """
    return dask.delayed(model, pure=True)


def predict_block(model: Sequential, X, batch_size: int | None = None) -> np.ndarray:
    """``model.predict(X, batch_size)`` for one partition, as a task runs it.

    A partition without rows gives an empty result (``model.predict`` would reject it). The threads of
    one process take turns: a model's layers keep the arrays of their last forward pass, so one model
    object runs one forward pass at a time.
    """
    if len(X) == 0:
        return np.empty((0, *model.output_shape), dtype=model.dtype)
    with _FORWARD_LOCK:
        return model.predict(X, batch_size=batch_size)


def prediction_columns(model: Sequential, out: np.ndarray) -> dict[str, np.ndarray]:
    """Named columns of the model's outputs ``out`` (N, K), as ``glassnet predict`` writes them.

    A classifier trained by ``glassnet train`` (``model.metadata["classes"]``): ``prediction``, the class
    of the largest output, then ``prob_<class>`` per class. Otherwise ``prediction`` for one output, or
    ``output_0``, ``output_1``, ... for several.

    >>> import numpy as np, glassnet as gn
    >>> model = gn.Sequential([gn.layers.Dense(2, activation="softmax")], seed=0).build(1)
    >>> model.metadata["classes"] = ["no", "yes"]
    >>> cols = prediction_columns(model, np.array([[0.2, 0.8]], dtype="float32"))
    >>> list(cols), cols["prediction"].tolist()
    (['prediction', 'prob_no', 'prob_yes'], ['yes'])
    """
    classes = model.metadata.get("classes")
    if classes is not None:
        classes = np.asarray(classes)
        columns = {"prediction": classes[out.argmax(axis=1)]}
        columns.update((f"prob_{k}", out[:, j]) for j, k in enumerate(classes.tolist()))
        return columns
    if out.shape[1] == 1:
        return {"prediction": out[:, 0]}
    return {f"output_{j}": out[:, j] for j in range(out.shape[1])}


def _run(make_coroutine):
    """``asyncio.run(make_coroutine())``, from a helper thread when this thread already runs an event loop
    (Jupyter, Playwright's sync API), where ``asyncio.run`` is refused."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    outcome = {}

    def run():
        try:
            outcome["value"] = asyncio.run(make_coroutine())
        except BaseException as e:  # noqa: BLE001 -- handed back to the caller's thread as it is
            outcome["error"] = e

    helper = threading.Thread(target=run, name="glassnet-dask-probe")
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def connect(address: str, timeout: float = 5.0):
    """A ``distributed.Client`` on the Dask scheduler at ``address`` (e.g. ``"tcp://10.0.0.5:8786"``).

    The scheduler must answer within ``timeout`` seconds, else ConfigError: an address where nothing
    listens, or where something listens that does not answer, fails in that time and never hangs.
    Close the client when done (``with connect(address) as client: ...``); the cluster goes on.

    Raises
    ------
    ConfigError
        A malformed address (an unknown scheme, no port), or no Dask scheduler answering there in time.
    """
    from distributed import Client, comm

    async def identity():  # what Client does first, under a deadline it may not outlive
        link = await comm.connect(address, timeout=timeout)
        try:
            await link.write({"op": "identity"})
            return await link.read()
        finally:
            link.abort()

    async def probe():
        return await asyncio.wait_for(identity(), timeout)

    try:
        reply = _run(probe)
    except ValueError as e:
        raise ConfigError(f"{address!r} is no Dask scheduler address ({e}); expected e.g. tcp://10.0.0.5:8786") from None
    except (OSError, asyncio.TimeoutError) as e:
        why = str(e) or "no reply"
        raise ConfigError(f"no Dask scheduler answered at {address} within {timeout:g} s ({why})") from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise ConfigError(f"{address} answered, but is no Dask scheduler (it says it is {reply!r:.80})")
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except OSError as e:
        raise ConfigError(f"no Dask scheduler answered at {address} within {timeout:g} s ({e})") from None


# -- the two kinds of collection ---------------------------------------------------------------------
def _as_model(model_or_path) -> Sequential:
    if isinstance(model_or_path, (str, os.PathLike)):
        model = load_model(model_or_path)
    elif isinstance(model_or_path, Sequential):
        model = model_or_path
    else:
        raise ConfigError(f"model_or_path must be a glassnet Sequential or a model file's path; received "
                          f"{type(model_or_path).__qualname__}")
    if not model.built:
        raise NotBuiltError("glassnet.dask.predict needs a built model: fit it, load it, or call "
                            "model.build(n_features) first")
    return model


def _predict_array(model: Sequential, data: da.Array, batch_size: int | None) -> da.Array:
    """``map_blocks`` over the row chunks; the other axes in one chunk each, as the model takes whole rows."""
    if data.ndim < 2 or tuple(data.shape[1:]) != tuple(model.input_shape):
        raise ShapeError(f"data has shape {data.shape}; the model takes rows of shape {tuple(model.input_shape)}, "
                         f"i.e. data of shape (N, {', '.join(map(str, model.input_shape))})")
    data = data.rechunk({axis: -1 for axis in range(1, data.ndim)})
    out_shape = tuple(model.output_shape)
    out_ndim = 1 + len(out_shape)
    return da.map_blocks(
        predict_block, delayed_model(model), data, batch_size,
        chunks=(data.chunks[0], *((d,) for d in out_shape)),
        drop_axis=list(range(out_ndim, data.ndim)), new_axis=list(range(data.ndim, out_ndim)),
        meta=np.empty((0,) * out_ndim, dtype=model.dtype), name="glassnet-predict",
    )


def _predict_frame(model: Sequential, frame, batch_size: int | None, columns):
    """``map_partitions`` over the frame's feature columns; each partition gives a frame of named outputs."""
    import pandas as pd

    if len(model.output_shape) != 1:
        raise ShapeError(f"the model's outputs have shape {tuple(model.output_shape)} per row; a DataFrame "
                         "holds one row of numbers per input row (pass a dask array instead)")
    names = _feature_columns(model, frame, columns)
    empty = np.empty((0, *model.output_shape), dtype=model.dtype)
    meta = _frame_of(model, pd.DataFrame(index=pd.RangeIndex(0)), empty)
    return frame[names].map_partitions(_predict_partition, delayed_model(model), batch_size, meta=meta,
                                       align_dataframes=False)


def _feature_columns(model: Sequential, frame, columns) -> list[str]:
    """``columns``, else the model's feature names, else every numeric column; each present and numeric."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    def numeric(name: str) -> bool:
        dtype = frame.dtypes[name]
        return is_numeric_dtype(dtype) and not is_bool_dtype(dtype)

    available = [str(c) for c in frame.columns]
    names = list(columns) if columns is not None else model.metadata.get("features") or None
    if names is None:
        names = [c for c in frame.columns if numeric(c)]
        if not names:
            raise DataError(f"the DataFrame has no numeric column to predict from; columns: {available}")
    missing = [c for c in names if c not in frame.columns]
    if missing:
        what = "columns=" if columns is not None else "the model's feature columns"
        raise DataError(f"the DataFrame lacks column(s) {', '.join(map(str, missing))} ({what}); "
                        f"expected {list(names)}, received {available}")
    text = [c for c in names if not numeric(c)]
    if text:
        raise DataError(f"column {text[0]!r} of the DataFrame holds {frame.dtypes[text[0]]}, not numbers; the "
                        "model reads numbers only")
    if len(names) != int(np.prod(model.input_shape)) or len(model.input_shape) != 1:
        raise ShapeError(f"{len(names)} feature column(s) {list(names)}, but the model takes rows of shape "
                         f"{tuple(model.input_shape)}")
    return names


def _predict_partition(part, model: Sequential, batch_size: int | None):
    return _frame_of(model, part, predict_block(model, part.to_numpy(), batch_size))


def _frame_of(model: Sequential, part, out: np.ndarray) -> Any:
    import pandas as pd

    return pd.DataFrame(prediction_columns(model, out), index=part.index)
