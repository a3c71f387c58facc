"""Callbacks keep their lifecycles: reset at train start, restore the best epoch whole, resume exactly."""

import numpy as np
import pytest

import glassnet as gn
from glassnet.callbacks import EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau
from glassnet.layers import BatchNormalization, Dense, Dropout

rng = np.random.default_rng(1)
X = rng.normal(size=(60, 4))
Y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=60)


def bn_model(seed=0, lr=0.05):
    model = gn.Sequential([Dense(6, activation="relu"), BatchNormalization(momentum=0.5), Dense(1)], seed=seed,
                          dtype="float64")
    return model.compile(loss="mse", optimizer=gn.optimizers.SGD(lr, momentum=0.9))


class FakeValLoss(gn.callbacks.Callback):
    """Overwrite logs["val_loss"] with a scripted sequence, and record the weights at each epoch's end."""

    def __init__(self, values):
        self.values, self.weights = values, []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        self.weights.append(self.model.state_dict(("params", "buffers")))


def assert_weights(model, expected):
    got = model.state_dict(("params", "buffers"))
    for part in ("params", "buffers"):
        for k in expected[part]:
            np.testing.assert_array_equal(got[part][k], expected[part][k], err_msg=f"{part} {k}")


# -- bugs 3 and 4: restore_best_weights ---------------------------------------------------------------------


def test_restore_best_weights_restores_the_best_epoch_even_without_an_early_stop():
    model = bn_model()
    script = FakeValLoss([1.0, 0.5, 0.7, 0.8, 0.9])
    es = EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    history = model.fit(X, Y, epochs=5, batch_size=20, verbose=0, callbacks=[script, es])
    assert len(history.epoch) == 5 and es.stopped_epoch is None  # it ran to the end
    assert es.best_epoch == 1
    assert_weights(model, script.weights[1])  # epoch 2, buffers (BatchNorm's moving statistics) included


def test_restore_best_weights_brings_back_batch_norm_statistics_with_the_weights():
    model = bn_model(lr=0.1)
    Xv, Yv = X[:20], Y[:20]
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(X[20:], Y[20:], epochs=30, batch_size=8, verbose=0, validation_data=(Xv, Yv),
                        callbacks=[es])
    best = min(history.history["val_loss"])
    assert history.history["val_loss"][es.best_epoch] == best
    # the restored model evaluates to the best epoch's val_loss: parameters and moving statistics both came back
    assert model.evaluate(Xv, Yv)["loss"] == pytest.approx(best, rel=1e-12)


# -- bug 5: callbacks reset at train start --------------------------------------------------------------------


def test_a_reused_early_stopping_starts_afresh_with_each_fit():
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    first = bn_model(seed=0)
    first.fit(X, Y, epochs=6, batch_size=20, verbose=0, callbacks=[FakeValLoss([0.1] * 6), es])
    assert es.stopped_epoch == 2
    second = bn_model(seed=1)
    script = FakeValLoss([9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0])  # worse than the first fit's best throughout
    history = second.fit(X, Y, epochs=8, batch_size=20, verbose=0, callbacks=[script, es])
    assert len(history.epoch) == 8 and es.stopped_epoch is None
    assert es.best_epoch == 7
    assert_weights(second, script.weights[7])  # its own best epoch, not the first model's weights


def test_a_reused_reduce_lr_on_plateau_forgets_the_previous_fit():
    plateau = ReduceLROnPlateau(monitor="loss", patience=3, factor=0.5)
    model = bn_model()
    model.fit(X, Y, epochs=2, batch_size=20, verbose=0, callbacks=[plateau])
    plateau.wait, plateau.best = 2, -1.0  # as left by a fit that plateaued
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(0.01))
    history = model.fit(X, Y, epochs=2, batch_size=20, verbose=0, callbacks=[plateau])
    assert history.history["lr"] == [0.01, 0.01]


# -- bug 11: resume is bit for bit with every built-in callback ------------------------------------------------


def callbacks_for(kind, path):
    return {
        "plateau": [ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=10.0)],
        "early": [EarlyStopping(monitor="val_loss", patience=50, restore_best_weights=True)],
        "best-checkpoint": [ModelCheckpoint(str(path) + ".best", save_best_only=True, monitor="val_loss")],
        "scheduler": [LearningRateScheduler(lambda epoch: 0.05 / (1 + epoch))],
        "health": [gn.callbacks.HealthMonitor()],
    }[kind]


@pytest.mark.parametrize("kind", ["plateau", "early", "best-checkpoint", "scheduler", "health"])
def test_resume_with_each_built_in_callback_is_bit_identical(tmp_path, kind):
    fit = {"batch_size": 16, "validation_split": 0.25, "verbose": 0}
    whole = bn_model()
    expected = whole.fit(X, Y, epochs=12, callbacks=callbacks_for(kind, tmp_path / "whole"), **fit)

    path = tmp_path / "ckpt.glassnet"
    first = bn_model()
    first.fit(X, Y, epochs=6, callbacks=callbacks_for(kind, tmp_path / "a") + [ModelCheckpoint(path)], **fit)
    resumed = bn_model()
    got = resumed.fit(X, Y, epochs=12, resume_from=path, callbacks=callbacks_for(kind, tmp_path / "b"), **fit)

    assert got.history == expected.history
    np.testing.assert_array_equal(resumed.flat_params, whole.flat_params)
    np.testing.assert_array_equal(resumed.layers[1].state["moving_var"], whole.layers[1].state["moving_var"])
    assert resumed.optimizer.lr == whole.optimizer.lr


def test_resume_with_reduce_lr_on_plateau_keeps_its_counters(tmp_path):
    # the case found: the resumed run's rate at epoch 11 was 0.05 where the uninterrupted run had 0.025
    plateau = {"monitor": "loss", "patience": 2, "factor": 0.5, "min_delta": 10.0}
    whole = bn_model(lr=0.1)
    expected = whole.fit(X, Y, epochs=14, batch_size=20, verbose=0, callbacks=[ReduceLROnPlateau(**plateau)])
    path = tmp_path / "ckpt.glassnet"
    bn_model(lr=0.1).fit(X, Y, epochs=10, batch_size=20, verbose=0,
                         callbacks=[ModelCheckpoint(path), ReduceLROnPlateau(**plateau)])
    got = bn_model(lr=0.1).fit(X, Y, epochs=14, batch_size=20, verbose=0, resume_from=path,
                               callbacks=[ReduceLROnPlateau(**plateau)])
    assert got.history["lr"] == expected.history["lr"]
    assert got.history["lr"][11] < got.history["lr"][10]  # a reduction the resumed run owes to the saved counters


def test_a_checkpoint_saved_after_fit_resumes_its_callbacks(tmp_path):
    es = {"monitor": "loss", "patience": 3, "min_delta": 10.0}
    model = bn_model()
    model.fit(X, Y, epochs=2, batch_size=20, verbose=0, callbacks=[EarlyStopping(**es)])
    model.save(tmp_path / "m.glassnet")
    again = bn_model()
    history = again.fit(X, Y, epochs=10, batch_size=20, verbose=0, resume_from=tmp_path / "m.glassnet",
                        callbacks=[EarlyStopping(**es)])
    assert history.epoch == [0, 1, 2, 3]  # waits 1 and 2 came from the file: stopped after 2 more epochs


# -- bug 13: bad values are ConfigErrors, Keras' one-argument schedules work ---------------------------------------


@pytest.mark.parametrize("make", [
    lambda: EarlyStopping(min_delta="x"),
    lambda: EarlyStopping(patience=1.5),
    lambda: EarlyStopping(monitor=3),
    lambda: EarlyStopping(restore_best_weights="yes"),
    lambda: ReduceLROnPlateau(factor="half"),
    lambda: ReduceLROnPlateau(patience=-1),
    lambda: ReduceLROnPlateau(min_lr=None),
    lambda: LearningRateScheduler(lambda: 0.1),
    lambda: LearningRateScheduler(lambda a, b, c: 0.1),
])
def test_bad_callback_arguments_are_config_errors(make):
    with pytest.raises(gn.ConfigError, match="Received an invalid value"):
        make()


def test_a_scheduler_may_take_the_epoch_alone_as_in_keras():
    model = bn_model()
    history = model.fit(X, Y, epochs=3, batch_size=20, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.1 * 0.5**epoch),
                                   ReduceLROnPlateau(monitor="loss", patience=100)])
    assert history.history["lr"] == [0.1, 0.05, 0.025]


def test_a_schedule_returning_a_bad_rate_is_a_config_error():
    model = bn_model()
    with pytest.raises(gn.ConfigError, match="at epoch 0"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: "fast")])


def test_dropout_model_resume_is_identical_too(tmp_path):
    def make():
        m = gn.Sequential([Dense(6, activation="relu"), Dropout(0.3), Dense(1)], seed=2, dtype="float64")
        return m.compile(loss="mse", optimizer="adam")

    whole = make()
    whole.fit(X, Y, epochs=6, batch_size=16, verbose=0, callbacks=[EarlyStopping("loss", patience=9)])
    path = tmp_path / "c.glassnet"
    make().fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[ModelCheckpoint(path),
                                                                    EarlyStopping("loss", patience=9)])
    resumed = make()
    resumed.fit(X, Y, epochs=6, batch_size=16, verbose=0, resume_from=path,
                callbacks=[EarlyStopping("loss", patience=9)])
    np.testing.assert_array_equal(resumed.flat_params, whole.flat_params)
