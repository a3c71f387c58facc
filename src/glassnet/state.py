"""One owner of where training stands: ``state_dict()`` / ``load_state_dict()``.

Everything that defines a model's training state is listed here and nowhere else:

=============  ===================================================================================
part           what it holds
=============  ===================================================================================
params         every trainable array, ``"{layer}/{name}"`` -> array (``"0/W"``, ``"3/main.0.b"``)
buffers        every non-trainable array a layer registered in ``layer.state`` (BatchNormalization's
               ``moving_mean``/``moving_var``), keyed the same way
optimizer      ``{"class", "iterations", "learning_rate", "state": {"m": flat array, ...}}``
rng            the model generator's ``bit_generator.state``
callbacks      ``[{"class": "EarlyStopping", "state": {...}}, ...]``: the callbacks of the fit under way
               (or of the last fit) that promise resumption (:meth:`Callback.get_state`)
training       where the fit stands (:class:`~glassnet.training.TrainingState`) or None
=============  ===================================================================================

Arrays are host (NumPy) copies, so a state dict never aliases the model. Saving and checkpoints
(:mod:`glassnet.serialize`), the divergence guard, ``EarlyStopping(restore_best_weights=True)``,
``get_weights``/``set_weights``, ``to(device)``, pickling and deepcopy all go through these two
functions; :func:`buffer_keys` and :func:`param_keys` are the registry they walk.
"""

from __future__ import annotations

import numbers

import numpy as np

from .backend import array_module, to_numpy
from .callbacks import History
from .checks import is_int
from .errors import ConfigError, ShapeError

__all__ = ["PARTS", "WEIGHTS", "TrainingState", "apply_callback_states", "buffer_keys", "callback_states",
           "lay_out", "lay_out_again", "load_state_dict", "n_batches", "param_keys", "state_dict"]

PARTS = ("params", "buffers", "optimizer", "rng", "callbacks", "training")
#: what Keras calls the weights (trainable and non-trainable): what restore_best_weights keeps
WEIGHTS = ("params", "buffers")


def param_keys(model) -> list[tuple[int, str]]:
    """``(layer index, name)`` of every trainable array, in layer order (the flat buffer's order)."""
    return list(model.param_index) if model.built else []


def buffer_keys(model) -> list[tuple[int, str]]:
    """``(layer index, name)`` of every non-trainable array the layers registered in ``layer.state``."""
    return [(i, k) for i, layer in enumerate(model.layers) for k in layer.state]


def _host(a) -> np.ndarray:
    return np.array(to_numpy(a))  # always a copy


def state_dict(model, parts=PARTS) -> dict:
    """Host copies of the parts of ``model``'s state named in ``parts`` (see the module docstring)."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ConfigError(f"state_dict parts must be among {', '.join(PARTS)}; received {sorted(unknown)}")
    sd: dict = {}
    if "params" in parts:
        sd["params"] = {f"{i}/{k}": _host(model.layers[i].params[k]) for i, k in param_keys(model)}
    if "buffers" in parts:
        sd["buffers"] = {f"{i}/{k}": _host(model.layers[i].state[k]) for i, k in buffer_keys(model)}
    if "optimizer" in parts:
        sd["optimizer"] = model.optimizer.state_dict() if model.optimizer is not None else None
    if "rng" in parts:
        sd["rng"] = model.rng.bit_generator.state
    if "callbacks" in parts:
        live = model.__dict__.get("_callbacks")
        training = model.__dict__.get("_training")
        if live is not None:
            sd["callbacks"] = callback_states(live)
        else:
            sd["callbacks"] = list(training.callbacks) if training is not None else []
    if "training" in parts:
        sd["training"] = model.__dict__.get("_training")
    return sd


def callback_states(callbacks) -> list[dict]:
    """``[{"class": name, "state": {...}}]`` for every callback with state to resume (in fit's order)."""
    out = []
    for cb in callbacks:
        state = cb.get_state()
        if state:
            out.append({"class": type(cb).__name__, "state": state})
    return out


def apply_callback_states(callbacks, saved: list[dict]) -> None:
    """Hand each saved callback state to the callback of the same class and rank among its class."""
    queues: dict[str, list[dict]] = {}
    for entry in saved or []:
        queues.setdefault(entry["class"], []).append(entry["state"])
    for cb in callbacks:
        queue = queues.get(type(cb).__name__)
        if queue and cb.get_state():  # only callbacks that keep state take one
            cb.set_state(queue.pop(0))


def _check_arrays(kind: str, mine: dict, theirs: dict, strict: bool, exact_dtype: bool) -> None:
    missing, extra = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
    if strict and (missing or extra):
        raise ConfigError(f"load_state_dict: the {kind} do not match the model's: "
                          + "; ".join(f"{w} {', '.join(v)}" for w, v in (("missing", missing), ("unexpected", extra))
                                      if v))
    for key, arr in theirs.items():
        if key not in mine:
            continue
        target = mine[key]
        shape = getattr(arr, "shape", None)
        if shape != target.shape:
            raise ShapeError(f"load_state_dict: {kind[:-1]} {key} has shape {target.shape} in the model; "
                             f"received {shape}")
        if exact_dtype and np.dtype(arr.dtype) != np.dtype(target.dtype):
            raise ConfigError(f"load_state_dict: {kind[:-1]} {key} has dtype {np.dtype(target.dtype).name} in the "
                              f"model; received {np.dtype(arr.dtype).name}")


def _copy_into(target, value) -> None:
    value, xp = to_numpy(value), array_module(target)
    target[...] = value if xp is np else xp.asarray(value)  # a device array takes a device copy


def load_state_dict(model, sd: dict, strict: bool = True, exact_dtype: bool = True) -> None:
    """Put back what :func:`state_dict` returned (any subset of its parts), checking names, shapes and dtypes.

    With ``strict`` every array the model has must be present and no other; ``exact_dtype`` refuses an array
    of another dtype instead of casting it. Nothing is changed unless every check passes.
    """
    unknown = set(sd) - set(PARTS)
    if unknown:
        raise ConfigError(f"load_state_dict: unknown parts {sorted(unknown)}; a state dict has {', '.join(PARTS)}")
    arrays = {}
    if "params" in sd:
        arrays["params"] = {f"{i}/{k}": model.layers[i].params[k] for i, k in param_keys(model)}
    if "buffers" in sd:
        arrays["buffers"] = {f"{i}/{k}": model.layers[i].state[k] for i, k in buffer_keys(model)}
    for kind, mine in arrays.items():
        _check_arrays(kind, mine, sd[kind], strict, exact_dtype)
    opt = sd.get("optimizer")
    if opt is not None:
        if model.optimizer is None:
            raise ConfigError("load_state_dict: the state holds optimizer state but the model is not compiled")
        model.optimizer.check_state_dict(opt)
    if sd.get("rng") is not None:
        try:  # on a scratch generator of the same kind first
            type(model.rng.bit_generator)(0).state = sd["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise ConfigError(f"load_state_dict: the rng state is not a {type(model.rng.bit_generator).__name__} "
                              f"state ({type(e).__name__}: {e})") from None
    # every check passed: copy
    for kind, mine in arrays.items():
        for key, target in mine.items():
            if key in sd[kind]:
                _copy_into(target, sd[kind][key])
    if opt is not None:
        model.optimizer.load_state_dict(opt)
    if sd.get("rng") is not None:
        model.rng.bit_generator.state = sd["rng"]
    if "training" in sd:
        model._training = sd["training"]
    if "callbacks" in sd and model.__dict__.get("_callbacks") is not None:
        apply_callback_states(model._callbacks, sd["callbacks"])
    if model.built:
        model._snapshot()  # the divergence guard's last good state is what was just loaded


# -- the layout: one flat buffer of parameters, one of gradients ------------------------------------------


def lay_out(model) -> None:
    """Lay every parameter and gradient of ``model`` out in one flat buffer each; the layers' arrays become views.

    Also makes the divergence guard's copies (:mod:`glassnet.guard`): the parameters (``model._backup``) and
    each registered buffer with a copy of it (``model._buffers``).
    """
    entries = [(i, k, p) for i, layer in enumerate(model.layers) for k, p in layer.params.items()]
    total = sum(p.size for _, _, p in entries)
    xp = model._device.module
    model.flat_params = xp.empty(total, dtype=model.dtype)
    model.flat_grads = xp.zeros(total, dtype=model.dtype)
    model.param_index = {}  # (layer index, name) -> (slice of the flat buffers, shape)
    views: list[tuple[dict, dict]] = [({}, {}) for _ in model.layers]
    offset = 0
    for i, k, p in entries:
        s = slice(offset, offset + p.size)
        model.flat_params[s] = p.ravel()
        views[i][0][k] = model.flat_params[s].reshape(p.shape)
        views[i][1][k] = model.flat_grads[s].reshape(p.shape)
        model.param_index[(i, k)] = (s, p.shape)
        offset += p.size
    for layer, (params, grads) in zip(model.layers, views):
        layer.bind(params, grads)
        layer.move_to(model._device)
    model._backup = model.flat_params.copy()
    # the buffers (layer.state) the divergence guard keeps beside the parameters: (array, last good copy)
    model._buffers = [(a, a.copy()) for a in (model.layers[i].state[k] for i, k in buffer_keys(model))]
    model._regularized = [la for la in model.layers if any(r is not None for r in la.regularizers.values())]


def lay_out_again(model) -> None:
    """New flat buffers on the model's device, filled from the model's own state dict (after a copy, an
    unpickling or a move to another device); the optimizer is attached to them again and keeps its state."""
    saved = model.state_dict(("params", "buffers", "optimizer"))
    for layer in model.layers:  # host arrays of the right shapes, which lay_out puts on the device
        layer.params = {k: to_numpy(v) for k, v in layer.params.items()}
    lay_out(model)
    if model.optimizer is not None:
        opt = saved.pop("optimizer")
        model.optimizer.state = {}
        if model.optimizer.p is not None:
            model.optimizer.build(model.flat_params, model.flat_grads, model.param_index)
            saved["optimizer"] = opt
    model.load_state_dict(saved)


# -- where a fit stands ----------------------------------------------------------------------------------------


def n_batches(n: int, batch_size: int | None) -> int:
    """Batches in an epoch of ``n`` rows (``None``: one, the full batch)."""
    return 1 if batch_size is None or n == 0 else -(-n // batch_size)


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
        #: the resumable callbacks' states when the fit stopped (see :func:`callback_states`)
        self.callbacks: list[dict] = []

    def to_config(self) -> dict:
        """The fit position as JSON-able data (the ``"training"`` section of a model file; the row order
        goes into ``training/order.npy``)."""
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
            if not is_int(v) or v < 0:
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
        if batch and (samples is None or batch > n_batches(samples, batch_size)):
            raise ValueError(f"batch {batch} is past the end of an epoch of {samples} rows")
        return cls(history, epoch, batch, order, totals, batch_size, samples, shuffled and batch > 0)
