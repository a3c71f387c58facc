"""Optimizers: update every parameter in place from its gradient.

The model lays all parameters out in one flat buffer ``p`` and all gradients in ``g`` (each layer's
``params[name]`` and ``grads[name]`` are views onto them), so each rule below is a few vectorized
NumPy calls over the whole network. State arrays (``velocity``, ``m``, ``v``, ...) are flat too and
keyed by the paper's names; :meth:`Optimizer.state_for` slices them back per ``(layer, name)``.
Rules follow the PyTorch formulations (they are the test oracle); defaults follow Keras.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from . import accel
from .backend import array_module, to_numpy
from .checks import check_number, is_int
from .errors import ConfigError, NotBuiltError, ShapeError
from .schedules import Schedule, get_schedule

__all__ = ["OPTIMIZERS", "SGD", "AdaGrad", "Adadelta", "Adam", "AdamW", "Optimizer", "RMSProp", "get_optimizer"]


class Optimizer:
    """Base class: learning rate (a float or a schedule), gradient clipping and the step counter.

    Parameters
    ----------
    learning_rate : float or Schedule
        ``lr`` is accepted as an alias.
    clipnorm : float, optional
        Rescale each parameter's gradient so its L2 norm is at most ``clipnorm`` (Keras).
    global_clipnorm : float, optional
        Rescale all gradients together so their joint L2 norm is at most this (PyTorch's
        ``clip_grad_norm_``: factor ``c / (norm + 1e-6)`` when below 1).
    clipvalue : float, optional
        Clip every gradient element to ``[-clipvalue, clipvalue]``.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, learning_rate=0.01, *, lr=None, clipnorm=None, global_clipnorm=None, clipvalue=None):
        if lr is not None:
            learning_rate = lr
        if not isinstance(learning_rate, Schedule):
            check_number("learning_rate", learning_rate, low_open=True)
        for name, v in (("clipnorm", clipnorm), ("global_clipnorm", global_clipnorm), ("clipvalue", clipvalue)):
            check_number(name, v, low_open=True, allow_none=True)
        self.learning_rate = learning_rate
        self.clipnorm, self.global_clipnorm, self.clipvalue = clipnorm, global_clipnorm, clipvalue
        self.iterations = 0
        self.state: dict[str, np.ndarray] = {}
        self.p: np.ndarray | None = None

    # -- wiring ------------------------------------------------------------------------------------
    def build(self, p: np.ndarray, g: np.ndarray, index: dict[tuple[int, str], tuple[slice, tuple]]) -> None:
        """Attach to the flat parameter and gradient buffers.

        ``index`` maps ``(layer_index, name)`` to ``(slice into the flat buffers, parameter shape)``.
        """
        self.p, self.g = p, g
        self.index = {k: s for k, (s, _) in index.items()}
        self._shapes = {k: shape for k, (_, shape) in index.items()}
        fresh = {k: np.zeros_like(p) for k in self.state_names}
        for k, old in self.state.items():  # state loaded from a file before build
            if k in fresh and old.shape == p.shape:
                fresh[k][...] = old
        self.state = fresh
        self._tmp = np.empty_like(p)
        self._init_state()

    def _init_state(self) -> None:
        """Hook for state that does not start at zero."""

    def state_for(self, key: tuple[int, str]) -> dict[str, np.ndarray]:
        """This optimizer's state arrays for one parameter, as views shaped like it."""
        s, shape = self.index[key], self._shapes[key]
        return {k: v[s].reshape(shape) for k, v in self.state.items()}

    @property
    def lr(self) -> float:
        """The learning rate of the next update."""
        if isinstance(self.learning_rate, Schedule):
            return float(self.learning_rate(self.iterations))
        return float(self.learning_rate)

    @lr.setter
    def lr(self, value: float) -> None:
        check_number("learning_rate", value, low_open=True)
        self.learning_rate = float(value)

    # -- the update --------------------------------------------------------------------------------
    def clip(self) -> None:
        """Apply clipping to the flat gradient in place."""
        g = self.g
        if self.clipvalue is not None:
            np.clip(g, -self.clipvalue, self.clipvalue, out=g)
        if self.clipnorm is not None:
            for s in self.index.values():
                norm = float(np.sqrt(np.dot(g[s], g[s])))
                if norm > self.clipnorm:
                    g[s] *= g.dtype.type(self.clipnorm / norm)
        if self.global_clipnorm is not None:
            norm = float(np.sqrt(np.dot(g, g)))
            factor = self.global_clipnorm / (norm + 1e-6)
            if factor < 1:
                g *= g.dtype.type(factor)

    def step(self, backup: np.ndarray | None = None) -> None:
        """One update of every parameter from its gradient.

        ``backup``, if given, receives the parameters as they were before the update (the model's
        divergence guard keeps them).
        """
        if self.p is None:
            raise NotBuiltError("The optimizer is not attached to a model; call model.compile() first")
        self.clip()
        lr = self.p.dtype.type(self.lr)
        if backup is None or not self._fused_update(self.p, self.g, lr, backup):
            if backup is not None:
                np.copyto(backup, self.p)
            self._update(self.p, self.g, lr)
        self.iterations += 1

    def _update(self, p: np.ndarray, g: np.ndarray, lr) -> None:
        raise NotImplementedError

    def _fused_update(self, p, g, lr, backup) -> bool:
        """The same update by a fused kernel of :mod:`glassnet.accel`, if one applies; False if not."""
        return False

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Where this optimizer stands: step count, current learning rate and host copies of its state.

        ``learning_rate`` is None while it comes from a schedule (a function of ``iterations``).
        """
        lr = None if isinstance(self.learning_rate, Schedule) else float(self.learning_rate)
        return {"class": type(self).__name__, "iterations": int(self.iterations), "learning_rate": lr,
                "state": {k: np.array(to_numpy(v)) for k, v in self.state.items()}}

    def check_state_dict(self, sd: dict) -> None:
        """ConfigError/ShapeError unless ``sd`` (from :meth:`state_dict`) fits this optimizer as built."""
        if not isinstance(sd, dict) or sd.get("class") != type(self).__name__:
            got = sd.get("class") if isinstance(sd, dict) else type(sd).__name__
            raise ConfigError(f"load_state_dict: the state is of optimizer {got!r}; the model's is "
                              f"{type(self).__name__}")
        it = sd.get("iterations")
        if not is_int(it) or it < 0:
            raise ConfigError(f"load_state_dict: optimizer iterations must be a non-negative integer; received {it!r}")
        lr = sd.get("learning_rate")
        if lr is not None:
            check_number("learning_rate", lr, low_open=True)
        state = sd.get("state") or {}
        if set(state) != set(self.state):
            raise ConfigError(f"load_state_dict: {type(self).__name__} keeps state {sorted(self.state)}; "
                              f"received {sorted(state)}")
        for k, v in state.items():
            mine = self.state[k]
            if getattr(v, "shape", None) != mine.shape or np.dtype(v.dtype) != np.dtype(mine.dtype):
                raise ShapeError(f"load_state_dict: optimizer state {k} is {mine.shape} {np.dtype(mine.dtype).name} "
                                 f"in the model; received {getattr(v, 'shape', None)} "
                                 f"{np.dtype(getattr(v, 'dtype', object)).name}")

    def load_state_dict(self, sd: dict) -> None:
        """Put back what :meth:`state_dict` returned (after :meth:`check_state_dict`)."""
        self.check_state_dict(sd)
        self.iterations = int(sd["iterations"])
        if sd.get("learning_rate") is not None:
            self.learning_rate = float(sd["learning_rate"])
        for k, v in sd["state"].items():
            target = self.state[k]
            xp = array_module(target)
            target[...] = to_numpy(v) if xp is np else xp.asarray(to_numpy(v))

    def reset(self) -> None:
        """Start afresh: step 0 and every state array at its initial value (zeros, AdaGrad's accumulator)."""
        self.iterations = 0
        for v in self.state.values():
            v[...] = 0
        self._init_state()

    # -- one owner ---------------------------------------------------------------------------------
    def attach(self, model) -> None:
        """Belong to ``model``; ConfigError if another model still trains with this instance.

        An optimizer's moments and step count describe one model's parameters, so one instance cannot
        serve two models (Keras gives the same error in other words). Pass each model its own
        optimizer, e.g. ``gn.optimizers.get_optimizer(opt.get_config())``.
        """
        owner = self.__dict__.get("_owner")
        owner = owner() if owner is not None else None
        if owner is not None and owner is not model and owner.optimizer is self:
            raise ConfigError(
                f"This {type(self).__name__} instance is already compiled into another model "
                f"({owner.name or 'a Sequential'}), whose moments and step count it keeps. Give each model its "
                f"own optimizer: compile(optimizer=gn.optimizers.get_optimizer(opt.get_config())) or a name "
                f"such as {type(self).__name__.lower()!r}")
        self._owner = weakref.ref(model)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_owner", None)  # a weak reference; the model re-attaches its copy
        return state

    # -- (de)serialization -------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The optimizer's class and settings (the schedule's config for a scheduled rate), as saved in model files."""
        lr = self.learning_rate.get_config() if isinstance(self.learning_rate, Schedule) else self.learning_rate
        return {"class": type(self).__name__, "learning_rate": lr, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue} | self._extra_config()

    def _extra_config(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class" and v is not None)
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent, optionally with momentum ``mu`` (heavy ball) or Nesterov momentum.

    Plain: ``p -= lr·g``. Momentum: ``velocity = mu·velocity + g``; ``p -= lr·velocity``.
    Nesterov: ``velocity = mu·velocity + g``; ``p -= lr·(g + mu·velocity)`` (PyTorch's form).
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False, **kw):
        super().__init__(learning_rate, **kw)
        check_number("momentum", momentum, high=1.0)
        if nesterov and momentum == 0:
            raise ConfigError("Received an invalid value for `nesterov`, expected momentum > 0 with Nesterov. "
                              f"Received: nesterov=True, momentum={momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.state_names = ("velocity",) if momentum else ()

    def _update(self, p, g, lr):
        if not self.momentum:
            np.multiply(g, lr, out=self._tmp)
            p -= self._tmp
            return
        mu = p.dtype.type(self.momentum)
        v = self.state["velocity"]
        v *= mu
        v += g
        if self.nesterov:
            np.multiply(v, mu, out=self._tmp)
            self._tmp += g
        else:
            self._tmp[...] = v
        self._tmp *= lr
        p -= self._tmp

    def _extra_config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class AdaGrad(Optimizer):
    """``accumulator += g²``; ``p -= lr · g / (sqrt(accumulator) + eps)`` (Duchi et al. 2011)."""

    state_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7, **kw):
        super().__init__(learning_rate, **kw)
        check_number("initial_accumulator_value", initial_accumulator_value)
        check_number("epsilon", epsilon, low_open=True)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def _init_state(self):
        if self.iterations == 0:
            self.state["accumulator"][...] = self.initial_accumulator_value

    def _update(self, p, g, lr):
        acc, tmp = self.state["accumulator"], self._tmp
        np.multiply(g, g, out=tmp)
        acc += tmp
        np.sqrt(acc, out=tmp)
        tmp += p.dtype.type(self.epsilon)
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p -= tmp

    def _extra_config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}


class RMSProp(Optimizer):
    """``v = rho·v + (1-rho)·g²``; ``p -= lr · g / (sqrt(v) + eps)`` (Hinton's lecture 6e)."""

    state_names = ("v",)

    def __init__(self, learning_rate=0.001, rho: float = 0.9, epsilon: float = 1e-7, **kw):
        super().__init__(learning_rate, **kw)
        check_number("rho", rho, high=1.0)
        check_number("epsilon", epsilon, low_open=True)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, p, g, lr):
        v, tmp, f = self.state["v"], self._tmp, p.dtype.type
        np.multiply(g, g, out=tmp)
        tmp *= f(1 - self.rho)
        v *= f(self.rho)
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += f(self.epsilon)
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p -= tmp

    def _extra_config(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Zeiler 2012: ``v = rho·v + (1-rho)·g²``; ``delta = sqrt(u + eps) / sqrt(v + eps) · g``;
    ``u = rho·u + (1-rho)·delta²``; ``p -= lr · delta``."""

    state_names = ("v", "u")

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7, **kw):
        super().__init__(learning_rate, **kw)
        check_number("rho", rho, high=1.0)
        check_number("epsilon", epsilon, low_open=True)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, p, g, lr):
        v, u, tmp, f = self.state["v"], self.state["u"], self._tmp, p.dtype.type
        rho, eps = f(self.rho), f(self.epsilon)
        v *= rho
        v += f(1 - self.rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u *= rho
        u += f(1 - self.rho) * delta * delta
        np.multiply(delta, lr, out=tmp)
        p -= tmp

    def _extra_config(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Kingma & Ba 2015.

    ``m = beta1·m + (1-beta1)·g``; ``v = beta2·v + (1-beta2)·g²``;
    ``m̂ = m / (1-beta1^t)``; ``v̂ = v / (1-beta2^t)``; ``p -= lr · m̂ / (sqrt(v̂) + eps)``.

    ``beta_1`` and ``beta_2`` are Keras' names (default 0.9, 0.999); ``beta1``/``beta2``, the paper's and
    the attributes' names, are accepted too (files written before 0.x use them).
    """

    state_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, *,
                 beta1: float | None = None, beta2: float | None = None, **kw):
        super().__init__(learning_rate, **kw)
        beta_1 = _one_of("beta_1", beta_1, 0.9, "beta1", beta1)
        beta_2 = _one_of("beta_2", beta_2, 0.999, "beta2", beta2)
        check_number("beta_1", beta_1, high=1.0)
        check_number("beta_2", beta_2, high=1.0)
        check_number("epsilon", epsilon, low_open=True)
        self.beta1, self.beta2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, p, g, lr):
        m, v, tmp, f = self.state["m"], self.state["v"], self._tmp, p.dtype.type
        t = self.iterations + 1
        bc1, bc2 = 1 - self.beta1**t, 1 - self.beta2**t
        # m += (1-beta1)·(g - m)  is  beta1·m + (1-beta1)·g  in two passes
        np.subtract(g, m, out=tmp)
        tmp *= f(1 - self.beta1)
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= f(1 - self.beta2)
        v += tmp
        # p -= lr · m̂ / (sqrt(v̂) + eps), with both bias corrections folded into two scalars:
        #    = (lr·sqrt(bc2)/bc1) · m / (sqrt(v) + eps·sqrt(bc2))
        np.sqrt(v, out=tmp)
        tmp += f(self.epsilon * math.sqrt(bc2))
        np.divide(m, tmp, out=tmp)
        tmp *= f(float(lr) * math.sqrt(bc2) / bc1)
        p -= tmp

    def _fused_update(self, p, g, lr, backup, decay=1.0):
        if type(p) is not np.ndarray or not accel.available(p.size):  # the kernels run on the CPU
            return False
        t = self.iterations + 1
        bc1, bc2 = 1 - self.beta1**t, 1 - self.beta2**t
        accel.adam(p, g, self.state["m"], self.state["v"], backup, 1 - self.beta1, 1 - self.beta2,
                   self.epsilon * math.sqrt(bc2), float(lr) * math.sqrt(bc2) / bc1, decay)
        return True

    def _extra_config(self):
        return {"beta_1": self.beta1, "beta_2": self.beta2, "epsilon": self.epsilon}


def _one_of(name: str, value, default, alias: str, alias_value):
    """``value``, or ``alias_value`` when only the alias was given; ConfigError when both differ."""
    if alias_value is None:
        return value
    if value != default and value != alias_value:
        raise ConfigError(f"Pass either {name}= or {alias}= (the same setting), not both; received "
                          f"{name}={value!r}, {alias}={alias_value!r}")
    return alias_value


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): ``p -= lr·wd·p`` before the Adam step."""

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, **kw):
        super().__init__(learning_rate, **kw)
        check_number("weight_decay", weight_decay)
        self.weight_decay = float(weight_decay)

    def _update(self, p, g, lr):
        p *= p.dtype.type(1 - float(lr) * self.weight_decay)
        super()._update(p, g, lr)

    def _fused_update(self, p, g, lr, backup, decay=None):
        return super()._fused_update(p, g, lr, backup, 1 - float(lr) * self.weight_decay)

    def _extra_config(self):
        return super()._extra_config() | {"weight_decay": self.weight_decay}


OPTIMIZERS = {cls.__name__.lower(): cls for cls in (SGD, AdaGrad, RMSProp, Adadelta, Adam, AdamW)}


def get_optimizer(optimizer) -> Optimizer:
    """An optimizer from a name (``"adam"``, ``"sgd"``, ...), a config dict, or an instance."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        cfg = dict(optimizer)
        cls = OPTIMIZERS.get(str(cfg.pop("class", "")).lower())
        if cls is None:
            raise ConfigError(f"Unknown optimizer {optimizer.get('class')!r}; valid optimizers are: "
                              f"{', '.join(sorted(OPTIMIZERS))}")
        if isinstance(cfg.get("learning_rate"), dict):
            cfg["learning_rate"] = get_schedule(cfg["learning_rate"])
        return cls(**cfg)
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ConfigError(f"Unknown optimizer {optimizer!r}; valid optimizers are: {', '.join(sorted(OPTIMIZERS))}")
