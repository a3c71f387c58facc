"""One owner of training state: state_dict()/load_state_dict(), and every consumer that goes through it.

Each "nothing lost" promise is checked on a Dense model and on the models where it used to break: a
convolution with batch normalization (buffers), an LSTM and an Embedding.
"""

import copy
import pickle

import fakegpu
import numpy as np
import pytest

import glassnet as gn
from glassnet.layers import (
    LSTM,
    BatchNormalization,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    GlobalAveragePooling1D,
)

rng = np.random.default_rng(0)
N = 48


def _dense():
    X = rng.normal(size=(N, 5))
    return [Dense(8, activation="relu"), Dropout(0.2), Dense(3, activation="softmax")], X


def _conv_bn():
    X = rng.normal(size=(N, 12, 2))
    return [Conv1D(4, 3, padding="same"), BatchNormalization(), Dense(4, activation="relu"),
            GlobalAveragePooling1D(), Dense(3, activation="softmax")], X


def _lstm():
    X = rng.normal(size=(N, 6, 3))
    return [LSTM(5), BatchNormalization(), Dense(3, activation="softmax")], X


def _embedding():
    X = rng.integers(0, 20, size=(N, 7)).astype(float)
    return [Embedding(20, 4), LSTM(4), Dense(3, activation="softmax")], X


BUILDERS = {"dense": _dense, "conv+bn": _conv_bn, "lstm": _lstm, "embedding": _embedding}
Y = rng.integers(0, 3, size=N)


def make(kind, optimizer=None, dtype="float64"):
    layers, X = BUILDERS[kind]()
    model = gn.Sequential(layers, seed=3, dtype=dtype)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer or gn.optimizers.Adam(0.01),
                  metrics=["accuracy"])
    return model, X


def weights_of(model):
    return model.state_dict(("params", "buffers"))


def assert_same(a, b):
    assert a.keys() == b.keys()
    for part in a:
        if isinstance(a[part], dict):
            assert a[part].keys() == b[part].keys(), part
            for k in a[part]:
                if isinstance(a[part][k], np.ndarray):
                    np.testing.assert_array_equal(a[part][k], b[part][k], err_msg=f"{part}/{k}")


# -- the state dict itself -----------------------------------------------------------------------------------


def test_state_dict_lists_parameters_buffers_optimizer_and_rng():
    model, X = make("conv+bn")
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    sd = model.state_dict()
    assert set(sd) == {"params", "buffers", "optimizer", "rng", "callbacks", "training"}
    assert set(sd["buffers"]) == {"1/moving_mean", "1/moving_var"}
    assert sd["optimizer"]["iterations"] == 3 and set(sd["optimizer"]["state"]) == {"m", "v"}
    # copies: changing the model does not change the dict
    before = sd["buffers"]["1/moving_var"].copy()
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(sd["buffers"]["1/moving_var"], before)
    assert not np.array_equal(model.layers[1].state["moving_var"], before)


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_load_state_dict_puts_everything_back(kind):
    model, X = make(kind)
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    sd = model.state_dict()
    expected = model.predict(X)
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    model.load_state_dict(sd)
    np.testing.assert_array_equal(model.predict(X), expected)
    assert_same(model.state_dict(("params", "buffers")), {k: sd[k] for k in ("params", "buffers")})
    assert model.optimizer.iterations == sd["optimizer"]["iterations"]
    assert model.rng.bit_generator.state == sd["rng"]


def test_load_state_dict_checks_names_shapes_and_dtypes_before_changing_anything():
    model, X = make("conv+bn")
    model.build(X.shape[1:])
    before = model.get_weights()
    sd = model.state_dict(("params", "buffers"))
    bad = copy.deepcopy(sd)
    del bad["buffers"]["1/moving_var"]
    with pytest.raises(gn.ConfigError, match="missing 1/moving_var"):
        model.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["params"]["0/W"] = np.zeros((2, 2))
    with pytest.raises(gn.ShapeError, match="0/W"):
        model.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["params"]["0/W"] = bad["params"]["0/W"].astype(np.float32)
    bad["buffers"]["1/moving_var"][:] = 7
    with pytest.raises(gn.ConfigError, match="dtype float64 in the model; received float32"):
        model.load_state_dict(bad)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_get_weights_includes_buffers_in_keras_order():
    model, X = make("conv+bn")
    model.build(X.shape[1:])
    shapes = [w.shape for w in model.get_weights()]
    # Conv1D W, b; BatchNormalization gamma, beta, moving_mean, moving_var; Dense W, b; Dense W, b
    assert shapes == [(3, 2, 4), (4,), (4,), (4,), (4,), (4,), (4, 4), (4,), (4, 3), (3,)]
    weights = model.get_weights()
    weights[5][:] = 2.0  # moving_var
    model.set_weights(weights)
    np.testing.assert_array_equal(model.layers[1].state["moving_var"], 2.0)


# -- copies and moves go through it ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "to"])
def test_copies_and_moves_keep_buffers_and_optimizer_state_and_train_on_alike(how):
    model, X = make("conv+bn")
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    if how == "deepcopy":
        other = copy.deepcopy(model)
    elif how == "pickle":
        other = pickle.loads(pickle.dumps(model))
    else:
        fakegpu.install()  # the strict stand-in for CuPy
        other = copy.deepcopy(model).to("fakegpu")
        assert other.state_dict()["optimizer"]["iterations"] == 3
        other = other.to("cpu")
    assert_same(other.state_dict(("params", "buffers")), model.state_dict(("params", "buffers")))
    assert_same(other.state_dict(("optimizer",))["optimizer"], model.state_dict(("optimizer",))["optimizer"])
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    other.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(other.flat_params, model.flat_params)
    np.testing.assert_array_equal(other.layers[1].state["moving_var"], model.layers[1].state["moving_var"])


# -- bug 1: one optimizer, two models --------------------------------------------------------------------------


def test_one_optimizer_instance_cannot_train_two_models():
    opt = gn.optimizers.Adam(0.01)
    a, X = make("dense", optimizer=opt)
    a.fit(X, Y, epochs=1, verbose=0)
    b, _ = make("dense")
    with pytest.raises(gn.ConfigError, match="already compiled into another model"):
        b.compile(loss="sparse_categorical_crossentropy", optimizer=opt)
    a.compile(loss="sparse_categorical_crossentropy", optimizer=opt)  # its own model may compile it again
    a.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")  # released: another model may take it
    b.compile(loss="sparse_categorical_crossentropy", optimizer=opt)
    losses = b.fit(X, Y, epochs=3, verbose=0).history["loss"]
    assert losses[2] < losses[0]


def test_a_copied_model_gets_its_own_optimizer():
    model, X = make("dense")
    model.fit(X, Y, epochs=1, batch_size=None, verbose=0)
    other = copy.deepcopy(model)
    assert other.optimizer is not model.optimizer
    other.compile(loss="sparse_categorical_crossentropy", optimizer=other.optimizer)
    model.fit(X, Y, epochs=1, batch_size=None, verbose=0)
    assert other.optimizer.iterations == 1 and model.optimizer.iterations == 2  # full batch: a step an epoch


# -- bug 2: divergence keeps buffers too, and set_weights moves the last good state ------------------------------


class PoisonAt(gn.callbacks.Callback):
    """After batch `at`, record the state, then turn every parameter into NaN (the next loss is NaN)."""

    def __init__(self, at):
        self.at, self.seen = at, []

    def on_batch_end(self, batch, logs=None):
        self.seen.append(self.model.state_dict(("params", "buffers")))
        if len(self.seen) == self.at:
            self.model.flat_params[:] = np.nan


class PoisonFirst(gn.callbacks.Callback):
    """NaN in every parameter before the first step's forward pass."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.flat_params[:] = np.nan


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_divergence_restores_the_last_good_parameters_and_buffers(kind):
    model, X = make(kind)
    poison = PoisonAt(3)
    with pytest.raises(gn.DivergenceError):
        model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[poison])
    after = model.state_dict(("params", "buffers"))
    # parameters: those of the last step whose loss was finite (before its update); buffers: as that
    # step's forward pass left them
    for k, v in after["params"].items():
        np.testing.assert_array_equal(v, poison.seen[1]["params"][k], err_msg=k)
    for k, v in after["buffers"].items():
        np.testing.assert_array_equal(v, poison.seen[2]["buffers"][k], err_msg=k)
    assert np.isfinite(model.predict(X)).all()


def test_divergence_through_batch_norm_leaves_finite_moving_statistics():
    # the case found: inputs so large that the batch variance overflows float32
    model = gn.Sequential([Dense(3), BatchNormalization(), Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    X = rng.normal(size=(20, 4)).astype(np.float32)
    y = X.sum(axis=1)
    model.fit(X, y, epochs=2, batch_size=10, verbose=0)
    good = model.layers[1].state["moving_var"].copy()
    with pytest.raises(gn.DivergenceError, match="buffer moving_var of layer 1"), np.errstate(all="ignore"):
        model.fit(X * np.float32(1e30), y, epochs=1, batch_size=10, verbose=0)
    np.testing.assert_array_equal(model.layers[1].state["moving_var"], good)
    assert np.abs(model.predict(X)).max() < 100  # it used to be -6.3e12 for every row


def test_set_weights_becomes_the_state_a_divergence_returns_to():
    model, X = make("dense")
    model.fit(X, Y, epochs=1, verbose=0)
    chosen = [w + 0.5 for w in model.get_weights()]
    model.set_weights(chosen)
    with pytest.raises(gn.DivergenceError):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[PoisonFirst()])
    for a, b in zip(model.get_weights(), chosen):
        np.testing.assert_array_equal(a, b)


def test_a_non_finite_optimizer_state_is_reset_after_divergence():
    model, X = make("dense")
    model.fit(X, Y, epochs=1, verbose=0)
    model.optimizer.state["m"][:] = np.nan  # as an overflowing gradient leaves Adam's moments
    with pytest.raises(gn.DivergenceError, match="optimizer's state was not finite and has been reset"):
        model.fit(X, Y, epochs=1, verbose=0)
    assert model.optimizer.iterations == 0 and not model.optimizer.state["m"].any()
    assert np.isfinite(model.fit(X, Y, epochs=1, verbose=0).history["loss"][0])


# -- bug 6: the fused plan is decided by compile -----------------------------------------------------------------


def test_the_fused_loss_plan_follows_each_compile():
    model = gn.Sequential([Dense(4, activation="relu"), Dense(3, activation="softmax")], seed=0)
    X = rng.normal(size=(12, 5))
    Yh = np.eye(3)[rng.integers(0, 3, size=12)]
    for i in range(30):  # new loss objects, often at the address of the one just freed
        loss = gn.losses.CategoricalCrossEntropy() if i % 2 == 0 else gn.losses.MeanSquaredError()
        model.compile(loss=loss, optimizer="sgd")
        assert (model._fused_last() is not None) == (i % 2 == 0)
        del loss
        model.fit(X, Yh, epochs=1, verbose=0)


def test_adding_a_layer_after_compile_decides_the_plan_again():
    model = gn.Sequential([Dense(4, activation="softmax")], seed=0)
    model.compile(loss="categorical_crossentropy")
    assert model._fused_last() is model.layers[0]
    model.add(Dense(3, activation="relu"))
    assert model._fused_last() is None


# -- registration: a layer cannot keep state the model does not know of ------------------------------------------


class Counter(gn.layers.Layer):
    """A future layer with a buffer: it counts the training rows it has seen."""

    state_names = ("seen",)

    def build(self, input_shape, rng, dtype=np.float32):
        self.add_weight("seen", np.zeros(1, dtype=dtype), trainable=False)
        return super().build(input_shape, rng, dtype)

    def forward(self, x, training=False):
        if training:
            self.state["seen"] += len(x)
        return x

    def backward(self, dy):
        return dy


class Forgetful(Counter):
    def build(self, input_shape, rng, dtype=np.float32):
        self.seen = np.zeros(1)  # kept outside the registry
        return gn.layers.Layer.build(self, input_shape, rng, dtype)


def test_a_buffer_registered_with_add_weight_is_saved_restored_and_guarded():
    model = gn.Sequential([Dense(3), Counter(), Dense(3, activation="softmax")], seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    X = rng.normal(size=(N, 5))
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    assert model.state_dict()["buffers"] == {"1/seen": np.array([48.0])}
    best = model.state_dict(("params", "buffers"))
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    assert model.layers[1].state["seen"][0] == 96
    model.load_state_dict(best)
    assert model.layers[1].state["seen"][0] == 48
    assert copy.deepcopy(model).layers[1].state["seen"][0] == 48
    assert [w.shape for w in model.get_weights()] == [(5, 3), (3,), (1,), (3, 3), (3,)]


def test_a_layer_that_declares_a_buffer_must_register_it():
    model = gn.Sequential([Dense(3), Forgetful()], seed=0)
    with pytest.raises(gn.ConfigError, match=r"declares buffers \['seen'\] but registered \[\]"):
        model.build(5)


# -- resume and restore on every kind of model -------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_resume_is_bit_identical_for_every_kind_of_model(tmp_path, kind):
    fit = {"batch_size": 16, "validation_split": 0.25, "verbose": 0}
    whole, X = make(kind)
    expected = whole.fit(X, Y, epochs=4, callbacks=[gn.callbacks.ReduceLROnPlateau(patience=1)], **fit)
    path = tmp_path / "ckpt.glassnet"
    first, _ = make(kind)
    first.fit(X, Y, epochs=2, callbacks=[gn.callbacks.ModelCheckpoint(path),
                                         gn.callbacks.ReduceLROnPlateau(patience=1)], **fit)
    resumed, _ = make(kind)
    got = resumed.fit(X, Y, epochs=4, resume_from=path, callbacks=[gn.callbacks.ReduceLROnPlateau(patience=1)],
                      **fit)
    assert got.history == expected.history
    assert_same(resumed.state_dict(("params", "buffers")), whole.state_dict(("params", "buffers")))
    assert_same(resumed.state_dict(("optimizer",))["optimizer"], whole.state_dict(("optimizer",))["optimizer"])
    assert resumed.rng.bit_generator.state == whole.rng.bit_generator.state


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_restore_best_weights_for_every_kind_of_model(kind):
    model, X = make(kind)
    Xv, Yv = X[:12], Y[:12]
    es = gn.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    history = model.fit(X[12:], Y[12:], epochs=8, batch_size=12, verbose=0, validation_data=(Xv, Yv), callbacks=[es])
    best = history.history["val_loss"][es.best_epoch]
    assert best == min(history.history["val_loss"])
    assert model.evaluate(Xv, Yv)["loss"] == pytest.approx(best, rel=1e-12)


def test_a_bad_rng_state_is_refused_before_anything_changes():
    model, X = make("dense")
    model.build(X.shape[1:])
    before = model.get_weights()
    sd = model.state_dict(("params", "rng"))
    sd["params"]["0/W"] = sd["params"]["0/W"] + 1
    sd["rng"] = {"bit_generator": "MT19937", "state": {}}
    with pytest.raises(gn.ConfigError, match="rng state"):
        model.load_state_dict(sd)
    np.testing.assert_array_equal(model.get_weights()[0], before[0])
