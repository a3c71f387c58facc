"""The device backend: the same code on another array module gives the same numbers.

No GPU is needed: ``fakegpu`` is a strict stand-in for CuPy whose arrays refuse to mix with host arrays,
so every allocation and transfer the GPU path needs is exercised. With CuPy and a CUDA device the same
tests run on ``device="gpu"`` as well (``GLASSNET_TEST_GPU=1``).
"""

import os
import sys

import fakegpu
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet.backend import get_device, to_numpy
from glassnet.errors import ConfigError

fakegpu.install()
DEVICES = ["fakegpu"] + (["gpu"] if os.environ.get("GLASSNET_TEST_GPU") else [])
# the fake computes with NumPy, so it must match the CPU to the last bits; a real GPU sums its matrix
# products in another order (float64 here), so after a few epochs it agrees to about 1e-10
TOL = {"fakegpu": {"rtol": 1e-12, "atol": 1e-14}, "gpu": {"rtol": 1e-8, "atol": 1e-10}}


def mlp():
    return [L.Dense(16, activation="relu", kernel_regularizer="l2"), L.Dropout(0.2),
            L.Dense(8, activation="tanh"), L.Dense(3, activation="softmax")]


def fcn():
    return [L.Conv1D(6, 3, padding="same"), L.BatchNormalization(), L.ReLU(), L.MaxPool1D(2), L.Conv1D(4, 3, padding="valid", activation="elu"),
            L.AveragePool1D(2, padding="same"), L.GlobalAveragePooling1D(), L.Dense(3, activation="softmax")]


def cnn():
    return [L.Conv2D(4, 3, padding="same", activation="relu"), L.MaxPool2D(2), L.Conv2D(5, 2, activation="sigmoid"),
            L.AveragePool2D(2, padding="same"), L.Flatten(), L.Dense(3, activation="softmax")]


def resnet():
    return [L.Conv1D(4, 3, padding="same"),
            L.Residual([L.Conv1D(4, 3, padding="same"), L.BatchNormalization(), L.ReLU(), L.Conv1D(4, 3, padding="same")]),
            L.GlobalAveragePooling1D(), L.Dense(3, activation="softmax")]


NETS = {"mlp": (mlp, (10,)), "fcn": (fcn, (12, 2)), "cnn": (cnn, (6, 6, 2)), "resnet": (resnet, (12, 2))}


def data(sample_shape, n=24):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *sample_shape)), rng.integers(0, 3, n)


def trained(net, device, optimizer="adam", dtype="float64", epochs=3):
    build, shape = NETS[net]
    X, y = data(shape)
    model = gn.Sequential(build(), seed=1, dtype=dtype, device=device)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    history = model.fit(X, y, epochs=epochs, batch_size=8, verbose=0, validation_split=0.25)
    return model, history, X, y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("net", list(NETS))
def test_training_on_the_device_equals_the_cpu(net, device):
    cpu, h_cpu, X, y = trained(net, "cpu")
    dev, h_dev, _, _ = trained(net, device)
    assert dev.device == device and type(dev.flat_params) is get_device(device).array_type
    assert all(type(v) is get_device(device).array_type for v in dev.optimizer.state.values())
    for layer in dev.layers:
        for v in layer.state.values():
            assert type(v) is get_device(device).array_type
    for a, b in zip(cpu.get_weights(), dev.get_weights()):
        assert type(b) is np.ndarray
        np.testing.assert_allclose(b, a, **TOL[device])
    assert h_dev.history.keys() == h_cpu.history.keys()
    for k in h_cpu.history:
        np.testing.assert_allclose(h_dev.history[k], h_cpu.history[k], rtol=TOL[device]["rtol"])
    p_cpu, p_dev = cpu.predict(X), dev.predict(X, batch_size=7)
    assert type(p_dev) is np.ndarray
    np.testing.assert_allclose(p_dev, p_cpu, **TOL[device])
    assert dev.evaluate(X, y) == pytest.approx(cpu.evaluate(X, y), rel=TOL[device]["rtol"])


@pytest.mark.parametrize("optimizer", ["sgd", gn.optimizers.SGD(0.1, momentum=0.9, nesterov=True), "adagrad",
                                       "rmsprop", "adadelta", gn.optimizers.AdamW(global_clipnorm=0.1, clipvalue=0.5)],
                         ids=["sgd", "nesterov", "adagrad", "rmsprop", "adadelta", "adamw_clipped"])
def test_every_optimizer_runs_on_the_device(optimizer):
    import copy

    cpu, _, _, _ = trained("mlp", "cpu", optimizer=copy.deepcopy(optimizer))
    dev, _, _, _ = trained("mlp", "fakegpu", optimizer=copy.deepcopy(optimizer))
    for a, b in zip(cpu.get_weights(), dev.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss, target", [("mse", "real"), ("mae", "real"), ("binary_crossentropy", "binary"),
                                          ("categorical_crossentropy", "onehot")])
def test_every_loss_runs_on_the_device(loss, target):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 5))
    y = {"real": rng.standard_normal((20, 2)), "binary": rng.integers(0, 2, (20, 2)).astype(float),
         "onehot": np.eye(2)[rng.integers(0, 2, 20)]}[target]
    act = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}.get(loss)
    out = []
    for device in ("cpu", "fakegpu"):
        model = gn.Sequential([L.Dense(6, activation="leaky_relu"), L.Dense(2, activation=act)], seed=0,
                              dtype="float64", device=device)
        model.compile(loss=loss, optimizer="adam", metrics=["mae"] if target == "real" else ["accuracy"])
        model.fit(X, y, epochs=4, batch_size=5, verbose=0)
        out.append((model.predict(X), model.evaluate(X, y)))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-12)
    assert out[1][1] == pytest.approx(out[0][1], rel=1e-12)


def test_float32_on_the_device_keeps_float32():
    model, _, X, _ = trained("cnn", "fakegpu", dtype="float32")
    assert model.flat_params.dtype == np.float32 and model.predict(X).dtype == np.float32


def test_save_on_the_device_load_anywhere(tmp_path):
    dev, _, X, _ = trained("fcn", "fakegpu")
    path = tmp_path / "m.glassnet"
    dev.save(path)
    on_cpu = gn.load(path)
    on_dev = gn.load(path, device="fakegpu")
    assert on_cpu.device == "cpu" and on_dev.device == "fakegpu"
    np.testing.assert_array_equal(on_cpu.predict(X), dev.predict(X))
    np.testing.assert_array_equal(on_dev.predict(X), dev.predict(X))
    for k, v in dev.optimizer.state.items():
        np.testing.assert_array_equal(to_numpy(on_dev.optimizer.state[k]), to_numpy(v))


def test_to_moves_everything_and_back():
    cpu, _, X, y = trained("fcn", "cpu", epochs=2)
    twin, _, _, _ = trained("fcn", "cpu", epochs=2)
    twin.to("fakegpu")
    assert twin.device == "fakegpu" and type(twin.flat_params) is fakegpu.DeviceArray
    np.testing.assert_array_equal(twin.predict(X), cpu.predict(X))
    twin.fit(X, y, epochs=1, batch_size=8, verbose=0, shuffle=False)  # optimizer state came along
    cpu.fit(X, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    twin.to("cpu")
    assert type(twin.flat_params) is np.ndarray and twin.layers[1].state["moving_mean"].__class__ is np.ndarray
    for a, b in zip(cpu.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    for k, v in cpu.optimizer.state.items():
        np.testing.assert_allclose(twin.optimizer.state[k], v, rtol=1e-12, atol=1e-14)


def test_resume_from_a_checkpoint_on_the_device(tmp_path):
    build, shape = NETS["mlp"]
    X, y = data(shape)
    ck = tmp_path / "ck.glassnet"

    def run(device, **kw):
        model = gn.Sequential(build(), seed=1, dtype="float64", device=device)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        model.fit(X, y, batch_size=8, verbose=0, **kw)
        return model

    whole = run("cpu", epochs=4)
    run("fakegpu", epochs=2, callbacks=[gn.callbacks.ModelCheckpoint(ck)])
    resumed = run("fakegpu", epochs=4, resume_from=ck)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_default_device_from_the_environment(monkeypatch):
    monkeypatch.setenv("GLASSNET_DEVICE", "fakegpu")
    assert gn.Sequential([L.Dense(2)]).device == "fakegpu"
    monkeypatch.delenv("GLASSNET_DEVICE")
    assert gn.Sequential([L.Dense(2)]).device == "cpu"


def test_unknown_device_is_a_config_error():
    with pytest.raises(ConfigError, match=r"expected one of .*cpu.*gpu.*Received: device='tpu'"):
        gn.Sequential([L.Dense(2)], device="tpu")


def test_gpu_without_cupy_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # as on a machine without CuPy
    from glassnet import backend

    monkeypatch.setitem(backend._DEVICES, "gpu", backend._cupy)
    with pytest.raises(ConfigError, match=r"device='gpu' needs CuPy and a CUDA GPU"):
        gn.Sequential([L.Dense(2)], device="gpu")
    with pytest.raises(ConfigError, match="needs CuPy"):
        gn.load("no-such-file.glassnet", device="gpu")


def test_the_fake_really_refuses_host_arrays():
    a = fakegpu.fake.zeros(3)
    with pytest.raises(TypeError, match="host array"):
        a + np.ones(3)


def test_trace_and_gradcheck_of_a_device_model():
    X = np.array([[1, 0, 1, 0], [1, 0, 1, 1], [0, 1, 0, 1]], float)
    y = np.array([[1], [1], [0]], float)
    models = []
    for device in ("cpu", "fakegpu"):
        m = gn.Sequential([L.Dense(3, activation="sigmoid"), L.Dense(1, activation="sigmoid")], seed=0,
                          dtype="float64", device=device)
        m.compile(loss="mse", optimizer=gn.optimizers.SGD(0.1))
        m.build(4)
        models.append((m, gn.trace.record(m, X, y, steps=2)))
    (_, t_cpu), (dev, t_dev) = models
    assert dev.device == "fakegpu" and type(dev.flat_params) is fakegpu.DeviceArray  # moved back
    assert t_dev.to_json() == t_cpu.to_json()
    dev.fit(X, y, epochs=3, verbose=0)  # still trains on its device after the trace
    report = gn.gradcheck(dev, X, y)
    assert dev.device == "fakegpu" and max(report.errors.values()) < 1e-6


def test_models_pickle_and_deepcopy_with_their_device():
    import copy
    import pickle

    for device in ("cpu", "fakegpu"):
        model, _, X, _ = trained("mlp", device, epochs=1)
        for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
            assert twin.device == device
            np.testing.assert_array_equal(twin.predict(X), model.predict(X))


def test_a_bad_device_in_the_environment_is_named_as_such(monkeypatch):
    monkeypatch.setenv("GLASSNET_DEVICE", "tpu")
    with pytest.raises(ConfigError, match=r"Received: GLASSNET_DEVICE='tpu' \(from the environment\)"):
        gn.Sequential([L.Dense(2)])
    model = gn.Sequential([L.Dense(2)], device="cpu").build(3)
    with pytest.raises(ConfigError, match="device='tpu'"):
        model.to("tpu")
    assert model.device == "cpu" and type(model.flat_params) is np.ndarray  # unchanged
