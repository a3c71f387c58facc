"""Fuzzing model files: anything that is not a model file raises ModelFileError, and nothing is unpickled.

docs/errors.md: ``gn.load`` raises ModelFileError (a ValueError) for a missing, truncated, corrupted,
foreign or future file, a config naming an unknown layer or a wrong shape, arrays that are not plain
numbers, compressed or path-like member names. A file that loads is a working model.
"""

import io
import json
import os
import signal
import zipfile

import numpy as np
import pytest
from fuzzing import fuzz_settings, tried
from hypothesis import given
from hypothesis import strategies as st

import glassnet as gn

FUZZ = fuzz_settings()

X = np.random.default_rng(0).normal(size=(40, 4))
Y = np.arange(40) % 3


class _StopAt(gn.callbacks.Callback):
    """Ctrl-C after `at` batches: the saved file then holds a mid-epoch training state and row order."""

    def __init__(self, at):
        self.at, self.seen = at, 0

    def on_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            signal.raise_signal(signal.SIGINT)


@pytest.fixture(scope="module")
def real_file(tmp_path_factory):
    """A real model file with every kind of member: params, layer state, optimizer state, training order."""
    model = gn.Sequential([gn.layers.Dense(6, activation="relu"), gn.layers.BatchNormalization(),
                           gn.layers.Dropout(0.2), gn.layers.Dense(3, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[_StopAt(7)])
    path = tmp_path_factory.mktemp("model") / "m.glassnet"
    model.save(path)
    return path


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(path, contents, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, payload in contents.items():
            zf.writestr(name, payload)


def npy(arr, allow_pickle=False, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle, version=version)
    return buf.getvalue()


def load_or_model_file_error(path):
    """gn.load(path) either raises ModelFileError naming the file, or gives a model that predicts."""
    try:
        model = gn.load(path)
    except gn.ModelFileError as e:
        assert str(path) in str(e)
        return None
    if model.built:
        with np.errstate(all="ignore"):
            out = model.predict(np.zeros((2,) + tuple(model.input_shape)))
        assert out.shape[0] == 2
    return model


def test_the_real_file_loads_and_holds_every_kind_of_member(real_file):
    names = set(members(real_file))
    assert {"config.json", "state/1/moving_mean.npy", "optimizer/m.npy", "training/order.npy"} <= names
    assert load_or_model_file_error(real_file) is not None


def test_truncated_at_every_offset(real_file, tmp_path):
    raw = real_file.read_bytes()
    bad = tmp_path / "cut.glassnet"
    bad.write_bytes(raw)
    for cut in reversed(range(len(raw))):  # every prefix, from all but the last byte down to none
        os.truncate(bad, cut)
        with pytest.raises(gn.ModelFileError):
            gn.load(bad)
    tried("model-files", len(raw))


# a position anywhere, or among the last 400 bytes: the zip's central directory, which no checksum guards
POSITIONS = st.one_of(st.integers(0, 10**9), st.integers(-400, -1))


@FUZZ
@given(edits=st.lists(st.tuples(POSITIONS, st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_bytes(real_file, tmp_path, edits):
    raw = bytearray(real_file.read_bytes())
    for where, value in edits:
        raw[where % len(raw)] = value
    bad = tmp_path / "corrupt.glassnet"
    bad.write_bytes(bytes(raw))
    tried("model-files")
    load_or_model_file_error(bad)


@FUZZ
@given(member=st.sampled_from(["params/0/W.npy", "state/1/moving_var.npy", "optimizer/m.npy", "training/order.npy"]),
       edits=st.lists(st.tuples(st.integers(0, 127), st.integers(0, 255)), min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 200)))
def test_corrupted_npy_headers_in_a_sound_archive(real_file, tmp_path, member, edits, cut):
    """Bytes of an array's npy header changed (or the array cut short) in an archive whose checksums fit."""
    contents = members(real_file)
    data = bytearray(contents[member])
    for where, value in edits:
        data[where % len(data)] = value
    contents[member] = bytes(data if cut is None else data[:cut])
    bad = tmp_path / "header.glassnet"
    write_zip(bad, contents)
    tried("model-files")
    load_or_model_file_error(bad)


# -- configs: any JSON value anywhere -------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.sampled_from([0, -1, 1, 2, 3, 7, 2**31, 10**12, 2**63, 10**30]),
              st.integers(-5, 50), st.floats(allow_nan=True, allow_infinity=True),
              st.sampled_from(["", "Dense", "Conv9D", "relu", "float16", "int8", "../x", "glassnet-model", "Adam",
                               "SGD", "MeanSquaredError", "PCG64", "sigmoid", "🙂"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8,
)


def _paths(node, prefix=()):
    """Every path into a JSON tree (dict keys and list indices)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _set(tree, path, value):
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


@FUZZ
@given(data=st.data())
@pytest.mark.filterwarnings("ignore:Loss .*:glassnet.errors.GlassnetWarning")  # an edited output layer or loss
def test_any_config_edit_loads_or_raises_model_file_error(real_file, tmp_path, data):
    contents = members(real_file)
    config = json.loads(contents["config.json"])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(config) if p]
        path = data.draw(st.sampled_from(paths))
        if data.draw(st.integers(0, 4)) == 0 and isinstance(path[-1], str):
            parent = config
            for key in path[:-1]:
                parent = parent[key]
            del parent[path[-1]]
        else:
            _set(config, path, data.draw(JSON_VALUES))
    contents["config.json"] = json.dumps(config)
    bad = tmp_path / "edited.glassnet"
    write_zip(bad, contents)
    tried("model-files")
    load_or_model_file_error(bad)


ARRAYS = st.one_of(
    st.sampled_from([np.zeros((5, 6), np.float32), np.zeros(0), np.zeros((), np.float64), np.zeros((6, 4)).T,
                     np.arange(3, dtype=np.int8), np.array([True]), np.zeros(4, np.complex64),
                     np.zeros(2, dtype=[("a", "f4")]), np.array(["text"]), np.zeros(3, ">f8"),
                     np.array([np.nan, np.inf]), np.zeros((2, 3), "f2")]),
    st.integers(0, 8).map(lambda n: np.ones(n, np.float32)),
)


@FUZZ
@given(name=st.sampled_from(["params/0/W", "params/0/b", "state/1/moving_var", "optimizer/m", "training/order",
                             "params/9/W", "extra"]),
       arr=ARRAYS, version=st.sampled_from([None, (1, 0), (2, 0), (3, 0)]))
def test_any_array_in_place_of_another(real_file, tmp_path, name, arr, version):
    contents = members(real_file)
    try:
        contents[f"{name}.npy"] = npy(arr, version=version)
    except ValueError:  # version 1.0 cannot hold every header
        return
    bad = tmp_path / "arrays.glassnet"
    write_zip(bad, contents)
    tried("model-files")
    load_or_model_file_error(bad)


# -- the documented cases, one by one --------------------------------------------------------------------------


class _Exploit:
    """Unpickling this object would create a file: proof that the loader ran pickle."""

    marker = None

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("member", ["params/0/W", "state/1/moving_mean", "optimizer/v", "training/order", "x"])
def test_object_arrays_are_never_unpickled(real_file, tmp_path, member):
    _Exploit.marker = str(tmp_path / "pwned")
    payload = np.empty(2, dtype=object)
    payload[:] = [_Exploit(), _Exploit()]
    contents = members(real_file)
    contents[f"{member}.npy"] = npy(payload, allow_pickle=True)
    bad = tmp_path / "evil.glassnet"
    write_zip(bad, contents)
    with pytest.raises(gn.ModelFileError, match="dtype object"):
        gn.load(bad)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name", ["../x.npy", "../../x.npy", "params/../../x.npy", "/tmp/x.npy", "..\\x.npy",
                                  "params\\0\\W.npy", "notes.txt", "params/0/W"])
def test_path_like_member_names_are_refused_and_never_written(real_file, tmp_path, name):
    (tmp_path / "inner").mkdir()
    contents = members(real_file)
    contents[name] = npy(np.zeros(3, np.float32))
    bad = tmp_path / "inner" / "traversal.glassnet"
    write_zip(bad, contents)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(gn.ModelFileError, match="unexpected member"):
        gn.load(bad)
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(tmp_path / "inner") == ["traversal.glassnet"]


@pytest.mark.parametrize("version, why", [(2, "version 2"), (0, "version 0"), ("1", "version '1'"),
                                          (None, "version None")])
def test_wrong_or_future_format_version(real_file, tmp_path, version, why):
    contents = members(real_file)
    config = json.loads(contents["config.json"])
    config["version"] = version
    contents["config.json"] = json.dumps(config)
    bad = tmp_path / "v.glassnet"
    write_zip(bad, contents)
    with pytest.raises(gn.ModelFileError, match=why):
        gn.load(bad)


def _edited(real_file, tmp_path, edit):
    contents = members(real_file)
    config = json.loads(contents["config.json"])
    edit(config)
    contents["config.json"] = json.dumps(config)
    bad = tmp_path / "e.glassnet"
    write_zip(bad, contents)
    return bad


def test_unknown_layer_and_wrong_shapes(real_file, tmp_path):
    def unknown(c):
        c["layers"][1]["class"] = "Conv9D"

    def units(c):
        c["layers"][0]["config"]["units"] = 7

    def input_shape(c):
        c["input_shape"] = [5]

    def huge(c):
        c["input_shape"] = [2**40]

    for edit, why in [(unknown, "Conv9D"), (units, r"shape \(4, 6\), expected \(4, 7\)"),
                      (input_shape, r"expected \(5, 6\)"), (huge, None)]:
        with pytest.raises(gn.ModelFileError, match=why):
            gn.load(_edited(real_file, tmp_path, edit))


def test_an_array_whose_header_lies_about_its_size_allocates_nothing(real_file, tmp_path):
    contents = members(real_file)
    # 16 bytes of data under a header announcing 2e12 float64s (16 TB)
    contents["params/0/W.npy"] = npy(np.zeros(2, np.float64)).replace(b"'shape': (2,)", b"'shape': (2000000000000,)")
    bad = tmp_path / "liar.glassnet"
    write_zip(bad, contents)
    with pytest.raises(gn.ModelFileError, match="needs 16000000000000 bytes"):
        gn.load(bad)


def test_compressed_members_and_deep_json_are_refused(real_file, tmp_path):
    bad = tmp_path / "deflated.glassnet"
    write_zip(bad, members(real_file), compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(gn.ModelFileError, match="compressed"):
        gn.load(bad)
    contents = members(real_file)
    contents["config.json"] = "[" * 100_000 + "]" * 100_000
    write_zip(bad, contents)
    with pytest.raises(gn.ModelFileError):
        gn.load(bad)


def test_files_written_before_checkpoints_still_load(real_file, tmp_path):
    """Version-1 files from before the "training" section (and the order array) load as they did."""
    contents = members(real_file)
    config = json.loads(contents["config.json"])
    del config["training"]
    contents["config.json"] = json.dumps(config)
    del contents["training/order.npy"]
    old = tmp_path / "old.glassnet"
    write_zip(old, contents)
    model = gn.load(old)
    assert model._training is None
    with pytest.raises(gn.ModelFileError, match="no training state"):
        model.fit(X, Y, epochs=1, verbose=0, resume_from=old)


def test_a_failed_save_leaves_no_file_behind(tmp_path):
    model = gn.Sequential([gn.layers.Dense(1)], seed=0)
    model.compile()
    model.build(2)
    model.metadata = {"not json": object()}
    target = tmp_path / "m.glassnet"
    with pytest.raises(gn.ConfigError, match="JSON"):
        model.save(target)
    assert os.listdir(tmp_path) == []
    with pytest.raises(gn.ModelFileError, match="does not exist"):
        model.save(tmp_path / "missing-dir" / "m.glassnet")
    with pytest.raises(gn.ModelFileError, match="is a directory"):
        model.save(tmp_path)
    assert os.listdir(tmp_path) == []
