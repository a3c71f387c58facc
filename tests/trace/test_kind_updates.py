"""The trace of every activation, optimizer, clipping option and regularizer: LibreOffice and PyTorch as oracles.

Every workbook is written with wrong (0) cached values and recalculated by LibreOffice headless (one run for
all of them); every defined name must equal the engine's number to relative 1e-9. The gradients the trace
records (``dW1`` with the penalties' terms, before clipping) must equal PyTorch's autograd on the same
network with copied weights to relative 1e-10 (float64).
"""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_xlsx import max_rel_diff, named_values, recalculate

import glassnet as gn
from glassnet.trace import Trace, preset, record
from glassnet.trace.xlsx import to_xlsx

ACTIVATIONS = ["elu", "selu", "gelu", "silu", "softplus", "hard_sigmoid", "sigmoid", "tanh", "relu", "leaky_relu",
               "linear"]
OPTIMIZERS = {
    "adagrad": lambda: gn.optimizers.AdaGrad(0.1),
    "rmsprop": lambda: gn.optimizers.RMSProp(0.01),
    "adadelta": lambda: gn.optimizers.Adadelta(1.0),
    "adamw": lambda: gn.optimizers.AdamW(0.05, weight_decay=0.1),
    "clipvalue": lambda: gn.optimizers.SGD(0.1, clipvalue=0.05),
    "clipnorm": lambda: gn.optimizers.Adam(0.1, clipnorm=0.1),
    "global": lambda: gn.optimizers.SGD(0.1, momentum=0.9, global_clipnorm=0.1),
    "all_clips": lambda: gn.optimizers.RMSProp(0.01, clipvalue=0.2, clipnorm=0.3, global_clipnorm=0.25),
}


def _data(n=6, f=3, o=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, f)), rng.normal(size=(n, o))


def dense_model(act, optimizer, standalone=False, reg=True):
    regs = {"kernel_regularizer": gn.regularizers.L1L2(0.01, 0.02), "bias_regularizer": gn.regularizers.L2(0.03)}
    first = [gn.layers.Dense(4, **(regs if reg else {})), gn.layers.get_activation(act)] if standalone else [
        gn.layers.Dense(4, activation=act, **(regs if reg else {}))]
    model = gn.Sequential(first + [gn.layers.Dense(2)], seed=1, dtype="float64")
    return model.compile(loss="mse", optimizer=optimizer)


def _cases():
    cases = {f"act_{a}": (lambda a=a: dense_model(a, gn.optimizers.SGD(0.1))) for a in ACTIVATIONS}
    cases["act_gelu_tanh"] = lambda: dense_model(gn.layers.GELU(approximate=True), gn.optimizers.SGD(0.1))
    cases |= {f"layer_{a}": (lambda a=a: dense_model(a, gn.optimizers.SGD(0.1), standalone=True))
              for a in ("elu", "silu", "softmax", "relu")}
    cases |= {f"opt_{k}": (lambda k=k: dense_model("tanh", OPTIMIZERS[k]())) for k in OPTIMIZERS}
    cases["loss_mae"] = lambda: dense_model("tanh", gn.optimizers.Adam(0.05)).compile(loss="mae", optimizer="adam")
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds_updates")
    X, y = _data()
    traces, paths = {}, []
    for name, make in CASES.items():
        traces[name] = record(make(), X, y, steps=2, batch_size=4)
        paths.append(root / f"{name}.xlsx")
        to_xlsx(traces[name], paths[-1], cached_values=False)
    preset_trace = record(*preset("rmsprop-spiral"), steps=3, batch_size=6)
    traces["rmsprop-spiral"] = preset_trace
    paths.append(root / "rmsprop-spiral.xlsx")
    to_xlsx(preset_trace, paths[-1], cached_values=False)
    out = recalculate(paths, root / "out", str(root / "profile"))
    return traces, dict(zip([p.stem for p in paths], out))


@pytest.mark.parametrize("case", [*CASES, "rmsprop-spiral"])
def test_libreoffice_recalculates_every_name_to_the_engines_number(recalculated, case):
    traces, out = recalculated
    worst, where = max_rel_diff(named_values(out[case]), traces[case])
    print(f"{case}: LibreOffice vs engine, max relative difference {worst:.2e} at {where}")


def _torch_act(name, z):
    return {"elu": F.elu, "selu": F.selu, "gelu": F.gelu, "silu": F.silu, "softplus": F.softplus,
            "hard_sigmoid": lambda v: torch.clamp(v / 6 + 0.5, 0, 1),  # torch.hardsigmoid: slope in float32
            "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu,
            "leaky_relu": lambda v: F.leaky_relu(v, 0.01), "linear": lambda v: v,
            "gelu_tanh": lambda v: F.gelu(v, approximate="tanh")}[name](z)


@pytest.mark.parametrize("act", [*ACTIVATIONS, "gelu_tanh"])
def test_gradients_with_penalties_equal_pytorch(act):
    X, y = _data()
    model = dense_model(gn.layers.GELU(approximate=True) if act == "gelu_tanh" else act, gn.optimizers.SGD(0.1))
    model.build(3)
    W1, b1, W2, b2 = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    trace = record(model, X, y, steps=1)
    z = torch.tensor(X) @ W1 + b1
    out = _torch_act(act, z) @ W2 + b2
    loss = F.mse_loss(out, torch.tensor(y)) + 0.01 * W1.abs().sum() + 0.02 * (W1 ** 2).sum() + 0.03 * (b1 ** 2).sum()
    loss.backward()
    step = trace.steps[0]
    assert step["loss"].value == pytest.approx(loss.item(), rel=1e-12)
    worst = 0.0
    for name, t in (("dW1", W1), ("db1", b1), ("dW2", W2), ("db2", b2)):
        ours, theirs = step[name].value, t.grad.numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)
        worst = max(worst, float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300))))
    print(f"{act}: trace vs PyTorch, max relative difference {worst:.2e}")


@pytest.mark.parametrize("opt, torch_opt", [
    ("adagrad", lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=1e-7)),
    ("rmsprop", lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7)),
    ("adadelta", lambda ps: torch.optim.Adadelta(ps, lr=1.0, rho=0.95, eps=1e-7)),
    ("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1, eps=1e-7)),
])
def test_updated_weights_equal_pytorch_optimizers(opt, torch_opt):
    """W_new of two steps equals torch.optim's (only where the formulas agree: RMSprop/AdaGrad put ε outside √)."""
    X, y = _data()
    model = dense_model("tanh", OPTIMIZERS[opt](), reg=False)
    model.build(3)
    params = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    trace = record(model, X, y, steps=2)
    o = torch_opt(params)
    for step in trace.steps:
        o.zero_grad()
        W1, b1, W2, b2 = params
        F.mse_loss(torch.tanh(torch.tensor(X) @ W1 + b1) @ W2 + b2, torch.tensor(y)).backward()
        o.step()
        for name, t in zip(("W1", "b1", "W2", "b2"), params):
            np.testing.assert_allclose(step[f"{name}_new"].value, t.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_clipping_stages_end_in_the_gradient_the_optimizer_read():
    X, y = _data()
    trace = record(dense_model("tanh", OPTIMIZERS["all_clips"]()), X, y, steps=1)
    step = trace.steps[0]
    names = step.names()
    for p in ("W1", "b1", "W2", "b2"):
        order = [names.index(f"d{p}"), names.index(f"d{p}_cv"), names.index(f"d{p}_cn"), names.index(f"d{p}_gn")]
        assert order == sorted(order)
        assert f"d{p}_gn" in step[f"{p}_new"].inputs or f"d{p}_gn" in step[f"v_{p}_new"].inputs
    assert np.all(np.abs(step["dW1_cv"].value) <= 0.2)
    assert float(step["clip_factor"].value) < 1  # the global norm did clip


def test_text_and_json_round_trip(tmp_path):
    X, y = _data()
    trace = record(dense_model("elu", OPTIMIZERS["adamw"]()), X, y, steps=2)
    text = str(trace)
    assert "penalty_W1" in text and "W1_decayed" in text and "loss_data" in text
    back = Trace.from_dict(json.loads(trace.to_json()))
    for a, b in zip(trace.steps, back.steps):
        assert a.names() == b.names()
        for q in a.quantities:
            np.testing.assert_array_equal(np.asarray(q.value, dtype=np.float64), b[q.name].value)
    assert "<html" in trace.to_html().lower()


def test_rmsprop_spiral_preset_from_the_cli(tmp_path, capsys):
    from glassnet.cli.main import main
    assert main(["trace", "--preset", "rmsprop-spiral", "--steps", "2", "--json", str(tmp_path / "t.json")]) == 0
    assert "v_W1_new" in capsys.readouterr().out
    assert json.loads((tmp_path / "t.json").read_text())["preset"] == "rmsprop-spiral"


def test_page_provenance_is_read_off_the_workbook_formulas():
    """Hovering a cell lights the cells its workbook formula reads: the same cell of each input for an
    update, every cell of the gradient for its norm."""
    from glassnet.trace.provenance import provenance
    X, y = _data()
    step = record(dense_model("elu", OPTIMIZERS["all_clips"]()), X, y, steps=1).steps[0]
    values = {q.name: q.value for q in step.quantities}
    new = provenance(step["W1_new"], values)
    assert step["W1_new"].inputs == ("W1", "dW1_gn", "v_W1_new")
    assert new[5] == [[0, [5]], [1, [5]], [2, [5]]]  # W1_new[1, 1]: W1, the clipped gradient and v at [1, 1]
    assert provenance(step["norm_W1"], values) == [[[0, list(range(12))]]]
    assert provenance(step["global_norm"], values)[0] == [[k, list(range(np.size(values[n])))]
                                                         for k, n in enumerate(step["global_norm"].inputs)]
    from glassnet.trace.html import _step_data
    assert "src" in next(q for q in _step_data(step)["quantities"] if q["name"] == "W1_new")


def test_mae_gradients_equal_pytorch():
    X, y = _data()
    model = dense_model("tanh", gn.optimizers.SGD(0.1), reg=False).compile(loss="mae", optimizer="sgd")
    model.build(3)
    W1, b1, W2, b2 = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    step = record(model, X, y, steps=1).steps[0]
    loss = F.l1_loss(torch.tanh(torch.tensor(X) @ W1 + b1) @ W2 + b2, torch.tensor(y))
    loss.backward()
    assert float(step["loss"].value) == pytest.approx(loss.item(), rel=1e-12)
    for name, t in (("dW1", W1), ("db1", b1), ("dW2", W2), ("db2", b2)):
        np.testing.assert_allclose(step[name].value, t.grad.numpy(), rtol=1e-10, atol=1e-14)
