"""The fit loop's bookkeeping: what fit and evaluate report, whatever the batch size."""

import numpy as np
import pytest

import glassnet as gn

rng = np.random.default_rng(5)
X = rng.normal(size=(12, 4))
Y = rng.uniform(size=(12, 1))


def tutorial(batch_lr=0.1):
    model = gn.Sequential([gn.layers.Dense(3, activation="sigmoid"), gn.layers.Dense(1, activation="sigmoid")],
                          seed=0, dtype="float64")
    return model.compile(loss="half_sse", optimizer=gn.optimizers.SGD(batch_lr))


@pytest.mark.parametrize("batch_size", [None, 6, 5, 1])
def test_half_sse_is_reported_as_the_sum_over_all_rows_whatever_the_batch_size(batch_size):
    model = tutorial()
    model.build(4)
    out = model.predict(X)
    expected = 0.5 * np.sum((Y - out) ** 2)  # the tutorial's E = y - output, halved and summed
    assert model.evaluate(X, Y, batch_size=batch_size)["loss"] == pytest.approx(expected, rel=1e-12)


def test_half_sse_full_batch_fit_reports_the_loss_before_its_step_and_the_step_is_unchanged():
    model = tutorial()
    model.build(4)
    before = model.evaluate(X, Y)["loss"]
    W = [w.copy() for w in model.get_weights()]
    history = model.fit(X, Y, epochs=1, batch_size=None, verbose=0)
    assert history.history["loss"][0] == pytest.approx(before, rel=1e-12)
    # the update is the tutorial's: W2 += lr · A1ᵀ·(E · slope), with the summed (not averaged) error
    A1 = 1 / (1 + np.exp(-(X @ W[0] + W[1])))
    out = 1 / (1 + np.exp(-(A1 @ W[2] + W[3])))
    d_output = (Y - out) * out * (1 - out)
    np.testing.assert_allclose(model.get_weights()[2], W[2] + 0.1 * A1.T @ d_output, rtol=1e-12)


def test_mean_losses_are_still_reported_as_the_mean_over_rows():
    model = gn.Sequential([gn.layers.Dense(1)], seed=0, dtype="float64").compile(loss="mse")
    model.build(4)
    expected = np.mean((model.predict(X) - Y) ** 2)
    for batch_size in (None, 5, 1):
        assert model.evaluate(X, Y, batch_size=batch_size)["loss"] == pytest.approx(expected, rel=1e-12)
