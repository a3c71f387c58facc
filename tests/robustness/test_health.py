"""Numerical health: divergence names where it started and keeps finite weights; warnings name the layer.

``fit(..., health=True)`` (or ``callbacks=[HealthMonitor(...)]``) warns with GlassnetWarning about
exploding or vanishing gradient norms, dead ReLU units and saturated sigmoid/tanh units; the thresholds
are documented in glassnet/health.py and docs/errors.md.
"""

import re
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.health import HealthMonitor

rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4))
Y_REG = X @ np.array([1.0, -2.0, 0.5, 3.0])
Y_CLS = (X[:, 0] + X[:, 1] > 0).astype(float)


def fit_warnings(model, X, y, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            model.fit(X, y, verbose=0, **kw)
    return [str(w.message) for w in caught if issubclass(w.category, gn.GlassnetWarning)]


# -- divergence -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, lr, where",
    [
        ("float32", 10.0, r"the output of layer 1 \(out\)"),  # weights finite, the product overflows
        ("float64", 10.0, r"the output of layer 1 \(out\)"),
        ("float32", 1e38, r"parameter W of layer 0 \(hidden\)"),  # the update itself overflows float32
    ],
)
def test_divergence_names_where_and_keeps_the_last_finite_weights(dtype, lr, where):
    model = gn.Sequential([gn.layers.Dense(8, activation="relu", name="hidden"), gn.layers.Dense(1, name="out")],
                          seed=0, dtype=dtype)
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=lr))
    model.build(4)
    snapshots = [model.flat_params.copy()]  # the weights before each step

    class Keep(gn.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            snapshots.append(model.flat_params.copy())

    with np.errstate(all="ignore"), pytest.raises(gn.DivergenceError) as info:
        model.fit(X * 100, Y_REG * 100, epochs=200, batch_size=None, verbose=0, callbacks=[Keep()])
    message = str(info.value)
    assert re.search(rf"the loss became (inf|nan) at step {len(snapshots)}; non-finite values first appeared in "
                     + where, message), message
    assert "lower learning rate" in message and "clipnorm=" in message  # the hint
    assert isinstance(info.value, ArithmeticError) and isinstance(info.value, ValueError)
    # the kept weights are the last ones whose loss was finite: those before the update that broke them
    np.testing.assert_array_equal(model.flat_params, snapshots[-2])
    with np.errstate(all="ignore"):
        assert np.isfinite(model.evaluate(X * 100, Y_REG * 100)["loss"])


def test_divergence_in_the_output_names_the_layer():
    # weights stay finite but the output overflows float32: the message points at the layer's output
    model = gn.Sequential([gn.layers.Dense(1, name="big")], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.build(4)
    model.set_weights([np.full((4, 1), 3e38, np.float32), np.zeros(1, np.float32)])
    with np.errstate(all="ignore"), pytest.raises(gn.DivergenceError, match=r"output of layer 0 \(big\)"):
        model.fit(np.ones((2, 4)), np.zeros(2), epochs=1, verbose=0)


# -- health warnings ------------------------------------------------------------------------------------------


def test_a_healthy_run_warns_nothing():
    model = gn.Sequential([gn.layers.Dense(16, activation="relu"), gn.layers.Dense(8, activation="tanh"),
                           gn.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(0.01))
    assert fit_warnings(model, X, Y_CLS, epochs=30, batch_size=16, health=True) == []


def test_exploding_gradients_name_the_layer():
    model = gn.Sequential([gn.layers.Dense(8, activation="relu", name="wide"), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(1e-9))
    found = fit_warnings(model, X * 1e3, Y_REG * 1e3, epochs=1, health=True)
    assert any(re.search(r"Exploding gradients in layer 0 \(wide\): gradient norm \S+ at epoch 1, batch 0 "
                         r"exceeds max_grad_norm=1000", m) for m in found), found
    assert len([m for m in found if "layer 0 (wide)" in m and "Exploding" in m]) == 1  # once per layer and fit


def test_vanishing_gradients_in_a_deep_sigmoid_stack():
    layers = [gn.layers.Dense(8, activation="sigmoid", kernel_initializer="uniform") for _ in range(8)]
    model = gn.Sequential(layers + [gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    monitor = HealthMonitor()
    found = fit_warnings(model, X, Y_REG, epochs=1, callbacks=[monitor])
    assert any(m.startswith("Vanishing gradients in layer 0 (dense)") for m in found), found
    assert {e["kind"] for e in monitor.events} >= {"vanishing"}


def test_dead_relus_are_counted_over_the_epoch():
    model = gn.Sequential([gn.layers.Dense(10, activation="relu", name="dead"), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(1e-6))
    model.build(4)
    W, b, W2, b2 = model.get_weights()
    b[:7] = -100.0  # 7 of 10 units never fire
    model.set_weights([W, b, W2, b2])
    found = fit_warnings(model, X, Y_REG, epochs=2, batch_size=8, health=True)
    assert any(m.startswith("Dead ReLUs in layer 0 (dead): 70% of its 10 units output 0 for every sample of "
                            "epoch 1") for m in found), found
    quiet = fit_warnings(model, X, Y_REG, epochs=1, callbacks=[HealthMonitor(dead_fraction=0.8)])
    assert not any("Dead ReLUs" in m for m in quiet)


def test_saturated_hidden_sigmoids_but_not_a_confident_output():
    model = gn.Sequential([gn.layers.Dense(6, activation="sigmoid", name="sat"),
                           gn.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(1e-6))
    model.build(4)
    W, b, W2, b2 = model.get_weights()
    model.set_weights([W * 200, b, W2 * 200, b2])  # hidden and output pinned at 0 or 1
    found = fit_warnings(model, X, Y_CLS, epochs=1, health=True)
    assert any(re.match(r"Saturated units in layer 0 \(sat\): \d+% of its outputs in epoch 1 lie within 0.01", m)
               for m in found), found
    assert not any("layer 1" in m for m in found if "Saturated" in m)


def test_health_monitor_inside_residual_blocks_and_arguments():
    block = gn.layers.Residual(main=[gn.layers.Dense(4, activation="relu"), gn.layers.Dense(4)])
    model = gn.Sequential([gn.layers.Dense(4), block, gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    assert fit_warnings(model, X, Y_REG, epochs=2, batch_size=16, health=True) == []
    for kw in [{"max_grad_norm": 0}, {"vanishing_ratio": 1.5}, {"dead_fraction": -0.1}, {"every": 0}]:
        with pytest.raises(gn.ConfigError):
            HealthMonitor(**kw)
    assert gn.callbacks.HealthMonitor is HealthMonitor
