"""glassnet.gradcheck itself: a whole model, training mode, regularizers, the report API, and that it can fail."""

import copy

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.errors import ConfigError, NotBuiltError
from glassnet.gradcheck import GradcheckReport
from glassnet.layers import BatchNormalization, Dense, Dropout, LeakyReLU, Residual, Sigmoid, Softmax
from glassnet.losses import MeanSquaredError
from glassnet.regularizers import L1, L1L2, L2

torch.set_num_threads(1)


def deep_model(dtype="float64", loss="categorical_crossentropy"):
    """Every kind of layer in one stack, ending in a fused softmax + cross-entropy."""
    model = gn.Sequential([
        Dense(6, activation="tanh"),
        Dense(5, activation="elu"),
        Dropout(0.3),
        Dense(5, use_bias=False),
        LeakyReLU(0.1),
        Dense(4, activation="sigmoid"),
        Dense(3, activation="relu"),
        Dense(3),
        Softmax(),
    ], seed=0, dtype=dtype)
    model.compile(loss=loss, optimizer="sgd")
    return model


def classification_data(n=7, n_in=4, k=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), np.eye(k)[rng.integers(0, k, n)]


# --- a whole model --------------------------------------------------------------------------------------


def test_gradcheck_whole_multilayer_model():
    X, y = classification_data()
    report = gn.gradcheck(deep_model(), X, y)
    # layers are numbered from 1 in order of parameters; layers without parameters take no number
    assert list(report.errors) == ["W1", "b1", "W2", "b2", "W3", "W4", "b4", "W5", "b5", "W6", "b6"]
    assert report.passed, str(report)


def test_gradcheck_float32_model_is_checked_in_float64_and_left_untouched():
    X, y = classification_data()
    model = deep_model(dtype="float32")
    model.build(4)
    before = model.get_weights()
    report = gn.gradcheck(model, X, y)
    assert report.passed, str(report)
    assert model.dtype == np.float32
    for w0, w in zip(before, model.get_weights()):
        assert w.dtype == np.float32
        np.testing.assert_array_equal(w0, w)


# --- training mode: batch statistics and a fixed dropout mask ---------------------------------------------


def batchnorm_model(middle=None):
    """Dense tanh -> BatchNormalization -> Dense, fitted a little so the moving statistics are not 0 and 1.

    The tanh before the batch norm matters: without it the norm's mean subtraction would cancel b1, whose
    gradient would be 0 in training mode and any error in it would be invisible.
    """
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    model = gn.Sequential([Dense(4, activation="tanh"), middle or BatchNormalization(momentum=0.5), Dense(2)],
                          seed=0, dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(0.05))
    model.fit(X, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    return model, X, y


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_gradcheck_batchnorm_model_in_both_modes(training):
    model, X, y = batchnorm_model()
    report = gn.gradcheck(model, X, y, training=training)
    assert list(report.errors) == ["W1", "b1", "gamma2", "beta2", "W3", "b3"]
    assert report.passed, str(report)
    assert ("training mode" if training else "inference mode") in report.subject


def test_training_mode_is_the_default_for_a_model():
    # the two modes differentiate different functions (batch statistics vs the moving averages), so the
    # analytic gradients differ; the default must be the one fit uses
    model, X, y = batchnorm_model()
    default, training = gn.gradcheck(model, X, y), gn.gradcheck(model, X, y, training=True)
    assert default.subject == training.subject and default.errors == training.errors
    dW1 = {}
    for mode in (True, False):
        m = copy.deepcopy(model)
        a = m.forward(X, training=mode)
        m.backward(a, y)
        dW1[mode] = m.layers[0].grads["W"].copy()
    assert not np.allclose(dW1[True], dW1[False], rtol=1e-3)


def test_gradcheck_leaves_weights_and_moving_statistics_alone():
    model, X, y = batchnorm_model()
    weights = [w.copy() for w in model.get_weights()]
    state = {k: v.copy() for k, v in model.layers[1].state.items()}
    assert not np.allclose(state["moving_mean"], 0) and not np.allclose(state["moving_var"], 1)
    for training in (True, False):
        gn.gradcheck(model, X, y, training=training)
    for w0, w in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(w0, w)
    for k, v in model.layers[1].state.items():
        np.testing.assert_array_equal(state[k], v, err_msg=k)


def test_broken_batchnorm_training_backward_is_detected(monkeypatch):
    # dx of the training-mode backward doubled: wrong gradients for everything before the batch norm.
    # In inference mode the batch norm's training branch never runs, so only a training-mode check sees it.
    original = BatchNormalization.backward

    def doubled_in_training(self, dy):
        dx = original(self, dy)
        return 2 * dx if self.training else dx

    monkeypatch.setattr(BatchNormalization, "backward", doubled_in_training)
    model, X, y = batchnorm_model()
    report = gn.gradcheck(model, X, y)  # the default: training mode
    assert not report.passed, str(report)
    assert report.errors["W1"] > 0.4 and report.errors["b1"] > 0.4, str(report)
    assert max(report.errors[k] for k in ("gamma2", "beta2", "W3", "b3")) < 1e-6, str(report)
    assert not gn.gradcheck(model, X, y, training=True).passed
    assert gn.gradcheck(model, X, y, training=False).passed  # the blind spot this option closes
    layer_report = gn.gradcheck(BatchNormalization(), X)
    assert layer_report.errors["x"] > 0.4, str(layer_report)


def test_batchnorm_inside_a_residual_block_in_training_mode(monkeypatch):
    # the statistics and the generators of sublayers are found too
    block = Residual(main=[Dense(3, activation="tanh"), BatchNormalization(momentum=0.5), Dropout(0.3)],
                     shortcut=[Dense(3)])
    model, X, y = batchnorm_model(middle=block)
    before = {k: v.copy() for k, v in model.layers[1].state.items()}
    report = gn.gradcheck(model, X, y, training=True)
    assert report.passed, str(report)
    for k, v in model.layers[1].state.items():
        np.testing.assert_array_equal(before[k], v, err_msg=k)
    original = BatchNormalization.backward
    monkeypatch.setattr(BatchNormalization, "backward",
                        lambda self, dy: 2 * original(self, dy) if self.training else original(self, dy))
    assert not gn.gradcheck(model, X, y, training=True).passed


def test_dropout_in_training_mode_uses_one_fixed_mask(monkeypatch):
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    model = gn.Sequential([Dense(6, activation="tanh"), Dropout(0.5), Dense(2)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    report = gn.gradcheck(model, X, y, training=True)
    assert report.passed, str(report)
    # a backward that forgets the mask is right in inference mode only: the mask really was applied
    monkeypatch.setattr(Dropout, "backward", lambda self, dy: dy)
    assert not gn.gradcheck(model, X, y, training=True).passed
    assert gn.gradcheck(model, X, y, training=False).passed


def test_training_must_be_a_bool():
    model, X, y = batchnorm_model()
    with pytest.raises(ConfigError, match=r"`training`, expected True or False. Received: training='yes'"):
        gn.gradcheck(model, X, y, training="yes")


# --- regularizers inside a model -------------------------------------------------------------------------

REGULARIZED = {
    "l1": {"kernel_regularizer": L1(0.05), "bias_regularizer": L1(0.02)},
    "l2": {"kernel_regularizer": L2(0.05), "bias_regularizer": L2(0.02)},
    "l1l2": {"kernel_regularizer": L1L2(0.03, 0.04)},
    "names": {"kernel_regularizer": "l1", "bias_regularizer": "l2"},
}


def regularized_model(name):
    model = gn.Sequential([Dense(4, activation="tanh", **REGULARIZED[name]), Dense(2, **REGULARIZED[name])],
                          seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    model.build(3)
    rng = np.random.default_rng(4)
    for layer in model.layers:  # nonzero biases, kept away from the kink of |b| at 0
        b = rng.standard_normal(layer.params["b"].shape)
        layer.params["b"][...] = np.where(b >= 0, b + 0.1, b - 0.1)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    return model, X, y


@pytest.mark.parametrize("name", list(REGULARIZED))
def test_gradcheck_regularized_model(name):
    model, X, y = regularized_model(name)
    report = gn.gradcheck(model, X, y)
    assert set(report.errors) == {"W1", "b1", "W2", "b2"}
    assert report.passed, str(report)


@pytest.mark.parametrize("name", list(REGULARIZED))
def test_regularized_loss_and_gradients_match_torch(name):
    # Keras' scale: penalty l1·Σ|w| + l2·Σw², added to the data loss
    model, X, y = regularized_model(name)
    a = model.forward(X, training=True)
    ours = model.compute_loss(a, y)
    model.backward(a, y)

    params, penalty = [], 0
    for layer in model.layers:
        for k in ("W", "b"):
            p = torch.tensor(layer.params[k].copy(), requires_grad=True)
            params.append((layer, k, p))
            reg = layer.regularizers.get(k)
            if reg is not None:
                penalty = penalty + reg.l1 * p.abs().sum() + reg.l2 * (p * p).sum()
    (_, _, W1), (_, _, b1), (_, _, W2), (_, _, b2) = params
    out = torch.tanh(torch.from_numpy(X) @ W1 + b1) @ W2 + b2
    theirs = torch.nn.functional.mse_loss(out, torch.from_numpy(y)) + penalty
    theirs.backward()

    np.testing.assert_allclose(ours, theirs.item(), rtol=1e-6, err_msg="loss: ours vs torch")
    for i, (layer, k, p) in enumerate(params):
        np.testing.assert_allclose(layer.grads[k], p.grad.numpy(), rtol=1e-6, atol=1e-12,
                                   err_msg=f"d{k}{i // 2 + 1}: ours (ACTUAL) vs torch (DESIRED)")


# --- the report ------------------------------------------------------------------------------------------


def test_report_api():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
    model = gn.Sequential([Dense(4, activation="tanh"), Dense(1)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    report = gn.gradcheck(model, X, y)
    assert isinstance(report, GradcheckReport)
    assert list(report.errors) == ["W1", "b1", "W2", "b2"]
    assert report.checked == {"W1": 12, "b1": 4, "W2": 4, "b2": 1}
    assert all(isinstance(v, float) and 0 <= v < 1e-6 for v in report.errors.values())
    assert report.max_error == max(report.errors.values())
    assert report.passed is True and report.tol == 1e-6  # an attribute, not a method
    assert gn.gradcheck(model, X, y, tol=2 * report.max_error).passed
    assert not gn.gradcheck(model, X, y, tol=report.max_error).passed  # strict: an error equal to tol fails
    with pytest.raises(ConfigError, match="tol"):
        gn.gradcheck(model, X, y, tol=0)
    d = report.to_dict()
    assert d["errors"] == report.errors and d["max_error"] == report.max_error
    text = str(report)
    assert all(name in text for name in report.errors)


def test_max_checks_samples_large_arrays():
    layer = Dense(50)
    layer.build((40,), np.random.default_rng(0), np.float64)
    report = gn.gradcheck(layer, np.random.default_rng(1).standard_normal((3, 40)), max_checks=25)
    assert report.checked == {"W": 25, "b": 25, "x": 25}
    assert report.passed, str(report)


def test_bad_subjects_are_refused():
    with pytest.raises(ConfigError, match="Sequential, a Layer or a Loss"):
        gn.gradcheck("mse", np.zeros((2, 2)), np.zeros((2, 2)))
    model = gn.Sequential([Dense(1)], seed=0)
    with pytest.raises(NotBuiltError, match="compile"):
        gn.gradcheck(model, np.zeros((2, 2)), np.zeros((2, 1)))


# --- the checker can fail ------------------------------------------------------------------------------


def test_broken_dense_backward_is_detected(monkeypatch):
    original = Dense.backward_z

    def backward_z_with_wrong_dW(self, dz):
        dx = original(self, dz)
        self.grads["W"] *= 1.01  # a 1% error in dW only
        return dx

    monkeypatch.setattr(Dense, "backward_z", backward_z_with_wrong_dW)
    X, y = classification_data()
    report = gn.gradcheck(deep_model(), X, y)
    assert not report.passed
    assert report.errors["W1"] > 1e-3 and report.errors["b1"] < 1e-6, str(report)


def test_broken_activation_slope_is_detected(monkeypatch):
    monkeypatch.setattr(Sigmoid, "slope", lambda self, z, a: a * (1 - a) ** 2)  # not σ'
    report = gn.gradcheck(Sigmoid(), np.random.default_rng(0).standard_normal((4, 3)))
    assert not report.passed
    assert report.errors["x"] > 1e-2, str(report)


def test_broken_loss_gradient_is_detected(monkeypatch):
    monkeypatch.setattr(MeanSquaredError, "backward", lambda self, a, y: (a - y) / a.size)  # lost the 2
    rng = np.random.default_rng(0)
    report = gn.gradcheck(MeanSquaredError(), rng.standard_normal((4, 2)), rng.standard_normal((4, 2)))
    assert not report.passed
    assert report.errors["y_pred"] == pytest.approx(0.5, rel=1e-6), str(report)


def test_broken_fused_gradient_is_detected(monkeypatch):
    # the fused softmax + cross-entropy gradient, wrongly averaged over elements instead of rows
    from glassnet.losses import CategoricalCrossEntropy

    monkeypatch.setattr(CategoricalCrossEntropy, "fused_backward", lambda self, a, y: (a - y) / a.size)
    X, y = classification_data()
    report = gn.gradcheck(deep_model(), X, y)
    assert not report.passed
    assert report.max_error > 0.5, str(report)


def test_a_bias_before_batch_norm_has_gradient_zero_and_passes(monkeypatch):
    # its true gradient is 0 in training mode: the finite difference sees only rounding noise (~1e-10)
    X = np.random.default_rng(0).normal(size=(8, 3))
    model = gn.Sequential([gn.layers.Dense(4), gn.layers.BatchNormalization(), gn.layers.Dense(1)], seed=0,
                          dtype="float64").compile(loss="mse", optimizer="sgd")
    report = gn.gradcheck(model, X, X @ [1.0, 2.0, 3.0])
    assert report.errors["b1"] < 1e-6 and report.passed, str(report)
    backward = gn.layers.Dense.backward

    def doubled_dW(self, dy):  # a wrong gradient is still caught
        dx = backward(self, dy)
        self.grads["W"] *= 2
        return dx

    monkeypatch.setattr(gn.layers.Dense, "backward", doubled_dW)
    assert gn.gradcheck(model, X, X @ [1.0, 2.0, 3.0]).errors["W1"] > 0.1
