"""Optimizers, clipping and learning-rate schedules: 10 training steps against torch.optim.

The same small MLP (same float64 weights, same data) is trained by glassnet's ``fit`` and by a torch
loop (zero_grad, backward, clip, step, scheduler step); after 10 steps every parameter, and the
optimizer state where torch keeps the same quantity, must agree to 1e-6 relative.
"""

import math

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.layers import Dense
from glassnet.optimizers import SGD, Adadelta, AdaGrad, Adam, AdamW, RMSProp
from glassnet.schedules import ExponentialDecay, InverseTimeDecay, StepDecay

torch.set_num_threads(1)

RTOL, ATOL = 1e-6, 1e-12
STEPS = 10
TORCH_ACT = {"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "linear": torch.nn.Identity}


def data(target_scale=1.0):
    rng = np.random.default_rng(42)
    X = rng.standard_normal((8, 3))
    y = target_scale * rng.standard_normal((8, 2))
    return X, y


def glassnet_mlp(optimizer, loss="mse", compile_first=False):
    """The test MLP; ``compile_first`` compiles before building (the optimizer is then built by build)."""
    model = gn.Sequential([Dense(5, activation="tanh"), Dense(4, activation="sigmoid"), Dense(2)],
                          seed=0, dtype="float64")
    if compile_first:
        model.compile(loss=loss, optimizer=optimizer)
    model.build(3)
    rng = np.random.default_rng(1)  # random biases too, so db and b are not trivially zero
    for layer in model.layers:
        layer.params["b"][...] = 0.5 * rng.standard_normal(layer.params["b"].shape)
    if not compile_first:
        model.compile(loss=loss, optimizer=optimizer)
    return model


def torch_twin(model):
    """A torch.nn.Sequential with the same weights (Linear.weight = Wᵀ)."""
    modules = []
    for layer in model.layers:
        W, b = layer.params["W"], layer.params["b"]
        lin = torch.nn.Linear(*W.shape, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T))
            lin.bias.copy_(torch.from_numpy(b))
        modules += [lin, TORCH_ACT[layer.activation.key]()]
    return torch.nn.Sequential(*modules)


def torch_pairs(net):
    """[(layer index in the glassnet model, "W"/"b", torch parameter), ...]."""
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    return [(i, k, p) for i, lin in enumerate(linears) for k, p in (("W", lin.weight), ("b", lin.bias))]


def as_ours(name, t):
    arr = t.detach().numpy()
    return arr.T if name == "W" else arr


def train_torch(net, make_opt, X, y, *, lr_lambda=None, clip=None, batch_size=None,
                loss_fn=torch.nn.functional.mse_loss):
    """STEPS torch updates; ``clip(params)`` runs between backward and step. Returns the optimizer."""
    opt = make_opt(net.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda) if lr_lambda else None
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    bs = batch_size or len(X)
    batches = [slice(s, s + bs) for s in range(0, len(X), bs)]
    for step in range(STEPS):
        s = batches[step % len(batches)]
        opt.zero_grad()
        loss_fn(net(X_t[s]), y_t[s]).backward()
        if clip is not None:
            clip(list(net.parameters()))
        opt.step()
        if sched is not None:
            sched.step()
    return opt


def assert_params_match(model, net, what):
    for i, k, p in torch_pairs(net):
        np.testing.assert_allclose(model.layers[i].params[k], as_ours(k, p), rtol=RTOL, atol=ATOL,
                                   err_msg=f"{what}: {k}{i + 1} after {STEPS} steps, ours (ACTUAL) vs torch (DESIRED)")


def assert_state_matches(model, net, opt, names, what):
    """Optimizer state: glassnet's name -> torch's state key, per parameter."""
    for i, k, p in torch_pairs(net):
        ours = model.optimizer.state_for((i, k))
        for our_name, torch_name in names.items():
            np.testing.assert_allclose(ours[our_name], as_ours(k, opt.state[p][torch_name]), rtol=RTOL, atol=ATOL,
                                       err_msg=f"{what}: state {our_name} of {k}{i + 1}, ours vs torch {torch_name}")


def fit_ours(model, X, y, batch_size=None):
    steps_per_epoch = 1 if batch_size is None else math.ceil(len(X) / batch_size)
    model.fit(X, y, epochs=STEPS // steps_per_epoch, batch_size=batch_size, shuffle=False, verbose=0)
    assert model.optimizer.iterations == STEPS


def _with(optimizer, **kwargs):
    """A fresh optimizer of the same class and settings, plus ``kwargs``."""
    cfg = optimizer.get_config()
    cfg.pop("class")
    return type(optimizer)(**(cfg | kwargs))


# (glassnet optimizer, torch optimizer factory, state name map glassnet -> torch)
OPTIMIZERS = {
    "sgd": (lambda: SGD(lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1), {}),
    "sgd_momentum": (lambda: SGD(lr=0.1, momentum=0.9),
                     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), {"velocity": "momentum_buffer"}),
    "sgd_nesterov": (lambda: SGD(lr=0.1, momentum=0.9, nesterov=True),
                     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                     {"velocity": "momentum_buffer"}),
    "adagrad": (lambda: AdaGrad(lr=0.1),
                lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=1e-7),
                {"accumulator": "sum"}),
    "adagrad_eps": (lambda: AdaGrad(lr=0.1, initial_accumulator_value=0.0, epsilon=1e-2),
                    lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.0, eps=1e-2),
                    {"accumulator": "sum"}),
    "rmsprop": (lambda: RMSProp(lr=0.01),
                lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7), {"v": "square_avg"}),
    "rmsprop_rho": (lambda: RMSProp(lr=0.01, rho=0.7, epsilon=1e-4),
                    lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.7, eps=1e-4), {"v": "square_avg"}),
    "adam": (lambda: Adam(lr=0.01),
             lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-7),
             {"m": "exp_avg", "v": "exp_avg_sq"}),
    "adam_betas": (lambda: Adam(lr=0.01, beta1=0.8, beta2=0.9, epsilon=1e-3),
                   lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.9), eps=1e-3),
                   {"m": "exp_avg", "v": "exp_avg_sq"}),
    "adamw": (lambda: AdamW(lr=0.01),
              lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.004),
              {"m": "exp_avg", "v": "exp_avg_sq"}),
    "adamw_strong_decay": (lambda: AdamW(lr=0.01, weight_decay=0.5),
                           lambda ps: torch.optim.AdamW(ps, lr=0.01, eps=1e-7, weight_decay=0.5),
                           {"m": "exp_avg", "v": "exp_avg_sq"}),
    "adadelta": (lambda: Adadelta(lr=1.0),
                 lambda ps: torch.optim.Adadelta(ps, lr=1.0, rho=0.95, eps=1e-7),
                 {"v": "square_avg", "u": "acc_delta"}),
    "adadelta_rho": (lambda: Adadelta(lr=0.5, rho=0.8, epsilon=1e-4),
                     lambda ps: torch.optim.Adadelta(ps, lr=0.5, rho=0.8, eps=1e-4),
                     {"v": "square_avg", "u": "acc_delta"}),
}


@pytest.mark.parametrize("compile_first", [False, True], ids=["build_compile", "compile_build"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_ten_steps_match_torch(name, compile_first):
    ours_opt, torch_opt, state_names = OPTIMIZERS[name]
    X, y = data()
    model = glassnet_mlp(ours_opt(), compile_first=compile_first)
    net = torch_twin(model)
    opt = train_torch(net, torch_opt, X, y)
    start = model.get_weights()
    fit_ours(model, X, y)
    assert not all(np.allclose(w0, w) for w0, w in zip(start, model.get_weights())), "no parameter moved"
    assert_params_match(model, net, name)
    assert_state_matches(model, net, opt, state_names, name)


def test_defaults_are_the_documented_ones():
    # the torch factories above spell these out; a silent change of default would break the pairing
    assert (AdaGrad().initial_accumulator_value, AdaGrad().epsilon) == (0.1, 1e-7)
    assert (RMSProp().rho, RMSProp().epsilon) == (0.9, 1e-7)
    assert (Adam().beta1, Adam().beta2, Adam().epsilon) == (0.9, 0.999, 1e-7)
    assert AdamW().weight_decay == 0.004
    assert (Adadelta().rho, Adadelta().epsilon) == (0.95, 1e-7)


def test_mini_batches_match_torch():
    # batch_size=4, no shuffling: the two halves of the data alternate, in order
    X, y = data()
    model = glassnet_mlp(SGD(lr=0.1, momentum=0.9))
    net = torch_twin(model)
    train_torch(net, OPTIMIZERS["sgd_momentum"][1], X, y, batch_size=4)
    fit_ours(model, X, y, batch_size=4)
    assert_params_match(model, net, "mini-batch SGD momentum")


def test_classifier_with_fused_softmax_cross_entropy_matches_torch():
    # the fused softmax + sparse cross-entropy path through fit, against torch's cross_entropy on logits
    rng = np.random.default_rng(3)
    X, labels = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    model = gn.Sequential([Dense(5, activation="tanh"), Dense(2, activation="softmax")], seed=0, dtype="float64")
    model.build(3)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(lr=0.05))
    layers = [torch.nn.Linear(3, 5, dtype=torch.float64), torch.nn.Tanh(), torch.nn.Linear(5, 2, dtype=torch.float64)]
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for lin, layer in zip([layers[0], layers[2]], model.layers):
            lin.weight.copy_(torch.from_numpy(layer.params["W"].T))
            lin.bias.copy_(torch.from_numpy(layer.params["b"]))
    train_torch(net, lambda ps: torch.optim.Adam(ps, lr=0.05, eps=1e-7), X, labels,
                loss_fn=torch.nn.functional.cross_entropy)
    fit_ours(model, X, labels)
    assert_params_match(model, net, "softmax + sparse CE, Adam")


# --- gradient clipping --------------------------------------------------------------------------------


def clip_each_norm(c):
    """Keras' per-parameter clipnorm in torch: each gradient with norm above c is rescaled to norm c.

    Not ``clip_grad_norm_([p], c)`` per parameter: that one divides by ``norm + 1e-6``.
    """
    def clip(params):
        with torch.no_grad():
            for p in params:
                norm = torch.linalg.vector_norm(p.grad)
                if norm > c:
                    p.grad.mul_(c / norm)
    return clip


CLIPS = {
    "clipvalue": ({"clipvalue": 0.05}, lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.05)),
    "global_clipnorm": ({"global_clipnorm": 0.3}, lambda ps: torch.nn.utils.clip_grad_norm_(ps, 0.3)),
    "clipnorm": ({"clipnorm": 0.1}, clip_each_norm(0.1)),
}


def first_gradients(model, X, y):
    a = model.forward(X, training=True)
    model.backward(a, model.loss.prepare(y, a.shape, np.float64))
    return model.flat_grads.copy(), [model.layers[i].grads[k].copy() for i, k in model.param_index]


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
@pytest.mark.parametrize("name", list(CLIPS))
def test_clipping_matches_torch(name, optimizer):
    kwargs, torch_clip = CLIPS[name]
    ours_opt, torch_opt, _ = OPTIMIZERS[optimizer]
    X, y = data(target_scale=5.0)  # large errors, so the clip is engaged from the first step on
    model = glassnet_mlp(_with(ours_opt(), **kwargs))
    flat, per_param = first_gradients(model, X, y)
    if name == "clipvalue":
        assert np.abs(flat).max() > 0.05
    elif name == "global_clipnorm":
        assert np.linalg.norm(flat) > 0.3
    else:
        assert sum(np.linalg.norm(g) > 0.1 for g in per_param) >= 2
    net = torch_twin(model)
    train_torch(net, torch_opt, X, y, clip=torch_clip)
    fit_ours(model, X, y)
    assert_params_match(model, net, f"{optimizer} with {name}")


# --- learning-rate schedules --------------------------------------------------------------------------

SCHEDULES = {
    "step": StepDecay(0.1, step_size=3, gamma=0.5),
    "exponential": ExponentialDecay(0.1, decay_steps=2, decay_rate=0.8),
    "exponential_staircase": ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5, staircase=True),
    "inverse_time": InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5),
    "inverse_time_staircase": InverseTimeDecay(0.1, decay_steps=4, decay_rate=1.0, staircase=True),
}
# lr_t / lr0 for each schedule above, written from the published formulas, not from glassnet's code:
# StepLR lr0·gamma^floor(t/step_size); Keras' ExponentialDecay lr0·rate^(t/steps) (staircase: floor(t/steps));
# Keras' InverseTimeDecay lr0 / (1 + rate·t/steps) (staircase: floor(t/steps))
FACTORS = {
    "step": lambda t: 0.5 ** (t // 3),
    "exponential": lambda t: 0.8 ** (t / 2),
    "exponential_staircase": lambda t: 0.5 ** math.floor(t / 3),
    "inverse_time": lambda t: 1 / (1 + 0.5 * t / 1),
    "inverse_time_staircase": lambda t: 1 / (1 + 1.0 * math.floor(t / 4)),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_follow_their_closed_forms(name):
    schedule = SCHEDULES[name]
    assert schedule.initial_learning_rate == 0.1
    for t in range(40):
        assert math.isclose(schedule(t), 0.1 * FACTORS[name](t), rel_tol=1e-12), f"{name} at step {t}"


def test_schedules_by_hand():
    # exponential, lr0 0.1, rate 0.8 every 2 steps: t=3 -> 0.1 · 0.8^1.5 = 0.1 · 0.715541753... (0.8·sqrt(0.8))
    assert math.isclose(SCHEDULES["exponential"](3), 0.0715541752799933, rel_tol=1e-12)
    # staircase, rate 0.5 every 3 steps: t=0,1,2 -> 0.1; t=3..5 -> 0.05; t=6 -> 0.025
    assert [SCHEDULES["exponential_staircase"](t) for t in (0, 2, 3, 5, 6)] == [0.1, 0.1, 0.05, 0.05, 0.025]
    # inverse time, rate 0.5 per step: t=2 -> 0.1 / (1 + 1) = 0.05; t=6 -> 0.1 / 4 = 0.025
    assert math.isclose(SCHEDULES["inverse_time"](2), 0.05) and math.isclose(SCHEDULES["inverse_time"](6), 0.025)
    # staircase, rate 1 every 4 steps: t=0..3 -> 0.1; t=4..7 -> 0.1 / 2; t=8 -> 0.1 / 3
    assert [SCHEDULES["inverse_time_staircase"](t) for t in (0, 3, 4, 7)] == [0.1, 0.1, 0.05, 0.05]
    assert math.isclose(SCHEDULES["inverse_time_staircase"](8), 0.1 / 3, rel_tol=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam", "adamw"])
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_match_torch_lambda_lr(name, optimizer):
    # torch's LambdaLR is driven by the closed form, so a wrong schedule in glassnet cannot match it
    schedule = SCHEDULES[name]
    lr0 = schedule.initial_learning_rate
    ours_opt, _, _ = OPTIMIZERS[optimizer]
    torch_opt = {"sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=lr0, momentum=0.9),
                 "adam": lambda ps: torch.optim.Adam(ps, lr=lr0, eps=1e-7),
                 "adamw": lambda ps: torch.optim.AdamW(ps, lr=lr0, eps=1e-7, weight_decay=0.004)}[optimizer]
    X, y = data()
    model = glassnet_mlp(_with(ours_opt(), learning_rate=schedule))
    net = torch_twin(model)
    opt = train_torch(net, torch_opt, X, y, lr_lambda=FACTORS[name])
    fit_ours(model, X, y)
    assert_params_match(model, net, f"{optimizer} with {name}")
    # the rate of the next (11th) update agrees too
    assert math.isclose(model.optimizer.lr, opt.param_groups[0]["lr"], rel_tol=1e-12)


@pytest.mark.parametrize("name,make_scheduler", [
    # rate^(t/steps) = (rate^(1/steps))^t: torch's ExponentialLR with gamma = 0.8^(1/2)
    ("exponential", lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8 ** 0.5)),
    # the staircase is a step decay: rate^floor(t/steps) is StepLR(step_size=steps, gamma=rate)
    ("exponential_staircase", lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)),
])
def test_exponential_decay_is_a_torch_scheduler(name, make_scheduler):
    schedule = SCHEDULES[name]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make_scheduler(opt)
    for t in range(3 * STEPS):
        assert math.isclose(schedule(t), opt.param_groups[0]["lr"], rel_tol=1e-12), f"{name} at step {t}"
        opt.step()
        sched.step()


def test_step_decay_is_torchs_step_lr():
    schedule = SCHEDULES["step"]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    for t in range(STEPS):
        assert math.isclose(schedule(t), opt.param_groups[0]["lr"], rel_tol=1e-12), f"step {t}"
        opt.step()
        sched.step()
