"""The update section of a step: regularization terms, gradient clipping and every optimizer's rule.

Values are the engine's own: the gradients the optimizer read (captured by the recorder's tap), its state
arrays before and after the step (``optimizer.state_for``) and the parameters after the update. Only the
trivial arithmetic of the written formulas (Adam's bias corrections) is done here. The workbook formulas of
these ops are registered here too.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..errors import ExportError
from ..optimizers import SGD, Adadelta, AdaGrad, Adam, AdamW, Optimizer, RMSProp
from .formulas import CONSTANTS, formula, num

__all__ = ["SUPPORTED_OPTIMIZERS", "add_gradients", "add_penalties", "add_update", "check_optimizer",
           "describe_optimizer"]

SUPPORTED_OPTIMIZERS = (SGD, AdaGrad, RMSProp, Adadelta, Adam, AdamW)
CONSTANTS.extend(c for c in ("rho", "weight_decay") if c not in CONSTANTS)


def check_optimizer(opt) -> None:
    """ExportError unless the tracer lays out ``opt`` (every optimizer of glassnet, with any clipping)."""
    if type(opt) not in SUPPORTED_OPTIMIZERS:
        names = ", ".join(c.__name__ for c in SUPPORTED_OPTIMIZERS)
        raise ExportError(f"Cannot trace optimizer {type(opt).__name__}; the tracer lays out {names}")


def describe_optimizer(opt) -> str:
    """One line for the network's summary: ``Adam(lr=0.05, β1=0.9, β2=0.999, ε=1e-07)``."""
    clip = "".join(f", {k}={v:g}" for k, v in (("clipvalue", opt.clipvalue), ("clipnorm", opt.clipnorm),
                                                ("global_clipnorm", opt.global_clipnorm)) if v is not None)
    if isinstance(opt, Adam):
        wd = f", weight_decay={opt.weight_decay}" if isinstance(opt, AdamW) else ""
        return f"{type(opt).__name__}(lr={opt.learning_rate}, β1={opt.beta1}, β2={opt.beta2}, ε={opt.epsilon}{wd}{clip})"
    if isinstance(opt, SGD):
        if opt.momentum:
            return (f"SGD(lr={opt.learning_rate}, momentum={opt.momentum}{', Nesterov' if opt.nesterov else ''}"
                    f"{clip})")
        return f"SGD(lr={opt.learning_rate}{clip})"
    extra = ", ".join(f"{k}={v}" for k, v in opt._extra_config().items())
    return f"{type(opt).__name__}(lr={opt.learning_rate}, {extra}{clip})"


# -- regularization ----------------------------------------------------------------------------------------------

def _regularizers(model, keys, pname):
    """[(key, name, regularizer)] for every parameter that carries one, in layer order."""
    out = []
    for key in keys:
        reg = getattr(model.layers[key[0]], "regularizers", {}).get(key[1])
        if reg is not None:
            out.append((key, pname[key], reg))
    return out


def _penalty_formula(reg, p):
    parts = []
    if reg.l1:
        parts.append(f"{reg.l1:g}·Σ|{p}|")
    if reg.l2:
        parts.append(f"{reg.l2:g}·Σ {p}²")
    return " + ".join(parts) or "0"


def add_penalties(b, model, keys, pname, before) -> list[str]:
    """Record each regularizer's penalty ``penalty_{P}`` (the engine's regularizer on P); their names."""
    names = []
    for key, p, reg in _regularizers(model, keys, pname):
        b.add(f"penalty_{p}", _penalty_formula(reg, p), reg(before[p]), f"the regularizer's penalty on {p}",
              (p,), op="penalty", layer=key[0] + 1, l1=reg.l1, l2=reg.l2)
        names.append(f"penalty_{p}")
    return names


def _slices(model, keys):
    return {key: model.param_index[key] for key in keys}


def add_gradients(b, model, keys, pname, rec: dict, before: dict) -> dict:
    """Record what turns each layer's gradient into the one the optimizer reads; {parameter: its name}.

    Regularization: ``d{P}_reg`` (the engine's ``regularizer.grad(P)``) and ``d{P} = d{P}_data + d{P}_reg``.
    Clipping, in the engine's order (clipvalue, clipnorm per parameter, global_clipnorm): each stage is the
    engine's own ``Optimizer.clip`` run with that option alone on the previous stage's gradient; the last
    stage equals the gradient the optimizer read. ``rec`` holds the flat gradient before and after
    clipping (``g_before_clip``, ``g_after_clip``, in ``model.param_index``'s layout).
    """
    opt = model.optimizer
    slices = _slices(model, keys)
    g0 = rec.get("g_before_clip")

    def value(flat, key):
        s, shape = slices[key]
        return np.asarray(flat[s]).reshape(shape)

    names = {pname[key]: f"d{pname[key]}" for key in keys}
    regs = _regularizers(model, keys, pname)
    if regs:
        b.section = "Regularization: the penalties' gradients"
        for key, p, reg in regs:
            b.add(f"d{p}_reg", _grad_formula(reg, p), reg.grad(before[p]), f"the gradient of the penalty on {p}",
                  (p,), op="penalty_grad", layer=key[0] + 1, l1=reg.l1, l2=reg.l2)
            b.add(f"d{p}", f"d{p}_data + d{p}_reg", value(g0, key), f"the whole gradient of {p}: data plus penalty",
                  (f"d{p}_data", f"d{p}_reg"), op="add", layer=key[0] + 1)
    stages = [(k, v) for k, v in (("clipvalue", opt.clipvalue), ("clipnorm", opt.clipnorm),
                                  ("global_clipnorm", opt.global_clipnorm)) if v is not None]
    if not stages:
        return names
    b.section = "Gradient clipping"
    flat = np.array(g0, copy=True)
    for n_stage, (option, c) in enumerate(stages, 1):
        last = n_stage == len(stages)
        nxt = np.array(flat, copy=True)
        Optimizer.clip(SimpleNamespace(g=nxt, index=opt.index, clipvalue=c if option == "clipvalue" else None,
                                       clipnorm=c if option == "clipnorm" else None,
                                       global_clipnorm=c if option == "global_clipnorm" else None))
        if last:
            nxt = rec["g_after_clip"]  # the engine's own: what the optimizer read
        tag = {"clipvalue": "cv", "clipnorm": "cn", "global_clipnorm": "gn"}[option]
        if option == "global_clipnorm":
            ins = [names[pname[key]] for key in keys]
            norm = float(np.sqrt(np.dot(flat, flat)))
            b.add("global_norm", "√(Σ over every gradient of its squares)", norm, "the norm of all gradients "
                  "together", ins, op="global_norm")
            b.add("clip_factor", f"{c:g} / (global_norm + 1e-6)", c / (norm + 1e-6), "how much global_clipnorm "
                  "scales every gradient (only when below 1)", ("global_norm",), op="clip_factor", clip=c)
        for key in keys:
            p, d = pname[key], names[pname[key]]
            new = f"d{p}_{tag}"
            k = key[0] + 1
            if option == "clipvalue":
                b.add(new, f"min(max({d}, −{c:g}), {c:g})", value(nxt, key), f"{d} with each element clipped to "
                      f"[−{c:g}, {c:g}]", (d,), op="clip_value", layer=k, clip=c)
            elif option == "clipnorm":
                g = value(flat, key)
                b.add(f"norm_{p}", f"√Σ {d}²", float(np.sqrt(np.dot(g.ravel(), g.ravel()))), f"the norm of {d}",
                      (d,), op="norm", layer=k)
                b.add(new, f"{d} · (c / norm_{p} if norm_{p} > c else 1), c = {c:g}", value(nxt, key),
                      f"{d} scaled down to norm {c:g} if it is longer", (d, f"norm_{p}"), op="clip_norm", layer=k,
                      clip=c)
            else:
                b.add(new, f"{d} · clip_factor if clip_factor < 1 else {d}", value(nxt, key),
                      f"{d} scaled by the global factor", (d, "clip_factor"), op="clip_global", layer=k)
            names[p] = new
        flat = np.array(nxt, copy=True)
    return names


def _grad_formula(reg, p):
    parts = []
    if reg.l1:
        parts.append(f"{reg.l1:g}·sign({p})")
    if reg.l2:
        parts.append(f"{2 * reg.l2:g}·{p}")
    return " + ".join(parts) or "0"


def add_update(b, opt, p, k, lr, t, new, state, grad=None):
    """Record parameter ``p``'s update (layer ``k``): its state arrays' new values, then ``{p}_new``.

    ``grad`` is the name of the gradient the optimizer read (``d{p}`` unless clipping renamed it);
    ``state`` the optimizer's state for ``p`` after the step; ``new`` the parameter after the step.
    """
    d = grad or f"d{p}"
    if isinstance(opt, AdamW):
        wd = opt.weight_decay
        decayed = _value(b, p) * (1 - float(lr) * wd)
        b.add(f"{p}_decayed", f"{p} · (1 − lr·weight_decay)", decayed,
              f"{p} after the decoupled weight decay (AdamW), before the Adam step", (p,), op="weight_decay",
              layer=k, lr=lr, weight_decay=wd)
        _adam(b, opt, p, k, lr, t, new, state, d, base=f"{p}_decayed")
    elif isinstance(opt, Adam):
        _adam(b, opt, p, k, lr, t, new, state, d, base=p)
    elif isinstance(opt, AdaGrad):
        eps = opt.epsilon
        b.add(f"accumulator_{p}_new", f"accumulator_{p} + {d}²", state["accumulator"], "the running sum of "
              "squared gradients", (f"accumulator_{p}", d), op="adagrad_accumulator", layer=k)
        b.add(f"{p}_new", f"{p} − lr·{d} / (√accumulator_{p}_new + ε)", new, f"updated {p}: each element's step "
              "shrinks as its squared gradients add up", (p, d, f"accumulator_{p}_new"), op="adagrad_update",
              layer=k, lr=lr, epsilon=eps)
    elif isinstance(opt, RMSProp):
        rho, eps = opt.rho, opt.epsilon
        b.add(f"v_{p}_new", f"ρ·v_{p} + (1 − ρ)·{d}²", state["v"], "running mean of the squared gradient",
              (f"v_{p}", d), op="rmsprop_v", layer=k, rho=rho)
        b.add(f"{p}_new", f"{p} − lr·{d} / (√v_{p}_new + ε)", new, f"updated {p}: the gradient divided by its "
              "root mean square", (p, d, f"v_{p}_new"), op="rmsprop_update", layer=k, lr=lr, epsilon=eps)
    elif isinstance(opt, Adadelta):
        rho, eps = opt.rho, opt.epsilon
        v, u = state["v"], state["u"]
        b.add(f"v_{p}_new", f"ρ·v_{p} + (1 − ρ)·{d}²", v, "running mean of the squared gradient",
              (f"v_{p}", d), op="rmsprop_v", layer=k, rho=rho)
        delta = np.sqrt(_value(b, f"u_{p}") + eps) / np.sqrt(v + eps) * _value(b, d)
        b.add(f"delta_{p}", f"√(u_{p} + ε) / √(v_{p}_new + ε) · {d}", delta, "the step, in the units of the "
              "parameter (Zeiler's ratio of running RMS values)", (f"u_{p}", f"v_{p}_new", d), op="adadelta_delta",
              layer=k, epsilon=eps)
        b.add(f"u_{p}_new", f"ρ·u_{p} + (1 − ρ)·delta_{p}²", u, "running mean of the squared steps",
              (f"u_{p}", f"delta_{p}"), op="rmsprop_v", layer=k, rho=rho)
        b.add(f"{p}_new", f"{p} − lr·delta_{p}", new, f"updated {p}", (p, f"delta_{p}"), op="sgd_update",
              layer=k, lr=lr)
    elif opt.momentum:
        mu = opt.momentum
        b.add(f"velocity_{p}_new", f"μ·velocity_{p} + {d}", state["velocity"], "velocity: the momentum-weighted "
              "sum of gradients", (f"velocity_{p}", d), op="momentum_velocity", layer=k, momentum=mu)
        if opt.nesterov:
            b.add(f"{p}_new", f"{p} − lr·({d} + μ·velocity_{p}_new)", new, f"updated {p}: Nesterov's look-ahead "
                  "step", (p, d, f"velocity_{p}_new"), op="nesterov_update", layer=k, lr=lr, momentum=mu)
        else:
            b.add(f"{p}_new", f"{p} − lr·velocity_{p}_new", new, f"updated {p}: a step along the velocity",
                  (p, f"velocity_{p}_new"), op="momentum_update", layer=k, lr=lr)
    else:
        b.add(f"{p}_new", f"{p} − lr·{d}", new, f"updated {p}: a step of lr against the gradient",
              (p, d), op="sgd_update", layer=k, lr=lr)


def _value(b, name):
    """The value of a quantity recorded earlier in the step."""
    for q in reversed(b.quantities):
        if q.name == name:
            return q.value
    raise KeyError(name)


def _adam(b, opt, p, k, lr, t, new, state, d, base):
    """Adam's moments, their bias corrections and the step from ``base`` (``p``, or AdamW's decayed ``p``)."""
    b1, b2, eps = opt.beta1, opt.beta2, opt.epsilon
    m, v = state["m"], state["v"]
    b.add(f"m_{p}_new", f"β1·m_{p} + (1 − β1)·{d}", m, "first moment: running mean of the gradient",
          (f"m_{p}", d), op="adam_m", layer=k, beta1=b1)
    b.add(f"v_{p}_new", f"β2·v_{p} + (1 − β2)·{d}²", v, "second moment: running mean of the squared gradient",
          (f"v_{p}", d), op="adam_v", layer=k, beta2=b2)
    b.add(f"m_hat_{p}", f"m_{p}_new / (1 − β1^{t})", m / (1 - b1**t), "bias-corrected first moment",
          (f"m_{p}_new",), op="adam_m_hat", layer=k, beta1=b1, t=t)
    b.add(f"v_hat_{p}", f"v_{p}_new / (1 − β2^{t})", v / (1 - b2**t), "bias-corrected second moment",
          (f"v_{p}_new",), op="adam_v_hat", layer=k, beta2=b2, t=t)
    b.add(f"{p}_new", f"{base} − lr·m_hat_{p} / (√v_hat_{p} + ε)", new, f"updated {p}: a step against the "
          "gradient, scaled per element by the moments", (base, f"m_hat_{p}", f"v_hat_{p}"), op="adam_update",
          layer=k, lr=lr, epsilon=eps)


# -- workbook formulas -----------------------------------------------------------------------------------------

@formula("sgd_update", "momentum_update")
def _sgd_update(c):
    return lambda i, j: f"{c.at(0, i, j)}-{c.lr}*{c.at(1, i, j)}"


@formula("momentum_velocity")
def _momentum_velocity(c):
    return lambda i, j: f"opt_momentum*{c.at(0, i, j)}+{c.at(1, i, j)}"


@formula("nesterov_update")
def _nesterov_update(c):
    return lambda i, j: f"{c.at(0, i, j)}-{c.lr}*({c.at(1, i, j)}+opt_momentum*{c.at(2, i, j)})"


@formula("adam_m")
def _adam_m(c):
    return lambda i, j: f"opt_beta1*{c.at(0, i, j)}+(1-opt_beta1)*{c.at(1, i, j)}"


@formula("adam_v")
def _adam_v(c):
    return lambda i, j: "opt_beta2*{0}+(1-opt_beta2)*{1}*{1}".format(c.at(0, i, j), c.at(1, i, j))


@formula("adam_m_hat")
def _adam_m_hat(c):
    return lambda i, j: f"{c.at(0, i, j)}/(1-opt_beta1^{c.t})"


@formula("adam_v_hat")
def _adam_v_hat(c):
    return lambda i, j: f"{c.at(0, i, j)}/(1-opt_beta2^{c.t})"


@formula("adam_update")
def _adam_update(c):
    return lambda i, j: f"{c.at(0, i, j)}-{c.lr}*{c.at(1, i, j)}/(SQRT({c.at(2, i, j)})+opt_epsilon)"


@formula("penalty")
def _penalty(c):
    l1, l2, w = c.attrs.get("l1", 0), c.attrs.get("l2", 0), c.whole(0)
    terms = ([f"{num(l1)}*SUMPRODUCT(ABS({w}))"] if l1 else []) + ([f"{num(l2)}*SUMSQ({w})"] if l2 else [])
    return lambda i, j: "+".join(terms) or "0"


@formula("penalty_grad")
def _penalty_grad(c):
    l1, l2 = c.attrs.get("l1", 0), c.attrs.get("l2", 0)

    def f(i, j):
        w = c.at(0, i, j)
        terms = ([f"{num(l1)}*SIGN({w})"] if l1 else []) + ([f"{num(2 * l2)}*{w}"] if l2 else [])
        return "+".join(terms) or "0"
    return f


@formula("clip_value")
def _clip_value(c):
    v = num(c.attrs["clip"])
    return lambda i, j: f"MIN(MAX({c.at(0, i, j)},-{v}),{v})"


@formula("norm")
def _norm(c):
    return lambda i, j: f"SQRT(SUMSQ({c.whole(0)}))"


@formula("clip_norm")
def _clip_norm(c):
    v = num(c.attrs["clip"])
    return lambda i, j: f"IF({c.at(1, i, j)}>{v},{c.at(0, i, j)}*({v}/{c.at(1, i, j)}),{c.at(0, i, j)})"


@formula("global_norm")
def _global_norm(c):
    return lambda i, j: "SQRT(" + "+".join(f"SUMSQ({c.whole(k)})" for k in range(len(c.ins))) + ")"


@formula("clip_factor")
def _clip_factor(c):
    return lambda i, j: f"{num(c.attrs['clip'])}/({c.at(0, i, j)}+1E-06)"


@formula("clip_global")
def _clip_global(c):
    return lambda i, j: f"IF({c.at(1, i, j)}<1,{c.at(0, i, j)}*{c.at(1, i, j)},{c.at(0, i, j)})"


@formula("weight_decay")
def _weight_decay(c):
    return lambda i, j: f"{c.at(0, i, j)}*(1-{c.lr}*opt_weight_decay)"


@formula("adagrad_accumulator")
def _adagrad_accumulator(c):
    return lambda i, j: "{0}+{1}*{1}".format(c.at(0, i, j), c.at(1, i, j))


@formula("adagrad_update", "rmsprop_update")
def _adagrad_update(c):
    return lambda i, j: f"{c.at(0, i, j)}-{c.lr}*{c.at(1, i, j)}/(SQRT({c.at(2, i, j)})+opt_epsilon)"


@formula("rmsprop_v")
def _rmsprop_v(c):
    return lambda i, j: "opt_rho*{0}+(1-opt_rho)*{1}*{1}".format(c.at(0, i, j), c.at(1, i, j))


@formula("adadelta_delta")
def _adadelta_delta(c):
    return lambda i, j: f"SQRT({c.at(0, i, j)}+opt_epsilon)/SQRT({c.at(1, i, j)}+opt_epsilon)*{c.at(2, i, j)}"
