"""Wang, Yan & Oates (2017), "Time series classification from scratch with deep neural networks".

Three baselines trained end to end on raw series ``X (N, T, C)``, each built from glassnet layers as in
the authors' Keras code (github.com/cauchyturing/UCR_Time_Series_Classification_Deep_Learning_Baseline):

- :func:`mlp`: dropout 0.1 → Dense 500 ReLU → dropout 0.2 → Dense 500 ReLU → dropout 0.2 → Dense 500 ReLU
  → dropout 0.3 → softmax;
- :func:`fcn`: three convolution blocks (128 filters k=8, 256 k=5, 128 k=3; each 'same' padding, batch
  normalization, ReLU), global average pooling over time, softmax;
- :func:`resnet`: three residual blocks of 64, 128, 128 filters (k=8, 5, 3 inside each), the first
  preceded by batch normalization of the input; the shortcut is a 1×1 convolution + BN where the number
  of channels changes, else BN alone; ReLU after each addition; global average pooling, softmax;
- :func:`lstm` (not in the paper): one LSTM layer over the raw series, its last hidden state into a softmax,
  trained with the FCN's optimizer and schedule.

:func:`train` trains one of them as the paper does (its optimizer, learning-rate schedule and batch size)
and reports the test error at the epoch of lowest *training* loss, as the paper's tables do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..callbacks import Callback, ReduceLROnPlateau
from ..checks import check_non_negative_int, check_positive_int, is_int
from ..data.labels import check_labels, encode_labels
from ..data.validate import check_array
from ..errors import DataError, ShapeError, invalid_value
from ..layers import (
    LSTM,
    BatchNormalization,
    Conv1D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling1D,
    Layer,
    ReLU,
    Residual,
)
from ..model import Sequential
from ..optimizers import Adadelta, Adam, Optimizer

__all__ = ["ARCHS", "PAPER_SETTINGS", "fcn", "lstm", "mlp", "paper_batch_size", "resnet", "train"]


def _input_shape(input_shape) -> tuple[int, ...]:
    if input_shape is None:
        return None
    if is_int(input_shape):
        input_shape = (int(input_shape), 1)
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise invalid_value("input_shape", input_shape, "(T, C): series length and channels")
    return shape


def _classes(n_classes) -> int:
    n = check_positive_int("n_classes", n_classes)
    if n < 2:
        raise invalid_value("n_classes", n_classes, "an integer ≥ 2")
    return n


def _finish(layers: list[Layer], input_shape, seed, dtype, name: str, device=None) -> Sequential:
    model = Sequential(layers, seed=seed, dtype=dtype, name=name, device=device)
    shape = _input_shape(input_shape)
    return model.build(shape) if shape is not None else model


def mlp(n_classes: int, input_shape: tuple[int, int] | None = None, *, seed=None,
        dtype="float32", device=None) -> Sequential:
    """Wang et al.'s MLP: three fully connected layers of 500 ReLU units with dropout, then softmax.

    The series is flattened first, so for (T, C) inputs the first layer sees T·C features.

    Parameters
    ----------
    n_classes : int ≥ 2
    input_shape : (T, C), optional
        Builds the model now; otherwise it is built by the first ``fit``.
    seed : int, optional
        Seeds initialization, shuffling and dropout.
    dtype : "float32" (default) or "float64"
    device : "cpu", "gpu" or None
        Where the model computes (None: ``GLASSNET_DEVICE``, else the CPU).
    """
    layers: list[Layer] = [Flatten(), Dropout(0.1)]
    for rate in (0.2, 0.2, 0.3):
        layers += [Dense(500, activation="relu"), Dropout(rate)]
    layers.append(Dense(_classes(n_classes), activation="softmax"))
    return _finish(layers, input_shape, seed, dtype, "mlp", device)


def _conv_bn(filters: int, kernel_size: int, relu: bool = True) -> list[Layer]:
    """Conv1D ('same') → BatchNormalization (→ ReLU): the unit both FCN and ResNet are made of."""
    block: list[Layer] = [Conv1D(filters, kernel_size, padding="same"), BatchNormalization()]
    return block + [ReLU()] if relu else block


def fcn(n_classes: int, input_shape: tuple[int, int] | None = None, *, seed=None,
        dtype="float32", device=None) -> Sequential:
    """Wang et al.'s fully convolutional network: 128×k8, 256×k5, 128×k3 conv-BN-ReLU blocks, GAP, softmax.

    Parameters as in :func:`mlp`.
    """
    layers = _conv_bn(128, 8) + _conv_bn(256, 5) + _conv_bn(128, 3)
    layers += [GlobalAveragePooling1D(), Dense(_classes(n_classes), activation="softmax")]
    return _finish(layers, input_shape, seed, dtype, "fcn", device)


def resnet(n_classes: int, input_shape: tuple[int, int] | None = None, *, seed=None,
           dtype="float32", device=None) -> Sequential:
    """Wang et al.'s ResNet: three residual blocks (64, 128, 128 filters), GAP, softmax.

    Each block's main branch is conv k8-BN-ReLU, conv k5-BN-ReLU, conv k3-BN; its shortcut a 1×1 conv + BN
    where the channels change (blocks 1 and 2), else BN alone (block 3); ReLU follows the addition. As
    in the authors' code, the first block's main branch starts with a BN of the raw input, which its
    shortcut does not see. (Fawaz et al. 2019 drop that input BN.)

    Parameters as in :func:`mlp`; without ``input_shape`` the first block assumes the input has
    fewer channels than 64 (true of every UCR set).
    """
    shape = _input_shape(input_shape)
    channels = shape[1] if shape is not None else 1
    layers: list[Layer] = []
    for i, filters in enumerate((64, 128, 128)):
        main = ([BatchNormalization()] if i == 0 else []) + _conv_bn(filters, 8) + _conv_bn(filters, 5)
        main += _conv_bn(filters, 3, relu=False)
        if channels != filters:
            shortcut = [Conv1D(filters, 1, padding="same"), BatchNormalization()]
        else:
            shortcut = [BatchNormalization()]
        layers += [Residual(main=main, shortcut=shortcut), ReLU()]
        channels = filters
    layers += [GlobalAveragePooling1D(), Dense(_classes(n_classes), activation="softmax")]
    return _finish(layers, shape, seed, dtype, "resnet", device)


def lstm(n_classes: int, input_shape: tuple[int, int] | None = None, *, units: int = 64, seed=None,
         dtype="float32", device=None) -> Sequential:
    """A recurrent baseline, not one of Wang et al.'s: LSTM(units) over the series, softmax on its last state.

    The LSTM reads the series one step at a time, ``x_t (N, C)``, and keeps Keras' defaults (orthogonal
    recurrent kernel, forget-gate bias 1); only ``h_T (N, units)`` reaches the softmax layer. With
    :func:`train` it gets the FCN's optimizer and schedule (Adam 1e-3, ReduceLROnPlateau patience 50,
    min_lr 1e-4) and batch size.

    Parameters
    ----------
    n_classes : int ≥ 2
    input_shape : (T, C), optional
        Builds the model now; otherwise it is built by the first ``fit``.
    units : int, default 64
        Size of the LSTM's hidden and cell states.
    seed, dtype, device
        As in :func:`mlp`.
    """
    layers: list[Layer] = [LSTM(check_positive_int("units", units)),
                           Dense(_classes(n_classes), activation="softmax")]
    return _finish(layers, input_shape, seed, dtype, "lstm", device)


ARCHS: dict[str, Callable[..., Sequential]] = {"mlp": mlp, "fcn": fcn, "resnet": resnet, "lstm": lstm}

#: optimizer and ReduceLROnPlateau(monitor="loss", factor=0.5) settings per architecture, from the paper's
#: text (MLP: Adadelta lr 0.1, rho 0.95, eps 1e-8; FCN, ResNet: Adam lr 1e-3) and its code (patience,
#: min_lr). The paper trains MLP for 5000 epochs, FCN 2000, ResNet 1500. The LSTM is not in the paper: it
#: takes the FCN's settings.
PAPER_SETTINGS = {
    "mlp": {"optimizer": lambda: Adadelta(0.1, rho=0.95, epsilon=1e-8), "patience": 200, "min_lr": 0.1,
            "epochs": 5000},
    "fcn": {"optimizer": lambda: Adam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8), "patience": 50,
            "min_lr": 1e-4, "epochs": 2000},
    "resnet": {"optimizer": lambda: Adam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8), "patience": 50,
               "min_lr": 1e-4, "epochs": 1500},
    "lstm": {"optimizer": lambda: Adam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8), "patience": 50,
             "min_lr": 1e-4, "epochs": 2000},
}


def paper_batch_size(n_train: int) -> int:
    """``int(min(N_train / 10, 16))``, at least 1 (the authors' code)."""
    return max(1, int(min(n_train / 10, 16)))


class TestError(Callback):
    """Records the test error rate at each epoch where the training loss reaches a new low.

    Those are the only epochs whose test error the paper's number can come from, so the reported
    ``test_error`` is exact however rarely the rest is sampled; ``every`` > 0 also records it every
    ``every`` epochs (for a learning curve). ``logs["test_error"]`` shows the latest value.
    """

    __test__ = False  # not a pytest class

    def __init__(self, X: np.ndarray, codes: np.ndarray, every: int = 1, batch_size: int = 128) -> None:
        self.X, self.codes, self.every, self.batch_size = X, codes, every, batch_size
        self.errors: dict[int, float] = {}
        self.best_loss, self.best_epoch, self.latest = math.inf, None, math.nan

    def error(self) -> float:
        a = self.model.predict(self.X, batch_size=self.batch_size)  # (N_test, K) inference mode
        return float(np.mean(a.argmax(axis=1) != self.codes))

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss", math.nan)
        best = loss < self.best_loss
        if best:
            self.best_loss, self.best_epoch = loss, epoch
        if best or (self.every and (epoch + 1) % self.every == 0):
            self.latest = self.errors[epoch] = self.error()
        if logs is not None:
            logs["test_error"] = self.latest


def _check_xy(X, y, name: str):
    X = check_array(X, f"X_{name}", min_ndim=3, max_ndim=3)
    if y is None or len(y) != len(X):
        raise ShapeError(f"X_{name} has {len(X)} series but y_{name} has "
                         f"{'no' if y is None else len(y)} labels")
    return X


def train(arch: str, X_train, y_train, X_test, y_test, *, epochs: int | None = None, seed: int | None = 0,
          batch_size: int | None = None, optimizer: Optimizer | None = None,
          callbacks: Sequence[Callback] = (), verbose: int = 0, test_every: int = 1, device=None) -> dict:
    """Train ``arch`` on (X_train, y_train) as Wang et al. do; report the test error.

    Compiles with the paper's optimizer (MLP: Adadelta lr 0.1; FCN, ResNet: Adam lr 1e-3) and
    ReduceLROnPlateau(monitor="loss", factor 0.5, patience 50 (MLP 200), min_lr 1e-4 (MLP 0.1)), batch
    size ``int(min(N_train/10, 16))``, sparse categorical cross-entropy. Inputs are used as given:
    z-normalise them beforehand (``load_ucr(..., znorm="train")`` is the paper's choice).

    Parameters
    ----------
    arch : {"mlp", "fcn", "resnet", "lstm"}
        The LSTM, not in the paper, is trained as the FCN is.
    X_train, X_test : array_like, shape (N, T, C)
    y_train, y_test : array_like, shape (N,)
        Labels of any kind; every test label must occur in training.
    epochs : int, optional
        Default: the paper's (MLP 5000, FCN 2000, ResNet 1500); the LSTM's, 2000, is the FCN's.
    seed : int, optional
        Seeds initialization, shuffling and dropout.
    batch_size : int, optional
        Default: the paper's.
    optimizer : Optimizer, optional
        Replaces the paper's (the learning-rate schedule stays).
    callbacks : list of Callback
        Run after the schedule and the test-error tracker (so they see ``logs["lr"]``, ``["test_error"]``).
    verbose : 0, 1 or 2
        As in ``fit``: 1 shows a progress bar over epochs.
    test_every : int ≥ 0
        Also record the test error every that many epochs (0: only where the training loss hits a new
        low, which is all the result needs; cheaper).
    device : "cpu", "gpu" or None
        Where the model computes (None: ``GLASSNET_DEVICE``, else the CPU).

    Returns
    -------
    dict
        ``test_error`` (at the epoch of lowest training loss, ``best_epoch``, 1-based), ``test_error_final``,
        ``train_loss`` (that lowest one), ``train_loss_final``, ``epochs``, ``seconds``, ``batch_size``,
        ``classes``, ``optimizer``, ``history`` (per epoch ``loss``, ``lr``, ``test_error``, None where not
        measured) and ``model`` (the trained Sequential). Everything but ``model`` is JSON-able.
    """
    if arch not in ARCHS:
        raise invalid_value("arch", arch, " or ".join(repr(a) for a in ARCHS))
    paper = PAPER_SETTINGS[arch]
    epochs = check_positive_int("epochs", paper["epochs"] if epochs is None else epochs)
    test_every = check_non_negative_int("test_every", test_every)
    X_train, X_test = _check_xy(X_train, y_train, "train"), _check_xy(X_test, y_test, "test")
    if X_test.shape[1:] != X_train.shape[1:]:
        raise ShapeError(f"X_test has series of shape {X_test.shape[1:]} (T, C) but X_train has "
                         f"{X_train.shape[1:]}; train and test series must have the same length and channels")
    codes, classes = encode_labels(y_train, "y_train")
    if len(classes) < 2:
        only = classes[0].item() if isinstance(classes[0], np.generic) else classes[0]  # 'a', not np.str_('a')
        raise DataError(f"y_train holds one class only ({only!r}); classification needs at least 2")
    test_codes = check_labels(y_test, classes, "y_test")
    batch_size = paper_batch_size(len(X_train)) if batch_size is None else check_positive_int("batch_size",
                                                                                            batch_size)

    model = ARCHS[arch](len(classes), X_train.shape[1:], seed=seed, device=device)
    optimizer = paper["optimizer"]() if optimizer is None else optimizer
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer)
    schedule = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=paper["patience"], min_lr=paper["min_lr"],
                                 min_delta=1e-4, cooldown=0)
    tracker = TestError(X_test, test_codes, every=test_every)
    start = time.perf_counter()
    history = model.fit(X_train, codes, epochs=epochs, batch_size=batch_size, shuffle=True,
                        callbacks=[schedule, tracker, *callbacks], verbose=verbose)
    last = history.epoch[-1]
    if last not in tracker.errors:
        tracker.errors[last] = tracker.error()
    seconds = time.perf_counter() - start

    losses = history.history["loss"]
    best = tracker.best_epoch if tracker.best_epoch is not None else last
    return {
        "arch": arch,
        "epochs": len(history.epoch),
        "best_epoch": best + 1,
        "test_error": tracker.errors[best],
        "test_error_final": tracker.errors[last],
        "train_loss": losses[best],
        "train_loss_final": losses[-1],
        "seconds": seconds,
        "seconds_per_epoch": seconds / len(history.epoch),
        "batch_size": batch_size,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "series_shape": list(X_train.shape[1:]),
        "classes": classes.tolist(),
        "seed": seed,
        "optimizer": optimizer.get_config(),
        "lr_final": float(optimizer.lr),
        "history": {
            "loss": losses,
            "lr": history.history.get("lr", []),
            "test_error": [tracker.errors.get(e) for e in history.epoch],
        },
        "model": model,
    }
