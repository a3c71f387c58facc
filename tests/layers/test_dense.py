"""Dense: float64 finite differences, PyTorch as the oracle, and one training step worked by hand."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glassnet as gn
from glassnet.layers import Dense

torch.set_num_threads(1)

RTOL, ATOL = 1e-6, 1e-12

# every activation sugar of Dense(units, activation=...) and its PyTorch twin
TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, negative_slope=0.01),
    "elu": lambda z: F.elu(z, alpha=1.0),
    "softmax": lambda z: torch.softmax(z, dim=-1),
    "linear": lambda z: z,
    None: lambda z: z,
}
ACTIVATIONS = list(TORCH_ACTIVATIONS)


def assert_ours_vs_torch(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=f"{what}: ours (ACTUAL) vs torch (DESIRED)")


def built_dense(n_in, units, activation, use_bias, seed=0):
    """A float64 Dense with random weights and (unlike the zero init) a random bias."""
    rng = np.random.default_rng(seed)
    layer = Dense(units, activation=activation, use_bias=use_bias)
    layer.build((n_in,), rng, np.float64)
    if use_bias:
        layer.params["b"][...] = rng.standard_normal(units)
    return layer


def inputs(shape, seed=1):
    """Random inputs kept 0.05 away from 0 (so no pre-activation sits on a ReLU kink by chance)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(x >= 0, x + 0.05, x - 0.05)


def torch_dense(layer, X, dA, activation):
    """PyTorch's forward, dW, db and dX for the same weights, input and upstream gradient dL/dA."""
    W = layer.params["W"]
    lin = torch.nn.Linear(W.shape[0], W.shape[1], bias=layer.use_bias, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W.T))  # torch keeps (n_out, n_in)
        if layer.use_bias:
            lin.bias.copy_(torch.from_numpy(layer.params["b"]))
    x = torch.tensor(X, requires_grad=True)
    a = TORCH_ACTIVATIONS[activation](lin(x))
    a.backward(torch.from_numpy(dA))
    db = lin.bias.grad.numpy() if layer.use_bias else None
    return a.detach().numpy(), lin.weight.grad.numpy().T, db, x.grad.numpy()


# --- finite differences ------------------------------------------------------------------------------


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradcheck_dense(activation, use_bias):
    layer = built_dense(3, 4, activation, use_bias)
    report = gn.gradcheck(layer, inputs((5, 3)))
    assert set(report.errors) == ({"W", "b", "x"} if use_bias else {"W", "x"})
    assert report.passed, str(report)


def test_gradcheck_dense_on_sequences():
    # Dense acts on the last axis of (N, T, C) inputs, as torch.nn.Linear does
    report = gn.gradcheck(built_dense(3, 2, "tanh", True), inputs((2, 4, 3)))
    assert report.passed, str(report)


# --- PyTorch oracle ----------------------------------------------------------------------------------


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_matches_torch(activation, use_bias):
    layer = built_dense(3, 4, activation, use_bias)
    X = inputs((5, 3))
    dA = np.random.default_rng(2).standard_normal((5, 4))
    a = layer.forward(X, training=True)
    dX = layer.backward(dA)
    a_t, dW_t, db_t, dX_t = torch_dense(layer, X, dA, activation)
    assert_ours_vs_torch(a, a_t, "A = f(X·W + b)")
    assert_ours_vs_torch(layer.grads["W"], dW_t, "dW")
    if use_bias:
        assert_ours_vs_torch(layer.grads["b"], db_t, "db")
    assert_ours_vs_torch(dX, dX_t, "dX")


def test_dense_on_sequences_matches_torch():
    layer = built_dense(3, 2, "relu", True)
    X = inputs((2, 4, 3))
    dA = np.random.default_rng(2).standard_normal((2, 4, 2))
    a = layer.forward(X, training=True)
    dX = layer.backward(dA)
    a_t, dW_t, db_t, dX_t = torch_dense(layer, X, dA, "relu")
    assert a.shape == (2, 4, 2) and dX.shape == (2, 4, 3)
    assert_ours_vs_torch(a, a_t, "A")
    assert_ours_vs_torch(layer.grads["W"], dW_t, "dW")
    assert_ours_vs_torch(layer.grads["b"], db_t, "db")
    assert_ours_vs_torch(dX, dX_t, "dX")


def test_float32_dense_stays_float32():
    rng = np.random.default_rng(0)
    layer = Dense(4, activation="sigmoid")
    layer.build((3,), rng, np.float32)
    a = layer.forward(inputs((5, 3)).astype(np.float32), training=True)
    dX = layer.backward(np.ones((5, 4), dtype=np.float32))
    assert a.dtype == dX.dtype == layer.grads["W"].dtype == layer.grads["b"].dtype == np.float32


# --- golden example, worked by hand -----------------------------------------------------------------


def test_golden_one_sigmoid_unit_one_sgd_step():
    # One sample x = [1, 2], target y = 1, one sigmoid unit with W = [[0.5], [-0.5]], b = [0.5];
    # loss ½·Σ(y - a)² (the tutorial's), plain SGD with lr = 0.5. Every number below is exact in binary.
    model = gn.Sequential([Dense(1, activation="sigmoid")], seed=0, dtype="float64")
    model.build(2)
    model.set_weights([np.array([[0.5], [-0.5]]), np.array([0.5])])
    model.compile(loss="half_sse", optimizer=gn.optimizers.SGD(lr=0.5))
    X, y = np.array([[1.0, 2.0]]), np.array([[1.0]])

    # forward:  z = 1·0.5 + 2·(-0.5) + 0.5 = 0.5 - 1.0 + 0.5 = 0
    #           a = 1 / (1 + e^0) = 1 / 2 = 0.5
    #           L = ½·(1 - 0.5)² = ½·0.25 = 0.125
    loss, a = model.train_step(X, y)
    layer = model.layers[0]
    np.testing.assert_array_equal(layer.z, [[0.0]])
    np.testing.assert_array_equal(a, [[0.5]])
    assert loss == 0.125

    # backward: dA = a - y = 0.5 - 1 = -0.5
    #           slope = a·(1 - a) = 0.5·0.5 = 0.25
    #           dZ = dA · slope = -0.5·0.25 = -0.125
    #           dW = xᵀ·dZ = [[1·(-0.125)], [2·(-0.125)]] = [[-0.125], [-0.25]]
    #           db = Σ dZ = -0.125
    np.testing.assert_array_equal(layer.dz, [[-0.125]])
    np.testing.assert_array_equal(layer.grads["W"], [[-0.125], [-0.25]])
    np.testing.assert_array_equal(layer.grads["b"], [-0.125])

    # SGD:      W_new = W - lr·dW = [[0.5 + 0.5·0.125], [-0.5 + 0.5·0.25]] = [[0.5625], [-0.375]]
    #           b_new = b - lr·db = 0.5 + 0.5·0.125 = 0.5625
    np.testing.assert_array_equal(layer.params["W"], [[0.5625], [-0.375]])
    np.testing.assert_array_equal(layer.params["b"], [0.5625])

    # the next forward: z = 0.5625 - 0.75 + 0.5625 = 0.375, a = σ(0.375) ≈ 0.5927 — closer to y = 1
    np.testing.assert_allclose(model.predict(X), [[1 / (1 + np.exp(-0.375))]], rtol=1e-15)
