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

import signal
import threading

import numpy as np

from . import guard
from .backend import to_numpy
from .callbacks import Callback, EpochLogger, ModelCheckpoint, ProgressBar
from .checks import check_positive_int, is_int
from .data.pages import PageBudget
from .data.validate import check_array, check_lengths, train_val_split
from .data.weights import check_sample_weight, class_weight_rows, require_positive
from .errors import ConfigError, DivergenceError, ModelFileError, ShapeError, invalid_value
from .losses import SparseCategoricalCrossEntropy
from .serialize import model_from_file, read_model_file
from .state import TrainingState, callback_states

__all__ = ["TrainingState", "check_inputs", "check_targets", "check_weights", "evaluate_prepared", "fit",
           "predict_prepared"]


def check_inputs(model, X) -> np.ndarray:
    """X as a C-contiguous array of the model's dtype whose shape fits the first layer.

    The first layer may ask for another dtype (:meth:`~glassnet.layers.Layer.input_dtype`): an Embedding
    takes integer ids as int64.

    A memory-mapped array of the model's dtype is not copied (see :func:`~glassnet.data.check_array`).
    """
    first = model.layers[0] if model.layers else None
    dtype = None if first is None else first.input_dtype(X)  # an Embedding's ids stay exact
    if dtype is not None and dtype.kind in "iu":  # integer ids: a float32 cast would round those above 2**24
        X = np.ascontiguousarray(X, dtype=dtype)
    else:
        X = check_array(X, "X", dtype=model.dtype if dtype is None else dtype, min_ndim=2)
    if not model.built:
        model.build(X.shape[1:])
    if X.shape[1:] != tuple(model.input_shape):
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


def check_weights(sample_weight, X, name: str = "sample_weight") -> np.ndarray | None:
    """``sample_weight`` as float64 (N,) for the rows of X, not all zero; None stays None."""
    w = check_sample_weight(sample_weight, len(X), name)
    require_positive(w, name)
    return w


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


def _load_checkpoint(model, path):
    """The model a checkpoint file holds (on the host); ModelFileError when it holds no training state."""
    config, arrays = read_model_file(path)
    saved = model_from_file(type(model), config, arrays, path, device="cpu")
    if saved._training is None:
        raise ModelFileError(f"{path} holds no training state to resume from: it was saved before any fit; "
                             "checkpoints come from ModelCheckpoint, `glassnet train --checkpoint` or a "
                             "model saved after fit")
    return saved


def _check_resumable(model, saved, path, batch_size, n, shuffled) -> None:
    """ConfigError unless ``model`` can go on from checkpoint ``saved`` with this run's settings.

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
        initial_epoch=0, resume_from=None, health=False, sample_weight=None, class_weight=None):
    """The loop behind :meth:`Sequential.fit`: prepare the data, make the callback list, run the epochs."""
    model._require_compiled("fit()")
    check_positive_int("epochs", epochs)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    if verbose not in (0, 1, 2):
        raise invalid_value("verbose", verbose, "0, 1 or 2")
    if not is_int(initial_epoch) or initial_epoch < 0:
        raise invalid_value("initial_epoch", initial_epoch, "a non-negative integer")
    if resume_from is not None and initial_epoch:
        raise ConfigError("Pass either resume_from or initial_epoch, not both: a checkpoint knows its epoch")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise invalid_value("callbacks", callbacks, "a list of Callback instances")
    saved = None
    if resume_from is not None:
        saved = _load_checkpoint(model, resume_from)
        if not model.built and saved.built:  # so that X is checked against the checkpoint's input shape
            model.build(saved.input_shape)
    data = _prepare_data(model, X, y, validation_data, validation_split, sample_weight, class_weight)
    n = len(data.X)
    shuffled = bool(shuffle) and batch_size is not None and batch_size < n
    if saved is not None:
        _check_resumable(model, saved, resume_from, batch_size, n, shuffled)
        state = saved._training
    else:
        state = TrainingState(epoch=int(initial_epoch))
    state.batch_size, state.samples = batch_size, n
    history = state.history
    history.interrupted = False
    cbs = _callback_list(model, callbacks, history, health, verbose,
                         {"epochs": epochs, "initial_epoch": state.epoch, "batch_size": batch_size, "samples": n})
    model.stop_training = False
    model.history = history
    model._training = state
    model._callbacks = cbs
    try:
        with _Interrupt() as interrupt:
            for cb in cbs:
                cb.on_train_begin()  # callbacks forget earlier fits, as in Keras ...
            if saved is not None:  # ... except when resuming: the checkpoint's state goes on
                model.load_state_dict(saved.state_dict(("params", "buffers", "optimizer", "rng", "callbacks")))
            try:
                while state.epoch < epochs and not model.stop_training:
                    if not _run_epoch(model, data, state, cbs, batch_size, shuffled, interrupt):
                        history.interrupted = model.stop_training = True
                        break
            except DivergenceError:
                for cb in cbs:
                    if isinstance(cb, ProgressBar):
                        cb.on_train_end()
                raise
            for cb in cbs:
                cb.on_train_end()
    finally:
        state.callbacks = callback_states(cbs)  # what a model saved after this fit resumes with
        model._callbacks = None
    return history


class _Data:
    """A fit's checked arrays: training X and Y (sparse labels as codes), validation Xv and Yv (or None),
    and the rows' weights W and Wv (float64, or None without weights)."""

    def __init__(self, X, Y, Xv, Yv, W=None, Wv=None):
        self.X, self.Y, self.Xv, self.Yv, self.W, self.Wv = X, Y, Xv, Yv, W, Wv
        self.pages = PageBudget(X)


def _prepare_data(model, X, y, validation_data, validation_split, sample_weight=None, class_weight=None) -> _Data:
    X = check_inputs(model, X)
    Y = check_targets(model, X, y, expand=False)  # sparse labels stay codes; each batch is expanded
    W = check_sample_weight(sample_weight, len(X))
    Wv = None
    if validation_split and validation_data is not None:
        raise ConfigError("Pass either validation_data or validation_split, not both")
    if validation_split:
        X, Y, Xv, Yv = train_val_split(X, Y, validation_split)  # the last rows, as in Keras
        if W is not None:
            W, Wv = W[:len(X)], W[len(X):]
            require_positive(Wv, "sample_weight of the validation rows (the last validation_split of the rows)")
        Yv = batch_targets(model, Yv)
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ConfigError("validation_data must be a tuple (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        Xv = check_inputs(model, validation_data[0])
        Yv = check_targets(model, Xv, validation_data[1])
        if len(validation_data) == 3:
            Wv = check_weights(validation_data[2], Xv, "sample_weight of validation_data")
    else:
        Xv = Yv = None
    if class_weight is not None:  # training rows only, as in Keras
        by_class = class_weight_rows(class_weight, Y, model.output_shape[-1])
        W = by_class if W is None else W * by_class
    require_positive(W, "sample_weight" if class_weight is None else "the weight (sample_weight × class_weight)")
    return _Data(X, Y, Xv, Yv, W, Wv)


def _callback_list(model, callbacks, history, health, verbose, params) -> list[Callback]:
    """The user's callbacks, then health, History and the progress display.

    History and the progress display come last, as in Keras, so they see what callbacks add to the logs
    (ReduceLROnPlateau's "lr"); ModelCheckpoints come after the user's other callbacks.
    """
    # checkpoints are written after every other callback has seen the epoch, so that the state they save
    # (ReduceLROnPlateau's new rate, EarlyStopping's counters) is the epoch's final one
    user = list(callbacks or [])
    cbs: list[Callback] = [c for c in user if not isinstance(c, ModelCheckpoint)]
    cbs += [c for c in user if isinstance(c, ModelCheckpoint)]
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
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise ConfigError(f"callbacks must be glassnet Callback instances; received {cb!r}")
        cb.model, cb.params = model, params
    return cbs


def _loss_total(model, loss: float, rows: float) -> float:
    """A batch's share of the epoch's reported loss: the batch mean times its rows (with weights: times Σ wᵢ,
    so that the epoch's loss is Σ wᵢ·lᵢ / Σ wᵢ over all rows), or, for a loss that is a sum over rows
    (half_sse), the batch's sum itself, so the epoch reports the sum over all rows."""
    return loss if model.loss.reduction == "sum" else loss * rows


def _epoch_loss(model, total: float, n: float) -> float:
    return total if model.loss.reduction == "sum" else total / n


def _run_epoch(model, data: _Data, state: TrainingState, cbs, batch_size, shuffled, interrupt) -> bool:
    """Train epoch ``state.epoch`` (from batch ``state.batch``); False if Ctrl-C stopped it."""
    epoch, n = state.epoch, len(data.X)
    if state.batch == 0:  # a fresh epoch; a resumed one already ran on_epoch_begin and drew its order
        for cb in cbs:
            cb.on_epoch_begin(epoch)
        state.totals = dict.fromkeys(["loss"] + [name for name, _ in model.metrics], 0.0)
        state.shuffled = shuffled
        state.order = model.rng.permutation(n) if shuffled else None
    totals, pages, Y, W = state.totals, data.pages, data.Y, data.W
    batch_cbs = [cb for cb in cbs if type(cb).on_batch_end is not Callback.on_batch_end]
    for idx in _batch_indices(n, batch_size, state.order, state.batch):
        xb, yb = pages.rows(idx), batch_targets(model, Y[idx])
        xb, yb = model.to_device(xb), model.to_device(yb)  # no copy on the CPU
        m = len(xb)
        if W is None:
            loss, a = model.train_step(xb, yb)
            totals["loss"] += _loss_total(model, loss, m)
        else:
            wb = W[idx]  # (m,) float64, on the host
            loss, a = model.train_step(xb, yb, sample_weight=wb)
            totals["loss"] += _loss_total(model, loss, float(wb.sum()))
        for name, f in model.metrics:
            totals[name] += f(a, yb) * m
        b, state.batch = state.batch, state.batch + 1
        for cb in batch_cbs:
            cb.on_batch_end(b, {"loss": loss})
        pages.done(idx)
        if interrupt.requested:
            pages.drop()
            return False
    pages.drop()  # the epoch's pass over X is over: release the file's pages before validation
    guard.check_epoch(model)  # DivergenceError if the last update left anything non-finite
    rows = n if W is None else float(W.sum())  # the loss's denominator: Σ wᵢ over every training row
    logs = {k: (_epoch_loss(model, v, rows) if k == "loss" else v / n) for k, v in totals.items()}
    if data.Xv is not None:
        val = evaluate_prepared(model, data.Xv, data.Yv, batch_size, data.Wv)
        logs |= {f"val_{k}": v for k, v in val.items()}
    state.epoch, state.batch, state.order, state.totals, state.logs = epoch + 1, 0, None, {}, logs
    for cb in cbs:
        cb.on_epoch_end(epoch, logs)
    state.logs = None
    return True


def evaluate_prepared(model, X, Y, batch_size=None, W=None) -> dict[str, float]:
    """Loss and metrics over checked inputs X and prepared targets Y, in inference mode.

    With weights ``W`` (float64, (N,)) the loss is ``Σ wᵢ·lᵢ / Σ wᵢ`` (half_sse: ``Σ wᵢ·lᵢ``); metrics stay
    unweighted, as Keras' ``metrics`` are.
    """
    totals: dict[str, float] = {}
    for s in PageBudget(X).slices(batch_size):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a non-finite loss says it all
            a = model.forward(model.to_device(X[s]), training=False)
            y = model.to_device(Y[s])
            n = a.shape[0]
            if W is None:
                loss = _loss_total(model, model.compute_loss(a, y), n)
            else:
                loss = _loss_total(model, model.compute_loss(a, y, sample_weight=W[s]), float(W[s].sum()))
            totals["loss"] = totals.get("loss", 0.0) + loss
            for name, f in model.metrics:
                totals[name] = totals.get(name, 0.0) + f(a, y) * n
    rows = len(X) if W is None else float(W.sum())
    return {k: (_epoch_loss(model, v, rows) if k == "loss" else v / len(X)) for k, v in totals.items()}


def predict_prepared(model, X, batch_size=None) -> np.ndarray:
    """The model's outputs for checked inputs X, batch by batch, in inference mode."""
    out = []
    for s in PageBudget(X).slices(batch_size):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # inf/NaN outputs speak for themselves
            out.append(np.array(to_numpy(model.forward(model.to_device(X[s]), training=False))))
    return out[0] if len(out) == 1 else np.concatenate(out)
