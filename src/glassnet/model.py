"""Sequential: a stack of layers trained by backpropagation.

One training step (``train_step``) is the tutorial's loop body: forward pass layer by layer, the loss,
backward pass in reverse order, then the optimizer's update. Parameters and gradients of all layers
live in one flat buffer each (``model.flat_params``, ``model.flat_grads``); every ``layer.params[k]``
is a view onto it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable

import numpy as np

from . import guard
from .backend import as_dtype, get_device, make_rng, to_numpy
from .checks import check_bool, check_positive_int, is_int
from .errors import ConfigError, NotBuiltError, ShapeError, invalid_value
from .layers.activations import Activation
from .layers.base import Layer
from .layers.input import Input
from .losses import Loss, get_loss
from .metrics import get_metric
from .optimizers import Optimizer, get_optimizer
from .pairing import warn_output_mismatch
from .serialize import model_config, model_from_file, read_model_file, save_model
from .state import PARTS, lay_out, lay_out_again, load_state_dict, state_dict
from .training import check_inputs, check_targets, check_weights, evaluate_prepared, fit, predict_prepared

__all__ = ["Sequential", "load_model"]


class Sequential:
    """A linear stack of layers.

    >>> import glassnet as gn
    >>> model = gn.Sequential([gn.layers.Dense(3, activation="sigmoid"), gn.layers.Dense(1)], seed=0)
    >>> model.build(4).count_params()
    19

    Parameters
    ----------
    layers : list of Layer
    seed : int, Generator or None
        Seeds the one generator behind initialization, shuffling and dropout: same seed, same run.
    dtype : "float32" (default) or "float64"
    device : "cpu" (NumPy), "gpu" (CuPy) or None
        Where parameters, optimizer state and each batch's computation live; None reads
        ``GLASSNET_DEVICE`` (default ``"cpu"``). See :mod:`glassnet.backend` and :meth:`to`.
    """

    def __init__(self, layers: Iterable[Layer] | None = None, seed=None, dtype="float32", name=None,
                 device=None) -> None:
        self.layers: list[Layer] = []
        #: the input shape given by ``Input(shape)`` or the first layer's ``input_shape=``; builds at once
        self._declared_input_shape: tuple | None = None
        for layer in layers or []:
            self.add(layer)
        self.seed = seed if not isinstance(seed, np.random.Generator) else None
        self.rng = make_rng(seed)
        self.dtype = as_dtype(dtype)
        self._device = get_device(device)
        self.name = name
        self.built = False
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        self.metrics: list[tuple[str, callable]] = []
        self.stop_training = False
        self.history = None
        self._training = None  # where the last fit stands (training.TrainingState); saved with the model
        #: the mask (bool (N, T)) of the last forward pass's output, or None: see :meth:`forward`
        self.output_mask = None
        #: JSON-able facts about the model that its file keeps (e.g. the CLI's class list and feature names)
        self.metadata: dict = {}
        if self._declared_input_shape is not None and self.layers:  # Keras builds a model with an Input at once
            self.build(self._declared_input_shape)

    def add(self, layer: Layer) -> None:
        """Append ``layer``; an :class:`~glassnet.layers.Input` (first only) declares the input shape instead.

        A model that is built (by an ``Input``, or after ``fit``) builds the new layer at once and keeps the
        weights of the others, as Keras does.
        """
        if not isinstance(layer, Layer):
            raise ConfigError(f"Sequential takes glassnet layers; received {layer!r} of type {type(layer).__name__}")
        if isinstance(layer, Input) or (not self.layers and layer.declared_input_shape is not None):
            self._declare_input_shape(layer)
            if isinstance(layer, Input):
                return
        self.layers.append(layer)
        if self.__dict__.get("loss") is not None:  # compiled: the last layer changed, so may the fused plan
            self._fused = self._find_fused_last()
        if self.__dict__.get("built"):
            self._build_layers(len(self.layers) - 1)
        elif self._declared_input_shape is not None and "rng" in self.__dict__:  # not while __init__ adds
            self.build(self._declared_input_shape)

    def _declare_input_shape(self, layer: Layer) -> None:
        shape, declared = layer.declared_input_shape, self.__dict__.get("_declared_input_shape")
        if isinstance(layer, Input) and (self.layers or declared is not None):
            raise ConfigError(f"Input{shape} must be the first element of a Sequential, before any layer")
        if declared is not None and declared != shape:
            raise ShapeError(f"Layer {layer.display_name} declares input_shape={shape}, but the model's Input "
                             f"declares {declared}")
        self._declared_input_shape = shape

    # -- building ------------------------------------------------------------------------------------
    def build(self, input_shape) -> Sequential:
        """Create every layer's parameters for inputs of ``input_shape`` (features, or a shape tuple)."""
        if self.built:
            return self
        if is_int(input_shape):
            input_shape = (int(input_shape),)
        input_shape = tuple(int(d) for d in input_shape)
        if not self.layers:
            raise ConfigError("The model has no layers; pass a list of layers to Sequential([...])")
        if not input_shape or any(d < 1 for d in input_shape):
            raise ShapeError(f"Cannot build the model for input shape {input_shape}: every dimension must be ≥ 1")
        self.input_shape = self.output_shape = input_shape
        self._build_layers(0)
        return self

    def _build_layers(self, start: int) -> None:
        """Build layers ``start, start+1, ...`` on the current output shape and lay all parameters out again
        (the built ones keep their values: a layer added to a built model)."""
        shape = self.output_shape
        for i in range(start, len(self.layers)):
            layer = self.layers[i]
            shape = layer.build(shape, self.rng, self.dtype)
            if set(layer.state) != set(layer.state_names):  # one owner: every buffer is registered
                raise ConfigError(f"Layer {i} ({layer.display_name}) declares buffers {sorted(layer.state_names)} "
                                  f"but registered {sorted(layer.state)}; register each with add_weight("
                                  "name, value, trainable=False)")
        self.output_shape = shape
        self._flatten_params()
        first = next((la for la in self.layers if la.params), None)
        for layer in self.layers:
            if hasattr(layer, "need_input_grad"):
                layer.need_input_grad = layer is not first
        self.built = True
        if self.optimizer is not None:
            self.optimizer.build(self.flat_params, self.flat_grads, self.param_index)
            warn_output_mismatch(self, stacklevel=4)  # the user's build(), or add() on a built model

    def _flatten_params(self) -> None:
        """Lay every parameter and gradient out in one flat buffer each (see :func:`glassnet.state.lay_out`)."""
        lay_out(self)

    def _snapshot(self) -> None:
        """Make the current parameters and buffers the divergence guard's last good state."""
        guard.snapshot(self)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_callbacks", None)  # a fit's live callbacks (progress bars) stay with that fit
        return state

    def __setstate__(self, state: dict) -> None:
        """After pickle or deepcopy: each layer's views were copied on their own; lay them out in one buffer again."""
        self.__dict__.update(state)
        if self.optimizer is not None:
            self.optimizer.attach(self)
        if self.built:
            lay_out_again(self)

    # -- devices ---------------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """``"cpu"`` or ``"gpu"``: where the model's arrays live."""
        return self._device.name

    @property
    def xp(self):
        """The array module of the model's device (``numpy`` or ``cupy``)."""
        return self._device.module

    def to(self, device) -> Sequential:
        """Move parameters, gradients, layer state and optimizer state to ``device``; returns the model."""
        target = get_device(device)
        if target is self._device:
            return self
        self._device = target
        if self.built:
            lay_out_again(self)
        return self

    def to_device(self, a):
        """``a`` (a batch, targets) as an array of the model's device: unchanged on the CPU, else a copy."""
        if self._device.name == "cpu":
            return a
        return self._device.module.asarray(a)

    def __call__(self, X, training: bool = False) -> np.ndarray:
        """The model's output for ``X`` in one forward pass, as Keras' ``model(x)``: inference mode unless
        ``training=True`` (dropout on, batch statistics); builds the model for ``X``'s shape if needed."""
        X = check_inputs(self, X)
        return np.array(to_numpy(self.forward(self.to_device(X), training=check_bool("training", training))))

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise NotBuiltError(f"Call model.build(n_features) or model.fit(...) before {what}")

    def count_params(self) -> int:
        """Number of trainable numbers in the model; NotBuiltError before it is built."""
        self._require_built("count_params()")
        return int(self.flat_params.size)

    # -- compiling -----------------------------------------------------------------------------------
    def compile(self, loss="mse", optimizer="sgd", metrics=None) -> Sequential:
        """Choose the loss, the optimizer and the metrics reported beside the loss.

        Parameters
        ----------
        loss : str or Loss, default "mse"
            A name of ``gn.losses.LOSSES`` (``"half_sse"``, ``"mse"``, ``"binary_crossentropy"``, ...) or
            a loss instance.
        optimizer : str or Optimizer, default "sgd"
            A name of ``gn.optimizers.OPTIMIZERS`` or an instance; one instance trains one model.
        metrics : list of str or callable, optional
            Reported beside the loss by ``fit`` and ``evaluate`` (``"accuracy"``, ``"mae"``).

        Returns
        -------
        Sequential
            The model itself.

        Raises
        ------
        ConfigError
            An unknown loss, optimizer or metric, or an optimizer instance that trains another model.
        """
        loss, optimizer = get_loss(loss), get_optimizer(optimizer)
        optimizer.attach(self)  # ConfigError if another model trains with this instance
        self.loss, self.optimizer = loss, optimizer
        if isinstance(metrics, str) or callable(metrics):  # Keras takes one metric alone too
            metrics = [metrics]
        self.metrics = [(name, _MaskedMetric(self, f)) for name, f in map(get_metric, metrics or [])]
        self._fused = self._find_fused_last()  # decided here, for this loss and these layers
        if self.built:
            self.optimizer.build(self.flat_params, self.flat_grads, self.param_index)
            warn_output_mismatch(self)
        return self

    def _fused_last(self):
        """The last layer when the loss's gradient is fused with its activation (decided by compile), else None."""
        return self.__dict__.get("_fused")

    def _find_fused_last(self):
        if self.loss is None or self.loss.fused_activation is None or not self.layers:
            return None
        last = self.layers[-1]
        act = last.activation if hasattr(last, "backward_z") else last  # Dense, Conv1D, Conv2D
        if isinstance(act, Activation) and act.key == self.loss.fused_activation:
            return last
        return None

    # -- one step --------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The output of every layer in turn for the batch ``x`` (no input checks; see :meth:`predict`).

        A mask of padded steps travels beside the batch, as in Keras: before each layer's forward the
        model sets ``layer.input_mask`` (bool (N, T), True at real steps, or None), and after it asks
        ``layer.compute_mask(mask)`` for the next layer's. ``Embedding(mask_zero=True)`` and ``Masking``
        make one; the last layer's is ``model.output_mask``, which the loss uses to leave padded steps out.
        """
        mask = None
        for i, layer in enumerate(self.layers):
            layer.input_mask = mask
            x = layer.forward(x, training)
            if mask is not None and not layer.supports_masking and type(layer).compute_mask is Layer.compute_mask:
                _warn_mask_dropped(i, layer)
            mask = layer.compute_mask(mask)
        self.output_mask = mask
        return x

    def _step_weights(self, a: np.ndarray, sample_weight=None) -> np.ndarray | None:
        """Float64 weights (N·T,) of the steps of a sequence output ``a`` (N, T, ...) that carries a mask
        (1 at a real step, 0 at padding, times the row's sample weight); None for any other output."""
        mask = self.__dict__.get("output_mask")
        if mask is None or a.ndim < 3 or tuple(mask.shape) != tuple(a.shape[:2]):
            return None
        w = np.asarray(to_numpy(mask), dtype=np.float64)  # (N, T)
        if sample_weight is not None:
            w = w * np.asarray(sample_weight, dtype=np.float64)[:, None]
        return w.reshape(-1)

    def backward(self, a: np.ndarray, y: np.ndarray, sample_weight=None) -> None:
        """Backpropagate the loss of output ``a`` against targets ``y``; fills every ``layer.grads``.

        ``sample_weight`` (float64, (N,)) scales each row's gradient as :meth:`Loss.row_scale` says, so
        the gradient is that of the weighted loss ``Σ wᵢ·lᵢ / Σ wᵢ`` (fused softmax/sigmoid too). A sequence
        output with a mask (``model.output_mask``) is a batch of N·T steps weighted 1 (real) or 0 (padding),
        times their row's sample weight; see :meth:`compute_loss`.
        """
        fused = self._fused_last()
        layers = self.layers
        scale, a_steps, y_steps = None, a, y
        steps = self._step_weights(a, sample_weight)
        if steps is not None:  # one multiply per batch: (N, T, 1, ...) against dL/dA or dL/dZ
            scale = self.loss.row_scale(steps).reshape(a.shape[:2] + (1,) * (a.ndim - 2))
            a_steps, y_steps = _steps(a), _steps(y)  # (N·T, ...): the loss's rows are the steps
        elif sample_weight is not None:  # one multiply per batch: (N, 1, ...) against dL/dA or dL/dZ
            scale = self.loss.row_scale(sample_weight).reshape((len(a),) + (1,) * (a.ndim - 1))
        if scale is not None:
            scale = self.to_device(scale.astype(a.dtype))
        if fused is not None:
            dz = self.loss.fused_backward(a_steps, y_steps).reshape(a.shape)
            if scale is not None:
                dz = dz * scale
            dy = fused.backward_z(dz) if hasattr(fused, "backward_z") else dz
            layers = layers[:-1]
        else:
            dy = self.loss.backward(a_steps, y_steps).reshape(a.shape)
            if scale is not None:
                dy = dy * scale
        for layer in reversed(layers):
            if dy is None:
                break
            dy = layer.backward(dy)
        for layer in self._regularized:
            layer.add_regularization_grads()

    def compute_loss(self, a: np.ndarray, y: np.ndarray, sample_weight=None) -> float:
        """Data loss (from logits when fused) plus every regularization penalty.

        With ``sample_weight`` (float64, (N,)) the data loss is ``Σ wᵢ·lᵢ / Σ wᵢ`` over the rows' losses
        ``lᵢ`` (``Σ wᵢ·lᵢ`` for half_sse); the penalties are not weighted.

        A sequence output ``a`` (N, T, ...) whose last forward left a mask (``model.output_mask``, from
        ``Embedding(mask_zero=True)`` or ``Masking`` through layers that pass it on) leaves the padded steps
        out, as Keras does: each step's loss ``l_nt`` (over its last axes) is weighted by ``m_nt`` (1 real,
        0 padding), so the loss is ``Σ m·l / Σ m``, the mean over real steps (half_sse: ``Σ m·l``). With
        sample weights the step weights are ``wₙ·m_nt``: ``Σ w·m·l / Σ w·m`` (Keras: ``Σ w·m·l / Σ m``).
        """
        fused = self._fused_last()
        z, kwargs = None, {}
        if fused is not None:
            act = getattr(fused, "activation", fused)
            log_sum = getattr(act, "log_sum", None)  # a softmax's log Σ exp Z, reused by cross-entropy
            kwargs = {"log_sum": log_sum} if log_sum is not None else {}
            z = fused.z
        steps = self._step_weights(a, sample_weight)
        if steps is not None:  # a masked sequence: every step a row, weighted 0 at padding
            kwargs = {k: _steps(v) for k, v in kwargs.items()}
            rows = self.loss.per_row(_steps(a), _steps(y), _steps(z), **kwargs)  # (N·T,)
            value = self.loss.weighted(to_numpy(rows), steps)
        elif sample_weight is not None:
            value = self.loss.weighted(to_numpy(self.loss.per_row(a, y, z, **kwargs)), sample_weight)
        elif fused is None:
            value = self.loss.forward(a, y)
        else:
            value = self.loss.forward(a, y, z, **kwargs)
        for layer in self._regularized:
            value += layer.regularization_loss()
        return value

    def train_step(self, x: np.ndarray, y: np.ndarray, sample_weight=None) -> tuple[float, np.ndarray]:
        """Forward, loss, backward and update on one batch; returns (loss, output before the update).

        ``sample_weight``: float64 weights (N,) of the batch's rows, or None. NumPy's overflow warnings are
        silenced here: a step that overflows ends in a non-finite loss, and DivergenceError says it all.
        """
        guard.before_forward(self)  # the forward pass may move the buffers (BatchNorm's moving statistics)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            a = self.forward(x, training=True)
            loss = self.compute_loss(a, y, sample_weight=sample_weight)
            guard.check_step(self, loss)  # DivergenceError, with the last good state back
            self.backward(a, y, sample_weight=sample_weight)
            self.optimizer.step(backup=self._backup)  # _backup: the last weights whose loss was finite
        return loss, a

    # -- training, inference -----------------------------------------------------------------------------
    def fit(self, X, y, epochs: int = 1, batch_size: int | None = 32, shuffle: bool = True,
            validation_data=None, validation_split: float = 0.0, callbacks=None, verbose: int = 1,
            initial_epoch: int = 0, resume_from=None, health=False, sample_weight=None, class_weight=None):
        """Train for ``epochs`` epochs; returns a :class:`~glassnet.callbacks.History`.

        ``batch_size=None`` is full-batch gradient descent (the tutorial), 1 is stochastic, k is
        mini-batch. ``validation_split`` holds out the last fraction of rows, as Keras does.

        ``resume_from`` continues from a checkpoint file (:class:`~glassnet.callbacks.ModelCheckpoint`):
        its weights, optimizer and generator state replace the model's and training goes on from the
        batch where it was written, up to ``epochs`` in total (as in Keras); the returned history holds
        every epoch. ``health=True`` adds a :class:`~glassnet.health.HealthMonitor`. Ctrl-C stops at the
        next batch boundary and returns the history so far, with ``history.interrupted = True``.

        Parameters
        ----------
        X : array, shape (N, ...)
            Samples on the first axis: (N, features), (N, T, C) for sequences, (N, H, W, C) for images.
        y : array
            Targets with N rows: one row per sample of outputs, or class codes (N,) for sparse
            categorical cross-entropy.
        epochs : int, default 1
            Total number of epochs (with ``initial_epoch`` or ``resume_from``: the last epoch's number).
        batch_size : int or None, default 32
            Rows per step, as in Keras; None is the whole set (full-batch gradient descent, the tutorial).
        shuffle : bool, default True
            Shuffle the rows each epoch with the model's generator.
        validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            Evaluated after each epoch (``val_loss``, ``val_<metric>``).
        validation_split : float, default 0.0
            Fraction in (0, 1) of the last rows held out for validation instead.
        callbacks : list of Callback, optional
            Run with the built-in ``History`` (and ``ProgressBar`` when ``verbose=1``).
        verbose : {0, 1, 2}, default 1
            0 silent, 1 a progress bar, 2 one line per epoch.
        initial_epoch : int, default 0
            Epoch to start counting from (Keras' meaning).
        resume_from : str or path, optional
            A checkpoint written by ``ModelCheckpoint`` or ``save`` during or after ``fit``.
        health : bool, default False
            Warn about exploding or vanishing gradients, dead ReLUs and saturated units.
        sample_weight : array (N,), optional
            A weight ≥ 0 per row: a batch's loss is ``Σ wᵢ·lᵢ / Σ wᵢ`` (half_sse: ``Σ wᵢ·lᵢ``), so a weight
            of 2 counts a row twice; the reported loss is ``Σ wᵢ·lᵢ / Σ wᵢ`` over all rows. Metrics stay
            unweighted. With ``validation_split`` the weights are split with the rows.
        class_weight : dict, optional
            Class index → weight (Keras): the class of a row is its label (sparse labels), the argmax of its
            one-hot row, or its 0/1 label (one sigmoid output); absent classes weigh 1. Multiplies
            ``sample_weight``; training rows only.

        Returns
        -------
        History
            ``history.history`` maps each log name (``loss``, ``val_loss``, metrics) to its per-epoch values.

        Raises
        ------
        NotBuiltError
            The model is not compiled.
        ConfigError
            An invalid setting (``epochs=0``, a ``batch_size`` that is not a positive integer, ``verbose``,
            ``validation_split`` with ``validation_data``, a callback that is not a ``Callback``, ...), or a
            ``resume_from`` checkpoint written by a different model or another batch layout.
        DataError
            ``X`` or ``y`` holding text, booleans, NaN or inf, no rows, or labels out of range.
        ShapeError
            ``X`` or ``y`` whose shape does not fit the model or each other; with a ``stateful=True`` layer, also
            batches of another size than its ``batch_size`` (checked before the first batch runs).
        ModelFileError
            ``resume_from`` is not a readable model file or holds no training state.
        DivergenceError
            The loss (or a buffer) became NaN or inf; the model keeps its last weights with a finite loss.
        """
        self._check_stateful_batches(X, batch_size, "fit", validation_split=validation_split)
        if isinstance(validation_data, (tuple, list)) and validation_data:
            self._check_stateful_batches(validation_data[0], batch_size, "fit's validation_data")
        return fit(self, X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                   validation_data=validation_data, validation_split=validation_split,
                   callbacks=callbacks, verbose=verbose, initial_epoch=initial_epoch,
                   resume_from=resume_from, health=health, sample_weight=sample_weight,
                   class_weight=class_weight)

    def predict(self, X, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """The network's output for ``X`` (inference mode: dropout off).

        An unbuilt model is built for X's shape first, as Keras does.

        Parameters
        ----------
        X : array, shape (N, ...)
            Samples of the shape the model was built for.
        batch_size : int or None, default None
            Rows per forward pass; None is all at once.
        verbose : 0, 1 or 2, default 0
            1 and 2 print one line when done (rows and seconds); 0 prints nothing.

        Returns
        -------
        numpy.ndarray
            The last layer's output, shape (N, ...), as a NumPy array on every device.

        Raises
        ------
        ConfigError
            ``batch_size`` is not None or a positive integer, or ``verbose`` is not 0, 1 or 2.
        DataError
            ``X`` holds text, booleans, NaN or inf, or no rows.
        ShapeError
            ``X`` has another shape than the model was built for; with a ``stateful=True`` layer, also
            batches of another size than its ``batch_size`` (checked before the first batch runs).
        """
        if batch_size is not None:
            check_positive_int("batch_size", batch_size)
        _check_verbose(verbose)
        start = time.perf_counter()
        X = check_inputs(self, X)
        self._check_stateful_batches(X, batch_size, "predict")
        out = predict_prepared(self, X, batch_size)
        if verbose:
            print(f"{len(out)}/{len(out)} rows predicted - {time.perf_counter() - start:.3g}s")
        return out

    def evaluate(self, X, y, batch_size: int | None = None, sample_weight=None, verbose: int = 0,
                 return_dict: bool = True):
        """``{"loss": ..., <metric>: ...}`` on (X, y), in inference mode.

        An unbuilt (but compiled) model is built for X's shape first, as Keras does.

        Parameters
        ----------
        X : array, shape (N, ...)
            Samples of the shape the model was built for.
        y : array
            Targets as ``fit`` takes them.
        batch_size : int or None, default None
            Rows per forward pass; None is all at once.
        sample_weight : array (N,), optional
            A weight ≥ 0 per row: the loss is ``Σ wᵢ·lᵢ / Σ wᵢ`` (half_sse: ``Σ wᵢ·lᵢ``), as in ``fit``;
            metrics stay unweighted.
        verbose : 0, 1 or 2, default 0
            1 and 2 print the results on one line (``loss: 0.31 - accuracy: 0.9``), as Keras' last line.
        return_dict : bool, default True
            False returns Keras' other form: the loss alone without metrics, else ``[loss, metric, ...]``.

        Returns
        -------
        dict of str to float, or float, or list of float
            The loss (with regularization penalties) and each compiled metric.

        Raises
        ------
        NotBuiltError
            The model is not compiled.
        ConfigError
            ``batch_size`` is not None or a positive integer.
        DataError
            ``X`` or ``y`` holding text, booleans, NaN or inf, no rows, or labels out of range.
        ShapeError
            ``X`` or ``y`` whose shape does not fit the model or each other; with a ``stateful=True`` layer, also
            batches of another size than its ``batch_size`` (checked before the first batch runs).
        """
        self._require_compiled("evaluate()")
        if batch_size is not None:
            check_positive_int("batch_size", batch_size)
        _check_verbose(verbose)
        check_bool("return_dict", return_dict)
        X = check_inputs(self, X)
        self._check_stateful_batches(X, batch_size, "evaluate")
        Y = check_targets(self, X, y)
        results = evaluate_prepared(self, X, Y, batch_size, check_weights(sample_weight, X))
        if verbose:
            print(" - ".join(f"{k}: {v:.6g}" for k, v in results.items()))
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def _check_stateful_batches(self, X, batch_size, what: str, validation_split=0.0) -> None:
        """ShapeError before the first batch when a stateful layer would meet a batch of another size.

        A stateful layer carries its states row by row, so every batch must have its ``batch_size`` rows:
        failing at the last, smaller batch would leave the weights (fit) or the carried states (predict,
        evaluate) changed by the batches before it.
        """
        stateful = [(i, la) for i, layer in enumerate(self.layers)
                    for la in [layer, *[sub for _, sub in getattr(layer, "_sublayers", list)()]]
                    if getattr(la, "stateful", False)]
        try:
            n = int(np.shape(X)[0])
        except (TypeError, ValueError, IndexError):
            return  # not an array: the usual input checks say what is wrong
        if not stateful or n < 1 or not (batch_size is None or (is_int(batch_size) and batch_size > 0)):
            return  # a bad batch_size is the argument checks' to report
        parts = [(what, n)]
        if isinstance(validation_split, float | int) and 0 < validation_split < 1:
            cut = int(np.floor(n * (1.0 - validation_split)))  # as data.train_val_split cuts
            parts = [(f"{what} (the rows before validation_split)", cut), (f"{what}'s validation_split", n - cut)]
        _, layer = stateful[0]
        B = layer.batch_size
        step = tuple(getattr(layer, "input_shape", None) or np.shape(X)[1:])  # (T, C) of the layer's input
        for part, rows in parts:
            size = rows if batch_size is None else min(int(batch_size), rows)
            if rows and (size != B or rows % size):
                sizes = sorted({size, rows % size} - {0})
                first = size if size != B else rows % size  # the rows of the first batch the layer would refuse
                raise ShapeError(f'Input 0 of layer "{layer.display_name}" ({type(layer).__name__}) is incompatible '
                                 f"with the layer: stateful=True carries states of shape ({B}, {layer.units}), so it "
                                 f"expects batches of (N, T, C) with N={B}. Full shape received: {(first, *step)}: "
                                 f"{part} gets {rows} rows in batches of {' and '.join(map(str, sizes))} (batch_size="
                                 f"{batch_size}). Pass batch_size={B} and a number of rows that is a multiple of {B} "
                                 "(checked before the first batch: nothing has changed)")

    def _require_compiled(self, what: str) -> None:
        if self.loss is None or self.optimizer is None:
            raise NotBuiltError(f"Call model.compile(loss=..., optimizer=...) before {what}")

    # -- state, weights, summary, files -----------------------------------------------------------------
    def reset_states(self) -> None:
        """Zero the states that stateful recurrent layers carry from batch to batch (Keras' ``reset_states``).

        ``fit``, ``predict`` and ``evaluate`` never reset them: call this between independent sequences.
        """
        for layer in self.layers:
            reset = getattr(layer, "reset_states", None)
            if reset is not None:
                reset()

    def state_dict(self, parts=PARTS) -> dict:
        """Everything that defines where training stands, as host copies (see :mod:`glassnet.state`).

        ``parts`` picks among ``"params"``, ``"buffers"``, ``"optimizer"``, ``"rng"``, ``"callbacks"`` and
        ``"training"``; the default is all of them.

        Raises
        ------
        ConfigError
            ``parts`` names something else.
        """
        return state_dict(self, parts)

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Put back what :meth:`state_dict` returned (all of it or some parts).

        Names, shapes and dtypes are checked before anything changes; with ``strict`` the parameters and
        buffers given must be exactly the model's. The loaded state becomes the divergence guard's last
        good state.

        Raises
        ------
        ConfigError
            An unknown part, a missing or unexpected parameter or buffer name (with ``strict``), an array
            of another dtype, optimizer state of another optimizer or for a model that is not compiled,
            or a generator state that does not fit the model's generator.
        ShapeError
            An array of another shape than the model's.
        """
        load_state_dict(self, state, strict=strict)

    def _weight_keys(self) -> list[tuple[str, int, str]]:
        """Keras' weight order: per layer its parameters, then its buffers (``[W1, b1, gamma2, beta2,
        moving_mean2, moving_var2, ...]``)."""
        return [(group, i, k) for i, layer in enumerate(self.layers)
                for group, arrays in (("params", layer.params), ("state", layer.state)) for k in arrays]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight, trainable or not, in layer order, as Keras gives them: each layer's
        parameters then its buffers (``[W1, b1, W2, b2]`` for an MLP; a BatchNormalization adds
        ``gamma, beta, moving_mean, moving_var``)."""
        self._require_built("get_weights()")
        return [np.array(to_numpy(getattr(self.layers[i], g)[k])) for g, i, k in self._weight_keys()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Copy ``weights`` (as from :meth:`get_weights`) into the model; they become the last good state."""
        self._require_built("set_weights()")
        keys = self._weight_keys()
        if len(weights) != len(keys):
            raise ShapeError(f"set_weights expects {len(keys)} arrays; received {len(weights)} (parameters and "
                             "buffers, in get_weights' order)")
        arrays = [(getattr(self.layers[i], g)[k], g, i, k) for g, i, k in keys]
        for (target, _, i, k), w in zip(arrays, weights):
            w = to_numpy(w)  # NumPy, or an array of the model's device
            if np.shape(w) != target.shape:
                raise ShapeError(f"set_weights: {k} of layer {i} ({self.layers[i].display_name}) has "
                                 f"shape {target.shape}; received {np.shape(w)}")
        for (target, *_), w in zip(arrays, weights):
            w = to_numpy(w)
            target[...] = w if self.xp is np else self.xp.asarray(w)
        self._snapshot()

    def summary(self, print_fn=None) -> None:
        """Print a table of layers, output shapes and parameter counts, as Keras does (returns None).

        ``print_fn`` (default ``print``) is called once with the whole table; ``lines = [];
        model.summary(print_fn=lines.append)`` keeps the text.
        """
        rows = [("#", "Layer", "Output shape", "Params")]
        for i, layer in enumerate(self.layers):
            shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")" if layer.output_shape else "?"
            rows.append((str(i), repr(layer), shape, str(layer.count_params())))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        total = sum(la.count_params() for la in self.layers)
        device = "" if self.device == "cpu" else f", device {self.device}"
        lines += ["-" * len(lines[0]), f"Total params: {total}  (dtype {self.dtype.name}{device})"]
        (print if print_fn is None else print_fn)("\n".join(lines))

    def save(self, path) -> None:
        """Write the model (config, weights, optimizer state) atomically to one file; see serialize.py.

        The file is one zip archive of ``config.json`` and ``.npy`` arrays (never pickle), written to a
        temporary file beside ``path`` and renamed over it, so a failed save leaves the old file whole.

        Raises
        ------
        ModelFileError
            The directory of ``path`` does not exist, or ``path`` is a directory.
        ConfigError
            ``model.metadata`` cannot be written as JSON (nothing is written).
        """
        save_model(self, path)

    def get_config(self) -> dict:
        """The JSON-able description of the model (layers, dtype, loss, optimizer, metrics) saved in its files."""
        return model_config(self)

    def __repr__(self):
        return f"Sequential({self.layers!r})"


#: what each cross-entropy needs from the output layer (glassnet's cross-entropies take probabilities)
def load_model(path, device=None) -> Sequential:
    """Read a model written by :meth:`Sequential.save` (``gn.load``); ModelFileError for anything else.

    ``device`` places the loaded model (``"cpu"``, ``"gpu"``; None: ``GLASSNET_DEVICE`` or the CPU).
    Every array is checked against the config (name, shape, dtype) and nothing is ever unpickled.

    Parameters
    ----------
    path : str or path
        A file written by ``Sequential.save`` or ``ModelCheckpoint``.
    device : str, optional
        ``"cpu"`` or ``"gpu"``; None reads ``GLASSNET_DEVICE`` (default ``"cpu"``).

    Returns
    -------
    Sequential
        The model, compiled as it was saved, with its optimizer state and generator state.

    Raises
    ------
    ModelFileError
        Anything but a readable glassnet model file: missing, a directory, not a zip archive, truncated or
        corrupted, a foreign or future format, unexpected members, arrays that do not fit the config.
    ConfigError
        A ``device`` naming no device, or ``"gpu"`` without CuPy and a CUDA GPU (before the file is read).
    """
    device = get_device(device)  # a bad or unusable device is the caller's error, whatever the file
    config, arrays = read_model_file(path)
    return model_from_file(Sequential, config, arrays, path, device)


class _MaskedMetric:
    """A metric ``f(y_pred, y_true)`` of the model's outputs that sees only the real steps of a sequence output
    carrying a mask (Keras weighs metrics by the mask too); any other output goes to ``f`` unchanged."""

    def __init__(self, model: Sequential, f) -> None:
        self.model, self.f = model, f
        self.__name__ = getattr(f, "__name__", "metric")

    def __call__(self, y_pred, y_true) -> float:
        w = self.model._step_weights(y_pred)
        if w is None:
            return self.f(y_pred, y_true)
        real = w > 0  # (N·T,), on the host
        if not real.any():  # a batch of padding only
            return 0.0
        real = self.model.to_device(real)
        return self.f(_steps(y_pred)[real], _steps(y_true)[real])  # (real steps, ...) as rows

    def __repr__(self) -> str:
        return f"masked({self.__name__})"


def _steps(a):
    """``a`` (N, T, ...) as (N·T, ...): every step of a sequence one row for the loss (None stays None)."""
    return None if a is None else a.reshape((a.shape[0] * a.shape[1], *a.shape[2:]))


def _warn_mask_dropped(i: int, layer: Layer) -> None:
    warnings.warn(f"Layer {i} ({layer.display_name}, {type(layer).__name__}) does not support masking: the mask "
                  "of padded steps made by an earlier layer (Embedding(mask_zero=True), Masking) stops here, and "
                  "the layers after it and the loss see every step (Keras does the same)", stacklevel=3)


def _check_verbose(verbose) -> None:
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise invalid_value("verbose", verbose, "0, 1 or 2")
