"""Bad input gets the documented GlassnetError subclass and a message that names the problem.

Every error a user can cause is also the builtin exception a scikit-learn user would catch
(``ValueError`` for bad data, shapes, settings, an unfitted model and divergence).
"""

import re
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.layers.activations import ACTIVATIONS
from glassnet.losses import LOSSES
from glassnet.optimizers import OPTIMIZERS


def binary_model(seed=0):
    model = gn.Sequential([gn.layers.Dense(4, activation="tanh"), gn.layers.Dense(1, activation="sigmoid")],
                          seed=seed)
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    return model


def softmax_model(k=3):
    model = gn.Sequential([gn.layers.Dense(k, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return model


X = np.arange(15, dtype=np.float64).reshape(5, 3) / 15
y = np.array([[0], [1], [0], [1], [1]], dtype=np.float64)


def raises(cls, match=None):
    """pytest.raises that also checks the error is a GlassnetError and a ValueError."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(cls, match=match)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            err = self.info.value
            assert isinstance(err, gn.GlassnetError), type(err)
            assert isinstance(err, ValueError), f"{type(err).__name__} should also be a ValueError"
            return handled

    return _Check()


# -- shapes -----------------------------------------------------------------------------------------------


def test_x_and_y_with_different_row_counts():
    with raises(gn.ShapeError) as info:
        binary_model().fit(X, y[:4], verbose=0)
    message = str(info.value)
    assert "rows" in message and "5" in message and "4" in message
    assert "X has 5, y has 4" in message


def test_validation_data_with_different_row_counts():
    with raises(gn.ShapeError, match="X has 5, y has 3"):
        binary_model().fit(X, y, validation_data=(X, y[:3]), verbose=0)


def test_evaluate_with_different_row_counts():
    model = binary_model()
    model.build(3)
    with raises(gn.ShapeError, match="X has 5, y has 2"):
        model.evaluate(X, y[:2])


@pytest.mark.parametrize("action", ["fit", "predict", "evaluate"])
def test_features_differ_from_the_first_layers_inputs(action):
    model = binary_model()
    model.fit(X, y, epochs=1, verbose=0)  # built for 3 features
    wide = np.ones((5, 4))
    with raises(gn.ShapeError) as info:
        if action == "fit":
            model.fit(wide, y, verbose=0)
        elif action == "predict":
            model.predict(wide)
        else:
            model.evaluate(wide, y)
    message = str(info.value)
    assert "layer 0" in message
    assert "4 features" in message and "(3,)" in message


def test_targets_that_do_not_fit_the_outputs():
    with raises(gn.ShapeError, match=r"\(5, 2\).*\(5, 1\)"):
        binary_model().fit(X, np.ones((5, 2)), verbose=0)


def test_one_dimensional_x():
    with raises(gn.ShapeError, match=r"X must be at least 2-dimensional; received shape \(5,\)"):
        binary_model().fit(np.ones(5), y, verbose=0)


def test_set_weights_with_the_wrong_shape():
    model = binary_model().build(3)
    weights = model.get_weights()
    weights[2] = np.ones((5, 1))
    with raises(gn.ShapeError, match=r"layer 1.*\(4, 1\).*\(5, 1\)"):
        model.set_weights(weights)


# -- data -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_values_in_x_name_row_and_column(bad, word):
    Xb = X.copy()
    Xb[3, 2] = bad
    with raises(gn.DataError) as info:
        binary_model().fit(Xb, y, verbose=0)
    assert f"X contains {word} at row 3, column 2" in str(info.value)


def test_non_finite_values_in_y_name_row_and_column():
    yb = y.copy()
    yb[4, 0] = np.nan
    with raises(gn.DataError, match="y contains NaN at row 4, column 0"):
        binary_model().fit(X, yb, verbose=0)


def test_non_finite_values_in_predict_and_validation_data():
    model = binary_model()
    model.fit(X, y, epochs=1, verbose=0)
    Xb = X.copy()
    Xb[1, 0] = np.inf
    with raises(gn.DataError, match="X contains inf at row 1, column 0"):
        model.predict(Xb)
    with raises(gn.DataError, match="row 1, column 0"):
        model.fit(X, y, validation_data=(Xb, y), verbose=0)


def test_values_too_large_for_float32():
    Xb = X.copy()
    Xb[2, 1] = 1e300
    with raises(gn.DataError, match=r"row 2, column 1.*float32"):
        binary_model().fit(Xb, y, verbose=0)


def test_empty_x():
    with raises(gn.DataError, match=r"X is empty.*\(0, 3\)"):
        binary_model().fit(np.empty((0, 3)), np.empty((0, 1)), verbose=0)


def test_empty_y():
    with raises(gn.DataError, match="y is empty"):
        binary_model().fit(X, np.empty((0, 1)), verbose=0)


def test_string_arrays():
    with raises(gn.DataError, match=r"X has dtype <U\d+ \(text\); expected numbers"):
        binary_model().fit(np.array([["a", "b", "c"]] * 5), y, verbose=0)
    with raises(gn.DataError, match=r"y has dtype <U\d+ \(text\); expected numbers"):
        binary_model().fit(X, np.array(["yes", "no", "yes", "no", "no"]), verbose=0)


def test_object_arrays_name_the_first_bad_cell():
    Xo = X.astype(object)
    Xo[2, 1] = "oops"
    with raises(gn.DataError, match=r"X contains 'oops' \(str\) at row 2, column 1; expected numbers"):
        binary_model().fit(Xo, y, verbose=0)


def test_object_arrays_of_numbers_are_accepted():
    model = binary_model()
    model.fit(X.astype(object), y, epochs=1, verbose=0)
    assert model.predict(X.astype(object)).dtype == np.float32


def test_ragged_lists():
    with raises(gn.DataError, match="ragged: row 0 has 3 values but row 1 has 2 values"):
        binary_model().fit([[1, 2, 3], [1, 2]], [1, 0], verbose=0)


def test_boolean_arrays_must_be_cast():
    with raises(gn.DataError, match="bool"):
        binary_model().fit(X > 0.5, y, verbose=0)


@pytest.mark.parametrize("label, row", [(3, 2), (-1, 2), (7, 2)])
def test_sparse_labels_out_of_range(label, row):
    labels = np.array([0, 1, label, 2, 1])
    with raises(gn.DataError) as info:
        softmax_model(3).fit(X, labels, verbose=0)
    message = str(info.value)
    assert f"Label {label} at row {row}" in message and "3 outputs" in message and "0..2" in message


def test_sparse_labels_that_are_not_integers():
    with raises(gn.DataError, match="integer class labels"):
        softmax_model(3).fit(X, np.array([0, 1, 1.5, 2, 1]), verbose=0)


# -- settings ---------------------------------------------------------------------------------------------


def test_dense_zero_units_uses_the_keras_wording():
    with raises(gn.ConfigError) as info:
        gn.layers.Dense(0)
    assert str(info.value) == "Received an invalid value for `units`, expected a positive integer. Received: units=0"


@pytest.mark.parametrize("units", [-1, 2.5, True, "3", None])
def test_dense_other_invalid_units(units):
    with raises(gn.ConfigError, match=re.escape(f"Received: units={units!r}")):
        gn.layers.Dense(units)


def test_unknown_activation_lists_the_valid_ones():
    with raises(gn.ConfigError) as info:
        gn.layers.Dense(3, activation="relu6")
    message = str(info.value)
    assert "'relu6'" in message
    for name in ACTIVATIONS:
        assert name in message


def test_unknown_loss_lists_the_valid_ones():
    with raises(gn.ConfigError) as info:
        binary_model().compile(loss="hinge", optimizer="sgd")
    message = str(info.value)
    assert "'hinge'" in message
    for name in LOSSES:
        assert name in message


def test_unknown_optimizer_lists_the_valid_ones():
    with raises(gn.ConfigError) as info:
        binary_model().compile(loss="mse", optimizer="lbfgs")
    message = str(info.value)
    assert "'lbfgs'" in message
    for name in OPTIMIZERS:
        assert name in message
    assert "adam" in message and "sgd" in message


def test_unknown_metric_lists_the_valid_ones():
    with raises(gn.ConfigError, match="'f1'.*accuracy.*mae"):
        binary_model().compile(loss="mse", optimizer="sgd", metrics=["f1"])


@pytest.mark.parametrize("epochs", [0, -1, 2.0, True])
def test_epochs_must_be_a_positive_integer(epochs):
    with raises(gn.ConfigError, match=re.escape(f"`epochs`, expected a positive integer. Received: epochs={epochs!r}")):
        binary_model().fit(X, y, epochs=epochs, verbose=0)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_batch_size_zero_or_negative_is_rejected(batch_size):
    with raises(gn.ConfigError, match=re.escape(f"Received: batch_size={batch_size!r}")):
        binary_model().fit(X, y, batch_size=batch_size, verbose=0)


def test_invalid_settings_fail_before_any_training():
    model = binary_model()
    model.build(3)
    before = model.get_weights()
    with raises(gn.ConfigError):
        model.fit(X, y, epochs=3, batch_size=0, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: gn.Sequential([gn.layers.Dense(1)], dtype="int8"), "dtype"),
        (lambda: gn.Sequential([gn.layers.Dense(1)], seed=-1), "seed"),
        (lambda: gn.layers.Dropout(1.0), "rate"),
        (lambda: gn.optimizers.SGD(learning_rate=-0.1), "learning_rate"),
        (lambda: gn.optimizers.SGD(learning_rate=0.1, momentum=1.5), "momentum"),
        (lambda: binary_model().fit(X, y, validation_split=1.5, verbose=0), "validation_split"),
        (lambda: binary_model().fit(X, y, verbose=5), "verbose"),
        (lambda: gn.callbacks.EarlyStopping(patience=-1), "patience"),
    ],
)
def test_other_invalid_settings_name_the_parameter(make, name):
    with raises(gn.ConfigError, match=f"`{name}`"):
        make()


def test_validation_split_too_small_for_the_data():
    # 5 rows with 90 % held out leave no row to train on
    with raises(gn.ConfigError, match=r"5 samples.*validation_split=0\.9"):
        binary_model().fit(X, y, validation_split=0.9, verbose=0)


def test_sequential_takes_only_layers():
    with raises(gn.ConfigError, match="ndarray"):
        gn.Sequential([np.ones(3)])


# -- order of calls -------------------------------------------------------------------------------------------


def test_predict_and_evaluate_before_build_build_from_x_as_keras():
    model = binary_model()
    assert model.predict(X).shape == (len(X), 1) and model.built
    assert "loss" in binary_model().evaluate(X, y)


@pytest.mark.parametrize("call", ["get_weights", "count_params"])
def test_other_calls_before_build(call):
    model = binary_model()
    with raises(gn.NotBuiltError, match=re.escape(f"{call}()")) as info:
        getattr(model, call)()
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)


def test_fit_before_compile():
    model = gn.Sequential([gn.layers.Dense(1)], seed=0)
    with raises(gn.NotBuiltError, match="compile"):
        model.fit(X, y, verbose=0)


# -- divergence ---------------------------------------------------------------------------------------------


def regression(n=32, seed=0):
    rng = np.random.default_rng(seed)
    Xr = rng.normal(size=(n, 3)) * 10
    return Xr, Xr.sum(axis=1, keepdims=True)


def assert_finite_model(model, Xr):
    for layer in model.layers:
        for k, p in layer.params.items():
            assert np.isfinite(p).all(), f"parameter {k} of {layer!r} is not finite"
    assert np.isfinite(model.flat_params).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pred = model.predict(Xr)
    assert pred.shape == (len(Xr), 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_learning_rate_too_high_raises_divergence_error_and_keeps_finite_weights(dtype):
    Xr, yr = regression()
    model = gn.Sequential([gn.layers.Dense(8, activation="relu"), gn.layers.Dense(1)], seed=0, dtype=dtype)
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=1e3))
    recorder = []

    class Losses(gn.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            recorder.append(logs["loss"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the overflow itself
        with raises(gn.DivergenceError) as info:
            model.fit(Xr, yr, epochs=500, batch_size=None, callbacks=[Losses()], verbose=0)
    assert isinstance(info.value, ArithmeticError)
    message = str(info.value)
    assert "diverged" in message and "learning rate" in message
    assert re.search(r"the loss became (inf|nan) at step \d+", message)
    assert recorder and all(np.isfinite(recorder))  # every logged step had a finite loss
    assert_finite_model(model, Xr)
    # the kept weights are those of the last step with a finite loss: their loss is finite
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isfinite(model.evaluate(Xr, yr)["loss"])


def test_an_update_that_overflows_the_weights_is_undone():
    # one full-batch step whose update overflows float32: the loss before it was finite
    Xr, yr = regression()
    model = gn.Sequential([gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=1e38))
    model.build(3)
    before = model.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with raises(gn.DivergenceError):
            model.fit(Xr, yr * 1e3, epochs=1, batch_size=None, verbose=1)
    assert_finite_model(model, Xr)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
