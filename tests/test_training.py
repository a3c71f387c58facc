"""The fit loop's bookkeeping: what fit and evaluate report, whatever the batch size."""

import contextlib
import warnings

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


# -- Keras' defaults: mini-batches of 32 -------------------------------------------------------------------------


def test_keras_style_fit_with_the_defaults_learns_digits():
    # model.fit(X, y, epochs=20) as a Keras user writes it: batch_size=32 by default (42 steps an epoch here);
    # full batch, the tutorial's, is batch_size=None and makes only 20 steps (measured: 0.43 accuracy)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    model = gn.Sequential([gn.layers.Dense(64, activation="relu"), gn.layers.Dense(10, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=20, verbose=0)
    assert model.optimizer.iterations == 20 * -(-len(X_train) // 32)
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    print(f"digits, held-out accuracy after 20 epochs with the defaults: {accuracy:.3f}")  # measured: 0.969
    assert accuracy >= 0.95 and history.history["loss"][-1] < 0.2


def test_fit_defaults_to_batches_of_32_and_none_is_full_batch():
    X64, Y64 = rng.normal(size=(70, 4)), rng.uniform(size=(70, 1))
    model = tutorial()
    model.fit(X64, Y64, epochs=1, verbose=0)
    assert model.optimizer.iterations == 3  # 32 + 32 + 6
    model.fit(X64, Y64, epochs=1, batch_size=None, verbose=0)
    assert model.optimizer.iterations == 4


# -- divergence speaks through DivergenceError, not NumPy's RuntimeWarnings ---------------------------------------


def diverging():
    data = np.random.default_rng(0)
    Xd, yd = data.normal(size=(64, 8)) * 100, data.normal(size=(64, 1)) * 100
    model = gn.Sequential([gn.layers.Dense(16, activation="relu"), gn.layers.Dense(16, activation="relu"),
                           gn.layers.Dense(1)], seed=0)
    return model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=10.0)), Xd, yd


def test_a_diverging_fit_raises_divergence_error_without_runtime_warnings(monkeypatch):
    model, Xd, yd = diverging()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(gn.DivergenceError, match="Training diverged"):
            model.fit(Xd, yd, epochs=50, verbose=0)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    # the control: without the engine's np.errstate the same fit does overflow in NumPy and warn
    monkeypatch.setattr(np, "errstate", lambda **kwargs: contextlib.nullcontext())
    model, Xd, yd = diverging()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(gn.DivergenceError):
            model.fit(Xd, yd, epochs=50, verbose=0)
    assert any("overflow" in str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))


def test_predict_and_evaluate_of_overflowing_weights_are_quiet():
    model = gn.Sequential([gn.layers.Dense(1)], seed=0, dtype="float64").compile(loss="mse")
    model.build(4)
    model.set_weights([np.full((4, 1), 1e300), np.zeros(1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a warning would fail the test
        out = model.predict(X * 1e10)  # X·W overflows
        loss = model.evaluate(X * 1e10, Y)["loss"]
    assert not np.isfinite(out).all() and not np.isfinite(loss)
