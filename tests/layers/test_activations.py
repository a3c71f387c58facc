"""Activation layers on their own: float64 finite differences and PyTorch as the oracle."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glassnet as gn
from glassnet.layers import (
    ELU,
    GELU,
    SELU,
    HardSigmoid,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
)

torch.set_num_threads(1)

RTOL, ATOL = 1e-6, 1e-12

# (glassnet layer factory, PyTorch function) — defaults and non-default parameters
CASES = {
    "sigmoid": (Sigmoid, torch.sigmoid),
    "tanh": (Tanh, torch.tanh),
    "relu": (ReLU, torch.relu),
    "leaky_relu": (LeakyReLU, lambda z: F.leaky_relu(z, negative_slope=0.01)),
    "leaky_relu_0.2": (lambda: LeakyReLU(alpha=0.2), lambda z: F.leaky_relu(z, negative_slope=0.2)),
    "elu": (ELU, lambda z: F.elu(z, alpha=1.0)),
    "elu_0.5": (lambda: ELU(alpha=0.5), lambda z: F.elu(z, alpha=0.5)),
    "softmax": (Softmax, lambda z: torch.softmax(z, dim=-1)),
    "linear": (Linear, lambda z: z),
    "gelu": (GELU, F.gelu),  # Keras' and PyTorch's default: the exact erf form
    "gelu_tanh": (lambda: GELU(approximate=True), lambda z: F.gelu(z, approximate="tanh")),
    "silu": (SiLU, F.silu),
    "softplus": (Softplus, F.softplus),
    "selu": (SELU, F.selu),
    "hard_sigmoid": (HardSigmoid, F.hardsigmoid),  # Keras 3: relu6(z + 3) / 6
}


def assert_ours_vs_torch(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=f"{what}: ours (ACTUAL) vs torch (DESIRED)")


def inputs(shape, seed=1, scale=2.0):
    """Random pre-activations kept 0.05 away from 0, where ReLU-like slopes jump."""
    z = scale * np.random.default_rng(seed).standard_normal(shape)
    return np.where(z >= 0, z + 0.05, z - 0.05)


def ours_and_torch(name, Z, dA):
    make, torch_f = CASES[name]
    layer = make()
    layer.build(Z.shape[1:], np.random.default_rng(0), np.float64)
    a = layer.forward(Z, training=True)
    dZ = layer.backward(dA)
    z = torch.tensor(Z, requires_grad=True)
    a_t = torch_f(z)
    a_t.backward(torch.from_numpy(dA))
    return (a, dZ), (a_t.detach().numpy(), z.grad.numpy())


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_activation(name):
    report = gn.gradcheck(CASES[name][0](), inputs((6, 4)))
    assert set(report.errors) == {"x"}
    assert report.passed, str(report)


@pytest.mark.parametrize("name", list(CASES))
def test_activation_matches_torch(name):
    Z = inputs((6, 4))
    dA = np.random.default_rng(2).standard_normal(Z.shape)
    (a, dZ), (a_t, dZ_t) = ours_and_torch(name, Z, dA)
    assert_ours_vs_torch(a, a_t, f"{name} forward")
    assert_ours_vs_torch(dZ, dZ_t, f"{name} dZ")


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "softmax", "gelu", "gelu_tanh", "silu", "softplus",
                                  "selu", "hard_sigmoid"])
def test_extreme_inputs_match_torch(name):
    # far in the tails: no overflow warning turned into NaN, no 0·inf, same saturated values as torch
    Z = np.array([[-800.0, -40.0, 0.5, 40.0], [1000.0, 999.0, -1000.0, 3.0]])
    dA = np.random.default_rng(3).standard_normal(Z.shape)
    (a, dZ), (a_t, dZ_t) = ours_and_torch(name, Z, dA)
    assert np.isfinite(a).all() and np.isfinite(dZ).all()
    assert_ours_vs_torch(a, a_t, f"{name} forward at extreme inputs")
    assert_ours_vs_torch(dZ, dZ_t, f"{name} dZ at extreme inputs")


@pytest.mark.parametrize("key", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax", "linear", "gelu", "silu",
                                 "softplus", "selu", "hard_sigmoid"])
def test_names_give_the_layer_checked_above(key):
    layer = get_activation(key)
    assert layer.key == key
    assert type(layer) is type(CASES[key][0]())


def test_slope_is_the_elementwise_derivative():
    # the trace shows slope(Z, A); it must equal the backward pass with dA = 1
    Z = inputs((3, 5))
    for name in ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear", "gelu", "silu", "softplus", "selu",
                 "hard_sigmoid"]:
        layer = get_activation(name)
        a = layer.forward(Z)
        np.testing.assert_allclose(layer.slope(Z, a), layer.backward(np.ones_like(Z)), rtol=1e-15, err_msg=name)


# -- the activations Keras users reach for: gelu, silu/swish, softplus, selu, hard_sigmoid ---------------------


def test_erf_is_exact_to_double_precision():
    import math

    from glassnet.layers.activations import erf

    x = np.concatenate([np.linspace(-7, 7, 20001), [-40.0, -27.5, 0.0, 1.0, -1.0, 27.5, 40.0]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=0, atol=3e-16)
    assert erf(x.astype(np.float32)).dtype == np.float32


def test_gelu_is_exact_by_default_and_tanh_when_approximate():
    z = np.array([[-2.0, -0.5, 0.0, 0.7, 3.0]])
    exact, approx = GELU().forward(z), GELU(approximate=True).forward(z)
    # exact: z·Φ(z); Φ(0.7) = 0.7580363477769269 (tables), so gelu(0.7) = 0.5306254434...
    np.testing.assert_allclose(exact[0, 3], 0.7 * 0.7580363477769269, rtol=1e-15)
    assert 1e-5 < np.abs(exact - approx).max() < 1e-3  # close, but not the same function
    assert GELU(approximate=True).get_config() == {"name": None, "approximate": True}
    with pytest.raises(gn.ConfigError, match="approximate"):
        GELU(approximate="tanh")


def test_aliases_and_keras_constants():
    assert type(get_activation("swish")) is SiLU and type(get_activation("SiLU")) is SiLU
    assert type(get_activation("hardsigmoid")) is HardSigmoid
    assert (SELU.alpha, SELU.scale) == (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)
    # hard_sigmoid is Keras 3's relu6(z + 3) / 6 (Keras 2 used 0.2·z + 0.5)
    np.testing.assert_allclose(HardSigmoid().forward(np.array([[-4.0, -3.0, 0.0, 1.5, 3.0, 4.0]])),
                               [[0.0, 0.0, 0.5, 0.75, 1.0, 1.0]])
    with pytest.raises(gn.ConfigError, match="silu"):
        get_activation("swishy")


@pytest.mark.parametrize("key", ["gelu", "silu", "swish", "softplus", "selu", "hard_sigmoid"])
def test_new_activations_train_in_dense_and_round_trip_a_file(key, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    model = gn.Sequential([gn.layers.Dense(8, activation=key), gn.layers.Dense(1, activation="sigmoid")],
                          seed=0, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(0.05))
    assert gn.gradcheck(model, X[:8], y[:8]).passed
    history = model.fit(X, y, epochs=30, batch_size=None, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.glassnet")
    loaded = gn.load(tmp_path / "m.glassnet")
    assert type(loaded.layers[0].activation) is type(model.layers[0].activation)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("layer", [GELU(), SiLU(), Softplus(), SELU(), HardSigmoid()])
def test_the_tracer_lays_out_the_new_activations(layer):
    """(tests/trace/test_kind_updates.py checks their workbook formulas against LibreOffice.)"""
    model = gn.Sequential([gn.layers.Dense(2, activation=layer), gn.layers.Dense(1, activation="sigmoid")], seed=0,
                          dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    X, y = np.ones((2, 3)), np.ones((2, 1))
    step = gn.trace.record(model, X, y).steps[0]
    assert step["A1"].op == layer.key and step["slope1"].op == f"{layer.key}_slope"
    np.testing.assert_array_equal(step["slope1"].value, layer.slope(step["Z1"].value, step["A1"].value))
