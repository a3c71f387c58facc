"""Conv1D and Conv2D: finite differences, PyTorch as the oracle, the naive twins, a hand-worked example."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glassnet as gn
from glassnet.layers import Conv1D, Conv2D
from glassnet.layers.conv import (
    conv1d_naive_backward,
    conv1d_naive_forward,
    conv2d_naive_backward,
    conv2d_naive_forward,
)

torch.set_num_threads(1)

RTOL, ATOL = 1e-6, 1e-12
TORCH_ACTIVATIONS = {None: lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}

# (padding, strides, dilation_rate): every padding with plain, strided and dilated kernels
CASES_1D = [(p, s, d) for p in ("valid", "same", "causal") for s, d in ((1, 1), (2, 1), (1, 2), (3, 2))]
CASES_2D = [(p, s, d) for p in ("valid", "same") for s, d in (((1, 1), (1, 1)), ((2, 1), (1, 1)),
                                                              ((1, 1), (2, 1)), ((2, 3), (1, 2)))]


def assert_ours_vs_torch(ours, theirs, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"{what}: ours (ACTUAL) vs torch (DESIRED)")


def inputs(shape, seed=1):
    """Random inputs kept 0.05 away from 0 (so no pre-activation sits on a ReLU kink by chance)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(x >= 0, x + 0.05, x - 0.05)


def built(layer, input_shape, seed=0, dtype=np.float64):
    """``layer`` built with random weights and (unlike the zero init) a random bias."""
    rng = np.random.default_rng(seed)
    layer.build(input_shape, rng, dtype)
    if layer.use_bias:
        layer.params["b"][...] = rng.standard_normal(layer.filters)
    return layer


def tf_same_pads(n, k, s, d):
    """TensorFlow's "same" padding, written out independently of glassnet: the odd cell goes after."""
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def torch_conv(layer, X, dA, activation):
    """PyTorch's A, dW, db and dX for our weights (channels first there, so every array is transposed)."""
    rank = layer.rank
    W = layer.params["W"]
    w = torch.tensor(W.transpose(2, 1, 0) if rank == 1 else W.transpose(3, 2, 0, 1), requires_grad=True)
    b = torch.tensor(layer.params["b"], requires_grad=True) if layer.use_bias else None
    x = torch.tensor(X, requires_grad=True)
    xt = x.permute(0, 2, 1) if rank == 1 else x.permute(0, 3, 1, 2)
    pads = []  # F.pad takes (last axis before, after, previous axis before, after, ...)
    for axis in reversed(range(rank)):
        k, s, d, n = layer.kernel_size[axis], layer.strides[axis], layer.dilation_rate[axis], X.shape[1 + axis]
        pads += {"valid": (0, 0), "same": tf_same_pads(n, k, s, d), "causal": ((k - 1) * d, 0)}[layer.padding]
    conv = F.conv1d if rank == 1 else F.conv2d
    z = conv(F.pad(xt, pads), w, b, stride=layer.strides, dilation=layer.dilation_rate)
    z = z.permute(0, 2, 1) if rank == 1 else z.permute(0, 2, 3, 1)
    a = TORCH_ACTIVATIONS[activation](z)
    a.backward(torch.from_numpy(dA))
    dW = w.grad.numpy().transpose(2, 1, 0) if rank == 1 else w.grad.numpy().transpose(2, 3, 1, 0)
    return a.detach().numpy(), dW, (b.grad.numpy() if b is not None else None), x.grad.numpy()


# --- finite differences ------------------------------------------------------------------------------


@pytest.mark.parametrize("padding,strides,dilation", CASES_1D)
def test_gradcheck_conv1d(padding, strides, dilation):
    layer = built(Conv1D(3, 3, strides=strides, padding=padding, dilation_rate=dilation, activation="tanh"), (9, 2))
    report = gn.gradcheck(layer, inputs((2, 9, 2)))
    assert set(report.errors) == {"W", "b", "x"}
    assert report.passed, str(report)


@pytest.mark.parametrize("padding,strides,dilation", CASES_2D)
def test_gradcheck_conv2d(padding, strides, dilation):
    layer = built(Conv2D(3, (3, 2), strides=strides, padding=padding, dilation_rate=dilation,
                         activation="tanh"), (7, 6, 2))
    report = gn.gradcheck(layer, inputs((2, 7, 6, 2)))
    assert report.passed, str(report)


def test_gradcheck_conv_without_bias():
    report = gn.gradcheck(built(Conv2D(2, 2, use_bias=False), (4, 4, 3)), inputs((2, 4, 4, 3)))
    assert set(report.errors) == {"W", "x"} and report.passed, str(report)


# --- PyTorch oracle ----------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("padding,strides,dilation", CASES_1D)
def test_conv1d_matches_torch(padding, strides, dilation, activation):
    layer = built(Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation, activation=activation),
                  (10, 3))
    X = inputs((2, 10, 3))
    a = layer.forward(X, training=True)
    dA = np.random.default_rng(2).standard_normal(a.shape)
    dX = layer.backward(dA)
    a_t, dW_t, db_t, dX_t = torch_conv(layer, X, dA, activation)
    assert a.shape == a_t.shape == (2,) + layer.output_shape
    assert_ours_vs_torch(a, a_t, "A")
    assert_ours_vs_torch(layer.grads["W"], dW_t, "dW")
    assert_ours_vs_torch(layer.grads["b"], db_t, "db")
    assert_ours_vs_torch(dX, dX_t, "dX")


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("padding,strides,dilation", CASES_2D)
def test_conv2d_matches_torch(padding, strides, dilation, activation):
    layer = built(Conv2D(4, (3, 2), strides=strides, padding=padding, dilation_rate=dilation,
                         activation=activation), (8, 7, 3))
    X = inputs((2, 8, 7, 3))
    a = layer.forward(X, training=True)
    dA = np.random.default_rng(2).standard_normal(a.shape)
    dX = layer.backward(dA)
    a_t, dW_t, db_t, dX_t = torch_conv(layer, X, dA, activation)
    assert a.shape == a_t.shape
    assert_ours_vs_torch(a, a_t, "A")
    assert_ours_vs_torch(layer.grads["W"], dW_t, "dW")
    assert_ours_vs_torch(layer.grads["b"], db_t, "db")
    assert_ours_vs_torch(dX, dX_t, "dX")


def test_same_padding_matches_torchs_own_same():
    # for stride 1 PyTorch pads "same" itself (the odd cell after, as TensorFlow); no padding from us
    layer = built(Conv1D(2, 4, padding="same", dilation_rate=2), (9, 3))
    X = inputs((2, 9, 3))
    w = torch.tensor(layer.params["W"].transpose(2, 1, 0))
    z_t = F.conv1d(torch.tensor(X).permute(0, 2, 1), w, torch.tensor(layer.params["b"]), padding="same", dilation=2)
    assert_ours_vs_torch(layer.forward(X), z_t.permute(0, 2, 1).numpy(), "Z")


def test_float32_conv_matches_torch_and_stays_float32():
    layer = built(Conv2D(4, 3, padding="same", activation="relu"), (6, 6, 3), dtype=np.float32)
    X = inputs((2, 6, 6, 3)).astype(np.float32)
    a = layer.forward(X, training=True)
    dA = np.random.default_rng(2).standard_normal(a.shape).astype(np.float32)
    dX = layer.backward(dA)
    assert a.dtype == dX.dtype == layer.grads["W"].dtype == np.float32
    a_t, dW_t, _, dX_t = torch_conv(layer, X, dA, "relu")
    assert_ours_vs_torch(a, a_t, "A", 1e-5, 1e-5)
    assert_ours_vs_torch(layer.grads["W"], dW_t, "dW", 1e-5, 1e-5)
    assert_ours_vs_torch(dX, dX_t, "dX", 1e-5, 1e-5)


# --- fast kernels vs their naive twins ---------------------------------------------------------------


@pytest.mark.parametrize("padding,strides,dilation", CASES_1D)
def test_conv1d_fast_equals_naive(padding, strides, dilation):
    layer = built(Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation), (11, 3))
    X = inputs((2, 11, 3))
    z = layer.forward(X, training=True)
    dz = np.random.default_rng(3).standard_normal(z.shape)
    dX = layer.backward(dz)
    W, b, pads = layer.params["W"], layer.params["b"], layer.pads[0]
    np.testing.assert_allclose(z, conv1d_naive_forward(X, W, b, strides, dilation, pads), rtol=1e-12, atol=1e-12)
    dX_n, dW_n, db_n = conv1d_naive_backward(dz, X, W, strides, dilation, pads)
    for ours, naive, what in ((dX, dX_n, "dX"), (layer.grads["W"], dW_n, "dW"), (layer.grads["b"], db_n, "db")):
        np.testing.assert_allclose(ours, naive, rtol=1e-12, atol=1e-12, err_msg=f"{what}: fast vs naive")


@pytest.mark.parametrize("padding,strides,dilation", CASES_2D)
def test_conv2d_fast_equals_naive(padding, strides, dilation):
    layer = built(Conv2D(4, (3, 2), strides=strides, padding=padding, dilation_rate=dilation), (7, 8, 3))
    X = inputs((2, 7, 8, 3))
    z = layer.forward(X, training=True)
    dz = np.random.default_rng(3).standard_normal(z.shape)
    dX = layer.backward(dz)
    W, b = layer.params["W"], layer.params["b"]
    s, d, pads = layer.strides, layer.dilation_rate, layer.pads
    np.testing.assert_allclose(z, conv2d_naive_forward(X, W, b, s, d, pads), rtol=1e-12, atol=1e-12)
    dX_n, dW_n, db_n = conv2d_naive_backward(dz, X, W, s, d, pads)
    for ours, naive, what in ((dX, dX_n, "dX"), (layer.grads["W"], dW_n, "dW"), (layer.grads["b"], db_n, "db")):
        np.testing.assert_allclose(ours, naive, rtol=1e-12, atol=1e-12, err_msg=f"{what}: fast vs naive")


# --- worked by hand ----------------------------------------------------------------------------------


def test_conv1d_by_hand():
    # x = 1 2 3 4 (one channel), W = [2, 1], b = 0.5:  z[t] = 2·x[t] + x[t+1] + 0.5
    layer = Conv1D(1, 2)
    layer.build((4, 1), np.random.default_rng(0), np.float64)
    layer.params["W"][...] = np.array([2.0, 1.0]).reshape(2, 1, 1)
    layer.params["b"][...] = 0.5
    z = layer.forward(np.array([1.0, 2, 3, 4]).reshape(1, 4, 1))
    np.testing.assert_array_equal(z.ravel(), [4.5, 7.5, 10.5])  # 2+2+.5, 4+3+.5, 6+4+.5
    dx = layer.backward(np.ones((1, 3, 1)))
    np.testing.assert_array_equal(layer.grads["W"].ravel(), [6, 9])  # Σ x[0:3], Σ x[1:4]
    np.testing.assert_array_equal(layer.grads["b"], [3])  # three outputs
    np.testing.assert_array_equal(dx.ravel(), [2, 3, 3, 1])  # x[0] meets W[0] once, x[3] meets W[1] once


def test_output_shapes_follow_keras():
    rng = np.random.default_rng(0)
    assert Conv1D(8, 5).build((20, 3), rng) == (16, 8)
    assert Conv1D(8, 5, strides=2, padding="same").build((20, 3), rng) == (10, 8)
    assert Conv1D(8, 3, padding="causal", dilation_rate=4).build((20, 3), rng) == (20, 8)
    assert Conv2D(4, (3, 2), strides=(2, 1)).build((9, 9, 1), rng) == (4, 8, 4)
    assert Conv2D(4, 3, strides=2, padding="same").build((9, 8, 1), rng) == (5, 4, 4)


def test_causal_output_never_sees_the_future():
    layer = built(Conv1D(2, 3, padding="causal"), (8, 1))
    x = inputs((1, 8, 1))
    later = x.copy()
    later[:, 5:] += 10.0
    np.testing.assert_array_equal(layer.forward(x)[:, :5], layer.forward(later)[:, :5])


# --- bad hyperparameters and inputs ------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,message", [
    ({"filters": 0, "kernel_size": 3}, ("Received an invalid value for `filters`, expected a positive integer. "
                                        "Received: filters=0")),
    ({"filters": 2, "kernel_size": 0}, "Received: kernel_size=0"),
    ({"filters": 2, "kernel_size": 3, "strides": -1}, "Received: strides=-1"),
    ({"filters": 2, "kernel_size": 3, "dilation_rate": 0}, "Received: dilation_rate=0"),
    ({"filters": 2, "kernel_size": 3, "padding": "full"}, "`padding`, expected \"valid\" or \"same\" or \"causal\""),
])
def test_bad_conv1d_hyperparameters(kwargs, message):
    with pytest.raises(gn.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Conv1D(**kwargs)


def test_bad_conv2d_hyperparameters():
    with pytest.raises(gn.ConfigError, match="a tuple of 2 positive integers"):
        Conv2D(2, (3, 3, 3))
    with pytest.raises(gn.ConfigError, match="Received: padding='causal'"):
        Conv2D(2, 3, padding="causal")


def test_kernel_larger_than_input_is_a_shape_error_naming_the_layer():
    with pytest.raises(gn.ShapeError, match=r'Layer "stem" \(Conv1D\).*kernel_size=\(7,\).*\(None, 5, 2\)'):
        Conv1D(4, 7, name="stem").build((5, 2), np.random.default_rng(0))
    Conv1D(4, 7, padding="same").build((5, 2), np.random.default_rng(0))  # padding makes it fit


@pytest.mark.parametrize("layer,shape,expected", [
    (Conv1D(4, 3), (10,), (r'Input 0 of layer "conv1d" \(Conv1D\) is incompatible with the layer: expected '
                           r"ndim=3 \(N, T, C\), found ndim=2. Full shape received: \(None, 10\)")),
    (Conv2D(4, 3), (10, 3), r'layer "conv2d" \(Conv2D\).*expected ndim=4 \(N, H, W, C\), found ndim=3'),
])
def test_wrong_input_rank_is_a_shape_error(layer, shape, expected):
    with pytest.raises(gn.ShapeError, match=expected):
        layer.build(shape, np.random.default_rng(0))


def test_wrong_input_in_forward_is_a_shape_error():
    layer = built(Conv1D(2, 3), (8, 2))
    with pytest.raises(gn.ShapeError, match=r"expected ndim=3.*found ndim=2"):
        layer.forward(np.ones((4, 8)))
    with pytest.raises(gn.ShapeError, match=r"built for input shape \(None, 8, 2\); received \(None, 8, 3\)"):
        layer.forward(np.ones((4, 8, 3)))


# --- in a model --------------------------------------------------------------------------------------


def toy_sequences(n=48, T=16, seed=0):
    """Class 1 holds a bump somewhere in the series, class 0 is noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 0.3, size=(n, T, 1))
    y = np.arange(n) % 2
    for i in np.flatnonzero(y):
        t = rng.integers(0, T - 4)
        X[i, t:t + 4, 0] += 1.5
    return X, y


def test_conv_model_trains_and_round_trips(tmp_path):
    X, y = toy_sequences()
    model = gn.Sequential([Conv1D(6, 3, padding="same", activation="relu"), gn.layers.MaxPool1D(2),
                           Conv1D(6, 3, activation="relu", kernel_regularizer=gn.regularizers.L2(1e-4)),
                           gn.layers.GlobalAveragePooling1D(),
                           gn.layers.Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(0.02), metrics=["accuracy"])
    history = model.fit(X, y, epochs=30, batch_size=16, verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.5 * loss[0], loss
    model.save(tmp_path / "conv.glassnet")
    again = gn.load(tmp_path / "conv.glassnet")
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert [la.get_config() for la in again.layers] == [la.get_config() for la in model.layers]


def test_conv2d_model_gradcheck_and_fused_output():
    # a Conv2D is the last layer: the sigmoid + binary cross-entropy gradient is fused through backward_z
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3, 5, 5, 2)), (rng.random((3, 3, 3, 1)) > 0.5).astype(float)
    model = gn.Sequential([Conv2D(3, 2, activation="tanh"), Conv2D(1, 2, activation="sigmoid")], seed=0,
                          dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    model.build(X.shape[1:])
    assert model._fused_last() is model.layers[-1]
    report = gn.gradcheck(model, X, y)
    assert report.passed, str(report)
