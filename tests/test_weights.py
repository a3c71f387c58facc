"""Sample and class weights in fit and evaluate.

The reference is scikit-learn's convention: a weight of k is the row repeated k times, a weight of 0 the row
removed. Full batch in float64, a weighted fit and a fit on the repeated rows take the same steps, so their
losses and weights agree to rounding (1e-12) for every loss, on the plain and on the fused softmax/sigmoid
gradient paths.
"""

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigError, DataError, ShapeError
from glassnet.layers import Dense

rng = np.random.default_rng(11)
N = 12
X = rng.normal(size=(N, 4))
W_INT = np.array([0, 1, 2, 3] * 3, dtype=float)  # 0 drops a row, 3 triples it
REPEAT = np.repeat(np.arange(N), W_INT.astype(int))  # the rows a weighted fit stands for

#: loss -> (output units, output activation, targets); which gradient path each takes is asserted below
CASES = {
    "mse": (2, "sigmoid", rng.normal(size=(N, 2))),  # plain: dL/dA, then the sigmoid's slope
    "binary_crossentropy": (1, "sigmoid", (rng.random((N, 1)) > 0.5) * 1.0),  # fused with the sigmoid
    "sparse_categorical_crossentropy": (3, "softmax", rng.integers(0, 3, N)),  # fused with the softmax
    "categorical_crossentropy": (3, "softmax", np.eye(3)[rng.integers(0, 3, N)]),  # fused, one-hot targets
    "half_sse": (2, "sigmoid", rng.random((N, 2))),  # a sum over rows, not a mean
    "mae": (2, "linear", rng.normal(size=(N, 2))),
}
FUSED = {"binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy"}


def make(loss, lr=0.1, metrics=None):
    units, activation, _ = CASES[loss]
    model = gn.Sequential([Dense(5, activation="tanh"), Dense(units, activation=activation)], seed=1, dtype="float64")
    return model.compile(loss=loss, optimizer=gn.optimizers.SGD(learning_rate=lr), metrics=metrics)


def assert_close(ours, theirs, what, tol=1e-12):
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=f"{what}: weighted (ACTUAL) vs repeated")


@pytest.mark.parametrize("loss", list(CASES))
def test_integer_weights_train_like_repeated_rows(loss):
    y = CASES[loss][2]
    weighted, repeated = make(loss), make(loss)
    got = weighted.fit(X, y, epochs=5, batch_size=None, sample_weight=W_INT, verbose=0).history["loss"]
    expected = repeated.fit(X[REPEAT], y[REPEAT], epochs=5, batch_size=None, verbose=0).history["loss"]
    assert (weighted._fused_last() is not None) == (loss in FUSED)
    assert_close(got, expected, "epoch losses")
    for ours, theirs in zip(weighted.get_weights(), repeated.get_weights()):
        assert_close(ours, theirs, "weights after 5 steps")
    assert_close(weighted.evaluate(X, y, sample_weight=W_INT)["loss"], repeated.evaluate(X[REPEAT], y[REPEAT])["loss"],
                 "evaluate")


def test_weights_of_one_change_nothing_and_no_weights_is_the_old_path():
    y = CASES["sparse_categorical_crossentropy"][2]
    plain, ones, default = (make("sparse_categorical_crossentropy") for _ in range(3))
    a = plain.fit(X, y, epochs=3, batch_size=5, verbose=0).history["loss"]
    b = ones.fit(X, y, epochs=3, batch_size=5, sample_weight=np.ones(N), verbose=0).history["loss"]
    c = default.fit(X, y, epochs=3, batch_size=5, sample_weight=None, class_weight=None, verbose=0).history["loss"]
    assert_close(b, a, "weights of 1")
    assert c == a  # no weights: the unweighted code, bit for bit


@pytest.mark.parametrize("loss", ["mse", "half_sse", "sparse_categorical_crossentropy"])
def test_the_epoch_loss_is_the_weighted_loss_over_all_rows_whatever_the_batch_size(loss):
    # a step of 1e-300 moves no weight (w + 1e-300·g == w), so each epoch's loss must equal evaluate's over all
    # rows: Σ over batches of Σ wᵢ·lᵢ, divided by Σ wᵢ over every row (half_sse: not divided)
    y = CASES[loss][2]
    w = rng.uniform(0.0, 3.0, size=N)
    model = make(loss, lr=1e-300)
    expected = model.build(4).evaluate(X, y, sample_weight=w)["loss"]
    by_hand = model.loss.weighted(model.loss.per_row(model.predict(X), model.loss.prepare(y, (N, CASES[loss][0]),
                                                                                        np.float64)), w)
    assert_close(expected, by_hand, "evaluate vs Σ wᵢ·lᵢ / Σ wᵢ")
    for batch_size in (None, 5, 1):
        got = model.fit(X, y, epochs=1, batch_size=batch_size, sample_weight=w, verbose=0).history["loss"][0]
        assert_close(got, expected, f"epoch loss, batch_size={batch_size}")
        assert_close(model.evaluate(X, y, batch_size=batch_size, sample_weight=w)["loss"], expected, "evaluate")


def test_a_batch_whose_weights_are_all_zero_is_skipped():
    # the first batch weighs 0: its loss is 0 and its gradient 0, so plain SGD leaves the weights as they are
    # and the fit equals one on the other rows
    y = CASES["mse"][2]
    w = np.r_[np.zeros(4), np.ones(N - 4)]
    a, b = make("mse"), make("mse")
    got = a.fit(X, y, epochs=3, batch_size=4, shuffle=False, sample_weight=w, verbose=0).history["loss"]
    expected = b.fit(X[4:], y[4:], epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    assert_close(got, expected, "epoch losses")
    for ours, theirs in zip(a.get_weights(), b.get_weights()):
        assert_close(ours, theirs, "weights")


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy",
                                  "binary_crossentropy"])
def test_class_weight_is_the_sample_weight_of_each_rows_class(loss):
    y = CASES[loss][2]
    classes = np.argmax(y, axis=1) if y.ndim == 2 and y.shape[1] > 1 else np.asarray(y).reshape(-1).astype(int)
    class_weight = {0: 0.5, 1: 3.0}  # class 2 (where there is one) is absent: it weighs 1, as in Keras
    as_rows = np.array([class_weight.get(c, 1.0) for c in classes])
    by_class, by_row = make(loss), make(loss)
    a = by_class.fit(X, y, epochs=3, batch_size=5, class_weight=class_weight, verbose=0).history["loss"]
    b = by_row.fit(X, y, epochs=3, batch_size=5, sample_weight=as_rows, verbose=0).history["loss"]
    assert a == b
    for ours, theirs in zip(by_class.get_weights(), by_row.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_class_weight_and_sample_weight_multiply():
    y = CASES["sparse_categorical_crossentropy"][2]
    w = rng.uniform(0.5, 2.0, size=N)
    both, product = make("sparse_categorical_crossentropy"), make("sparse_categorical_crossentropy")
    a = both.fit(X, y, epochs=2, batch_size=None, sample_weight=w, class_weight={2: 4.0}, verbose=0)
    b = product.fit(X, y, epochs=2, batch_size=None, sample_weight=w * np.where(y == 2, 4.0, 1.0), verbose=0)
    assert a.history["loss"] == b.history["loss"]


def test_validation_data_takes_weights_and_validation_split_splits_them():
    y = CASES["mse"][2]
    w = rng.uniform(0.5, 2.0, size=N)
    model = make("mse", lr=1e-300, metrics=["mae"])  # no weight moves
    model.build(4)
    history = model.fit(X, y, epochs=1, batch_size=4, validation_data=(X[:6], y[:6], w[:6]), verbose=0).history
    assert_close(history["val_loss"][0], model.evaluate(X[:6], y[:6], sample_weight=w[:6])["loss"], "val_loss")
    # metrics stay unweighted, as Keras' `metrics` are
    assert_close(history["val_mae"][0], model.evaluate(X[:6], y[:6])["mae"], "val_mae")
    # validation_split holds out the last rows, and their weights with them
    history = model.fit(X, y, epochs=1, batch_size=4, sample_weight=w, validation_split=0.25, verbose=0).history
    assert_close(history["loss"][0], model.evaluate(X[:9], y[:9], sample_weight=w[:9])["loss"], "loss")
    assert_close(history["val_loss"][0], model.evaluate(X[9:], y[9:], sample_weight=w[9:])["loss"], "val_loss")


def test_weighted_loss_of_a_model_with_a_penalty_weighs_the_data_loss_only():
    y = CASES["mse"][2]
    model = gn.Sequential([Dense(3, kernel_regularizer=gn.regularizers.L2(0.1)), Dense(2)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd").build(4)
    penalty = model.evaluate(X, y)["loss"] - np.mean((model.predict(X) - y) ** 2)
    rows = np.mean((model.predict(X) - y) ** 2, axis=1)
    expected = np.dot(W_INT, rows) / W_INT.sum() + penalty
    assert_close(model.evaluate(X, y, sample_weight=W_INT)["loss"], expected, "weighted loss with L2")


# -- bad weights ---------------------------------------------------------------------------------------------

BAD_SAMPLE_WEIGHTS = [
    (np.ones(N - 1), ShapeError, r"sample_weight has 11 values for 12 rows; expected one weight per row"),
    (np.ones((N, 2)), ShapeError, r"sample_weight must be 1-dimensional"),
    (np.r_[np.ones(N - 1), -1.0], DataError, r"negative weight -1.0 at row 11; weights must be ≥ 0"),
    (np.r_[np.nan, np.ones(N - 1)], DataError, r"sample_weight contains NaN at row 0"),
    (np.r_[np.inf, np.ones(N - 1)], DataError, r"sample_weight contains inf at row 0"),
    (np.zeros(N), DataError, r"sample_weight is zero for every row; at least one weight must be positive"),
    (np.array(["a"] * N), DataError, r"sample_weight has dtype <U1"),
    (3.0, ShapeError, r"sample_weight must be an array"),
]


@pytest.mark.parametrize("w, error, message", BAD_SAMPLE_WEIGHTS)
def test_bad_sample_weight_is_named(w, error, message):
    y = CASES["mse"][2]
    with pytest.raises(error, match=message):
        make("mse").fit(X, y, sample_weight=w, verbose=0)
    with pytest.raises(error, match=message):
        make("mse").build(4).evaluate(X, y, sample_weight=w)


def test_bad_validation_weights_are_named():
    y = CASES["mse"][2]
    with pytest.raises(ShapeError, match=r"sample_weight of validation_data has 2 values for 6 rows"):
        make("mse").fit(X, y, validation_data=(X[:6], y[:6], np.ones(2)), verbose=0)
    with pytest.raises(DataError, match=r"sample_weight of validation_data is zero for every row"):
        make("mse").fit(X, y, validation_data=(X[:6], y[:6], np.zeros(6)), verbose=0)
    with pytest.raises(ConfigError, match=r"validation_data must be a tuple \(X_val, y_val\) or \(X_val, y_val, "):
        make("mse").fit(X, y, validation_data=(X, y, np.ones(N), 1), verbose=0)
    with pytest.raises(DataError, match=r"sample_weight of the validation rows .* is zero for every row"):
        make("mse").fit(X, y, sample_weight=np.r_[np.ones(9), np.zeros(3)], validation_split=0.25, verbose=0)


BAD_CLASS_WEIGHTS = [
    ("sparse_categorical_crossentropy", [1.0, 2.0], ConfigError, r"class_weight must be a dict mapping class "),
    ("sparse_categorical_crossentropy", {3: 1.0}, ConfigError,
     r"class_weight has the key 3, which is not a class of this model; expected class indices 0\.\.2"),
    ("sparse_categorical_crossentropy", {"a": 1.0}, ConfigError, r"class_weight has the key 'a'"),
    ("binary_crossentropy", {2: 1.0}, ConfigError, r"key 2, .* expected class indices 0\.\.1"),
    ("sparse_categorical_crossentropy", {0: -1.0}, ConfigError,
     r"Received an invalid value for `class_weight\[0\]`, expected a finite number ≥ 0"),
    ("sparse_categorical_crossentropy", {0: float("nan")}, ConfigError, r"`class_weight\[0\]`"),
    ("mse", {0: 2.0}, None, None),  # two outputs: the class is the argmax, as in Keras
    ("half_sse", {0: 0.0, 1: 0.0}, DataError, r"the weight \(sample_weight × class_weight\) is zero for every row"),
]


@pytest.mark.parametrize("loss, class_weight, error, message", BAD_CLASS_WEIGHTS)
def test_bad_class_weight_is_named(loss, class_weight, error, message):
    y = CASES[loss][2]
    if error is None:
        make(loss).fit(X, y, class_weight=class_weight, verbose=0)
        return
    with pytest.raises(error, match=message):
        make(loss).fit(X, y, class_weight=class_weight, verbose=0)


def test_class_weight_of_a_single_output_needs_0_or_1_labels():
    model = gn.Sequential([Dense(1, activation="sigmoid")], seed=0).compile(loss="mse")
    with pytest.raises(DataError, match=r"with one output, y must hold 0 or 1; y holds 0.5 at row 1"):
        model.fit(X, np.r_[0.0, 0.5, np.ones(N - 2)], class_weight={1: 2.0}, verbose=0)


def test_weights_are_not_written_to():
    w = W_INT.copy()
    make("mse").fit(X, CASES["mse"][2], sample_weight=w, class_weight=None, verbose=0)
    np.testing.assert_array_equal(w, W_INT)


def test_weights_on_a_device_give_the_host_numbers():
    import fakegpu

    fakegpu.install()
    y = CASES["sparse_categorical_crossentropy"][2]
    w = rng.uniform(0.0, 2.0, size=N)
    runs = []
    for device in ("cpu", "fakegpu"):
        model = gn.Sequential([Dense(5, activation="tanh"), Dense(3, activation="softmax")], seed=0, dtype="float64",
                              device=device).compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        history = model.fit(X, y, epochs=3, batch_size=5, sample_weight=w, class_weight={1: 2.0},
                            validation_data=(X, y, w), verbose=0)
        runs.append((history.history, model.evaluate(X, y, sample_weight=w), model.get_weights()))
    assert runs[0][:2] == runs[1][:2]
    for a, b in zip(runs[0][2], runs[1][2]):
        np.testing.assert_array_equal(a, b)


def test_class_weight_with_a_label_per_step_is_a_clear_config_error():
    """Keras refuses class_weight for sequence targets; so does glassnet, naming the shape and the way out."""
    model = gn.Sequential([gn.layers.Embedding(6, 3), gn.layers.LSTM(4, return_sequences=True),
                           gn.layers.Dense(6, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    ids = np.random.default_rng(0).integers(1, 6, (8, 5))
    y = np.random.default_rng(1).integers(0, 6, (8, 5))
    with pytest.raises(gn.ConfigError, match=r"\(8, 5\).*sample_weight"):
        model.fit(ids, y, epochs=1, class_weight={0: 1.0, 1: 2.0}, verbose=0)
