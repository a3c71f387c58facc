"""The model file: a zip of config.json and .npy arrays, written atomically and read without pickle."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

import glassnet as gn
from glassnet import serialize


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] - X[:, 2] > 0).astype(np.int64) + (X[:, 1] > 0.5)  # 3 classes
    return X, y


def make_model(dtype="float32", optimizer=None, dropout=0.25, seed=3):
    model = gn.Sequential(
        [gn.layers.Dense(6, activation="tanh"), gn.layers.Dropout(dropout),
         gn.layers.Dense(5, activation="relu", kernel_regularizer=gn.regularizers.L2(1e-3)),
         gn.layers.Dense(3, activation="softmax")],
        seed=seed, dtype=dtype,
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer or gn.optimizers.Adam(0.01),
                  metrics=["accuracy"])
    return model


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(path, contents):
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in contents.items():
            zf.writestr(name, payload)


def npy_bytes(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


@pytest.fixture
def saved(tmp_path):
    """A trained model and the path of its file."""
    X, y = data()
    model = make_model()
    model.fit(X, y, epochs=3, batch_size=8, verbose=0)
    path = tmp_path / "model.glassnet"
    model.save(path)
    return model, path


# -- round trips ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_reproduces_predictions_exactly(tmp_path, dtype):
    X, y = data()
    model = make_model(dtype=dtype)
    model.fit(X, y, epochs=4, batch_size=16, verbose=0)
    path = tmp_path / f"m-{dtype}.glassnet"
    model.save(path)

    loaded = gn.load(path)
    assert loaded.dtype == np.dtype(dtype)
    assert [repr(la) for la in loaded.layers] == [repr(la) for la in model.layers]
    assert_same_weights(loaded, model)
    pred = loaded.predict(X)
    assert pred.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(pred, model.predict(X))
    assert loaded.evaluate(X, y) == model.evaluate(X, y)
    texts = []
    loaded.summary(print_fn=texts.append)
    model.summary(print_fn=texts.append)
    assert texts[0] == texts[1]


def test_load_accepts_str_and_pathlike(saved):
    model, path = saved
    assert_same_weights(gn.load(str(path)), model)
    assert_same_weights(gn.load(path), model)


def test_uncompiled_and_unbuilt_models_round_trip(tmp_path):
    X, _ = data()
    built = gn.Sequential([gn.layers.Dense(3, activation="sigmoid"), gn.layers.Dense(1)], seed=0).build(4)
    built.save(tmp_path / "built.glassnet")
    loaded = gn.load(tmp_path / "built.glassnet")
    np.testing.assert_array_equal(loaded.predict(X), built.predict(X))

    unbuilt = gn.Sequential([gn.layers.Dense(3, activation="sigmoid")], seed=0)
    unbuilt.save(tmp_path / "unbuilt.glassnet")
    again = gn.load(tmp_path / "unbuilt.glassnet")
    assert again.built is False and repr(again.layers) == repr(unbuilt.layers)


@pytest.mark.parametrize(
    "optimizer",
    [lambda: gn.optimizers.Adam(learning_rate=0.01),
     lambda: gn.optimizers.SGD(learning_rate=0.05, momentum=0.9),
     lambda: gn.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)],
    ids=["adam", "sgd-momentum", "sgd-nesterov"],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loaded_model_continues_training_bit_for_bit(tmp_path, optimizer, dtype):
    """Saving mid-training and resuming from the file is indistinguishable from not stopping.

    This needs everything a step depends on in the file: weights, the optimizer's state and step count
    (Adam's m, v, t; SGD's velocity) and the generator behind shuffling and dropout masks.
    """
    X, y = data()
    model = make_model(dtype=dtype, optimizer=optimizer())
    model.fit(X, y, epochs=3, batch_size=8, shuffle=True, verbose=0)
    path = tmp_path / "mid.glassnet"
    model.save(path)
    loaded = gn.load(path)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 18
    assert type(loaded.optimizer) is type(model.optimizer)
    for k, v in model.optimizer.state.items():
        np.testing.assert_array_equal(loaded.optimizer.state[k], v)

    h_model = model.fit(X, y, epochs=4, batch_size=8, shuffle=True, verbose=0)
    h_loaded = loaded.fit(X, y, epochs=4, batch_size=8, shuffle=True, verbose=0)
    assert_same_weights(loaded, model)
    assert h_loaded.history == h_model.history
    for k, v in model.optimizer.state.items():
        np.testing.assert_array_equal(loaded.optimizer.state[k], v)


def test_an_untrained_compiled_model_trains_like_the_original_after_loading(tmp_path):
    X, y = data()
    model = make_model(optimizer=gn.optimizers.Adam(0.01)).build(4)
    model.save(tmp_path / "fresh.glassnet")
    loaded = gn.load(tmp_path / "fresh.glassnet")
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    loaded.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert_same_weights(loaded, model)


# -- what the file is ------------------------------------------------------------------------------------


def test_the_file_is_a_zip_of_config_json_and_npy_members(saved):
    model, path = saved
    assert zipfile.is_zipfile(path)
    contents = members(path)
    assert "config.json" in contents
    config = json.loads(contents["config.json"])
    assert config["format"] == serialize.FORMAT and config["version"] == serialize.VERSION
    assert config["dtype"] == "float32"
    assert [entry["class"] for entry in config["layers"]] == ["Dense", "Dropout", "Dense", "Dense"]
    arrays = [name for name in contents if name != "config.json"]
    assert arrays and all(name.endswith(".npy") for name in arrays)
    for name in arrays:
        arr = np.lib.format.read_array(io.BytesIO(contents[name]), allow_pickle=False)
        assert arr.dtype.kind in "fiub"
    # every trainable parameter is stored at full precision
    W = np.lib.format.read_array(io.BytesIO(contents["params/0/W.npy"]), allow_pickle=False)
    np.testing.assert_array_equal(W, model.layers[0].params["W"])
    assert W.dtype == np.float32


class _Exploit:
    """Unpickling this object would create a file: proof that the loader ran pickle."""

    marker = None

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_never_unpickles(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "pwned"
    _Exploit.marker = str(marker)
    payload = np.empty(1, dtype=object)
    payload[0] = _Exploit()
    contents = members(path)
    contents["params/0/W.npy"] = npy_bytes(payload, allow_pickle=True)
    evil = tmp_path / "evil.glassnet"
    write_zip(evil, contents)

    with pytest.raises(gn.ModelFileError) as info:
        gn.load(evil)
    assert str(evil) in str(info.value)
    assert not marker.exists()


def test_an_extra_object_member_is_refused_too(saved, tmp_path):
    _, path = saved
    contents = members(path)
    contents["optimizer/extra.npy"] = npy_bytes(np.array([{"a": 1}], dtype=object), allow_pickle=True)
    write_zip(tmp_path / "extra.glassnet", contents)
    with pytest.raises(gn.ModelFileError):
        gn.load(tmp_path / "extra.glassnet")


# -- files that are not models ----------------------------------------------------------------------------


def _random_bytes(path, saved_path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _empty(path, saved_path):
    path.write_bytes(b"")


def _truncated(path, saved_path):
    raw = saved_path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _truncated_tail(path, saved_path):
    raw = saved_path.read_bytes()
    path.write_bytes(raw[:-30])


def _no_config(path, saved_path):
    contents = members(saved_path)
    del contents["config.json"]
    write_zip(path, contents)


def _edit_config(edit):
    def make(path, saved_path):
        contents = members(saved_path)
        config = json.loads(contents["config.json"])
        edit(config)
        contents["config.json"] = json.dumps(config)
        write_zip(path, contents)

    return make


def _wrong_shape(path, saved_path):
    contents = members(saved_path)
    contents["params/0/W.npy"] = npy_bytes(np.zeros((5, 6), dtype=np.float32))
    write_zip(path, contents)


def _missing_array(path, saved_path):
    contents = members(saved_path)
    del contents["params/2/b.npy"]
    write_zip(path, contents)


def _config_not_json(path, saved_path):
    contents = members(saved_path)
    contents["config.json"] = b"{not json"
    write_zip(path, contents)


def _npy_garbage(path, saved_path):
    contents = members(saved_path)
    contents["params/0/W.npy"] = b"\x93NUMPY garbage"
    write_zip(path, contents)


def _other_zip(path, saved_path):
    write_zip(path, {"config.json": json.dumps({"hello": "world"})})


def _set(key, value):
    def edit(config):
        config[key] = value

    return edit


def _layer_class(config):
    config["layers"][0]["class"] = "Conv9D"


def _layer_option(config):
    config["layers"][0]["config"]["units"] = "many"


@pytest.mark.parametrize(
    "make, why",
    [
        (_random_bytes, "not a zip"),
        (_empty, "not a zip"),
        (_truncated, ""),
        (_truncated_tail, ""),
        (_no_config, "config.json is missing"),
        (_config_not_json, ""),
        (_other_zip, "does not describe a glassnet model"),
        (_edit_config(_set("version", 999)), "version 999"),
        (_edit_config(_set("format", "keras")), "does not describe a glassnet model"),
        (_edit_config(_layer_class), "Conv9D"),
        (_edit_config(_layer_option), ""),
        (_edit_config(_set("dtype", "int8")), ""),
        (_wrong_shape, "shape (5, 6)"),
        (_missing_array, "params/2/b"),
        (_npy_garbage, ""),
    ],
    ids=["random-bytes", "empty", "truncated", "truncated-tail", "no-config", "config-not-json", "other-zip",
         "wrong-version", "wrong-format", "unknown-layer", "bad-layer-option", "bad-dtype", "wrong-shape",
         "missing-array", "npy-garbage"],
)
def test_not_a_model_file_raises_model_file_error(saved, tmp_path, make, why):
    _, saved_path = saved
    bad = tmp_path / "bad.glassnet"
    make(bad, saved_path)
    with pytest.raises(gn.ModelFileError) as info:
        gn.load(bad)
    message = str(info.value)
    assert str(bad) in message
    assert why in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, gn.GlassnetError)


def test_a_missing_file_raises_model_file_error(tmp_path):
    with pytest.raises(gn.ModelFileError, match="no such model file"):
        gn.load(tmp_path / "nowhere.glassnet")
    with pytest.raises(gn.ModelFileError):
        gn.load(tmp_path)  # a directory


# -- atomic writes ----------------------------------------------------------------------------------------


def test_save_leaves_no_temporary_files(tmp_path):
    X, y = data()
    model = make_model()
    model.fit(X, y, epochs=1, verbose=0)
    path = tmp_path / "m.glassnet"
    model.save(path)
    model.save(path)  # overwriting is fine too
    assert sorted(os.listdir(tmp_path)) == ["m.glassnet"]
    np.testing.assert_array_equal(gn.load(path).predict(X), model.predict(X))


def test_a_failed_save_keeps_the_old_file_and_leaves_nothing_behind(tmp_path, monkeypatch):
    X, y = data()
    model = make_model()
    model.fit(X, y, epochs=1, verbose=0)
    path = tmp_path / "m.glassnet"
    model.save(path)
    before = path.read_bytes()

    model.fit(X, y, epochs=1, verbose=0)

    def explode(*args, **kwargs):  # the disk fills up while the arrays are being written
        raise OSError("disk full")

    monkeypatch.setattr(serialize.np.lib.format, "write_array", explode)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert sorted(os.listdir(tmp_path)) == ["m.glassnet"]
    assert path.read_bytes() == before
    gn.load(path)  # still a valid model


# -- settings given as NumPy scalars (bug 7) -------------------------------------------------------------------


def test_numpy_scalar_settings_save_and_load(tmp_path):
    X, y = data()
    model = gn.Sequential([gn.layers.Dense(4, activation="relu", kernel_regularizer=gn.regularizers.L2(np.float32(0.1))),
                           gn.layers.Dense(1)], seed=np.int64(0))
    model.compile(loss="mse", optimizer=gn.optimizers.Adam(np.float32(1e-3), beta1=np.float64(0.8)))
    ckpt = gn.callbacks.ModelCheckpoint(tmp_path / "ckpt.glassnet")
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[ckpt])  # used to crash after epoch 1
    model.save(tmp_path / "m.glassnet")
    loaded = gn.load(tmp_path / "m.glassnet")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    config = json.loads(members(tmp_path / "m.glassnet")["config.json"])
    assert config["seed"] == 0 and config["optimizer"]["learning_rate"] == float(np.float32(1e-3))


# -- the loader checks every name, shape and dtype (bug 10) ------------------------------------------------------


@pytest.mark.parametrize("member, value, message", [
    ("params/0/W.npy", lambda a: a.astype(np.float64), "dtype float64, expected float32"),
    ("params/0/b.npy", lambda a: a.astype(np.int8), "dtype int8, expected float32"),
    ("optimizer/m.npy", lambda a: a.astype(np.float64), "optimizer/m has dtype float64"),
    ("params/0/W.npy", lambda a: a[:1], "params/0/W has shape"),
])
def test_an_array_of_another_dtype_or_shape_is_refused(saved, tmp_path, member, value, message):
    _, path = saved
    contents = members(path)
    arr = np.lib.format.read_array(io.BytesIO(contents[member]), allow_pickle=False)
    contents[member] = npy_bytes(value(arr))
    write_zip(tmp_path / "bad.glassnet", contents)
    with pytest.raises(gn.ModelFileError, match=message):
        gn.load(tmp_path / "bad.glassnet")


def test_an_extra_member_is_refused(saved, tmp_path):
    _, path = saved
    contents = members(path)
    contents["params/0/Wx.npy"] = npy_bytes(np.zeros(3, np.float32))
    write_zip(tmp_path / "extra.glassnet", contents)
    with pytest.raises(gn.ModelFileError, match="unexpected member params/0/Wx.npy"):
        gn.load(tmp_path / "extra.glassnet")


def test_batch_norm_buffers_and_callback_state_round_trip(tmp_path):
    X, y = data()
    model = gn.Sequential([gn.layers.Dense(4), gn.layers.BatchNormalization(), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    es = gn.callbacks.EarlyStopping("loss", patience=50, restore_best_weights=True)
    model.fit(X, y, epochs=3, batch_size=16, verbose=0, callbacks=[es])
    model.save(tmp_path / "m.glassnet")
    names = set(members(tmp_path / "m.glassnet"))
    assert {"state/1/moving_mean.npy", "state/1/moving_var.npy", "callbacks/0/state/best_weights/buffers/1/moving_var.npy"} <= names
    loaded = gn.load(tmp_path / "m.glassnet")
    assert loaded.state_dict()["callbacks"][0]["state"]["best_epoch"] == es.best_epoch
    np.testing.assert_array_equal(loaded.layers[1].state["moving_var"], model.layers[1].state["moving_var"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
