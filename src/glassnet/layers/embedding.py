"""Embedding: integer ids (N, T) -> rows of a trainable table (N, T, output_dim)."""

from __future__ import annotations

import numpy as np

from ..checks import check_bool, check_positive_int
from ..errors import DataError, ShapeError
from ..initializers import get_initializer, initializer_name
from .base import Layer

__all__ = ["Embedding"]


class Embedding(Layer):
    """A lookup table: ``y[n, t] = E[x[n, t]]``.

    Backward scatters ``dE[x[n, t]] += dy[n, t]`` (ids that repeat add up) and returns no input
    gradient: ids are not differentiable, so an Embedding is the first layer of its model.

    Ids may come as integers or as floats holding whole numbers; anything else, and any id outside
    ``[0, input_dim)``, is a DataError naming it. As a model's first layer it takes integer ids as int64,
    never through a float (float32 holds whole numbers exactly only up to 2**24: 16777217 would read row
    16777216); a float id above that limit of its dtype (2**24, or 2**53 for float64) is a DataError.

    Shapes: ``x (N, T)``, ``E (input_dim, D)``, ``y (N, T, D)``.

    Parameters
    ----------
    input_dim : int
        Size of the vocabulary: ids run from 0 to ``input_dim - 1``.
    output_dim : int
        Length D of each embedding vector.
    embeddings_initializer : str or callable
        ``"random_uniform"`` (U[-0.05, 0.05], Keras' default) unless told otherwise.
    mask_zero : bool, default False
        Id 0 is padding (Keras): the layer's output carries the mask ``x != 0`` (N, T), so recurrent layers
        carry their state over padded steps and the loss leaves them out. The vocabulary then needs one
        more id: ``input_dim = vocabulary size + 1``. Row ``E[0]`` is still looked up (and trained through
        any layer that reads the padded steps), as in Keras.

    >>> emb = Embedding(10, 2, mask_zero=True)
    >>> emb.build((3,), np.random.default_rng(0)) and None
    >>> _ = emb.forward(np.array([[4, 2, 0]]))
    >>> emb.compute_mask(None)
    array([[ True,  True, False]])
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="random_uniform",
                 mask_zero: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.embeddings_initializer = get_initializer(embeddings_initializer)
        self.mask_zero = check_bool("mask_zero", mask_zero)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        if len(input_shape) != 1:
            raise ShapeError(f'Layer "{self.display_name}" (Embedding) takes ids of shape (N, T); '
                             f"received input shape {(None, *input_shape)}")
        self.params = {"E": self.embeddings_initializer((self.input_dim, self.output_dim), rng, dtype)}
        self._new_grads()
        return super().build(input_shape, rng, dtype)

    def input_dtype(self, X) -> np.dtype | None:
        """int64 for integer ids (uint64 stays: a cast could wrap), float ids keep float32 or float64.

        A float64 X is not cast to a float32 model's dtype: that would round ids above 2**24. Anything
        else (text, ragged lists, bad shapes, empty arrays) is left to the model's usual input checks.
        """
        try:
            x = X if isinstance(X, np.ndarray) else np.asarray(X)
        except (ValueError, TypeError):
            return None
        if x.dtype.kind in "iu" and x.ndim >= 2 and x.size > 0:
            return np.dtype(np.uint64 if x.dtype == np.uint64 else np.int64)
        if x.dtype.kind == "f":
            return np.dtype(np.float64 if x.dtype.itemsize >= 8 else np.float32)
        return None

    def ids(self, x) -> np.ndarray:
        """``x`` as intp ids, after checking that each is a whole number in ``[0, input_dim)``."""
        x = x if isinstance(x, self.xp.ndarray) else np.asarray(x)  # a device array stays on its device
        if x.ndim != 2:
            raise ShapeError(f'Layer "{self.display_name}" (Embedding) takes ids of shape (N, T); '
                             f"received shape {x.shape}")
        if x.dtype.kind == "f":
            bad = ~np.isfinite(x) | (x != np.round(x))
            if bad.any():
                n, t = np.argwhere(bad)[0]
                raise DataError(f'Layer "{self.display_name}" (Embedding) takes integer ids; x[{n}, {t}] = '
                                f"{x[n, t].item()!r} is not a whole number")
        elif x.dtype.kind not in "iu":
            raise DataError(f'Layer "{self.display_name}" (Embedding) takes integer ids; received dtype {x.dtype}')
        bad = (x < 0) | (x > self.input_dim - 1)  # not x >= input_dim: float32(2**24 + 1) is 2**24
        if bad.any():
            n, t = np.argwhere(bad)[0]
            value = x[n, t].item()
            raise DataError(f'Layer "{self.display_name}" (Embedding): id x[{n}, {t}] = '
                            f"{int(value) if float(value).is_integer() else value} is not in [0, {self.input_dim})")
        if x.dtype.kind == "f":
            self._check_exact(x)
        return x.astype(np.intp, copy=False)

    def _check_exact(self, x) -> None:
        """Refuse float ids above 2**(mantissa bits + 1): beyond it not every whole number exists, so an id
        there may already be a rounded one (float32: 16777217 -> 16777216)."""
        bits = np.finfo(x.dtype).nmant + 1  # 24 for float32, 53 for float64
        if self.input_dim - 1 <= 2**bits:  # every id in range is exact
            return
        bad = x > 2**bits
        if bad.any():
            n, t = np.argwhere(bad)[0]
            raise DataError(f'Layer "{self.display_name}" (Embedding): id x[{n}, {t}] = {int(x[n, t].item())} in row {n} '
                            f"is above 2**{bits} = {2**bits}, beyond which {x.dtype} ids may be rounded; pass integer "
                            "ids (e.g. X.astype(np.int64))")

    def forward(self, x, training: bool = False) -> np.ndarray:
        self.x = self.ids(x)  # (N, T)
        self.a = np.take(self.params["E"], self.x, axis=0)  # (N, T, D)
        return self.a

    def compute_mask(self, mask):
        """``ids != 0`` (N, T) of the last forward with ``mask_zero=True`` (id 0 is padding), else None.

        The ids make the mask: a mask that came before the Embedding is not used (Keras).
        """
        return self.x != 0 if self.mask_zero else None

    def backward(self, dy: np.ndarray) -> None:
        """Fill ``dE``; return None: ids have no gradient, so the backward pass stops here."""
        dE = self.grads["E"]
        dE[...] = 0
        np.add.at(dE, self.x.ravel(), dy.reshape(-1, self.output_dim))  # repeated ids add up

    def get_config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializer_name(self.embeddings_initializer), "mask_zero": self.mask_zero,
                "name": self.name}

    def extra_repr(self):
        return f"{self.input_dim}, {self.output_dim}" + (", mask_zero=True" if self.mask_zero else "")
