"""BatchNormalization: finite differences, PyTorch as the oracle (train and eval), a hand-worked example.

PyTorch's BatchNorm keeps two conventions of its own: its ``momentum`` is the weight of the *new*
batch (ours is Keras', the weight of the old average: torch momentum = 1 - ours), and it updates the
running variance with the unbiased batch variance ``var·M/(M-1)`` where Keras and glassnet use the
biased one. The tests convert torch's running variance to the biased convention before comparing.
"""

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.layers import BatchNormalization

torch.set_num_threads(1)

RTOL, ATOL = 1e-9, 1e-12
SHAPES = [(8, 3), (4, 6, 3), (3, 4, 5, 3)]  # (N, C) features, (N, T, C) sequences, (N, H, W, C) images


def channels_first(x):
    return x if x.ndim == 2 else np.moveaxis(x, -1, 1)


def channels_last(x):
    return x if x.ndim == 2 else np.moveaxis(x, 1, -1)


def built(shape, seed=0, dtype=np.float64, **kwargs):
    """A layer with random gamma and beta (the init is ones and zeros) and non-trivial moving averages."""
    rng = np.random.default_rng(seed)
    layer = BatchNormalization(**kwargs)
    layer.build(shape[1:], rng, dtype)
    for k in layer.params:
        layer.params[k][...] = rng.uniform(0.5, 1.5, layer.params[k].shape)
    layer.state["moving_mean"][...] = rng.normal(size=shape[-1])
    layer.state["moving_var"][...] = rng.uniform(0.5, 2, size=shape[-1])
    return layer


def inputs(shape, seed=1):
    return np.random.default_rng(seed).normal(2.0, 3.0, shape)


def torch_bn(layer, ndim):
    """torch.nn.BatchNorm1d/2d with our gamma, beta, moving averages, epsilon and (converted) momentum."""
    C = layer.input_shape[-1]
    bn = (torch.nn.BatchNorm1d if ndim <= 3 else torch.nn.BatchNorm2d)(
        C, eps=layer.epsilon, momentum=1 - layer.momentum, affine=True, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(layer.params.get("gamma", np.ones(C))))
        bn.bias.copy_(torch.from_numpy(layer.params.get("beta", np.zeros(C))))
        bn.running_mean.copy_(torch.from_numpy(layer.state["moving_mean"]))
        bn.running_var.copy_(torch.from_numpy(layer.state["moving_var"]))
    return bn


def run_torch(bn, X, dA, training):
    bn.train(training)
    x = torch.tensor(channels_first(X), requires_grad=True)
    a = bn(x)
    a.backward(torch.from_numpy(channels_first(dA)))
    return channels_last(a.detach().numpy()), channels_last(x.grad.numpy()), bn.weight.grad.numpy(), bn.bias.grad.numpy()


def check(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=f"{what}: ours (ACTUAL) vs torch (DESIRED)")


# --- finite differences ------------------------------------------------------------------------------


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gradcheck_batchnorm_training(shape, center, scale):
    layer = built(shape, center=center, scale=scale)
    report = gn.gradcheck(layer, inputs(shape))
    assert set(report.errors) == {"x"} | ({"gamma"} if scale else set()) | ({"beta"} if center else set())
    assert report.passed, str(report)


def test_inference_backward_by_finite_differences():
    # inference is an affine map per channel with fixed statistics: y = gamma·(x - mm)/sqrt(mv + eps) + beta
    shape = (4, 5, 3)
    layer, X = built(shape), inputs(shape)
    R = np.random.default_rng(3).standard_normal(shape)
    layer.forward(X, training=False)
    dX = layer.backward(R)
    h, num = 1e-6, np.empty(X.size)
    for i in range(X.size):
        Xp, Xm = X.copy(), X.copy()
        Xp.flat[i] += h
        Xm.flat[i] -= h
        num[i] = (np.sum(layer.forward(Xp) * R) - np.sum(layer.forward(Xm) * R)) / (2 * h)
    np.testing.assert_allclose(dX.ravel(), num, rtol=1e-6, atol=1e-9)


# --- PyTorch oracle ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batchnorm_training_matches_torch(shape):
    layer = built(shape, momentum=0.9, epsilon=1e-3)
    bn = torch_bn(layer, len(shape))
    M = np.prod(shape[:-1])  # observations per channel
    for step in range(3):  # three batches: the moving averages compound
        X, dA = inputs(shape, seed=step), np.random.default_rng(10 + step).standard_normal(shape)
        var_before, torch_var_before = layer.state["moving_var"].copy(), bn.running_var.detach().numpy().copy()
        a = layer.forward(X, training=True)
        dX = layer.backward(dA)
        bn.weight.grad = bn.bias.grad = None
        a_t, dX_t, dgamma_t, dbeta_t = run_torch(bn, X, dA, training=True)
        check(a, a_t, f"step {step} A")
        check(dX, dX_t, f"step {step} dX")
        check(layer.grads["gamma"], dgamma_t, f"step {step} dgamma")
        check(layer.grads["beta"], dbeta_t, f"step {step} dbeta")
        check(layer.state["moving_mean"], bn.running_mean.numpy(), f"step {step} moving_mean")
        # torch added (1 - 0.9)·var·M/(M-1); the same step with the biased variance is ours
        batch_var_unbiased = (bn.running_var.numpy() - 0.9 * torch_var_before) / 0.1
        check(layer.state["moving_var"], 0.9 * var_before + 0.1 * batch_var_unbiased * (M - 1) / M,
              f"step {step} moving_var")
        bn.running_var.copy_(torch.from_numpy(layer.state["moving_var"]))  # same starting point next step


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batchnorm_inference_matches_torch(shape):
    layer = built(shape)
    bn = torch_bn(layer, len(shape))
    X, dA = inputs(shape), np.random.default_rng(2).standard_normal(shape)
    state = {k: v.copy() for k, v in layer.state.items()}
    a = layer.forward(X, training=False)
    dX = layer.backward(dA)
    a_t, dX_t, dgamma_t, dbeta_t = run_torch(bn, X, dA, training=False)
    check(a, a_t, "A")
    check(dX, dX_t, "dX")
    check(layer.grads["gamma"], dgamma_t, "dgamma")
    check(layer.grads["beta"], dbeta_t, "dbeta")
    for k, v in state.items():  # inference never moves the averages
        np.testing.assert_array_equal(layer.state[k], v)


# --- worked by hand ----------------------------------------------------------------------------------


def test_batchnorm_by_hand():
    # one channel, batch [1, 3]: mu = 2, var = ((1-2)² + (3-2)²)/2 = 1 (biased), x̂ = ∓1/sqrt(1 + 0.001)
    layer = BatchNormalization()
    layer.build((1,), np.random.default_rng(0), np.float64)
    y = layer.forward(np.array([[1.0], [3.0]]), training=True)
    np.testing.assert_allclose(y.ravel(), [-1 / np.sqrt(1.001), 1 / np.sqrt(1.001)])
    # moving_mean = 0.99·0 + 0.01·2 = 0.02;  moving_var = 0.99·1 + 0.01·1 = 1
    np.testing.assert_allclose(layer.state["moving_mean"], [0.02])
    np.testing.assert_allclose(layer.state["moving_var"], [1.0])
    # inference uses those: (1 - 0.02)/sqrt(1 + 0.001)
    np.testing.assert_allclose(layer.forward(np.array([[1.0]]), training=False).ravel(), [0.98 / np.sqrt(1.001)])


def test_batchnorm_float32_stays_float32():
    layer = built((4, 5, 3), dtype=np.float32)
    a = layer.forward(inputs((4, 5, 3)).astype(np.float32), training=True)
    dx = layer.backward(np.ones_like(a))
    assert a.dtype == dx.dtype == layer.state["moving_var"].dtype == layer.grads["gamma"].dtype == np.float32


# --- bad hyperparameters -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,message", [
    ({"momentum": 1.5}, ("Received an invalid value for `momentum`, expected a number in \\[0, 1\\]. "
                         "Received: momentum=1.5")),
    ({"epsilon": 0}, "Received: epsilon=0"),
    ({"axis": "last"}, "Received: axis='last'"),
])
def test_bad_batchnorm_hyperparameters(kwargs, message):
    with pytest.raises(gn.ConfigError, match=message):
        BatchNormalization(**kwargs)


def test_batchnorm_on_another_axis_is_refused_by_name():
    with pytest.raises(gn.ConfigError, match=r'Layer "bn" \(BatchNormalization\) normalizes the last axis only.*'
                                             r"axis=1"):
        BatchNormalization(axis=1, name="bn").build((5, 3), np.random.default_rng(0))
    BatchNormalization(axis=2).build((5, 3), np.random.default_rng(0))  # the last axis, counted with the batch
