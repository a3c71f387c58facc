"""scikit-learn estimators over :class:`~glassnet.Sequential`: ``GlassClassifier`` and ``GlassRegressor``.

A multilayer perceptron in the spirit of scikit-learn's ``MLPClassifier``/``MLPRegressor``, in glassnet's
vocabulary (``epochs``, ``learning_rate``, ``l2``, ``dropout``, ``patience``), that works wherever a
scikit-learn estimator does: ``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone``, pickle::

    clf = GlassClassifier(hidden_layer_sizes=(32,), epochs=50, random_state=0).fit(X, y)
    clf.predict_proba(X[:2]); clf.model_.summary()

The network: ``Dense(units, activation)`` per entry of ``hidden_layer_sizes`` (each followed by
``Dropout(dropout)`` when ``dropout > 0``), then the output layer: one sigmoid unit with binary
cross-entropy for two classes, a softmax over K classes with sparse categorical cross-entropy for more,
linear units with mean squared error for regression. The fitted :class:`~glassnet.Sequential` is
``model_``: every number of it can be traced, plotted and saved like any glassnet model.

Bad input raises glassnet's errors (``ConfigError``, ``ShapeError``, ``DataError``: all ``ValueError``);
``predict`` before ``fit`` raises scikit-learn's ``NotFittedError``. Importing this module needs
scikit-learn (``pip install 'glassnet[sklearn]'``); ``import glassnet`` does not.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

try:
    from scipy import sparse
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import DataConversionWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:  # validate_data and __sklearn_tags__ arrived in scikit-learn 1.6
    raise ImportError("glassnet.sklearn needs scikit-learn 1.6 or later: pip install 'glassnet[sklearn]'") from e

from .backend import as_dtype
from .callbacks import EarlyStopping
from .checks import check_bool, check_non_negative_int, check_number, check_positive_int, is_int
from .data import check_array, check_labels, check_lengths, encode_labels, train_val_split
from .data.weights import check_sample_weight, label_weight_table
from .errors import ConfigError, DataError, ShapeError, invalid_value
from .layers import Dense, Dropout
from .model import Sequential
from .optimizers import OPTIMIZERS
from .regularizers import L2

__all__ = ["GlassClassifier", "GlassRegressor"]


@dataclass(frozen=True)
class _Settings:
    """The estimator's parameters, checked and normalized at the start of ``fit``."""

    hidden: tuple[int, ...]
    optimizer: type
    learning_rate: float
    epochs: int
    batch_size: int | None
    l2: float
    dropout: float
    validation_fraction: float
    dtype: np.dtype


def _seed(random_state) -> int:
    """The glassnet seed for ``random_state``: an int as it is; None or a RandomState draw one (sklearn's way)."""
    if is_int(random_state) and random_state >= 0:
        return int(random_state)
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    raise invalid_value("random_state", random_state, "None, a non-negative integer or a numpy.random.RandomState")


class _GlassEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, network, training loop, pickling."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, optimizer="adam", learning_rate=1e-3,
                 epochs=200, batch_size=32, l2=0.0, dropout=0.0, early_stopping=False, validation_fraction=0.1,
                 patience=10, dtype="float32", device=None, warm_start=False, verbose=0, random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.dropout = dropout
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.dtype = dtype
        self.device = device
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state

    # -- checking the settings and the data -------------------------------------------------------------
    def _settings(self) -> _Settings:
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if is_int(sizes) else sizes
        try:
            hidden = tuple(sizes)
        except TypeError:
            hidden = None
        if hidden is None or isinstance(sizes, str) or not all(is_int(u) and u >= 1 for u in hidden):
            raise invalid_value("hidden_layer_sizes", self.hidden_layer_sizes,
                                "a tuple of positive integers such as (100,) or (64, 32); () for none")
        optimizer = OPTIMIZERS.get(self.optimizer.lower()) if isinstance(self.optimizer, str) else None
        if optimizer is None:
            raise invalid_value("optimizer", self.optimizer, f"one of {', '.join(sorted(OPTIMIZERS))}")
        if self.batch_size is not None and not (is_int(self.batch_size) and self.batch_size >= 1):
            raise invalid_value("batch_size", self.batch_size, "a positive integer or None (full batch)")
        check_non_negative_int("patience", self.patience)
        check_bool("warm_start", self.warm_start)
        if check_bool("early_stopping", self.early_stopping):
            check_number("validation_fraction", self.validation_fraction, low_open=True, high=1.0)
        return _Settings(
            hidden=tuple(int(u) for u in hidden),
            optimizer=optimizer,
            learning_rate=check_number("learning_rate", self.learning_rate, low_open=True),
            epochs=check_positive_int("epochs", self.epochs),
            batch_size=self.batch_size,
            l2=check_number("l2", self.l2),
            dropout=check_number("dropout", self.dropout, high=1.0),
            validation_fraction=self.validation_fraction,
            dtype=as_dtype(self.dtype),
        )

    def _check_X(self, X, *, reset: bool, dtype) -> np.ndarray:
        """X as a 2-D array of ``dtype``; feature count and names checked against ``fit`` unless ``reset``."""
        name = type(self).__name__
        if sparse.issparse(X):
            raise DataError(f"X is a scipy sparse {type(X).__name__}; {name} takes dense arrays, e.g. X.toarray()")
        if getattr(getattr(X, "dtype", None), "kind", "") == "c":
            raise DataError(f"Complex data not supported: X has dtype {X.dtype}; expected real numbers")
        Xa = check_array(X, "X", dtype=dtype, min_ndim=1, max_ndim=2, allow_empty=True)
        if Xa.ndim == 1:
            raise ShapeError(f"X must be 2-dimensional (samples, features); received shape {Xa.shape}. Reshape your "
                             "data: X.reshape(-1, 1) if it holds one feature, X.reshape(1, -1) if it is one sample")
        for axis, what in enumerate(("sample", "feature")):
            if Xa.shape[axis] == 0:  # sklearn's wording, which its estimator checks look for
                raise DataError(f"X has 0 {what}(s) (shape={Xa.shape}) while a minimum of 1 is required.")
        if not reset and Xa.shape[1] != self.n_features_in_:
            raise ShapeError(f"X has {Xa.shape[1]} features, but {name} is expecting {self.n_features_in_} "
                             "features as input (the number it was fitted with)")
        validate_data(self, X, reset=reset, skip_check_array=True)  # feature_names_in_ of a DataFrame, and its warnings
        return Xa

    # -- training -------------------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train a network on (X, y) for ``epochs`` epochs (fewer with ``early_stopping``); returns self.

        With ``warm_start=True`` a fitted network trains on from its weights (with a fresh optimizer).
        ``sample_weight`` (n_samples,) weighs each row's loss: a batch's loss is ``Σ wᵢ·lᵢ / Σ wᵢ``, so a
        weight of 2 counts a row twice and 0 drops it.
        """
        return self._fit(X, y, partial=False, sample_weight=sample_weight)

    def _fit(self, X, y, *, partial: bool, classes=None, sample_weight=None):
        s = self._settings()
        fresh = not hasattr(self, "model_") or not (partial or self.warm_start)
        architecture = {"hidden_layer_sizes": s.hidden, "activation": self.activation, "dropout": s.dropout,
                        "l2": s.l2, "dtype": s.dtype.name}
        if not fresh:
            self._check_architecture(architecture)
        X = self._check_X(X, reset=fresh, dtype=s.dtype)
        if y is None:
            raise DataError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        Y, (units, activation, loss), learned = self._targets(y, fresh=fresh, classes=classes, dtype=s.dtype)
        check_lengths(X, Y)
        W = self._row_weights(check_sample_weight(sample_weight, len(X)), Y, learned, partial=partial, fresh=fresh)
        optimizer = s.optimizer(learning_rate=s.learning_rate)
        if fresh:
            model = self._network(s, units, activation).build(X.shape[1])
            model.compile(loss=loss, optimizer=optimizer)
        else:
            model = self.model_.to(self.device)
            if not partial:  # warm start: the weights go on, the optimizer starts afresh (as in MLPClassifier)
                model.compile(loss=loss, optimizer=optimizer)
        callbacks, validation = [], None
        if self.early_stopping and not partial:
            n = len(X)
            if math.floor(n * (1 - s.validation_fraction)) in (0, n):
                samples = f"{n} sample" + ("" if n == 1 else "s")
                raise ConfigError(f"early_stopping: validation_fraction={s.validation_fraction} of {samples} leaves "
                                  "none for training or none for validation; pass more samples or another fraction")
            X, rows, Xv, val_rows = train_val_split(X, np.arange(len(X)), s.validation_fraction, rng=model.rng)
            Y, Yv = Y[rows], Y[val_rows]
            validation = (Xv, Yv) if W is None else (Xv, Yv, W[val_rows])
            W = None if W is None else W[rows]
            callbacks.append(EarlyStopping("val_loss", patience=self.patience, restore_best_weights=True))
        history = model.fit(X, Y, epochs=1 if partial else s.epochs, batch_size=s.batch_size,
                            validation_data=validation, callbacks=callbacks, verbose=self.verbose, sample_weight=W)

        if fresh:
            self.model_, self.history_ = model, {}
            self._architecture = architecture
        for k, v in learned.items():
            setattr(self, k, v)
        for k, values in history.history.items():
            self.history_.setdefault(k, []).extend(values)
        self.loss_curve_ = list(self.history_.get("loss", []))
        self.n_iter_ = len(history.epoch)  # this fit's epochs (partial_fit: 1), as MLPClassifier counts them
        return self

    def _row_weights(self, w, Y, learned, *, partial: bool, fresh: bool):
        """The weight of each row (float64 (N,)) or None: ``sample_weight`` here; the classifier adds
        ``class_weight``."""
        return w

    def _check_architecture(self, architecture: dict) -> None:
        """warm_start and partial_fit continue a network only while the settings that shaped it stay."""
        for k, before in self._architecture.items():
            now = architecture[k]
            if now != before:
                raise ConfigError(f"warm_start and partial_fit train on the fitted network, built with {k}={before!r}; "
                                  f"received {k}={now!r}. Fit with warm_start=False to build a new network")

    def _network(self, s: _Settings, units: int, activation: str) -> Sequential:
        reg = L2(s.l2) if s.l2 else None
        layers = []
        for u in s.hidden:
            layers.append(Dense(u, activation=self.activation, kernel_regularizer=reg))
            if s.dropout:
                layers.append(Dropout(s.dropout))
        layers.append(Dense(units, activation=activation, kernel_regularizer=reg))
        return Sequential(layers, seed=_seed(self.random_state), dtype=s.dtype, device=self.device)

    def _outputs(self, X) -> np.ndarray:
        """The network's outputs for X as float64, shape (samples, outputs)."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False, dtype=self.model_.dtype)
        return self.model_.predict(X).astype(np.float64)


class GlassClassifier(ClassifierMixin, _GlassEstimator):
    """A multilayer perceptron classifier trained by glassnet.

    Labels may be anything ``numpy.unique`` can sort (strings, integers, booleans); ``classes_`` holds them
    in sorted order. Two classes: one sigmoid output and binary cross-entropy; K > 2: a K-way softmax and
    sparse categorical cross-entropy.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Units of each hidden layer; ``()`` for none (logistic regression).
    activation : str, default "relu"
        Activation of the hidden layers: "relu", "tanh", "sigmoid", "leaky_relu", "elu", "linear".
    optimizer : str, default "adam"
        "sgd", "adam", "adamw", "rmsprop", "adagrad" or "adadelta".
    learning_rate : float, default 1e-3
    epochs : int, default 200
        Passes over the training rows per ``fit`` (``partial_fit`` makes one).
    batch_size : int or None, default 32
        Rows per update; None trains on all rows at once.
    l2 : float, default 0.0
        Penalty ``l2 · Σ W²`` on every kernel, added to the mean loss (Keras' scale). scikit-learn's MLP
        ``alpha`` is ``l2 = alpha / (2 · batch_size)`` for the classifier, and ``alpha / batch_size`` for the
        regressor, whose squared error MLPRegressor halves (``benchmarks/parity.py`` checks both against
        scikit-learn's own gradients).
    dropout : float, default 0.0
        Dropout rate after each hidden layer, in [0, 1).
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows (drawn at random) and stop when their loss has not
        improved for ``patience`` epochs; the weights of the best epoch are restored.
    validation_fraction : float, default 0.1
    patience : int, default 10
    dtype : "float32" or "float64", default "float32"
    device : "cpu", "gpu" or None, default None
        None reads ``GLASSNET_DEVICE`` (default "cpu").
    warm_start : bool, default False
        ``fit`` trains the fitted network on instead of building a new one.
    verbose : 0, 1 or 2, default 0
        1: a progress bar; 2: one line per epoch.
    random_state : int, RandomState or None, default None
        An int seeds initialization, shuffling, dropout and the validation split: same int, same model.
    class_weight : None, dict or "balanced", default None
        Weights of the classes, multiplying ``sample_weight``: a dict label → weight (absent labels weigh 1),
        or "balanced", ``n_samples / (n_classes * bincount(y))`` (with ``sample_weight``: weighted counts),
        computed on each ``fit``'s y. Not with ``partial_fit``: pass the weights as a dict there.

    Attributes
    ----------
    model_ : Sequential
        The trained network.
    classes_ : ndarray, shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X was a DataFrame with string column names.
    loss_curve_ : list of float
        Training loss per epoch, over every ``fit`` since the network was built (``warm_start``).
    history_ : dict of str to list of float
        Every logged quantity per epoch: "loss", and "val_loss" with ``early_stopping``.
    n_iter_ : int
        Epochs trained by the last ``fit`` (1 after ``partial_fit``), as ``MLPClassifier`` counts them.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, optimizer="adam", learning_rate=1e-3,
                 epochs=200, batch_size=32, l2=0.0, dropout=0.0, early_stopping=False, validation_fraction=0.1,
                 patience=10, dtype="float32", device=None, warm_start=False, verbose=0, random_state=None,
                 class_weight=None):
        super().__init__(hidden_layer_sizes, activation, optimizer=optimizer, learning_rate=learning_rate,
                         epochs=epochs, batch_size=batch_size, l2=l2, dropout=dropout, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, patience=patience, dtype=dtype, device=device,
                         warm_start=warm_start, verbose=verbose, random_state=random_state)
        self.class_weight = class_weight

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing the fitted network; ``classes`` (every label) on the first call.

        The optimizer's state carries over between calls; ``early_stopping`` does not apply.
        """
        if not hasattr(self, "model_") and classes is None:
            raise ConfigError("classes must be passed on the first call to partial_fit: every label the "
                              "classifier will see, e.g. classes=np.unique(y_all)")
        return self._fit(X, y, partial=True, classes=classes, sample_weight=sample_weight)

    def _row_weights(self, w, Y, learned, *, partial: bool, fresh: bool):
        """``sample_weight`` times ``class_weight``; DataError when the weights leave a fresh fit one class."""
        known = learned["classes_"]
        codes = Y if Y.ndim == 1 else Y[:, 0].astype(np.int64)  # (N,): sparse codes, or the binary 0/1 label
        if partial and isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ConfigError("class_weight='balanced' is not supported by partial_fit: one batch does not "
                              "show the classes' frequencies. Pass a dict instead, e.g. from sklearn.utils."
                              "class_weight.compute_class_weight('balanced', classes=classes, y=y_all)")
        table = label_weight_table(self.class_weight, codes, known, w)  # (K,) or None
        if table is not None:
            w = table[codes] if w is None else w * table[codes]
        if w is not None and fresh and not partial:
            weighed = np.unique(codes[w > 0])
            if len(weighed) == 1:
                raise DataError(f"The weights leave one class only ({known.tolist()[weighed[0]]!r}) with a positive "
                                "sample_weight × class_weight; a classifier needs at least 2 classes")
        return w

    def _targets(self, y, *, fresh, classes, dtype):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(DataConversionWarning("A column-vector y was passed when a 1d array was expected. "
                                                "Please change the shape of y to (n_samples,), e.g. with ravel()"),
                          stacklevel=4)
        if fresh:
            if classes is None:
                codes, known = encode_labels(y, "y")
            else:
                known = encode_labels(classes, "classes")[1]
                codes = self._codes(y, known)
            _check_classes(known, y)
        else:
            known = self.classes_
            if classes is not None and not np.array_equal(np.unique(classes), known):
                raise ConfigError(f"classes={np.unique(classes).tolist()!r} differs from the fitted classifier's "
                                  f"classes_={known.tolist()!r}")
            codes = self._codes(y, known)
        if len(known) == 2:
            output = (1, "sigmoid", "binary_crossentropy")
            Y = codes.astype(dtype).reshape(-1, 1)  # (N, 1)
        else:
            output, Y = (len(known), "softmax", "sparse_categorical_crossentropy"), codes
        return Y, output, {"classes_": known}

    @staticmethod
    def _codes(y, known) -> np.ndarray:
        y = np.asarray(y)
        if y.dtype.kind in "iu" and known.dtype.kind not in "biuf":
            y = y.astype(object)  # integers are labels here, never codes into text classes
        return check_labels(y, known, "y")

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class, shape (samples, n_classes), columns in ``classes_`` order; rows sum to 1."""
        a = self._outputs(X)
        if a.shape[1] == 1:  # binary: the sigmoid gives P(classes_[1])
            return np.hstack([1.0 - a, a])  # (N, 2)
        return a / a.sum(axis=1, keepdims=True)  # (N, K); exact sums in float64

    def predict_log_proba(self, X) -> np.ndarray:
        """``log(predict_proba(X))``, shape (samples, n_classes); a probability of 0 gives -inf."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row, as a label from ``classes_``."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]


def _check_classes(classes: np.ndarray, y) -> None:
    """Labels a classifier can learn: whole numbers or text, at least two of them."""
    if classes.dtype.kind == "f":
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        bad = ~np.isfinite(y)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"y contains {y[row]} at row {row}; expected a class label")
        fraction = y != np.round(y)
        if fraction.any():
            row = int(np.argmax(fraction))
            raise DataError(f"Unknown label type: continuous. y holds {y[row]} at row {row}, not a class label; "
                            "for a continuous target use GlassRegressor")
    if len(classes) < 2:
        raise DataError(f"y holds one class only ({classes.tolist()[0]!r}); a classifier needs at least 2")


class GlassRegressor(RegressorMixin, _GlassEstimator):
    """A multilayer perceptron regressor trained by glassnet: linear outputs, mean squared error.

    ``y`` is 1-D (one target; ``predict`` returns 1-D) or 2-D (samples, targets). Targets are not scaled:
    for targets far from unit scale, wrap the regressor in
    ``TransformedTargetRegressor(regressor, transformer=StandardScaler())``.
    Parameters and attributes are those of :class:`GlassClassifier` but ``class_weight``, with ``n_outputs_``
    (the number of targets) in place of ``classes_``.
    """

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the fitted network (a new one on the first call).

        The optimizer's state carries over between calls; ``early_stopping`` does not apply.
        """
        return self._fit(X, y, partial=True, sample_weight=sample_weight)

    def _targets(self, y, *, fresh, classes, dtype):
        y = check_array(y, "y", dtype=dtype, min_ndim=1, max_ndim=2)
        Y = y.reshape(len(y), -1)  # (N, targets)
        return Y, (Y.shape[1], "linear", "mse"), {"n_outputs_": Y.shape[1], "_y_1d": y.ndim == 1}

    def predict(self, X) -> np.ndarray:
        """Predicted targets: shape (samples,) when fitted on 1-D y, else (samples, targets)."""
        a = self._outputs(X)
        return a[:, 0] if self._y_1d else a

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
