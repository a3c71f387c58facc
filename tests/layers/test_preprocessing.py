"""Normalization: Keras 3's formula by hand, finite differences, buffers saved and loaded, adapt."""

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigError, DataError, ShapeError
from glassnet.layers import Dense, Normalization


def built(layer, features, dtype=np.float64):
    layer.build((features,), np.random.default_rng(0), dtype)
    return layer


def test_keras_docstring_examples():
    # Keras' own examples: adapt per feature on the last axis ...
    layer = Normalization(axis=-1)
    layer.adapt(np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]]))
    built(layer, 3, np.float32)
    # mean (1, 8, 5), biased variance (1, 1, 1): (0 - 1)/1 = -1, (7 - 8)/1 = -1, (4 - 5)/1 = -1
    np.testing.assert_array_equal(layer.forward(np.array([[0.0, 7.0, 4.0]], np.float32)), [[-1.0, -1.0, -1.0]])
    # ... and mean/variance given directly: (x - 3) / √2
    layer = built(Normalization(mean=3.0, variance=2.0), 1, np.float32)
    out = layer.forward(np.array([[1.0], [2.0], [3.0]], np.float32))
    np.testing.assert_allclose(out[:, 0], [-1.4142135, -0.70710677, 0.0], rtol=1e-6)


def test_formula_against_keras_by_hand():
    rng = np.random.default_rng(3)
    A = rng.normal(5.0, 3.0, (20, 4))
    A[:, 2] = 7.0  # a constant feature: variance 0, Keras divides by backend.epsilon() = 1e-7
    x = rng.normal(5.0, 3.0, (6, 4))
    layer = Normalization()
    layer.adapt(A)
    built(layer, 4)
    mean, var = A.mean(axis=0), A.var(axis=0)  # Keras' adapt: biased variance
    std = np.maximum(np.sqrt(var), 1e-7)  # ops.maximum(ops.sqrt(variance), backend.epsilon())
    np.testing.assert_allclose(layer.forward(x), (x - mean) / std, rtol=1e-12)
    assert np.allclose(layer.forward(A)[:, 2], 0.0)
    np.testing.assert_allclose(layer.forward(x)[:, 2], (x[:, 2] - 7.0) / 1e-7, rtol=1e-12)
    # invert=True: mean + x · std, Keras 3's de-normalization
    inv = Normalization(invert=True)
    inv.adapt(A)
    built(inv, 4)
    np.testing.assert_allclose(inv.forward(x), mean + x * std, rtol=1e-12)
    np.testing.assert_allclose(inv.forward(layer.forward(x))[:, [0, 1, 3]], x[:, [0, 1, 3]], rtol=1e-12)


@pytest.mark.parametrize("invert", [False, True])
def test_gradcheck_layer(invert):
    rng = np.random.default_rng(0)
    layer = Normalization(mean=rng.normal(size=3), variance=rng.uniform(0.5, 4, 3), invert=invert)
    report = gn.gradcheck(layer, rng.normal(size=(5, 3)))
    assert report.max_error < 1e-6, str(report)
    assert "x" in report.errors


def test_gradcheck_model_with_normalization_inside():
    # not the first layer: its backward carries the gradient to the Dense before it
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    norm = Normalization(mean=[0.5, -1.0], variance=[4.0, 0.25])
    model = gn.Sequential([Dense(2, activation="tanh"), norm, Dense(1)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    report = gn.gradcheck(model, X, y)
    assert report.max_error < 1e-6, str(report)
    assert set(report.errors) == {"W1", "b1", "W2", "b2"}


def test_first_layer_input_gradient_is_skipped():
    X = np.random.default_rng(2).normal(3.0, 2.0, (16, 3))
    norm = Normalization()
    norm.adapt(X)
    model = gn.Sequential([norm, Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    model.build(3)
    assert model.layers[1].need_input_grad is False  # the Dense after it is the first with parameters
    calls = []
    norm.backward = lambda dy: calls.append(dy)
    model.fit(X, X[:, :1], epochs=2, verbose=0)
    assert calls == []


def test_buffers_saved_loaded_and_untrained(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(10.0, 5.0, (32, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    norm, out = Normalization(), Normalization(invert=True)
    norm.adapt(X)
    out.adapt(y)
    model = gn.Sequential([norm, Dense(4, activation="relu"), Dense(1), out], seed=0)
    model.compile(loss="mse", optimizer="adam")
    model.build(3)
    mean = norm.state["mean"].copy()
    model.fit(X, y, epochs=3, batch_size=8, verbose=0)
    np.testing.assert_array_equal(norm.state["mean"], mean)  # a buffer: never trained
    sd = model.state_dict(("buffers",))["buffers"]
    assert set(sd) == {"0/mean", "0/variance", "3/mean", "3/variance"}
    model.save(tmp_path / "m.glassnet")
    loaded = gn.load(tmp_path / "m.glassnet")
    assert isinstance(loaded.layers[0], Normalization) and loaded.layers[3].invert
    np.testing.assert_array_equal(loaded.layers[0].state["variance"], norm.state["variance"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_get_config_round_trip():
    layer = Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True, name="denorm")
    config = layer.get_config()
    assert config == {"axis": -1, "mean": [1.0, 2.0], "variance": [4.0, 9.0], "invert": True, "name": "denorm"}
    again = built(Normalization(**config), 2)
    np.testing.assert_array_equal(again.forward(np.array([[1.0, 1.0]])), [[3.0, 5.0]])


def test_adapt_after_build_updates_buffers_in_place():
    layer = built(Normalization(), 2)
    before = layer.state["mean"]
    np.testing.assert_array_equal(layer.forward(np.array([[3.0, 4.0]])), [[3.0, 4.0]])  # identity until adapted
    layer.adapt(np.array([[1.0, 2.0], [3.0, 6.0]]))
    assert layer.state["mean"] is before
    np.testing.assert_array_equal(layer.state["mean"], [2.0, 4.0])
    with pytest.raises(ShapeError, match="built for 2 features; adapt received data with 3"):
        layer.adapt(np.ones((4, 3)))


def test_bad_arguments():
    with pytest.raises(ConfigError, match="both must be set"):
        Normalization(mean=1.0)
    with pytest.raises(ConfigError, match="variance"):
        Normalization(mean=0.0, variance=-1.0)
    with pytest.raises(DataError, match="NaN or infinite"):
        Normalization().adapt(np.array([[1.0], [np.nan]]))
    with pytest.raises(ShapeError, match=r"expects mean of shape \(3,\)"):
        built(Normalization(mean=[0.0, 1.0], variance=[1.0, 1.0]), 3)
