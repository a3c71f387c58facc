"""The public interface of Sequential: build, compile, fit, predict, evaluate, summary, weights, callbacks."""

import math

import numpy as np
import pytest

import glassnet as gn
from glassnet.callbacks import (
    Callback,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
)


def classification_data(n=40, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float64).reshape(-1, 1)
    return X, y


def small_model(seed=0, dtype="float32", dropout=None, optimizer=None, metrics=("accuracy",)):
    layers = [gn.layers.Dense(5, activation="tanh")]
    if dropout:
        layers.append(gn.layers.Dropout(dropout))
    layers.append(gn.layers.Dense(1, activation="sigmoid"))
    model = gn.Sequential(layers, seed=seed, dtype=dtype)
    model.compile(loss="binary_crossentropy", optimizer=optimizer or gn.optimizers.SGD(learning_rate=0.5),
                  metrics=list(metrics))
    return model


class WeightRecorder(Callback):
    """Keeps a copy of the weights and the logs at the end of every epoch."""

    def __init__(self):
        self.weights, self.logs, self.lrs = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.lrs.append(self.model.optimizer.lr)

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.logs.append(dict(logs))


def assert_weights_equal(a, b):
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        assert wa.dtype == wb.dtype
        np.testing.assert_array_equal(wa, wb)


# -- construction and building --------------------------------------------------------------------------


def test_build_creates_W_n_in_by_n_out_and_b_n_out():
    model = gn.Sequential([gn.layers.Dense(3, activation="sigmoid"), gn.layers.Dense(1)], seed=0)
    assert model.built is False
    assert model.build(4) is model and model.built
    first, second = model.layers
    assert first.params["W"].shape == (4, 3) and first.params["b"].shape == (3,)
    assert second.params["W"].shape == (3, 1) and second.params["b"].shape == (1,)
    assert set(first.grads) == {"W", "b"} and first.grads["W"].shape == (4, 3)
    assert model.count_params() == 4 * 3 + 3 + 3 * 1 + 1
    assert model.output_shape == (1,)
    # a shape tuple works as well as a feature count
    other = gn.Sequential([gn.layers.Dense(3)], seed=0).build((4,))
    assert other.layers[0].params["W"].shape == (4, 3)


def test_layers_are_kept_in_order():
    layers = [gn.layers.Dense(8, activation="relu"), gn.layers.Dropout(0.2), gn.layers.Dense(2)]
    model = gn.Sequential(layers, seed=0)
    assert model.layers == layers
    assert all(a is b for a, b in zip(model.layers, layers))
    extra = gn.layers.Dense(1)
    model.add(extra)
    assert model.layers[-1] is extra and len(model.layers) == 4


def test_float32_is_the_default_and_predictions_are_not_upcast():
    X, y = classification_data()
    model = small_model()
    model.fit(X, y, epochs=2, verbose=0)  # X is float64: it is cast once, the model stays float32
    assert model.dtype == np.float32
    assert model.flat_params.dtype == np.float32
    for layer in model.layers:
        for k, p in layer.params.items():
            assert p.dtype == np.float32, (layer, k)
            assert layer.grads[k].dtype == np.float32, (layer, k)
    assert model.predict(X).dtype == np.float32
    assert model.predict(X.astype(np.float32)).dtype == np.float32
    assert model.layers[0].z.dtype == np.float32 and model.layers[-1].a.dtype == np.float32


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_float32_training_never_upcasts_parameters(optimizer):
    X, y = classification_data()
    model = small_model(optimizer=optimizer)
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert all(v.dtype == np.float32 for v in model.optimizer.state.values())


def test_float64_on_request():
    X, y = classification_data()
    model = small_model(dtype="float64")
    model.fit(X.astype(np.float32), y, epochs=2, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(X.astype(np.float32)).dtype == np.float64
    assert gn.Sequential([gn.layers.Dense(1)], dtype=np.float64).dtype == np.float64


# -- compile and fit ------------------------------------------------------------------------------------


def test_fit_returns_history_with_loss_and_metrics_per_epoch():
    X, y = classification_data()
    model = small_model(metrics=("accuracy", "mae"))
    history = model.fit(X, y, epochs=7, verbose=0)
    assert isinstance(history, History) and model.history is history
    assert history.epoch == list(range(7))
    assert set(history.history) == {"loss", "accuracy", "mae"}
    for values in history.history.values():
        assert len(values) == 7 and all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert all(0.0 <= v <= 1.0 for v in history.history["accuracy"])
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_history_loss_is_the_mean_over_the_epochs_batches():
    # full batch: the logged loss is the loss of the forward pass before the update
    X, y = classification_data()
    model = small_model(dtype="float64")
    model.build(X.shape[1])
    before = model.evaluate(X, y)
    history = model.fit(X, y, epochs=1, batch_size=None, verbose=0)
    assert history.history["loss"][0] == pytest.approx(before["loss"], rel=1e-12)
    assert history.history["accuracy"][0] == pytest.approx(before["accuracy"])


def test_validation_data_adds_val_metrics_measured_after_the_epoch():
    X, y = classification_data(60)
    Xv, yv = classification_data(20, seed=1)
    model = small_model()
    history = model.fit(X, y, epochs=4, validation_data=(Xv, yv), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 4 for v in history.history.values())
    final = model.evaluate(Xv, yv)
    assert history.history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(final["accuracy"])


def test_validation_split_holds_out_the_last_rows():
    X, y = classification_data(40)
    model = small_model(dtype="float64")
    history = model.fit(X, y, epochs=3, validation_split=0.25, batch_size=None, verbose=0)
    assert {"val_loss", "val_accuracy"} <= set(history.history)
    # 30 rows trained on, the last 10 held out (as Keras does)
    assert model.optimizer.iterations == 3
    held_out = model.evaluate(X[30:], y[30:])
    assert history.history["val_loss"][-1] == pytest.approx(held_out["loss"], rel=1e-12)
    reference = small_model(dtype="float64")
    reference.fit(X[:30], y[:30], epochs=3, batch_size=None, verbose=0)
    assert_weights_equal(model.get_weights(), reference.get_weights())


@pytest.mark.parametrize("batch_size, steps_per_epoch", [(None, 1), (1, 10), (4, 3), (10, 1), (64, 1)])
def test_batch_size_sets_the_number_of_updates(batch_size, steps_per_epoch):
    X, y = classification_data(10)
    model = small_model()
    model.fit(X, y, epochs=3, batch_size=batch_size, verbose=0)
    assert model.optimizer.iterations == 3 * steps_per_epoch


def test_full_batch_equals_one_batch_of_all_rows():
    X, y = classification_data(12)
    a, b = small_model(seed=3), small_model(seed=3)
    a.fit(X, y, epochs=5, batch_size=None, verbose=0)
    b.fit(X, y, epochs=5, batch_size=12, verbose=0)
    assert_weights_equal(a.get_weights(), b.get_weights())


def test_same_seed_gives_bit_identical_weights_with_shuffle_and_dropout():
    X, y = classification_data(50)

    def run(seed):
        model = small_model(seed=seed, dropout=0.5, optimizer=gn.optimizers.Adam(learning_rate=0.01))
        model.fit(X, y, epochs=5, batch_size=8, shuffle=True, verbose=0)
        return model

    first, second, other = run(11), run(11), run(12)
    assert_weights_equal(first.get_weights(), second.get_weights())
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert any(not np.array_equal(a, b) for a, b in zip(first.get_weights(), other.get_weights()))


def test_shuffle_changes_the_path_and_shuffle_false_follows_row_order():
    X, y = classification_data(30)
    shuffled, ordered, ordered_again = small_model(seed=5), small_model(seed=5), small_model(seed=5)
    shuffled.fit(X, y, epochs=2, batch_size=4, shuffle=True, verbose=0)
    ordered.fit(X, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    ordered_again.fit(X, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    assert_weights_equal(ordered.get_weights(), ordered_again.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(shuffled.get_weights(), ordered.get_weights()))


def test_dropout_is_off_in_predict_and_evaluate():
    X, y = classification_data()
    model = small_model(dropout=0.5)
    model.fit(X, y, epochs=2, verbose=0)
    (W1, b1), (W2, b2) = [(la.params["W"], la.params["b"]) for la in (model.layers[0], model.layers[2])]
    # the network by hand without dropout (no mask, no 1/(1 - rate) scale), in float64:
    # A1 = tanh(X·W1 + b1), A2 = σ(A1·W2 + b2)
    a1 = np.tanh(X @ W1.astype(np.float64) + b1)  # (40, 5)
    a2 = 1 / (1 + np.exp(-(a1 @ W2.astype(np.float64) + b2)))  # (40, 1)
    pred = model.predict(X)
    np.testing.assert_allclose(pred, a2, rtol=1e-5, atol=1e-6, err_msg="predict (ACTUAL) vs by hand (DESIRED)")
    # and bit for bit what the same weights give in a model that has no Dropout layer at all
    plain = small_model(dropout=None)
    plain.build(X.shape[1])
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(pred, plain.predict(X))
    assert model.evaluate(X, y) == plain.evaluate(X, y)
    bce = -np.mean(y * np.log(a2) + (1 - y) * np.log(1 - a2))
    result = model.evaluate(X, y)
    assert result["loss"] == pytest.approx(bce, rel=1e-5)
    assert result["accuracy"] == pytest.approx(np.mean((a2 > 0.5) == (y > 0.5)))


def test_predict_and_evaluate():
    X, y = classification_data(25)
    model = small_model(metrics=("accuracy", "mae"))
    model.fit(X, y, epochs=3, verbose=0)
    pred = model.predict(X)
    assert pred.shape == (25, 1)
    np.testing.assert_allclose(model.predict(X, batch_size=4), pred, rtol=1e-6, atol=1e-7)
    result = model.evaluate(X, y)
    assert set(result) == {"loss", "accuracy", "mae"}
    assert all(isinstance(v, float) for v in result.values())
    assert result["accuracy"] == pytest.approx(np.mean((pred > 0.5) == (y > 0.5)))
    assert result["mae"] == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-5)
    # y as a flat vector means the same as a column
    assert model.evaluate(X, y.ravel()) == pytest.approx(result)
    batched = model.evaluate(X, y, batch_size=7)
    assert batched == pytest.approx(result, rel=1e-5)


def test_mae_metric_on_a_regression():
    X, y = gn.data.sine(n=64, rng=0)
    model = gn.Sequential([gn.layers.Dense(8, activation="tanh"), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer=gn.optimizers.Adam(learning_rate=0.01), metrics=["mae"])
    history = model.fit(X, y, epochs=5, batch_size=16, verbose=0)
    assert set(history.history) == {"loss", "mae"}
    assert set(model.evaluate(X, y)) == {"loss", "mae"}


# -- summary, weights -----------------------------------------------------------------------------------


def test_summary_lists_layers_shapes_and_parameter_counts():
    model = gn.Sequential([gn.layers.Dense(3, activation="sigmoid"), gn.layers.Dropout(0.1),
                           gn.layers.Dense(1, activation="sigmoid")], seed=0).build(4)
    printed = []
    assert model.summary(print_fn=printed.append) is None  # Keras: printed, not returned (Jupyter showed it twice)
    [text] = printed
    assert "Dense(3, activation='sigmoid')" in text and "Dropout(rate=0.1)" in text
    assert "(None, 3)" in text and "(None, 1)" in text
    lines = text.splitlines()
    assert any(line.split()[-1] == "15" for line in lines)  # 4·3 + 3
    assert any(line.split()[-1] == "4" for line in lines)  # 3·1 + 1
    assert "Total params: 19" in text and "float32" in text


def test_summary_prints_to_stdout_by_default(capsys):
    model = gn.Sequential([gn.layers.Dense(2)], seed=0).build(3)
    lines = []
    model.summary(print_fn=lines.append)
    assert model.summary() is None
    assert capsys.readouterr().out.strip() == lines[0].strip()


def test_get_weights_returns_copies_and_set_weights_copies_in():
    model = gn.Sequential([gn.layers.Dense(3, activation="sigmoid"), gn.layers.Dense(1)], seed=0).build(4)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 3), (3,), (3, 1), (1,)]
    weights[0][...] = 123.0
    assert not np.any(model.layers[0].params["W"] == 123.0)  # a copy, not a view

    new = [np.full(w.shape, i + 0.5) for i, w in enumerate(weights)]
    model.set_weights(new)
    assert_weights_equal(model.get_weights(), [w.astype(np.float32) for w in new])
    new[0][...] = -1.0
    assert model.layers[0].params["W"][0, 0] == 0.5  # set_weights copied
    # the flat buffer the optimizer walks sees the new weights
    assert model.flat_params[:12].tolist() == [0.5] * 12


def test_set_weights_rejects_wrong_count_and_shape():
    model = gn.Sequential([gn.layers.Dense(3), gn.layers.Dense(1)], seed=0).build(4)
    weights = model.get_weights()
    with pytest.raises(gn.ShapeError, match="4 arrays; received 3"):
        model.set_weights(weights[:3])
    weights[0] = np.zeros((3, 4))
    with pytest.raises(gn.ShapeError, match=r"\(4, 3\).*\(3, 4\)"):
        model.set_weights(weights)


def test_set_weights_then_training_updates_the_new_weights():
    X, y = classification_data()
    a, b = small_model(seed=1), small_model(seed=2)
    a.build(3), b.build(3)
    b.set_weights(a.get_weights())
    a.fit(X, y, epochs=3, batch_size=None, verbose=0)
    b.fit(X, y, epochs=3, batch_size=None, verbose=0)
    assert_weights_equal(a.get_weights(), b.get_weights())


# -- callbacks ------------------------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    X, y = classification_data(40)
    # validation targets are the opposite class: the better the fit, the worse val_loss
    model = small_model(seed=0)
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    history = model.fit(X, y, epochs=50, validation_data=(X, 1 - y), callbacks=[stopper], verbose=0)
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    # Keras: stop once `patience` epochs in a row bring no improvement
    assert len(val) == best + 1 + 2
    assert stopper.stopped_epoch == len(val) - 1 and stopper.best_epoch == best


def test_early_stopping_restore_best_weights_really_restores():
    X, y = classification_data(40)
    model = small_model(seed=0)
    recorder = WeightRecorder()
    stopper = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    history = model.fit(X, y, epochs=50, validation_data=(X, 1 - y), callbacks=[recorder, stopper], verbose=0)
    val = history.history["val_loss"]
    assert len(val) < 50, "training should have stopped early"
    best = int(np.argmin(val))
    assert best < len(val) - 1
    assert_weights_equal(model.get_weights(), recorder.weights[best])
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), recorder.weights[-1]))
    assert model.evaluate(X, 1 - y)["loss"] == pytest.approx(val[best], rel=1e-6)


def test_early_stopping_without_restore_keeps_the_last_weights():
    X, y = classification_data(40)
    model = small_model(seed=0)
    recorder = WeightRecorder()
    model.fit(X, y, epochs=50, validation_data=(X, 1 - y),
              callbacks=[recorder, EarlyStopping(patience=1)], verbose=0)
    assert_weights_equal(model.get_weights(), recorder.weights[-1])


def test_learning_rate_scheduler_changes_optimizer_lr():
    X, y = classification_data()

    def schedule(epoch, lr):
        return 0.8 * 0.5**epoch

    model = small_model(seed=4, dtype="float64")
    recorder = WeightRecorder()
    model.fit(X, y, epochs=4, callbacks=[LearningRateScheduler(schedule), recorder], verbose=0)
    assert recorder.lrs == [0.8, 0.4, 0.2, 0.1]
    assert model.optimizer.lr == 0.1

    # the same run by hand, one epoch at a time with the rate set before each
    by_hand = small_model(seed=4, dtype="float64")
    for epoch in range(4):
        by_hand.optimizer.lr = schedule(epoch, None)
        by_hand.fit(X, y, epochs=1, verbose=0)
    assert_weights_equal(model.get_weights(), by_hand.get_weights())


def test_reduce_lr_on_plateau_multiplies_the_rate_and_respects_min_lr():
    X, y = classification_data()
    model = small_model(optimizer=gn.optimizers.SGD(learning_rate=0.4))
    recorder = WeightRecorder()
    # min_delta so large that nothing after the first epoch counts as an improvement
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=1e9, min_lr=0.06)
    history = model.fit(X, y, epochs=9, callbacks=[plateau, recorder], verbose=0)
    # epoch 0 sets the best; every 2 epochs without improvement halve the rate, down to min_lr
    assert recorder.lrs == [0.4, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.06, 0.06]
    assert model.optimizer.lr == pytest.approx(0.06)
    # History sees the rate each epoch trained with
    assert history.history["lr"] == recorder.lrs


def test_reduce_lr_on_plateau_leaves_an_improving_run_alone():
    X, y = classification_data()
    model = small_model(optimizer=gn.optimizers.SGD(learning_rate=0.1))
    model.fit(X, y, epochs=10, batch_size=None, callbacks=[ReduceLROnPlateau(monitor="loss", patience=1)],
              verbose=0)
    assert model.optimizer.lr == pytest.approx(0.1)


def test_model_checkpoint_writes_a_loadable_file(tmp_path):
    X, y = classification_data()
    model = small_model(seed=2)
    path = tmp_path / "ckpt-{epoch}.glassnet"
    model.fit(X, y, epochs=3, callbacks=[ModelCheckpoint(path)], verbose=0)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["ckpt-1.glassnet", "ckpt-2.glassnet", "ckpt-3.glassnet"]
    loaded = gn.load(tmp_path / "ckpt-3.glassnet")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert_weights_equal(loaded.get_weights(), model.get_weights())


def test_model_checkpoint_save_best_only(tmp_path):
    X, y = classification_data(40)
    model = small_model(seed=0)
    recorder = WeightRecorder()
    path = tmp_path / "best.glassnet"
    history = model.fit(X, y, epochs=8, validation_data=(X, 1 - y), verbose=0,
                        callbacks=[recorder, ModelCheckpoint(path, save_best_only=True, monitor="val_loss")])
    best = int(np.argmin(history.history["val_loss"]))
    assert best < 7  # val_loss gets worse as the model fits y
    assert_weights_equal(gn.load(path).get_weights(), recorder.weights[best])
    assert [p.name for p in tmp_path.iterdir()] == ["best.glassnet"]


def test_progress_bar_with_verbose_1_does_not_crash(capsys):
    X, y = classification_data()
    model = small_model()
    history = model.fit(X, y, epochs=3, validation_split=0.2, verbose=1)
    assert len(history.history["loss"]) == 3
    captured = capsys.readouterr()
    assert "3/3" in captured.err + captured.out


def test_progress_bar_every_writes_lines(capsys):
    import io

    X, y = classification_data()
    stream = io.StringIO()
    model = small_model()
    model.fit(X, y, epochs=4, verbose=1, callbacks=[ProgressBar(every=2, file=stream)])
    text = stream.getvalue()
    assert "Epoch 2/4 - loss:" in text and "Epoch 4/4 - loss:" in text and "Epoch 3/4" not in text


def test_verbose_2_prints_one_line_per_epoch(capsys):
    X, y = classification_data()
    small_model().fit(X, y, epochs=3, verbose=2)
    out = capsys.readouterr().out
    assert [line.split(" - ")[0] for line in out.strip().splitlines()] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]


def test_callback_hooks_are_called_in_order():
    X, y = classification_data(8)
    calls = []

    class Spy(Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_batch_end(self, batch, logs=None):
            calls.append(f"batch_end {batch}")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end {epoch}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    spy = Spy()
    small_model().fit(X, y, epochs=2, batch_size=4, shuffle=False, callbacks=[spy], verbose=0)
    assert calls == ["train_begin",
                     "epoch_begin 0", "batch_end 0", "batch_end 1", "epoch_end 0",
                     "epoch_begin 1", "batch_end 0", "batch_end 1", "epoch_end 1",
                     "train_end"]
    assert spy.model is not None and spy.params["epochs"] == 2


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_copied_model_trains_exactly_like_the_original(how):
    import copy
    import pickle

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    model = gn.Sequential([gn.layers.Dense(8, activation="relu"), gn.layers.BatchNormalization(),
                           gn.layers.Dense(3, activation="softmax")],
                          seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    twin = pickle.loads(pickle.dumps(model)) if how == "pickle" else copy.deepcopy(model)
    for layer in twin.layers:  # views onto the twin's own flat buffer again
        for k, p in layer.params.items():
            assert np.shares_memory(p, twin.flat_params), (layer.display_name, k)
    assert twin.optimizer.p is twin.flat_params
    assert not np.shares_memory(twin.flat_params, model.flat_params)
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    twin.fit(X, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(twin.predict(X), model.predict(X))
