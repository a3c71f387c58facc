"""Keras idioms that work as a Keras user expects (issue 11): compile(metrics="accuracy"), model(X), Input,
input_shape=, layer weights, Adam(beta_1=), callbacks' Keras defaults and messages, warnings for outputs that
do not fit the loss, summary() returning None."""

import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.callbacks import EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau
from glassnet.errors import GlassnetWarning
from glassnet.layers import (
    GRU,
    BatchNormalization,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    Input,
    Residual,
)


def data(n=40, f=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, f))
    return X, (X[:, :1] > 0).astype(float)


def mlp(**kw):
    return gn.Sequential([Dense(5, activation="relu"), Dense(1, activation="sigmoid")], seed=0, **kw)


# -- compile(metrics="accuracy") ---------------------------------------------------------------------------------


def test_a_single_metric_string_is_one_metric():
    X, y = data()
    model = mlp()
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics="accuracy")
    assert [name for name, _ in model.metrics] == ["accuracy"]
    history = model.fit(X, y, epochs=1, batch_size=None, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=("auc", "precision"))
    assert [name for name, _ in model.metrics] == ["auc", "precision"]


# -- model(X), Input, input_shape=, predict on an unbuilt model -----------------------------------------------------


def test_calling_the_model_is_a_forward_pass_in_inference_mode():
    X, _ = data()
    model = gn.Sequential([Dense(6, activation="tanh"), Dropout(0.5), Dense(2)], seed=0)
    out = model(X)  # builds for X's shape, as Keras does
    assert model.built and model.input_shape == (4,)
    assert isinstance(out, np.ndarray) and out.shape == (40, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out, model(X))  # dropout off: the same output twice
    assert not np.array_equal(model(X, training=True), out)  # dropout on
    with pytest.raises(gn.ConfigError, match="training"):
        model(X, training="yes")


def test_input_first_builds_the_model_at_once():
    model = gn.Sequential([Input((4,)), Dense(3, activation="relu"), Dense(1)], seed=0)
    assert model.built and model.input_shape == (4,) and model.count_params() == 4 * 3 + 3 + 3 + 1
    assert [type(la).__name__ for la in model.layers] == ["Dense", "Dense"]  # Keras leaves the InputLayer out
    same = gn.Sequential([Dense(3, activation="relu"), Dense(1)], seed=0).build(4)
    for a, b in zip(model.get_weights(), same.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = gn.Sequential([Input((6, 2)), Conv1D(3, 2), Flatten(), Dense(1)], seed=0)
    assert images.output_shape == (1,)


def test_input_shape_keyword_on_any_first_layer():
    for first, shape in [(Dense(3, input_shape=(4,)), (4,)), (Dense(3, input_shape=4), (4,)),
                         (Conv1D(2, 3, input_shape=(8, 2)), (8, 2)), (GRU(3, input_shape=(5, 2)), (5, 2)),
                         (BatchNormalization(input_shape=(4,)), (4,)), (Dropout(0.1, input_shape=(4,)), (4,)),
                         (Embedding(9, 2, input_shape=(5,)), (5,)),
                         (Residual([Dense(4)], input_shape=(4,)), (4,))]:
        model = gn.Sequential([first, Flatten(), Dense(1)], seed=0)
        assert model.built and model.input_shape == shape, first
    assert Dense(3, input_shape=(4,)).declared_input_shape == (4,)
    assert Dense(3).get_config() == Dense(3, input_shape=(4,)).get_config()  # not part of the layer's config


def test_bad_input_shapes_and_misplaced_inputs_are_errors():
    with pytest.raises(gn.ShapeError, match="Received an invalid value for `shape`.*Received: shape=0"):
        Input(0)
    with pytest.raises(gn.ShapeError, match="input_shape=\\(4, None\\)"):
        Dense(3, input_shape=(4, None))
    with pytest.raises(gn.ConfigError, match="first element"):
        gn.Sequential([Dense(3), Input((4,))])
    with pytest.raises(gn.ShapeError, match="declares input_shape=\\(5,\\).*\\(4,\\)"):
        gn.Sequential([Input((4,)), Dense(3, input_shape=(5,))])


def test_layers_added_to_a_built_model_are_built_and_keep_the_others():
    model = gn.Sequential([Input((4,))], seed=0)
    assert not model.built  # nothing to build yet
    model.add(Dense(3, activation="relu"))
    assert model.built
    first = model.get_weights()
    model.add(Dense(2, activation="softmax"))
    assert model.output_shape == (2,) and model.count_params() == 15 + 8
    np.testing.assert_array_equal(model.get_weights()[0], first[0])
    # the same weights as a model built in one go: layer by layer, the generator draws in the same order
    whole = gn.Sequential([Input((4,)), Dense(3, activation="relu"), Dense(2, activation="softmax")], seed=0)
    for a, b in zip(model.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    X, y = data()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(X, y.ravel().astype(int), epochs=2, batch_size=None, verbose=0)


def test_predict_and_evaluate_build_an_unbuilt_model_from_x():
    X, y = data()
    for compiled in (False, True):
        model = mlp()
        if compiled:
            model.compile(loss="binary_crossentropy", optimizer="sgd")
        out = model.predict(X)
        assert model.built and out.shape == (40, 1)
    model = mlp().compile(loss="binary_crossentropy", optimizer="sgd", metrics="accuracy")
    results = model.evaluate(X, y)
    assert model.built and set(results) == {"loss", "accuracy"}


def test_predict_verbose_and_evaluate_return_dict_as_keras(capsys):
    X, y = data()
    model = mlp().compile(loss="binary_crossentropy", optimizer="sgd", metrics="accuracy")
    results = model.evaluate(X, y, verbose=1)
    assert capsys.readouterr().out.strip() == f"loss: {results['loss']:.6g} - accuracy: {results['accuracy']:.6g}"
    assert model.evaluate(X, y, return_dict=False) == [results["loss"], results["accuracy"]]
    plain = mlp().compile(loss="binary_crossentropy", optimizer="sgd")
    assert plain.evaluate(X, y, return_dict=False) == plain.evaluate(X, y)["loss"]  # a scalar without metrics
    model.predict(X, verbose=1)
    assert capsys.readouterr().out.startswith("40/40 rows predicted")
    for bad in ({"verbose": 3}, {"verbose": True}):
        with pytest.raises(gn.ConfigError, match="verbose"):
            model.predict(X, **bad)
    with pytest.raises(gn.ConfigError, match="return_dict"):
        model.evaluate(X, y, return_dict="yes")


# -- layer.get_weights() / set_weights() ---------------------------------------------------------------------------


def test_every_layer_gets_and_sets_its_weights_in_keras_order():
    model = gn.Sequential([Input((6, 2)), Conv1D(3, 2), BatchNormalization(), GRU(4), Dense(2)], seed=0)
    conv, bn, _, dense = model.layers
    assert [w.shape for w in bn.get_weights()] == [(3,)] * 4  # gamma, beta, moving_mean, moving_var
    assert list(bn.params) + list(bn.state) == ["gamma", "beta", "moving_mean", "moving_var"]
    assert [w.shape for w in dense.get_weights()] == [(4, 2), (2,)]
    flat = [w for layer in model.layers for w in layer.get_weights()]
    for a, b in zip(flat, model.get_weights()):  # the model's list is the layers' lists in order
        np.testing.assert_array_equal(a, b)
    w = conv.get_weights()
    w[0][...] = 7.0  # a copy: the layer is untouched
    assert not (conv.params["W"] == 7.0).any()
    conv.set_weights(w)
    assert (conv.params["W"] == 7.0).all() and (model.get_weights()[0] == 7.0).all()  # the model sees it
    bn.set_weights([np.full(3, 2.0), np.zeros(3), np.ones(3), np.full(3, 4.0)])
    assert (bn.state["moving_var"] == 4.0).all()
    assert Dropout(0.5, input_shape=(3,)).built is False
    with pytest.raises(gn.ShapeError, match="W has shape \\(2, 2, 3\\); received \\(3,\\)"):
        conv.set_weights([np.zeros(3), np.zeros(3)])
    with pytest.raises(gn.ShapeError, match="list of 2 arrays \\(W, b\\); received 1"):
        dense.set_weights([np.zeros((4, 2))])
    with pytest.raises(gn.NotBuiltError, match="not built"):
        Dense(3).get_weights()
    assert model.layers[0].get_weights()[1].shape == (3,)


# -- Adam's Keras names --------------------------------------------------------------------------------------------


def test_adam_takes_keras_beta_names_and_reads_old_configs():
    opt = gn.optimizers.Adam(beta_1=0.8, beta_2=0.99)
    assert (opt.beta1, opt.beta2) == (0.8, 0.99)
    config = opt.get_config()
    assert config["beta_1"] == 0.8 and config["beta_2"] == 0.99 and "beta1" not in config
    old = {"class": "Adam", "learning_rate": 0.01, "beta1": 0.7, "beta2": 0.9, "epsilon": 1e-7}  # earlier files
    assert gn.optimizers.get_optimizer(old).get_config()["beta_1"] == 0.7
    assert gn.optimizers.Adam(beta1=0.5).beta1 == 0.5  # the paper's names still work
    assert gn.optimizers.AdamW(beta_1=0.85).get_config()["beta_1"] == 0.85
    with pytest.raises(gn.ConfigError, match="either beta_1= or beta1="):
        gn.optimizers.Adam(beta_1=0.8, beta1=0.7)
    with pytest.raises(gn.ConfigError, match="beta_1"):
        gn.optimizers.Adam(beta_1=1.5)


def test_an_old_model_file_with_beta1_loads(tmp_path):
    X, y = data()
    model = mlp()
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(0.01, beta_1=0.8))
    model.fit(X, y, epochs=1, batch_size=None, verbose=0)
    model.save(tmp_path / "m.glassnet")
    assert gn.load(tmp_path / "m.glassnet").optimizer.beta1 == 0.8


# -- callbacks ----------------------------------------------------------------------------------------------------


def test_a_one_argument_schedule_works():
    X, y = data()
    model = mlp()
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(0.1))
    history = model.fit(X, y, epochs=3, batch_size=None, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)),
                                   ReduceLROnPlateau(monitor="loss", patience=100)])
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_reduce_lr_on_plateau_has_keras_defaults():
    plateau = ReduceLROnPlateau()
    assert (plateau.monitor, plateau.factor, plateau.patience, plateau.min_delta, plateau.cooldown,
            plateau.min_lr, plateau.verbose, plateau.mode) == ("val_loss", 0.1, 10, 1e-4, 0, 0.0, 0, "min")


def test_reduce_lr_on_plateau_cooldown_and_verbose(capsys):
    X, y = data()
    model = mlp()
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(0.8))
    # nothing counts as an improvement after epoch 0: reduce after 1 epoch, then 2 epochs of cooldown
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9, cooldown=2, verbose=1)
    history = model.fit(X, y, epochs=8, batch_size=None, verbose=0, callbacks=[plateau])
    # Keras' order: epoch 1 reduces (cooldown 2); epoch 2 cools (counter 1, wait 0, no count); epoch 3 cools the
    # counter to 0 and, out of cooldown, counts wait 1 = patience: reduces; so on. "lr" is the rate an epoch used.
    assert history.history["lr"] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1]
    assert model.optimizer.lr == 0.05
    out = capsys.readouterr().out
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.4." in out
    assert out.count("ReduceLROnPlateau reducing") == 4


def test_tsc_keeps_the_papers_plateau_settings():
    import inspect

    from glassnet.models import tsc

    source = inspect.getsource(tsc.train)
    assert 'ReduceLROnPlateau(monitor="loss", factor=0.5' in source


@pytest.mark.parametrize("make", [lambda: EarlyStopping(patience=100), lambda: ReduceLROnPlateau(patience=100),
                                  lambda: ModelCheckpoint("{tmp}/best.glassnet", save_best_only=True)])
def test_monitoring_val_loss_without_validation_data_warns_once_per_fit(make, tmp_path):
    X, y = data()
    model = mlp()
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    cb = make()
    if isinstance(cb, ModelCheckpoint):
        cb.path = cb.path.format(tmp=tmp_path)
    name = type(cb).__name__
    for _ in range(2):  # once in each fit
        with pytest.warns(GlassnetWarning, match=f"{name} monitors 'val_loss', but fit has no validation data: "
                                                 "it uses 'loss'") as record:
            model.fit(X, y, epochs=3, batch_size=None, verbose=0, callbacks=[cb])
        assert sum("val_loss" in str(w.message) for w in record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y, epochs=2, batch_size=None, verbose=0, callbacks=[make() if not isinstance(cb, ModelCheckpoint)
                                                                          else cb], validation_data=(X, y))


def test_early_stopping_verbose_prints_keras_lines(capsys):
    X, y = data()
    model = mlp()
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(0.1))
    # min_delta so large that only epoch 0 is ever the best: stop after patience = 2 more epochs
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=1e9, restore_best_weights=True, verbose=1)
    model.fit(X, y, epochs=10, batch_size=None, verbose=0, callbacks=[stopper])
    out = capsys.readouterr().out.splitlines()
    assert out == ["Epoch 3: early stopping", "Restoring model weights from the end of the best epoch: 1."]  # Keras 3's order
    quiet = EarlyStopping(monitor="loss", patience=2, min_delta=1e9)
    model.fit(X, y, epochs=10, batch_size=None, verbose=0, callbacks=[quiet])
    assert capsys.readouterr().out == ""


# -- outputs that do not fit the loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("layers,loss,message", [
    ([Dense(3)], "categorical_crossentropy", "after a linear output.*not logits.*activation='softmax'"),
    ([Dense(3, activation="relu")], "sparse_categorical_crossentropy", "after a relu output.*activation='softmax'"),
    ([Dense(1)], "binary_crossentropy", "after a linear output.*activation='sigmoid'"),
    ([Dense(3, activation="sigmoid")], "sparse_categorical_crossentropy",
     "after a sigmoid output of 3 units.*activation='softmax'"),
    ([Dense(3, activation="sigmoid")], "categorical_crossentropy", "sigmoid output of 3 units"),
    ([Dense(1, activation="sigmoid")], "sparse_categorical_crossentropy",
     "single output unit.*binary_crossentropy"),
    ([Dense(1, activation="softmax")], "categorical_crossentropy", "single output unit"),
    ([Dense(1, activation="softmax")], "binary_crossentropy", "softmax over one unit.*activation='sigmoid'"),
    ([Dense(3), gn.layers.ReLU()], "categorical_crossentropy", "after a relu output"),
])
@pytest.mark.parametrize("order", ["compile then build", "build then compile"])
def test_an_output_that_does_not_fit_the_loss_warns(layers, loss, message, order):
    model = gn.Sequential([Dense(4, activation="tanh"), *layers], seed=0)
    first, second = ((lambda: model.compile(loss=loss, optimizer="sgd"), lambda: model.build(5))
                     if order == "compile then build" else
                     (lambda: model.build(5), lambda: model.compile(loss=loss, optimizer="sgd")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first()  # nothing to say until the model is both compiled and built
    with pytest.warns(GlassnetWarning, match=message):
        second()


@pytest.mark.parametrize("last,loss", [
    (Dense(3, activation="softmax"), "categorical_crossentropy"),
    (Dense(3, activation="softmax"), "sparse_categorical_crossentropy"),
    (Dense(1, activation="sigmoid"), "binary_crossentropy"),
    (Dense(4, activation="sigmoid"), "binary_crossentropy"),  # multi-label
    (Dense(2, activation="hard_sigmoid"), "binary_crossentropy"),
    (Dense(3), "mse"),
    (GlobalAveragePooling1D(), "categorical_crossentropy"),  # not an activation we know: no opinion
])
def test_a_fitting_output_does_not_warn(last, loss):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = Dense(4, activation="tanh") if not isinstance(last, GlobalAveragePooling1D) else Conv1D(3, 2)
        model = gn.Sequential([first, last], seed=0)
        model.compile(loss=loss, optimizer="sgd")
        model.build(5 if isinstance(first, Dense) else (6, 2))


# -- summary() ------------------------------------------------------------------------------------------------------


def test_summary_prints_and_returns_none(capsys):
    model = gn.Sequential([Input((4,)), Dense(3)], seed=0)
    assert model.summary() is None
    printed = capsys.readouterr().out
    lines = []
    model.summary(print_fn=lines.append)
    assert printed.strip() == lines[0].strip() and "Total params: 15" in lines[0]
