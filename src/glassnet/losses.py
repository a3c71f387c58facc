"""Loss functions: a value ``L(ŷ, y)`` averaged over the batch and its gradient ``dL/dŷ``.

Cross-entropies are fused with the activation before them: with a softmax (or sigmoid) output the
model asks for ``dL/dZ = (A - y) / N`` directly, and the loss value is computed from the logits ``Z``
with log-sum-exp, so neither overflows nor divides by a probability that rounded to 0.

Sequence outputs ``(N, T, K)`` (a Dense layer on every step of a ``return_sequences=True`` layer) have
a class distribution per step: the categorical cross-entropies then average over the ``N·T`` positions,
as Keras does, and the sparse one takes integer labels ``(N, T)``.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, DataError, ShapeError

__all__ = [
    "LOSSES",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "HalfSSE",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossEntropy",
    "get_loss",
]

EPS = 1e-7  # clip for probabilities when no logits are available (Keras' epsilon)


def _clip(p, low, high):
    """``clip(p, low, high)`` and where it lets ``p`` through (a boolean mask of p's shape).

    The clip's derivative is 1 inside ``[low, high]`` and 0 outside, as in Keras and torch.clamp: a
    prediction beyond it gets no gradient, since the clipped loss is flat there. NaN counts as inside,
    so that it still reaches the gradient.
    """
    return np.clip(p, low, high), ~((p < low) | (p > high))


def _row_sum(a):
    """Σ over every axis but the first: (N, ...) -> (N,)."""
    return a.reshape(len(a), -1).sum(axis=1)


def _row_mean(a):
    """Mean over every axis but the first: (N, ...) -> (N,)."""
    return a.reshape(len(a), -1).mean(axis=1)


def _positions(a) -> int:
    """The number of class distributions in ``a`` (N, ..., K): N for (N, K), N·T for sequences (N, T, K)."""
    return a.size // a.shape[-1] if a.size else len(a)


class Loss:
    """Base class. ``forward`` returns a float; ``backward`` returns dL/dŷ with ŷ's shape."""

    key = "loss"
    formula = "L(Y, A)"
    fused_activation: str | None = None  # "softmax" or "sigmoid" when dL/dZ has a fused form
    #: "mean": the loss of a batch is a mean over its rows, and fit/evaluate report the mean over all rows;
    #: "sum": it is a sum over rows (half_sse), and they report the sum over all rows, whatever the batch size
    reduction = "mean"

    def prepare(self, y_true: np.ndarray, pred_shape: tuple, dtype=np.float32) -> np.ndarray:
        """Return the targets as a ``dtype`` array shaped like the predictions, or raise ShapeError.

        Called once per ``fit``/``evaluate`` on all targets, not per batch.
        """
        y_true = np.asarray(y_true, dtype=dtype)
        if y_true.shape == tuple(pred_shape[:-1]) and pred_shape[-1] == 1:  # (N,) for outputs (N, 1)
            y_true = y_true.reshape(pred_shape)
        if y_true.shape != tuple(pred_shape):
            raise ShapeError(
                f"Loss {self.key!r}: targets of shape {y_true.shape} do not match the model's outputs "
                f"of shape {tuple(pred_shape)}"
            )
        return np.ascontiguousarray(y_true)

    def forward(self, y_pred, y_true, z=None) -> float:
        """The loss of predictions ``y_pred`` against ``y_true`` (from the logits ``z`` where fused)."""
        raise NotImplementedError

    def backward(self, y_pred, y_true) -> np.ndarray:
        """dL/dŷ, shaped like ``y_pred``."""
        raise NotImplementedError

    def fused_backward(self, y_pred, y_true) -> np.ndarray:
        """dL/dZ through the fused activation (only for losses with ``fused_activation``)."""
        raise NotImplementedError

    # -- sample weights ---------------------------------------------------------------------------------
    def per_row(self, y_pred, y_true, z=None, log_sum=None) -> np.ndarray:
        """``lᵢ``, the loss of each row, shape (N,): ``forward`` is their mean (their sum for "sum").

        A loss that averages over elements averages over each row's outputs here, so ``mean(lᵢ)`` over the
        rows is the same mean.
        """
        raise NotImplementedError(f"{type(self).__name__} does not give per-row losses, which sample "
                                  "weights need")

    def weighted(self, rows: np.ndarray, w: np.ndarray) -> float:
        """The weighted loss of a batch: ``Σ wᵢ·lᵢ / Σ wᵢ``, or ``Σ wᵢ·lᵢ`` for a sum (half_sse).

        A weight of 2 counts a row twice (scikit-learn's convention). A batch whose weights are all 0
        has loss 0.
        """
        total = float(np.dot(w, rows))  # (N,)·(N,), in float64
        if self.reduction == "sum":
            return total
        w_sum = float(w.sum())
        return total / w_sum if w_sum > 0 else 0.0

    def row_scale(self, w: np.ndarray) -> np.ndarray:
        """Factors ``(N,)`` that turn the unweighted gradient into the weighted one, row by row.

        The unweighted gradient of a mean already divides by N, so row i is scaled by ``wᵢ·N/Σw``; for a
        sum by ``wᵢ``. All zeros when ``Σ w = 0``.
        """
        if self.reduction == "sum":
            return w
        w_sum = float(w.sum())
        return w * (len(w) / w_sum) if w_sum > 0 else np.zeros_like(w)

    def get_config(self) -> dict:
        """``{"class": name}``, as saved in model files."""
        return {"class": type(self).__name__}

    def __repr__(self):
        return f"{type(self).__name__}()"


class HalfSSE(Loss):
    """Half the sum of squared errors, ``L = ½·Σ (y - ŷ)²``, not averaged.

    Its gradient ``dL/dŷ = ŷ - y = -E`` makes gradient descent exactly the seed tutorial's update
    ``W += lr · Aᵀ·(E · slope)`` with ``E = y - output``.
    """

    key = "half_sse"
    formula = "½ · Σ (Y - A)²"
    reduction = "sum"

    def forward(self, y_pred, y_true, z=None):
        e = y_true - y_pred
        return float(0.5 * np.sum(e * e))

    def backward(self, y_pred, y_true):
        return y_pred - y_true

    def per_row(self, y_pred, y_true, z=None, log_sum=None):
        e = y_true - y_pred
        return 0.5 * _row_sum(e * e)


class MeanSquaredError(Loss):
    """``L = mean((y - ŷ)²)`` over every element; ``dL/dŷ = 2(ŷ - y) / size``."""

    key = "mse"
    formula = "mean((Y - A)²)"

    def forward(self, y_pred, y_true, z=None):
        e = y_true - y_pred
        return float(np.mean(e * e))

    def backward(self, y_pred, y_true):
        return (y_pred - y_true) * y_pred.dtype.type(2.0 / y_pred.size)

    def per_row(self, y_pred, y_true, z=None, log_sum=None):
        e = y_true - y_pred
        return _row_mean(e * e)


class MeanAbsoluteError(Loss):
    """``L = mean(|y - ŷ|)``; ``dL/dŷ = sign(ŷ - y) / size``."""

    key = "mae"
    formula = "mean(|Y - A|)"

    def forward(self, y_pred, y_true, z=None):
        return float(np.mean(np.abs(y_true - y_pred)))

    def backward(self, y_pred, y_true):
        return np.sign(y_pred - y_true) * y_pred.dtype.type(1.0 / y_pred.size)

    def per_row(self, y_pred, y_true, z=None, log_sum=None):
        return _row_mean(np.abs(y_true - y_pred))


class BinaryCrossEntropy(Loss):
    """``L = -mean(y·log ŷ + (1-y)·log(1-ŷ))``; fused with a sigmoid: ``dL/dZ = (ŷ - y) / size``.

    From logits ``Z`` the value is ``mean(max(Z,0) - Z·y + log(1 + exp(-|Z|)))``, exact for any Z.
    From probabilities ŷ is clipped to ``[ε, 1-ε]`` first, so dL/dŷ is 0 where it was clipped (Keras).
    """

    key = "binary_crossentropy"
    formula = "-mean(Y·log A + (1-Y)·log(1-A))"
    fused_activation = "sigmoid"

    def forward(self, y_pred, y_true, z=None):
        if z is not None:
            return float(np.mean(np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))))
        p = np.clip(y_pred, EPS, 1 - EPS)
        return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))

    def per_row(self, y_pred, y_true, z=None, log_sum=None):
        if z is not None:
            return _row_mean(np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z))))
        p = np.clip(y_pred, EPS, 1 - EPS)
        return -_row_mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))

    def backward(self, y_pred, y_true):
        p, inside = _clip(y_pred, EPS, 1 - EPS)
        dp = (p - y_true) / (p * (1 - p)) * y_pred.dtype.type(1.0 / y_pred.size)
        return np.where(inside, dp, y_pred.dtype.type(0))  # 0 where clipped: the loss is flat there

    def fused_backward(self, y_pred, y_true):
        return (y_pred - y_true) * y_pred.dtype.type(1.0 / y_pred.size)


class CategoricalCrossEntropy(Loss):
    """``L = -(1/P)·Σ y·log ŷ`` with one-hot ``y``; fused with softmax: ``dL/dZ = (ŷ - y) / P``.

    ``P`` is the number of class distributions: N for outputs (N, K), N·T for sequence outputs
    (N, T, K), whose loss is the mean over every step of every sequence (Keras). From logits:
    ``log ŷ = Z - logsumexp(Z)``, so the value never takes log of 0. From probabilities ŷ is clipped to
    ``[ε, 1]`` first, so dL/dŷ is 0 where it was clipped.
    """

    key = "categorical_crossentropy"
    formula = "-(1/N) · Σ Y·log A"
    fused_activation = "softmax"

    @staticmethod
    def _log_p(y_pred, z):
        """log ŷ, from the logits when there are some (log-softmax), else from the clipped probabilities."""
        if z is None:
            return np.log(np.clip(y_pred, EPS, 1.0))
        zmax = z.max(axis=-1, keepdims=True)
        return z - zmax - np.log(np.exp(z - zmax).sum(axis=-1, keepdims=True))

    def forward(self, y_pred, y_true, z=None, log_sum=None):
        """With ``log_sum`` (the softmax's log Σ exp Z per position) no exponential is computed again."""
        p = _positions(y_pred)
        if z is not None and log_sum is not None:
            # -Σ y·(Z - log_sum) = Σ_positions (Σ_k y)·log_sum - Σ y·Z
            return float((np.vdot(y_true.sum(axis=-1), log_sum) - np.vdot(y_true, z)) / p)
        return float(-np.sum(y_true * self._log_p(y_pred, z)) / p)

    def per_row(self, y_pred, y_true, z=None, log_sum=None):
        steps = _positions(y_pred) / max(len(y_pred), 1)  # T for sequences, 1 otherwise
        if z is not None and log_sum is not None:
            rows = _row_sum(y_true * (log_sum - z))  # -Σ_k y·log A with log A = Z - log_sum
        else:
            rows = -_row_sum(y_true * self._log_p(y_pred, z))
        return rows / steps if steps != 1 else rows  # a row's loss is the mean over its steps

    def backward(self, y_pred, y_true):
        p, inside = _clip(y_pred, EPS, 1.0)
        dp = -y_true / p * y_pred.dtype.type(1.0 / _positions(y_pred))
        return np.where(inside, dp, y_pred.dtype.type(0))  # 0 where clipped: the loss is flat there

    def fused_backward(self, y_pred, y_true):
        return (y_pred - y_true) * y_pred.dtype.type(1.0 / _positions(y_pred))


class SparseCategoricalCrossEntropy(CategoricalCrossEntropy):
    """Categorical cross-entropy with integer class labels instead of one-hot rows.

    Labels have the outputs' shape without the class axis: (N,) for outputs (N, K), (N, T) for sequence
    outputs (N, T, K) (a label per step, e.g. the next character of a language model); as in Keras, a
    trailing axis of 1 is taken too: (N, 1) or (N, T, 1).
    """

    key = "sparse_categorical_crossentropy"
    formula = "-(1/N) · Σ log A[n, y_n]"

    def prepare(self, y_true, pred_shape, dtype=np.float32):
        """One-hot rows of ``dtype`` for the integer labels (checked by :meth:`codes`)."""
        return self.expand(self.codes(y_true, pred_shape), pred_shape[-1], dtype)

    @staticmethod
    def expand(codes: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
        """One-hot rows ``codes.shape + (n_classes,)`` for integer codes, (N,) or (N, T).

        ``fit`` keeps the labels as codes and expands one batch at a time, so the targets of a large
        data set cost 8 bytes a label instead of a row of floats per class.
        """
        one_hot = np.zeros(codes.shape + (n_classes,), dtype=dtype)
        one_hot.reshape(-1, n_classes)[np.arange(codes.size), codes.reshape(-1)] = 1
        return one_hot

    def codes(self, y_true, pred_shape) -> np.ndarray:
        """The labels as int64 codes, (N,) or (N, T), checked against the model's ``pred_shape``."""
        pred_shape = tuple(pred_shape)
        want = pred_shape[:-1]  # (N,) or (N, T): one label per class distribution
        y = np.asarray(y_true)
        if len(pred_shape) in (2, 3) and y.ndim == len(pred_shape) and y.shape[-1] == 1:
            y = y[..., 0]  # Keras takes a trailing axis of 1: labels (N, 1) or (N, T, 1)
        if len(pred_shape) not in (2, 3):  # one label per row, or per step of a sequence
            raise ShapeError(
                f"Loss {self.key!r} expects model outputs of shape (samples, classes) or (samples, steps, "
                f"classes); the model's outputs have shape {pred_shape}"
            )
        if y.shape != want:
            raise ShapeError(
                f"Loss {self.key!r} expects integer labels of shape {want}; received shape {y.shape}"
            )
        if not np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_:
            raise DataError(f"Loss {self.key!r} expects integer class labels; received dtype {y.dtype}")
        codes = y.astype(np.int64)
        if not np.array_equal(codes, y):
            raise DataError(f"Loss {self.key!r} expects integer class labels; received {y[codes != y][0]!r}")
        k = pred_shape[-1]
        bad = (codes < 0) | (codes >= k)
        if bad.any():
            where = np.unravel_index(int(np.argmax(bad)), bad.shape)
            at = f"row {where[0]}" if len(where) == 1 else f"row {where[0]}, step {where[1]}"
            raise DataError(
                f"Label {codes[where]} at {at} is out of range for a model with {k} outputs "
                f"(expected 0..{k - 1})"
            )
        return codes


LOSSES: dict[str, type[Loss]] = {
    cls.key: cls
    for cls in (
        HalfSSE,
        MeanSquaredError,
        MeanAbsoluteError,
        BinaryCrossEntropy,
        CategoricalCrossEntropy,
        SparseCategoricalCrossEntropy,
    )
}
_ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae", "bce": "binary_crossentropy",
            "cce": "categorical_crossentropy", "sse": "half_sse"}


def get_loss(loss) -> Loss:
    """A loss from its name (``"mse"``, ``"binary_crossentropy"``, ...), class or instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str):
        key = _ALIASES.get(loss.lower(), loss.lower())
        if key in LOSSES:
            return LOSSES[key]()
    raise ConfigError(f"Unknown loss {loss!r}; valid losses are: {', '.join(sorted(LOSSES))}")
