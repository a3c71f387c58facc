"""Callbacks: code that runs around training (Keras' hooks and names)."""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
import warnings

import numpy as np

from .callback_base import Callback
from .checks import check_bool, check_non_negative_int, check_number, check_positive_int
from .errors import ConfigError, GlassnetWarning, invalid_value
from .health import HealthMonitor

__all__ = [
    "Callback",
    "EarlyStopping",
    "HealthMonitor",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgressBar",
    "ReduceLROnPlateau",
]


class History(Callback):
    """Per-epoch logs: ``history.history["loss"]``, ``["val_accuracy"]``, ...; ``history.epoch``.

    ``history.interrupted`` is True when Ctrl-C stopped ``fit`` before its last epoch.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.interrupted = False

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))

    def __repr__(self):
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


def _fmt(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.6g}" for k, v in logs.items())


class ProgressBar(Callback):
    """The progress display of ``verbose=1``: a tqdm bar on a terminal, one line per epoch elsewhere.

    On a terminal (``file.isatty()``) a bar over the epochs shows the latest loss and metrics and, in
    epochs of several batches, a second bar the batches done in the current epoch (redrawn at most every
    ``refresh`` seconds); both are closed once at train end, an early stop included, leaving the epoch bar
    at the epochs actually run. When the stream is no terminal (a log file, a pipe) there is no bar and no
    ``\\r``: one line per epoch, ``Epoch 3/40 - loss: 0.52 - val_loss: 0.61``, as Keras prints then.

    With ``every`` > 0 a line is written only every ``every`` epochs (and for the last epoch run), on a
    terminal above the bar; ``file`` is the stream (default ``sys.stderr``).
    """

    def __init__(self, every: int = 0, file=None, refresh: float = 0.1) -> None:
        self.every = check_non_negative_int("every", every)
        self.file = file
        self.refresh = check_number("refresh", refresh, expected="a number of seconds ≥ 0")
        self.bar = self.batch_bar = None

    @staticmethod
    def is_terminal(stream) -> bool:
        """Whether ``stream`` is an interactive terminal (False for files, pipes and closed streams)."""
        try:
            return bool(stream.isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def on_train_begin(self, logs=None):
        self.stream = self.file if self.file is not None else sys.stderr
        self.tty = self.is_terminal(self.stream)
        self.last_logs, self.last_epoch = {}, None
        self.bar = self.batch_bar = None
        if not self.tty:
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.params["epochs"], initial=self.params.get("initial_epoch", 0),
                        unit="epoch", file=self.stream, dynamic_ncols=True, leave=True)
        batch_size, samples = self.params.get("batch_size"), self.params.get("samples") or 0
        self.n_batches = -(-samples // batch_size) if batch_size else 1
        if self.n_batches > 1:
            self.batch_bar = tqdm(total=self.n_batches, unit="batch", file=self.stream, dynamic_ncols=True,
                                  leave=False, position=1, mininterval=self.refresh)
            self.shown_at = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        if self.batch_bar is not None:
            self.batch_bar.reset(total=self.n_batches)
            self.batch_bar.set_description(f"epoch {epoch + 1}", refresh=False)

    def on_batch_end(self, batch, logs=None):
        if self.batch_bar is None:  # one clock read per batch on a terminal, nothing elsewhere
            return
        now = time.monotonic()
        if now - self.shown_at >= self.refresh:
            self.shown_at = now
            self.batch_bar.n = batch + 1
            self.batch_bar.refresh()

    def _line(self, epoch, logs) -> str:
        return f"Epoch {epoch + 1}/{self.params['epochs']} - {_fmt(logs)}"

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        self.last_logs, self.last_epoch = logs, epoch
        due = not self.every or (epoch + 1) % self.every == 0
        if not self.tty:
            if due:
                self.stream.write(self._line(epoch, logs) + "\n")
                self.stream.flush()
            return
        self.bar.update(1)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
        if self.every and due:
            self.bar.write(self._line(epoch, logs), file=self.stream)

    def on_train_end(self, logs=None):
        epoch = self.last_epoch
        if not self.tty:  # the last epoch's line, when `every` skipped it
            if self.every and epoch is not None and (epoch + 1) % self.every:
                self.stream.write(self._line(epoch, self.last_logs) + "\n")
                self.stream.flush()
            return
        if self.batch_bar is not None:
            self.batch_bar.close()  # leave=False: its line is cleared
        if self.bar is not None:
            self.bar.close()  # drawn once more, at the epochs actually run (an early stop included)
        self.bar = self.batch_bar = None


class EpochLogger(Callback):
    """One line per epoch (``verbose=2``), as Keras prints it: ``Epoch 3/40 - loss: 0.52 - val_loss: 0.61``."""

    def __init__(self, print_fn=print) -> None:
        self.print_fn = print_fn

    def on_epoch_end(self, epoch, logs=None):
        self.print_fn(f"Epoch {epoch + 1}/{self.params['epochs']} - {_fmt(logs or {})}")


def _takes_two_args(f) -> bool:
    """Whether ``f`` accepts ``(epoch, lr)``; Keras also accepts schedules of the epoch alone."""
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):  # a builtin without a signature: assume Keras' form
        return True
    try:
        signature.bind(0, 0.1)
    except TypeError:
        try:
            signature.bind(0)
        except TypeError:
            raise invalid_value("schedule", f, "a callable (epoch, lr) -> lr or (epoch) -> lr") from None
        return False
    return True


def _monitor_mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise invalid_value("mode", mode, "'auto', 'min' or 'max'")
    if mode == "auto":  # quantities that grow as the model gets better; losses and errors shrink
        return "max" if any(w in monitor for w in ("acc", "precision", "recall", "auc")) else "min"
    return mode


class _Monitor(Callback):
    """Shared logic: watch ``monitor`` (falling back from ``val_x`` to ``x``) and track the best value."""

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str):
            raise invalid_value("monitor", monitor, "the name of a logged quantity such as 'val_loss'")
        check_number("min_delta", min_delta, low=-math.inf)
        self.monitor, self.mode, self.min_delta = monitor, _monitor_mode(monitor, mode), abs(float(min_delta))
        self.reset()

    def reset(self) -> None:
        """Forget every epoch seen (at train start)."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self._fell_back = False  # warned this fit that val_x is missing

    @property
    def _owner(self) -> str:
        # ModelCheckpoint keeps a bare _Monitor: name the callback the user made
        return "ModelCheckpoint" if type(self) is _Monitor else type(self).__name__

    def get_state(self) -> dict:
        return {"best": float(self.best), "wait": int(self.wait)}

    def on_train_begin(self, logs=None):
        self.reset()

    def current(self, logs):
        """The monitored value in ``logs`` (``val_x`` falls back to ``x``); ConfigError when absent."""
        logs = logs or {}
        if self.monitor in logs:
            return logs[self.monitor]
        if self.monitor.startswith("val_") and self.monitor[4:] in logs:
            if not self.__dict__.get("_fell_back"):  # once per fit, as Keras warns
                self._fell_back = True
                warnings.warn(GlassnetWarning(
                    f"{self._owner} monitors {self.monitor!r}, but fit has no validation data: it uses "
                    f"{self.monitor[4:]!r} (the training value) instead. Pass validation_data= or "
                    f"validation_split= to fit, or monitor={self.monitor[4:]!r}."), stacklevel=2)
            return logs[self.monitor[4:]]
        raise ConfigError(f"{self._owner} monitors {self.monitor!r}, which is not in the logs; "
                          f"available: {', '.join(logs)}")

    def improved(self, value):
        """Whether ``value`` beats the best so far by more than ``min_delta``, in the monitor's ``mode``."""
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; optionally restore the best weights.

    ``monitor="val_loss"`` (the default) without validation data falls back to ``loss`` with a
    GlassnetWarning. ``verbose=1`` prints Keras' lines: ``Epoch 31: early stopping`` and, when the best
    weights come back, ``Restoring model weights from the end of the best epoch: 12.``
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False,
                 verbose=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = check_non_negative_int("patience", patience)
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
        self.verbose = check_non_negative_int("verbose", verbose)

    def reset(self) -> None:
        super().reset()
        #: the best epoch's weights, trainable and not (a state dict of "params" and "buffers"), when restoring
        self.stopped_epoch, self.best_weights, self.best_epoch = None, None, None

    def get_state(self) -> dict:
        return super().get_state() | {"best_epoch": self.best_epoch, "stopped_epoch": self.stopped_epoch,
                                      "best_weights": self.best_weights}

    def on_epoch_end(self, epoch, logs=None):
        value = self.current(logs)
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict(("params", "buffers"))
            return
        self.wait += 1
        if self.wait >= self.patience:  # Keras: `patience` epochs in a row without improvement
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.verbose and self.stopped_epoch is not None:  # Keras' order: the stop, then the restore
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        # as Keras 3: the best epoch comes back at the end of training, whether it stopped early or not
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule):
        if not callable(schedule):
            raise invalid_value("schedule", schedule, "a callable (epoch, lr) -> lr or (epoch) -> lr")
        self.schedule = schedule
        self._takes_lr = _takes_two_args(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = self.schedule(epoch, opt.lr) if self._takes_lr else self.schedule(epoch)
        try:
            opt.lr = float(lr)
        except (TypeError, ValueError, ConfigError):
            raise invalid_value("the learning rate returned by the schedule", lr,
                                f"a positive number (at epoch {epoch})") from None


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Keras' settings and defaults: ``monitor="val_loss"`` (``loss``, with a GlassnetWarning, when fit has
    no validation data), ``factor=0.1``, ``patience=10``, ``min_delta=1e-4``, ``cooldown=0`` (epochs after a
    reduction during which no epoch counts towards ``patience``), ``min_lr=0``. ``verbose=1`` prints
    ``Epoch 12: ReduceLROnPlateau reducing learning rate to 0.001.`` at each reduction.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        check_number("factor", factor, low_open=True, high=1.0, expected="a number in (0, 1)")
        check_non_negative_int("patience", patience)
        check_non_negative_int("cooldown", cooldown)
        check_number("min_lr", min_lr)
        self.factor, self.patience, self.min_lr = float(factor), int(patience), float(min_lr)
        self.cooldown, self.verbose = int(cooldown), check_non_negative_int("verbose", verbose)

    def reset(self) -> None:
        super().reset()
        self.cooldown_counter = 0

    def get_state(self) -> dict:
        return super().get_state() | {"cooldown_counter": int(self.cooldown_counter)}

    def on_epoch_end(self, epoch, logs=None):
        value = self.current(logs)
        if logs is not None:  # the rate this epoch trained with, logged every epoch (as Keras does)
            logs["lr"] = self.model.optimizer.lr
        if self.cooldown_counter > 0:  # Keras' order: a cooling epoch resets the wait, then counts down
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improved(value):
            self.best, self.wait = value, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            opt = self.model.optimizer
            if opt.lr > self.min_lr:
                opt.lr = max(opt.lr * self.factor, self.min_lr)
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {opt.lr:g}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class ModelCheckpoint(Callback):
    """Save the model every ``every`` epochs, or when ``monitor`` improves with ``save_best_only``.

    The file is a model file (written atomically: a crash leaves the previous checkpoint whole) that also
    holds everything needed to continue: optimizer state, the random generator's state, the epoch and
    the history. ``model.fit(X, y, epochs=E, resume_from=path)`` picks up from it and ends bit for bit
    where an uninterrupted run of E epochs would. When Ctrl-C stops ``fit``, the checkpoint is written
    once more, at the batch where training stopped, so that nothing trained is lost.

    ``path`` may hold ``{epoch}`` and log names (``"ckpt-{epoch:03d}-{val_loss:.3f}.glassnet"``).
    """

    def __init__(self, path, every: int = 1, save_best_only=False, monitor="val_loss", mode="auto"):
        check_positive_int("every", every)
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise invalid_value("path", path, "a file name (str or path-like)") from None
        self.every, self.save_best_only = int(every), save_best_only
        self._monitor = _Monitor(monitor, mode, 0.0)
        self.last_saved: str | None = None

    def on_train_begin(self, logs=None):
        self._monitor.reset()  # a reused checkpoint compares this fit's epochs only (Keras keeps `best`)

    def get_state(self) -> dict:
        return {"best": float(self._monitor.best)}

    def set_state(self, state: dict) -> None:
        self._monitor.best = float(state["best"])

    def _save(self, epoch, logs):
        values = {k: np.round(v, 6) for k, v in (logs or {}).items()}
        try:
            path = self.path.format(epoch=epoch, **values)
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"ModelCheckpoint path {self.path!r} names {e}, which is not in the logs; "
                              f"available: epoch, {', '.join(values)}") from None
        self.model.save(path)
        self.last_saved = path

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            value = self._monitor.current(logs)
            if not self._monitor.improved(value):
                return
            self._monitor.best = value
        elif (epoch + 1) % self.every:
            return
        self._save(epoch + 1, logs)

    def on_train_end(self, logs=None):
        history = getattr(self.model, "history", None)
        if not getattr(history, "interrupted", False) or self.save_best_only:
            return
        last = {k: v[-1] for k, v in history.history.items() if v}  # for names like {loss} in the path
        try:
            self._save(self.model._training.epoch + 1, last)
        except ConfigError as e:
            warnings.warn(GlassnetWarning(f"ModelCheckpoint could not save the interrupted run: {e}"), stacklevel=2)

