"""The layer contract every glassnet layer follows.

A layer owns two dicts keyed by parameter name: ``params`` (trainable arrays) and ``grads`` (same keys
and shapes, written by :meth:`Layer.backward`). ``build`` creates the parameters for an input shape
and returns the output shape; ``forward`` caches what ``backward`` needs; ``backward`` takes dL/dy and
returns dL/dx. Shapes are batch first; ``input_shape`` never includes the batch dimension.

Backward passes write gradients *into* the arrays already in ``grads`` (``out=`` or ``[...] =``):
the model lays every parameter and gradient out in one flat buffer and hands the layers views onto it,
so an optimizer step is a handful of vectorized calls however many layers there are.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..checks import is_int
from ..errors import ConfigError, NotBuiltError, ShapeError

__all__ = ["Layer"]


def input_shape_arg(input_shape, name: str = "input_shape") -> tuple[int, ...]:
    """``input_shape`` (an int or a tuple of ints, no batch dimension) as a tuple; ShapeError otherwise."""
    shape = (input_shape,) if is_int(input_shape) else input_shape
    if (not isinstance(shape, (tuple, list)) or not shape
            or not all(is_int(d) and int(d) >= 1 for d in shape)):
        raise ShapeError(f"Received an invalid value for `{name}`, expected a tuple of positive integers "
                         f"without the batch dimension, such as (4,) or (28, 28, 1). Received: "
                         f"{name}={input_shape!r}")
    return tuple(int(d) for d in shape)


def _accepting_input_shape(init):
    """Wrap a layer's ``__init__`` so that it also takes Keras' ``input_shape=`` keyword."""
    @functools.wraps(init)
    def __init__(self, *args, input_shape=None, **kwargs):
        init(self, *args, **kwargs)
        if input_shape is not None:
            self.declared_input_shape = input_shape_arg(input_shape)

    return __init__


def _move(a, xp):
    """``a`` as an array of module ``xp``, through the host when it changes device."""
    return to_numpy(a) if xp is np else xp.asarray(to_numpy(a))


class Layer:
    """Base class: stores no parameters, passes shapes through, has no state to save."""

    #: names of the buffers (arrays saved and restored but not trained, e.g. batch-norm moving averages)
    #: that ``build`` registers with :meth:`add_weight`; the model checks the two agree
    state_names: tuple[str, ...] = ()
    #: Keras' flag: the layer passes a mask of padded steps on (Dense, Dropout, activations); a layer
    #: without it drops the mask (Flatten, pooling, convolutions), as Keras does. See :meth:`compute_mask`.
    supports_masking: bool = False
    #: the mask of the input of the current forward pass, set by the model before each ``forward``:
    #: a bool array (N, T), True at a real step and False at padding, or None (no mask)
    input_mask = None

    @property
    def xp(self):
        """The array module of the model's device (numpy, or cupy on a GPU); set by :meth:`move_to`."""
        device = self.__dict__.get("_device")
        return np if device is None else device.module

    def __init_subclass__(cls, **kwargs):
        # Every layer takes Keras' ``input_shape=`` keyword (meaningful on a model's first layer) without
        # each constructor listing it.
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _accepting_input_shape(cls.__dict__["__init__"])

    def __init__(self, name: str | None = None, input_shape=None) -> None:
        #: the ``input_shape=`` given to the constructor (no batch dimension), or None; on the first layer
        #: of a Sequential it builds the model at once, as in Keras
        self.declared_input_shape = None if input_shape is None else input_shape_arg(input_shape)
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.regularizers: dict[str, Any] = {}
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self.dtype = np.dtype(np.float32)
        self.built = False

    # -- contract -------------------------------------------------------------------------------
    def build(self, input_shape: tuple, rng: np.random.Generator, dtype=np.float32) -> tuple:
        """Create parameters for inputs of ``input_shape`` (no batch dim); return the output shape."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.dtype = np.dtype(dtype)
        self.built = True
        return self.output_shape

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape (without the batch axis) for inputs of ``input_shape``; the default keeps it."""
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The layer's output for the batch ``x``; caches what :meth:`backward` needs."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx for dL/dy ``dy`` of the last forward; writes each parameter's gradient into ``self.grads``."""
        raise NotImplementedError

    def compute_mask(self, mask):
        """The mask of this layer's output, given ``mask``, the mask of its input (Keras' ``compute_mask``).

        Called by the model after :meth:`forward`, so a layer that makes a mask (``Embedding(mask_zero=True)``,
        ``Masking``) reads it from the input it just saw. The default passes ``mask`` on when the layer
        ``supports_masking`` (it keeps the time axis: Dense on (N, T, C), Dropout, activations) and drops it
        otherwise; recurrent layers return it with ``return_sequences`` and None without.

        Parameters
        ----------
        mask : bool array (N, T) or None
            True at real steps, False at padding.

        Returns
        -------
        bool array (N, T) or None
        """
        return mask if self.supports_masking else None

    def input_dtype(self, X) -> np.dtype | None:
        """The dtype the model's inputs ``X`` keep when this layer comes first; None: the model's dtype.

        The model's input check asks before it casts ``X`` (e.g. an Embedding keeps integer ids integer).
        An integer dtype skips the checks for floats, so it is for a non-empty integer array of 2+ dims.
        """
        return None

    # -- registration: every array that defines where training stands ---------------------------
    def add_weight(self, name: str, value: np.ndarray, trainable: bool = True, regularizer=None) -> np.ndarray:
        """Register ``value`` under ``name`` (Keras' ``add_weight``) and return it.

        Trainable arrays go to ``params`` (with a zero gradient in ``grads``); non-trainable ones, the
        buffers such as BatchNormalization's moving statistics, to ``state``. The model owns both: it
        saves, restores, copies, moves and backs them up through :meth:`Sequential.state_dict
        <glassnet.Sequential.state_dict>`, so a layer keeps no array that defines where training stands
        outside these two dicts. Buffers are updated in place (``moving *= m``), never rebound.
        """
        value = np.asarray(value)
        if name in self.params or name in self.state:
            raise ConfigError(f'Layer "{self.display_name}" registers the weight {name!r} twice')
        if trainable:
            self.params[name] = value
            self.grads[name] = np.zeros_like(value)
            if regularizer is not None:
                self.regularizers[name] = regularizer
        else:
            self.state[name] = value
        return value

    # -- helpers shared by all layers -----------------------------------------------------------
    def _new_grads(self) -> None:
        """Allocate a zero gradient array beside every parameter."""
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Adopt ``params``/``grads`` (views onto the model's flat buffers) in place of this layer's own.

        Containers (e.g. a residual block) override this to hand each view on to the sublayer that
        owns it.
        """
        self.params.update(params)
        self.grads.update(grads)

    def move_to(self, device) -> None:
        """Move the arrays this layer keeps outside the model's flat buffers (``state``) to ``device``.

        The model calls it after :meth:`bind`, with a :class:`~glassnet.backend.Device`. Layers with
        other constant arrays made in ``build`` override it (and call this one).
        """
        self.state = {k: _move(v, device.module) for k, v in self.state.items()}
        self._device = device
        self.__dict__.pop("_buffers", None)  # scratch arrays of the old device

    def regularization_loss(self) -> float:
        """Sum of the penalties of this layer's regularizers (0.0 when there are none)."""
        return float(sum(reg(self.params[k]) for k, reg in self.regularizers.items() if reg is not None))

    def add_regularization_grads(self) -> None:
        """Add each regularizer's gradient to the matching gradient array, in place."""
        for k, reg in self.regularizers.items():
            if reg is not None:
                self.grads[k] += reg.grad(self.params[k])

    def count_params(self) -> int:
        """Number of trainable numbers (the sizes of ``params``)."""
        return int(sum(p.size for p in self.params.values()))

    # -- weights as Keras lists them --------------------------------------------------------------
    def _weight_arrays(self, what: str) -> list[np.ndarray]:
        if not self.built:
            raise NotBuiltError(f'Layer "{self.display_name}" is not built yet: build the model (model.build(...) '
                                f"or fit) before {what}")
        return list(self.params.values()) + list(self.state.values())

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the layer's arrays in Keras' order: its parameters, then its buffers, each in the order
        they were registered (Dense: ``[W, b]``; BatchNormalization: ``[gamma, beta, moving_mean,
        moving_var]``)."""
        return [np.array(to_numpy(a)) for a in self._weight_arrays("get_weights()")]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (a list as :meth:`get_weights` returns) into the layer's arrays, in place.

        Every shape is checked before anything changes. In a model, the arrays are views onto its flat
        buffers, so the model sees the new values at once.
        """
        targets = self._weight_arrays("set_weights()")
        names = list(self.params) + list(self.state)
        if not isinstance(weights, (list, tuple)) or len(weights) != len(targets):
            received = len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__
            raise ShapeError(f'Layer "{self.display_name}".set_weights expects a list of {len(targets)} arrays '
                             f"({', '.join(names) or 'none'}); received {received}")
        for name, target, w in zip(names, targets, weights):
            if np.shape(w) != target.shape:
                raise ShapeError(f'Layer "{self.display_name}".set_weights: {name} has shape {target.shape}; '
                                 f"received {np.shape(w)}")
        for target, w in zip(targets, weights):
            target[...] = self.xp.asarray(to_numpy(w))

    def get_config(self) -> dict:
        """A plain dict of constructor arguments; ``type(self)(**config)`` rebuilds the layer."""
        return {"name": self.name}

    @property
    def display_name(self) -> str:
        """The layer's name, else its class name in lower case (``dense``), as error messages show it."""
        return self.name or type(self).__name__.lower()

    def extra_repr(self) -> str:
        """The settings shown inside ``repr(layer)`` (PyTorch's idiom); empty by default."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"
