"""Activation layers on their own: float64 finite differences and PyTorch as the oracle."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glassnet as gn
from glassnet.layers import ELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh, get_activation

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
    assert report.passed(1e-6), str(report)


@pytest.mark.parametrize("name", list(CASES))
def test_activation_matches_torch(name):
    Z = inputs((6, 4))
    dA = np.random.default_rng(2).standard_normal(Z.shape)
    (a, dZ), (a_t, dZ_t) = ours_and_torch(name, Z, dA)
    assert_ours_vs_torch(a, a_t, f"{name} forward")
    assert_ours_vs_torch(dZ, dZ_t, f"{name} dZ")


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "softmax"])
def test_extreme_inputs_match_torch(name):
    # far in the tails: no overflow warning turned into NaN, no 0·inf, same saturated values as torch
    Z = np.array([[-800.0, -40.0, 0.5, 40.0], [1000.0, 999.0, -1000.0, 3.0]])
    dA = np.random.default_rng(3).standard_normal(Z.shape)
    (a, dZ), (a_t, dZ_t) = ours_and_torch(name, Z, dA)
    assert np.isfinite(a).all() and np.isfinite(dZ).all()
    assert_ours_vs_torch(a, a_t, f"{name} forward at extreme inputs")
    assert_ours_vs_torch(dZ, dZ_t, f"{name} dZ at extreme inputs")


@pytest.mark.parametrize("key", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax", "linear"])
def test_names_give_the_layer_checked_above(key):
    layer = get_activation(key)
    assert layer.key == key
    assert type(layer) is type(CASES[key][0]())


def test_slope_is_the_elementwise_derivative():
    # the trace shows slope(Z, A); it must equal the backward pass with dA = 1
    Z = inputs((3, 5))
    for name in ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear"]:
        layer = get_activation(name)
        a = layer.forward(Z)
        np.testing.assert_allclose(layer.slope(Z, a), layer.backward(np.ones_like(Z)), rtol=1e-15, err_msg=name)
