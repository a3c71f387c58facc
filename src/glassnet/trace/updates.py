"""The update section of a step: regularization terms, gradient clipping and every optimizer's rule.

Values are the engine's own: the gradients the optimizer read (captured by the recorder's tap), its state
arrays before and after the step (``optimizer.state_for``) and the parameters after the update. Only the
trivial arithmetic of the written formulas (Adam's bias corrections) is done here. The workbook formulas of
these ops are registered here too.
"""

from __future__ import annotations

from ..errors import ExportError
from ..optimizers import SGD, Adam
from .formulas import formula

__all__ = ["SUPPORTED_OPTIMIZERS", "add_gradients", "add_update", "check_optimizer", "describe_optimizer"]

SUPPORTED_OPTIMIZERS = (SGD, Adam)


def check_optimizer(opt) -> None:
    """ExportError unless the tracer lays out ``opt`` and its options."""
    if type(opt) not in SUPPORTED_OPTIMIZERS:
        names = ", ".join(c.__name__ for c in SUPPORTED_OPTIMIZERS)
        raise ExportError(f"Cannot trace optimizer {type(opt).__name__}; the tracer lays out {names}")
    clips = {k: v for k, v in (("clipnorm", opt.clipnorm), ("global_clipnorm", opt.global_clipnorm),
                                ("clipvalue", opt.clipvalue)) if v is not None}
    if clips:
        raise ExportError(f"Cannot trace gradient clipping ({', '.join(f'{k}={v}' for k, v in clips.items())})")


def describe_optimizer(opt) -> str:
    """One line for the network's summary: ``Adam(lr=0.05, β1=0.9, β2=0.999, ε=1e-07)``."""
    if isinstance(opt, Adam):
        return f"Adam(lr={opt.learning_rate}, β1={opt.beta1}, β2={opt.beta2}, ε={opt.epsilon})"
    if opt.momentum:
        return f"SGD(lr={opt.learning_rate}, momentum={opt.momentum}{', Nesterov' if opt.nesterov else ''})"
    return f"SGD(lr={opt.learning_rate})"


def add_gradients(b, model, keys, pname, rec: dict, before: dict) -> dict:
    """Record what turns each layer's gradient into the one the optimizer reads; {parameter: its name}.

    ``rec`` holds the flat gradient before and after clipping (``g_before_clip``, ``g_after_clip``, in
    ``model.param_index``'s layout); ``before`` the parameters at the step's start.
    """
    return {pname[key]: f"d{pname[key]}" for key in keys}


def add_update(b, opt, p, k, lr, t, new, state, grad=None):
    """Record parameter ``p``'s update (layer ``k``): its state arrays' new values, then ``{p}_new``.

    ``grad`` is the name of the gradient the optimizer read (``d{p}`` unless clipping renamed it);
    ``state`` the optimizer's state for ``p`` after the step; ``new`` the parameter after the step.
    """
    d = grad or f"d{p}"
    if isinstance(opt, Adam):
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
        b.add(f"{p}_new", f"{p} − lr·m_hat_{p} / (√v_hat_{p} + ε)", new, f"updated {p}: a step against the "
              "gradient, scaled per element by the moments", (p, f"m_hat_{p}", f"v_hat_{p}"), op="adam_update",
              layer=k, lr=lr, epsilon=eps)
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
