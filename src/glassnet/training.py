"""The training loop behind ``Sequential.fit`` and the input checks shared by fit/predict/evaluate.

Where a fit stands — epochs done, batches done in the epoch under way, that epoch's row order and running
sums, the history — is a :class:`TrainingState` kept on the model (``model._training``) and saved with it, so
that ``fit(..., resume_from=FILE)`` continues a checkpoint exactly where it was written: the weights,
optimizer state and random generator come from the file, and the run ends bit for bit where an
uninterrupted one would.

Ctrl-C (SIGINT) during ``fit`` is a request to stop: the batch under way finishes (weights are never left
half-updated), ``fit`` returns the history so far with ``history.interrupted = True``, and the model's
training state says where to resume. A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import mmap
import numbers
import signal
import threading

import numpy as np

from .backend import to_numpy
from .callbacks import Callback, EpochLogger, History, ProgressBar
from .data.validate import check_array, check_lengths, check_positive_int, memory_map, train_val_split
from .errors import ConfigError, DivergenceError, ModelFileError, ShapeError, invalid_value
from .losses import SparseCategoricalCrossEntropy

__all__ = ["TrainingState", "check_inputs", "check_targets", "evaluate_prepared", "fit", "iterate", "predict_prepared"]


def check_inputs(model, X) -> np.ndarray:
    """X as a C-contiguous array of the model's dtype whose shape fits the first layer.

    A memory-mapped array of the model's dtype is not copied (see :func:`~glassnet.data.check_array`).
    """
    X = check_array(X, "X", dtype=model.dtype, min_ndim=2)
    if not model.built:
        model.build(X.shape[1:])
    if X.shape[1:] != tuple(model.input_shape):
        first = model.layers[0]
        raise ShapeError(
            f"X has shape {X.shape}: {X.shape[1:] if X.ndim > 2 else X.shape[1]} features per row, but layer 0 "
            f"({first.display_name}) was built for input shape {tuple(model.input_shape)}"
        )
    return X


def check_targets(model, X, y, expand: bool = True) -> np.ndarray:
    """y validated and shaped like the model's outputs (one-hot for sparse labels).

    With ``expand=False`` sparse labels stay int64 codes ``(N,)``; :func:`batch_targets` expands a batch.
    """
    sparse = isinstance(model.loss, SparseCategoricalCrossEntropy)
    y = check_array(y, "y", dtype=np.float64 if sparse else model.dtype, min_ndim=1)
    check_lengths(X, y)
    pred_shape = (len(X),) + tuple(model.output_shape)
    if sparse and not expand:
        return model.loss.codes(y, pred_shape)
    return model.loss.prepare(y, pred_shape, model.dtype)


def batch_targets(model, Y: np.ndarray) -> np.ndarray:
    """The targets of one batch as the loss wants them: int codes become one-hot rows."""
    if Y.dtype.kind == "i" and isinstance(model.loss, SparseCategoricalCrossEntropy):
        return model.loss.expand(Y, model.output_shape[-1], model.dtype)
    return Y


def _batch_indices(n: int, batch_size: int | None, order: np.ndarray | None, start: int = 0):
    """Row indices of batches ``start, start+1, ...``: slices in row order, or runs of ``order``."""
    size = n if batch_size is None else batch_size
    for lo in range(start * size, n, size):
        hi = min(lo + size, n)
        yield slice(lo, hi) if order is None else order[lo:hi]


def _n_batches(n: int, batch_size: int | None) -> int:
    return 1 if batch_size is None or n == 0 else -(-n // batch_size)


def iterate(n: int, batch_size: int | None):
    """Slices covering n rows in order (inference)."""
    if batch_size is None or batch_size >= n:
        yield slice(0, n)
        return
    yield from _batch_indices(n, batch_size, None)


class _PageBudget:
    """Keep the resident memory of a memory-mapped X bounded while batches read it.

    Pages of a file mapping that have been read count in the process's RSS until they are unmapped, so a
    pass over a 10 GB ``np.load(..., mmap_mode="r")`` array would end with 10 GB resident. Every ~16 MB
    read, the mapping's pages are dropped (``madvise(MADV_DONTNEED)``); they stay in the kernel's page
    cache, so reading them again costs no disk access while memory is plentiful. Shuffled batches are
    gathered in runs of rows small enough to respect the budget whatever the batch size.
    """

    BUDGET = 16 << 20
    #: what reading one row may map: the kernel maps up to 16 pages around a faulting one ("fault-around")
    PER_ROW = 16 * mmap.PAGESIZE

    def __init__(self, X):
        self.X, self.mapping, self.spent = X, memory_map(X), 0

    def _spend(self, nbytes: int) -> None:
        self.spent += nbytes
        if self.spent >= self.BUDGET:
            self.mapping._mmap.madvise(mmap.MADV_DONTNEED)
            self.spent = 0

    def rows(self, idx):
        """``X[idx]``: a view for a slice (counted by :meth:`done`), a copy gathered run by run for indices."""
        X = self.X
        if self.mapping is None or isinstance(idx, slice):
            return X[idx]
        row = max(X.strides[0], self.PER_ROW)
        step = max(1, self.BUDGET // row)
        out = np.empty((len(idx),) + X.shape[1:], X.dtype)  # (B, ...)
        for lo in range(0, len(idx), step):
            np.take(X, idx[lo : lo + step], axis=0, out=out[lo : lo + step])
            self._spend(len(out[lo : lo + step]) * row)
        return out

    def done(self, idx) -> None:
        """After a batch read through a slice view: count the rows it read."""
        if self.mapping is not None and isinstance(idx, slice):
            self._spend((idx.stop - idx.start) * self.X.strides[0])


# -- where training stands -----------------------------------------------------------------------------------


class TrainingState:
    """Where a fit stands; saved in a model file's ``"training"`` section (and ``training/order.npy``).

    Attributes
    ----------
    history : History
        Every finished epoch's logs.
    epoch : int
        Epochs finished (the next epoch to run, counting from 0).
    batch : int
        Batches of epoch ``epoch`` already trained (0 at an epoch boundary).
    order : ndarray of int64, shape (samples,), or None
        That epoch's row order when shuffling (drawn at its start), else None.
    totals : dict
        That epoch's running sums of loss and metrics, each weighted by the batch's rows.
    batch_size, samples : int or None
        The run's batch size (None: full batch) and training rows; a mid-epoch resume needs both unchanged.
    """

    def __init__(self, history=None, epoch=0, batch=0, order=None, totals=None, batch_size=None, samples=None,
                 shuffled=False):
        self.history = history if history is not None else History()
        self.epoch, self.batch, self.order = epoch, batch, order
        self.totals = dict(totals or {})
        self.batch_size, self.samples, self.shuffled = batch_size, samples, shuffled
        self.logs = None  # logs of epoch `epoch - 1` while callbacks run, before History holds them

    def to_config(self) -> dict:
        history = {k: [float(v) for v in vals] for k, vals in self.history.history.items()}
        epochs = [int(e) for e in self.history.epoch]
        if self.logs is not None and (not epochs or epochs[-1] != self.epoch - 1):
            epochs.append(self.epoch - 1)  # a checkpoint written from on_epoch_end: History runs last
            for k, v in self.logs.items():
                history.setdefault(k, []).append(float(v))
        return {"epoch": self.epoch, "batch": self.batch, "batch_size": self.batch_size, "samples": self.samples,
                "shuffled": self.shuffled and self.batch > 0, "totals": {k: float(v) for k, v in self.totals.items()},
                "history": history, "history_epochs": epochs}

    @classmethod
    def from_config(cls, cfg: dict, order) -> TrainingState:
        """Rebuild from :meth:`to_config`'s dict; ValueError/TypeError on anything inconsistent."""
        def count(key, allow_none=False):
            v = cfg.get(key)
            if v is None and allow_none:
                return None
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{key} is {v!r}; expected a non-negative integer")
            return v

        def numbers_of(v, what):
            if not isinstance(v, list) or not all(isinstance(x, numbers.Real) for x in v):
                raise ValueError(f"{what} is not a list of numbers")
            return [float(x) for x in v]

        if not isinstance(cfg, dict):
            raise TypeError("the training section is not a JSON object")
        epoch, batch = count("epoch"), count("batch")
        batch_size, samples = count("batch_size", allow_none=True), count("samples", allow_none=True)
        raw = cfg.get("history") or {}
        if not isinstance(raw, dict):
            raise TypeError("history is not a JSON object")
        history = History()
        history.history = {str(k): numbers_of(v, f"history[{k!r}]") for k, v in raw.items()}
        history.epoch = [int(e) for e in numbers_of(cfg.get("history_epochs") or [], "history_epochs")]
        totals = cfg.get("totals") or {}
        if not isinstance(totals, dict) or not all(isinstance(v, numbers.Real) for v in totals.values()):
            raise TypeError("totals is not a JSON object of numbers")
        shuffled = bool(cfg.get("shuffled", False))
        if batch and shuffled:
            order = None if order is None else np.asarray(order)
            if (order is None or order.ndim != 1 or order.dtype.kind not in "iu" or len(order) != samples
                    or not np.array_equal(np.sort(order), np.arange(samples))):
                raise ValueError("the row order of the epoch in progress is missing or not a permutation "
                                 f"of its {samples} rows")
            order = order.astype(np.int64)
        else:
            order = None
        if batch and (samples is None or batch > _n_batches(samples, batch_size)):
            raise ValueError(f"batch {batch} is past the end of an epoch of {samples} rows")
        return cls(history, epoch, batch, order, totals, batch_size, samples, shuffled and batch > 0)


def _load_checkpoint(path):
    """The model a checkpoint file holds; ModelFileError when it holds no training state."""
    from .serialize import load_model

    saved = load_model(path, device="cpu")  # read on the host; _restore copies it to the model's device
    if saved._training is None:
        raise ModelFileError(f"{path} holds no training state to resume from: it was saved before any fit; "
                             "checkpoints come from ModelCheckpoint, `glassnet train --checkpoint` or a "
                             "model saved after fit")
    return saved


def _restore(model, saved, path, batch_size, n, shuffled) -> TrainingState:
    """Copy a checkpoint's weights, layer state, optimizer state and generator into ``model``.

    A checkpoint written in the middle of an epoch continues that epoch's batches: the run must have the
    same batch size, rows and shuffling.
    """
    state = saved._training
    if state.batch and (state.batch_size != batch_size or state.samples != n or state.shuffled != shuffled):
        raise ConfigError(
            f"Cannot resume {path} in the middle of epoch {state.epoch + 1}: it was written with "
            f"batch_size={state.batch_size}, {state.samples} training rows, shuffle={state.shuffled}; "
            f"received batch_size={batch_size}, {n} rows, shuffle={shuffled}"
        )
    mine = [(i, k, model.layers[i].params[k].shape) for (i, k) in model.param_index]
    theirs = ([(i, k, saved.layers[i].params[k].shape) for (i, k) in saved.param_index]
              if saved.built else None)
    problems = []
    if saved.dtype != model.dtype:
        problems.append(f"dtype {saved.dtype.name} vs {model.dtype.name}")
    if [type(la).__name__ for la in saved.layers] != [type(la).__name__ for la in model.layers]:
        problems.append(f"layers {[type(la).__name__ for la in saved.layers]} vs "
                        f"{[type(la).__name__ for la in model.layers]}")
    elif theirs != mine:
        problems.append(f"parameters {theirs} vs {mine}")
    if type(saved.optimizer) is not type(model.optimizer):
        problems.append(f"optimizer {type(saved.optimizer).__name__} vs {type(model.optimizer).__name__}")
    if type(saved.loss) is not type(model.loss):
        problems.append(f"loss {type(saved.loss).__name__} vs {type(model.loss).__name__}")
    if problems:
        raise ConfigError(f"Cannot resume from {path}: it was written by a different model ("
                          + "; ".join(problems) + ")")
    model.flat_params[...] = saved.flat_params
    np.copyto(model._backup, model.flat_params)
    for mine_layer, their_layer in zip(model.layers, saved.layers):
        for k, arr in mine_layer.state.items():
            arr[...] = their_layer.state[k]
    opt, their_opt = model.optimizer, saved.optimizer
    opt.iterations, opt.learning_rate = their_opt.iterations, their_opt.learning_rate
    for k, arr in opt.state.items():
        arr[...] = their_opt.state[k]
    model.rng.bit_generator.state = saved.rng.bit_generator.state
    return state


class _Interrupt:
    """Turn Ctrl-C (SIGINT) into a request that the loop honours at the next batch boundary.

    Only the main thread can own signal handlers; elsewhere (and where SIGINT is ignored) nothing changes.
    A second Ctrl-C restores the previous handler and raises KeyboardInterrupt at once.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGINT)
            if current not in (signal.SIG_IGN, None):
                self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


# -- the loop ------------------------------------------------------------------------------------------------


def fit(model, X, y, *, epochs, batch_size, shuffle, validation_data, validation_split, callbacks, verbose,
        initial_epoch=0, resume_from=None, health=False):
    model._require_compiled("fit()")
    check_positive_int("epochs", epochs)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    if verbose not in (0, 1, 2):
        raise invalid_value("verbose", verbose, "0, 1 or 2")
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
        raise invalid_value("initial_epoch", initial_epoch, "a non-negative integer")
    if resume_from is not None and initial_epoch:
        raise ConfigError("Pass either resume_from or initial_epoch, not both: a checkpoint knows its epoch")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise invalid_value("callbacks", callbacks, "a list of Callback instances")
    saved = None
    if resume_from is not None:
        saved = _load_checkpoint(resume_from)
        if not model.built and saved.built:  # so that X is checked against the checkpoint's input shape
            model.build(saved.input_shape)
    X = check_inputs(model, X)
    Y = check_targets(model, X, y, expand=False)  # sparse labels stay codes; each batch is expanded
    if validation_split and validation_data is not None:
        raise ConfigError("Pass either validation_data or validation_split, not both")
    if validation_split:
        X, Y, Xv, Yv = train_val_split(X, Y, validation_split)
        Yv = batch_targets(model, Yv)
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ConfigError("validation_data must be a tuple (X_val, y_val)")
        Xv = check_inputs(model, validation_data[0])
        Yv = check_targets(model, Xv, validation_data[1])
    else:
        Xv = Yv = None

    n = len(X)
    shuffled = bool(shuffle) and batch_size is not None and batch_size < n
    if saved is not None:
        state = _restore(model, saved, resume_from, batch_size, n, shuffled)
    else:
        state = TrainingState(epoch=int(initial_epoch))
    state.batch_size, state.samples = batch_size, n
    history = state.history
    history.interrupted = False

    # History and the progress display come last, as in Keras, so they see what callbacks add to the
    # logs (ReduceLROnPlateau's "lr")
    cbs: list[Callback] = list(callbacks or [])
    if health is not False and health is not None:
        from .health import HealthMonitor

        if health is not True and not isinstance(health, HealthMonitor):
            raise invalid_value("health", health, "True, False or a HealthMonitor")
        cbs.append(HealthMonitor() if health is True else health)
    cbs.append(history)
    if verbose == 1 and not any(isinstance(c, ProgressBar) for c in callbacks or []):
        cbs.append(ProgressBar())
    elif verbose == 2:
        cbs.append(EpochLogger())
    params = {"epochs": epochs, "initial_epoch": state.epoch, "batch_size": batch_size, "samples": n}
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise ConfigError(f"callbacks must be glassnet Callback instances; received {cb!r}")
        cb.model, cb.params = model, params

    batch_cbs = [cb for cb in cbs if type(cb).on_batch_end is not Callback.on_batch_end]
    model.stop_training = False
    model.history = history
    model._training = state
    pages = _PageBudget(X)
    with _Interrupt() as interrupt:
        for cb in cbs:
            cb.on_train_begin()
        try:
            while state.epoch < epochs and not model.stop_training:
                epoch = state.epoch
                if state.batch == 0:  # a fresh epoch; a resumed one already ran on_epoch_begin and drew its order
                    for cb in cbs:
                        cb.on_epoch_begin(epoch)
                    state.totals = dict.fromkeys(["loss"] + [name for name, _ in model.metrics], 0.0)
                    state.shuffled = shuffled
                    state.order = model.rng.permutation(n) if shuffled else None
                totals = state.totals
                for idx in _batch_indices(n, batch_size, state.order, state.batch):
                    xb, yb = pages.rows(idx), batch_targets(model, Y[idx])
                    xb, yb = model.to_device(xb), model.to_device(yb)  # no copy on the CPU
                    loss, a = model.train_step(xb, yb)
                    m = len(xb)
                    totals["loss"] += loss * m
                    for name, f in model.metrics:
                        totals[name] += f(a, yb) * m
                    b, state.batch = state.batch, state.batch + 1
                    for cb in batch_cbs:
                        cb.on_batch_end(b, {"loss": loss})
                    pages.done(idx)
                    if interrupt.requested:
                        break
                if interrupt.requested:
                    history.interrupted = model.stop_training = True
                    break
                if not np.isfinite(model.flat_params).all():
                    model._diverged(float("nan"))
                logs = {k: v / n for k, v in totals.items()}
                if Xv is not None:
                    logs |= {f"val_{k}": v for k, v in evaluate_prepared(model, Xv, Yv, batch_size).items()}
                state.epoch, state.batch, state.order, state.totals, state.logs = epoch + 1, 0, None, {}, logs
                for cb in cbs:
                    cb.on_epoch_end(epoch, logs)
                state.logs = None
        except DivergenceError:
            for cb in cbs:
                if isinstance(cb, ProgressBar):
                    cb.on_train_end()
            raise
        for cb in cbs:
            cb.on_train_end()
    return history


def evaluate_prepared(model, X, Y, batch_size=None) -> dict[str, float]:
    """Loss and metrics over checked inputs X and prepared targets Y, in inference mode."""
    totals: dict[str, float] = {}
    pages = _PageBudget(X)
    for s in iterate(len(X), batch_size):
        a = model.forward(model.to_device(X[s]), training=False)
        y = model.to_device(Y[s])
        n = a.shape[0]
        totals["loss"] = totals.get("loss", 0.0) + model.compute_loss(a, y) * n
        for name, f in model.metrics:
            totals[name] = totals.get(name, 0.0) + f(a, y) * n
        pages.done(s)
    return {k: v / len(X) for k, v in totals.items()}


def predict_prepared(model, X, batch_size=None) -> np.ndarray:
    """The model's outputs for checked inputs X, batch by batch, in inference mode."""
    pages = _PageBudget(X)
    out = []
    for s in iterate(len(X), batch_size):
        out.append(np.array(to_numpy(model.forward(model.to_device(X[s]), training=False))))
        pages.done(s)
    return out[0] if len(out) == 1 else np.concatenate(out)
