"""Callbacks: code that runs around training (Keras' hooks and names)."""

from __future__ import annotations

import inspect
import math
import os
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
    """A tqdm bar over epochs showing the latest loss and metrics (``verbose=1``).

    With ``every`` > 0 it also writes one line every ``every`` epochs (the tutorial's error log).
    """

    def __init__(self, every: int = 0, file=None) -> None:
        self.every, self.file = every, file

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.params["epochs"], initial=self.params.get("initial_epoch", 0),
                        unit="epoch", file=self.file, dynamic_ncols=True, leave=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.update(1)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
        if self.every and (epoch + 1) % self.every == 0:
            self.bar.write(f"epoch {epoch + 1}: {_fmt(logs)}", file=self.file)

    def on_train_end(self, logs=None):
        self.bar.close()


class EpochLogger(Callback):
    """One line per epoch (``verbose=2``)."""

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
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
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

    def get_state(self) -> dict:
        return {"best": float(self.best), "wait": int(self.wait)}

    def on_train_begin(self, logs=None):
        self.reset()

    def current(self, logs):
        logs = logs or {}
        if self.monitor in logs:
            return logs[self.monitor]
        if self.monitor.startswith("val_") and self.monitor[4:] in logs:
            return logs[self.monitor[4:]]
        raise ConfigError(f"{type(self).__name__} monitors {self.monitor!r}, which is not in the logs; "
                          f"available: {', '.join(logs)}")

    def improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; optionally restore the best weights."""

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = check_non_negative_int("patience", patience)
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)

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
        # as Keras 3: the best epoch comes back at the end of training, whether it stopped early or not
        if self.restore_best_weights and self.best_weights is not None:
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
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement."""

    def __init__(self, monitor="loss", factor=0.5, patience=10, min_lr=0.0, min_delta=1e-4, mode="auto"):
        super().__init__(monitor, mode, min_delta)
        check_number("factor", factor, low_open=True, high=1.0, expected="a number in (0, 1)")
        check_non_negative_int("patience", patience)
        check_number("min_lr", min_lr)
        self.factor, self.patience, self.min_lr = float(factor), int(patience), float(min_lr)

    def on_epoch_end(self, epoch, logs=None):
        value = self.current(logs)
        if logs is not None:  # the rate this epoch trained with, logged every epoch (as Keras does)
            logs["lr"] = self.model.optimizer.lr
        if self.improved(value):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            opt = self.model.optimizer
            opt.lr = max(opt.lr * self.factor, self.min_lr)
            self.wait = 0


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

