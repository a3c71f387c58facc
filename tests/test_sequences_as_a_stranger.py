"""The sequence features used as a newcomer would: Keras-style calls, odd shapes and bad input everywhere.

Each test drives the public interface only (``gn.Sequential``, ``gn.layers``, ``gn.load``, the CLI, the
char model and the forecaster) and checks the result against an oracle that does not share the code under
test: a model of another sequence length with the same weights (padding and masking), ``Dense`` against
``TimeDistributed(Dense)``, hand-computed means, or the exact error class and the shape or value its
message must name.
"""

from __future__ import annotations

import copy
import json
import pickle
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.main import main
from glassnet.errors import ConfigError, DataError, ShapeError
from glassnet.models.forecast import WindowForecaster, windows
from glassnet.models.tsc import train as tsc_train
from glassnet.text import CharLM

L = gn.layers
CELLS = [L.SimpleRNN, L.LSTM, L.GRU]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def twin(model, input_shape, layers):
    """A model of ``layers`` built for ``input_shape`` holding ``model``'s weights (they do not depend on T)."""
    other = gn.Sequential(layers, seed=1, dtype=model.dtype).build(input_shape)
    other.set_weights(model.get_weights())
    return other


# -- Keras-style use -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_compile_fit_predict_evaluate_save_copy_round_trip(cell, tmp_path):
    X, y = rand(10, 6, 3), rand(10, 2, seed=1)
    model = gn.Sequential([cell(4, return_sequences=True), cell(3), L.Dense(2)], seed=0)
    model.compile(loss="mse", optimizer="adam", metrics=["mae"])
    history = model.fit(X, y, epochs=3, batch_size=4, validation_data=(X[:4], y[:4]), verbose=0)
    assert len(history.history["loss"]) == 3 and np.isfinite(history.history["val_loss"]).all()
    p = model.predict(X)
    assert p.shape == (10, 2) and p.dtype == np.float32
    r = model.evaluate(X, y)
    assert r["loss"] == pytest.approx(float(np.mean((p.astype(np.float64) - y) ** 2)), rel=1e-5)
    model.save(tmp_path / "m.glassnet")
    for other in (gn.load(tmp_path / "m.glassnet"), copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(other.predict(X), p)
    fresh = gn.Sequential([cell(4, return_sequences=True), cell(3), L.Dense(2)], seed=7).build((6, 3))
    fresh.set_weights(model.get_weights())
    np.testing.assert_array_equal(fresh.predict(X), p)
    lines = []
    model.summary(print_fn=lines.append)
    assert f"{cell.__name__}(4, return_sequences=True)" in lines[0] and "(None, 6, 4)" in lines[0]



def test_every_sequence_layer_in_one_model_saves_loads_and_copies_with_its_carried_states(tmp_path):
    ids = np.array([[3, 1, 4, 0], [0, 2, 7, 1], [5, 0, 0, 0], [0, 0, 0, 0]])
    model = gn.Sequential([L.Embedding(8, 3, mask_zero=True), L.Bidirectional(L.GRU(2, return_sequences=True)),
                           L.TimeDistributed(L.Dense(3)), L.LSTM(2, stateful=True, batch_size=2, bptt=2),
                           L.Dense(1)], seed=0)
    model.compile("mse", "adam")
    model.fit(ids, rand(4, 1), epochs=2, batch_size=2, shuffle=False, verbose=0)
    assert [k.split("/")[1] for k in model.state_dict()["buffers"]] == ["state_h", "state_c"]
    model.save(tmp_path / "all.glassnet")
    copies = [gn.load(tmp_path / "all.glassnet"), copy.deepcopy(model), pickle.loads(pickle.dumps(model))]
    expected = model.predict(ids, batch_size=2)  # goes on from the carried states, and moves them
    for other in copies:
        np.testing.assert_array_equal(other.predict(ids, batch_size=2), expected)
        np.testing.assert_array_equal(other.layers[3].state["state_c"], model.layers[3].state["state_c"])
    text = []
    copies[0].summary(print_fn=text.append)
    assert "Bidirectional(GRU(2, return_sequences=True))" in text[0]
    assert "LSTM(2, stateful=True, batch_size=2, bptt=2)" in text[0]


@pytest.mark.parametrize("cell", CELLS)
def test_odd_shapes_one_step_one_row_one_unit_long_sequence(cell):
    # T = 1: the recurrence never runs; the output is the cell applied once to the zero state
    one = gn.Sequential([cell(1), L.Dense(1)], seed=0, dtype="float64").compile("mse", "sgd")
    X1 = rand(5, 1, 2)
    one.fit(X1, rand(5, 1, seed=1), epochs=2, batch_size=1, verbose=0)  # batches of one row
    assert one.predict(X1[:1]).shape == (1, 1)
    np.testing.assert_allclose(one.predict(X1[:1]), one.predict(X1)[:1], rtol=1e-12)  # rows are independent
    # a long sequence trains and stays finite (the saturating gates bound every state)
    long = gn.Sequential([cell(3), L.Dense(1)], seed=0).compile("mse", "adam")
    Xl = rand(2, 300, 2) * 3
    loss = long.fit(Xl, rand(2, 1, seed=2), epochs=2, batch_size=None, verbose=0).history["loss"]
    assert np.isfinite(loss).all() and np.isfinite(long.predict(Xl)).all()


def test_another_sequence_length_is_a_shape_error_naming_both_shapes():
    model = gn.Sequential([L.LSTM(2)], seed=0).build((5, 3))
    with pytest.raises(ShapeError, match=r"\(2, 7, 3\).*built for input shape \(5, 3\)"):
        model.predict(rand(2, 7, 3))
    with pytest.raises(ShapeError, match=r"shape=\(None, 3\)"):  # Keras' variable length: a deviation
        gn.Sequential([L.Input((None, 3)), L.LSTM(2)])


# -- stateful ----------------------------------------------------------------------------------------------
def test_stateful_fit_over_epochs_with_validation_carries_states_until_reset():
    X, y = rand(8, 4, 2), rand(8, 1, seed=1)
    model = gn.Sequential([L.GRU(3, stateful=True, batch_size=4), L.Dense(1)], seed=0, dtype="float64")
    model.compile("mse", "adam")
    h = model.fit(X, y, epochs=3, batch_size=4, shuffle=False, validation_data=(X[:4], y[:4]), verbose=0)
    assert len(h.history["val_loss"]) == 3 and np.isfinite(h.history["val_loss"]).all()
    carried = model.layers[0].state["state_h"].copy()
    assert np.abs(carried).sum() > 0  # fit and its validation never reset (Keras)
    # the carried state is where the next chunk starts: predicting from it equals an initial state given by hand
    nxt = model.predict(X[:4], batch_size=4)
    ref = gn.Sequential([L.GRU(3), L.Dense(1)], seed=1, dtype="float64").build((4, 2))
    w = model.get_weights()
    ref.set_weights(w[:3] + w[4:])  # the stateful layer's weights, then its buffer state_h, then Dense's
    ref.layers[0].initial_state = [carried]
    np.testing.assert_allclose(nxt, ref.predict(X[:4]), rtol=1e-12, atol=1e-14)
    model.reset_states()
    ref.layers[0].initial_state = None
    np.testing.assert_allclose(model.predict(X[:4], batch_size=4), ref.predict(X[:4]), rtol=1e-12, atol=1e-14)


def test_stateful_with_another_batch_size_is_a_shape_error_before_anything_changes():
    X, y = rand(10, 4, 2), rand(10, 1, seed=1)
    model = gn.Sequential([L.LSTM(3, stateful=True, batch_size=4), L.Dense(1)], seed=0)
    model.compile("mse", "sgd")
    model.fit(X[:8], y[:8], batch_size=4, epochs=1, shuffle=False, verbose=0)
    weights = model.get_weights()  # parameters and the carried states
    calls = [
        ("predict gets 8 rows in batches of 8 \\(batch_size=None\\)", lambda: model.predict(X[:8])),
        ("predict gets 8 rows in batches of 2 and 3", lambda: model.predict(X[:8], batch_size=3)),
        ("predict gets 6 rows in batches of 2 and 4", lambda: model.predict(X[:6], batch_size=4)),
        ("evaluate gets 10 rows", lambda: model.evaluate(X, y, batch_size=4)),
        ("fit gets 10 rows in batches of 2 and 4", lambda: model.fit(X, y, batch_size=4, verbose=0)),
        ("validation_data gets 2 rows", lambda: model.fit(X[:8], y[:8], batch_size=4, verbose=0,
                                                          validation_data=(X[:2], y[:2]))),
        ("fit \\(the rows before validation_split\\) gets 6 rows",
         lambda: model.fit(X[:8], y[:8], batch_size=4, verbose=0, validation_split=0.25)),
        ("batches of 1 \\(batch_size=1\\)", lambda: model.predict(X[:8], batch_size=1)),
    ]
    for message, call in calls:
        with pytest.raises(ShapeError, match='Input 0 of layer "lstm" \\(LSTM\\) is incompatible with the layer: '
                                             r"stateful=True carries states of shape \(4, 3\), so it expects batches"
                                             f".*{message}.*Pass batch_size=4 and a number of rows"):
            call()
        for a, b in zip(model.get_weights(), weights):  # no batch ran: weights and carried states as they were
            np.testing.assert_array_equal(a, b)
    # a direct forward of another batch size, too
    with pytest.raises(ShapeError, match=r"N=4\. Full shape received: \(3, 4, 2\)"):
        model(X[:3])


# -- masking, Bidirectional, TimeDistributed -----------------------------------------------------------------
@pytest.mark.parametrize("pad", ["post", "pre"])
def test_bidirectional_stack_with_masking_equals_the_unpadded_rows(pad):
    T, real = 7, 4
    rows = rand(3, real, 2) + 3  # no step is all zeros
    X = np.zeros((3, T, 2))
    if pad == "post":
        X[:, :real] = rows
    else:
        X[:, T - real:] = rows

    def layers(mask):
        return ([L.Masking()] if mask else []) + [L.Bidirectional(L.LSTM(3, return_sequences=True)),
                                                  L.Bidirectional(L.GRU(2), merge_mode="ave"), L.Dense(2)]

    model = gn.Sequential(layers(True), seed=0, dtype="float64").build((T, 2))
    short = twin(model, (real, 2), layers(False))
    np.testing.assert_allclose(model.predict(X), short.predict(rows), rtol=1e-10, atol=1e-13)
    # a training step on padded rows moves the weights as one on the unpadded rows
    y = rand(3, 2, seed=3)
    short.compile("mse", "sgd")
    model.compile("mse", "sgd")
    model.fit(X, y, batch_size=None, verbose=0)
    short.fit(rows, y, batch_size=None, verbose=0)
    for a, b in zip(model.get_weights(), short.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_time_distributed_dense_equals_dense_on_sequences_forward_and_training():
    X, y = rand(4, 5, 3), rand(4, 5, 2, seed=1)
    td = gn.Sequential([L.LSTM(3, return_sequences=True), L.TimeDistributed(L.Dense(2))], seed=0, dtype="float64")
    dense = gn.Sequential([L.LSTM(3, return_sequences=True), L.Dense(2)], seed=5, dtype="float64")
    td.compile("mse", "sgd")
    dense.compile("mse", "sgd")
    dense.build((5, 3)).set_weights(td.build((5, 3)).get_weights())
    np.testing.assert_array_equal(td.predict(X), dense.predict(X))
    td.fit(X, y, epochs=2, batch_size=2, shuffle=False, verbose=0)
    dense.fit(X, y, epochs=2, batch_size=2, shuffle=False, verbose=0)
    for a, b in zip(td.get_weights(), dense.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_all_padded_rows_give_the_zero_state_and_leave_the_loss():
    X = rand(4, 5, 3)
    X[1] = 0  # a row of padding only
    X[2, 3:] = 0
    last = gn.Sequential([L.Masking(), L.LSTM(3), L.Dense(2, bias_initializer="ones")], seed=0, dtype="float64")
    p = last.predict(X)
    np.testing.assert_array_equal(p[1], [1.0, 1.0])  # h = h_0 = 0, so the output is the Dense bias
    seq = gn.Sequential([L.Masking(), L.GRU(3, return_sequences=True), L.Dense(2)], seed=0, dtype="float64")
    seq.compile("mse", "sgd", metrics=["mae"])
    Y = rand(4, 5, 2, seed=1)
    a, keep = seq.predict(X), (X != 0).any(-1)  # keep (N, T): the real steps
    r = seq.evaluate(X, Y)
    assert r["loss"] == pytest.approx(((a - Y) ** 2).mean(-1)[keep].mean(), rel=1e-12)
    assert r["mae"] == pytest.approx(np.abs(a - Y).mean(-1)[keep].mean(), rel=1e-12)
    # padding only: nothing to average, the loss is 0 (Keras' divide_no_nan), and training stays finite
    assert seq.evaluate(X[1:2], Y[1:2]) == {"loss": 0.0, "mae": 0.0}
    before = seq.get_weights()
    assert seq.fit(X[1:2], Y[1:2], verbose=0).history["loss"] == [0.0]
    for a, b in zip(seq.get_weights(), before):
        np.testing.assert_array_equal(a, b)  # no real step, no gradient


def test_sparse_sequence_labels_with_a_trailing_axis_of_one_as_keras_takes_them():
    ids = np.array([[1, 2, 3, 0], [2, 2, 0, 0], [3, 1, 2, 1]])
    labels = np.array([[2, 3, 1, 0], [1, 0, 0, 0], [0, 1, 2, 3]])  # (N, T)
    model = gn.Sequential([L.Embedding(4, 3, mask_zero=True), L.GRU(3, return_sequences=True),
                           L.Dense(4, activation="softmax")], seed=0, dtype="float64")
    model.compile("sparse_categorical_crossentropy", "adam", metrics=["accuracy"])
    r = model.evaluate(ids, labels)
    assert model.evaluate(ids, labels[..., None]) == r  # (N, T, 1), as Keras squeezes it
    p = model.predict(ids)
    keep = ids != 0
    picked = np.take_along_axis(p, labels[..., None], axis=-1)[..., 0]  # p of the true class (N, T)
    assert r["loss"] == pytest.approx(-np.log(picked[keep]).mean(), rel=1e-12)
    assert r["accuracy"] == pytest.approx((p.argmax(-1) == labels)[keep].mean(), rel=1e-12)
    with pytest.raises(ShapeError, match=r"expects integer labels of shape \(3, 4\); received shape \(3, 4, 2\)"):
        model.evaluate(ids, np.stack([labels, labels], axis=-1))
    with pytest.raises(DataError, match="Label 4 at row 2, step 3 is out of range for a model with 4 outputs"):
        model.evaluate(ids, labels + (np.arange(4) == 3) * (np.arange(3)[:, None] == 2))


def test_a_mask_reaching_conv1d_warns_and_stops_there():
    X = rand(3, 6, 2)
    X[0, 4:] = 0
    model = gn.Sequential([L.Masking(), L.Conv1D(4, 3, padding="same"), L.LSTM(2)], seed=0)
    with pytest.warns(UserWarning, match=r"Layer 1 \(conv1d, Conv1D\) does not support masking"):
        model.predict(X)
    assert model.layers[2].input_mask is None


@pytest.mark.parametrize("cell", CELLS)
def test_embedding_mask_zero_with_padding_at_the_end_or_the_start(cell):
    ids = np.array([[3, 4, 5, 0, 0], [0, 0, 3, 4, 5], [0, 0, 0, 0, 0]])
    model = gn.Sequential([L.Embedding(6, 3, mask_zero=True), cell(4), L.Dense(1)], seed=0, dtype="float64")
    model.build((5,))
    short = twin(model, (3,), [L.Embedding(6, 3), cell(4), L.Dense(1)])
    p, ref = model.predict(ids), short.predict(np.array([[3, 4, 5]]))
    np.testing.assert_allclose(p[:2], np.repeat(ref, 2, axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(p[2], model.layers[2].params["b"])  # nothing real: h_0 = 0
    report = gn.gradcheck(model.compile("mse", "sgd"), ids, rand(3, 1))
    assert max(report.errors.values()) < 1e-6, report


# -- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_bad_input_everywhere_names_the_shape_or_value(cell):
    model = gn.Sequential([cell(3), L.Dense(1)], seed=0).compile("mse", "sgd")
    X = rand(4, 5, 2)
    model.fit(X, rand(4, 1), verbose=0)
    cases = [
        (X[:, :, 0], ShapeError, r"X has shape \(4, 5\).*\(5, 2\)"),
        (X[..., None], ShapeError, r"\(4, 5, 2, 1\)"),
        (X[:, :, :1], ShapeError, r"\(4, 5, 1\)"),
        (X.astype(str), DataError, "text"),
        (X > 0, DataError, "bool"),
        (np.where(np.arange(40).reshape(4, 5, 2) == 13, np.nan, X), DataError, r"NaN at index \(1, 1, 1\)"),
        (np.where(np.arange(40).reshape(4, 5, 2) == 39, -np.inf, X), DataError, r"-inf at index \(3, 4, 1\)"),
        (X[:0], DataError, "empty"),
    ]
    for bad, error, message in cases:
        with pytest.raises(error, match=message):
            model.predict(bad)
    with pytest.raises(DataError, match="NaN at row"):
        model.fit(X, np.array([[1.0], [np.nan], [0.0], [0.0]]), verbose=0)
    with pytest.raises(ShapeError, match=r"targets of shape \(4, 2\)"):
        model.fit(X, rand(4, 2), verbose=0)
    # a layer called alone skips the model's checks: it makes its own
    layer = cell(3, return_state=True)
    assert [a.shape for a in layer(X)][1:] == [(4, 3)] * len(layer.state_keys)  # [y, *final states]
    with pytest.raises(DataError, match="input of layer .* must hold numbers; received dtype <U"):
        layer(X.astype(str))
    with pytest.raises(ShapeError, match=r"no rows: received shape \(0, 5, 2\)"):
        layer(X[:0])
    with pytest.raises(ShapeError, match=r"expected ndim=3 \(N, T, C\), found ndim=2"):
        layer(X[0])
    n_states = len(layer.state_keys)
    with pytest.raises(DataError, match="initial state .* must hold numbers"):
        layer(X, initial_state=[np.full((4, 3), "a")] * n_states)
    with pytest.raises(ShapeError, match=r"must have shape \(N, U\) = \(4, 3\).*received \(2, 3\)"):
        layer(X, initial_state=[np.zeros((2, 3))] * n_states)


def test_bad_ids_and_layer_settings():
    for ids, error, message in [(np.array([[1, 6]]), DataError, r"id x\[0, 1\] = 6 is not in \[0, 6\)"),
                                (np.array([[1, -1]]), DataError, r"= -1 is not in"),
                                (np.array([[1.5, 2]]), DataError, "1.5 is not a whole number"),
                                (np.array([[[1, 2]]]), ShapeError, r"ids of shape \(N, T\)")]:
        with pytest.raises(error, match=message):
            gn.Sequential([L.Embedding(6, 3, mask_zero=True), L.LSTM(2)], seed=0).predict(ids)
    for make, message in [(lambda: L.LSTM(0), "units=0"), (lambda: L.GRU(2, bptt=0), "bptt=0"),
                          (lambda: L.LSTM(2, stateful=True), "batch_size=None"),
                          (lambda: L.Bidirectional(L.Dense(2)), "Bidirectional wraps a recurrent layer"),
                          (lambda: L.Bidirectional(L.LSTM(2), merge_mode=None), "merge_mode=None"),
                          (lambda: L.Masking(np.nan), "mask_value=nan"),
                          (lambda: L.TimeDistributed("Dense"), "TimeDistributed wraps a glassnet layer")]:
        with pytest.raises(ConfigError, match=message):
            make()
    with pytest.raises(ShapeError, match=r"Masking\) takes sequences of shape \(N, T, C\)"):
        gn.Sequential([L.Masking(), L.Dense(1)]).predict(rand(2, 3))
    with pytest.raises(ShapeError, match=r"TimeDistributed\) takes inputs of shape \(N, T, \.\.\.\)"):
        gn.Sequential([L.TimeDistributed(L.Dense(1))]).predict(rand(2, 3))


# -- the char model: `glassnet generate`, `glassnet train-text` -----------------------------------------------
TEXT = "the cat sat on the mat. a dog sat on a log. " * 6


@pytest.fixture(scope="module")
def lm_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "lm.glassnet"
    CharLM(hidden=6, seq_length=8, batch_size=2, learning_rate=0.05, seed=3).fit(TEXT).save(path)
    return path


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv, message", [
    (["--prime", "Zebra€"], ("DataError: the prime holds 4 character(s) that are not in the model's vocabulary of "
                             "14: 'Z' (U+005A), 'b' (U+0062), 'r' (U+0072), '€' (U+20AC); the first at position 0. "
                             "The model knows these 14 characters (pass --prime with some of them): ' .acdeghlmnost'")),
    (["--prime", ""], "ConfigError: --prime is empty"),
    (["--temperature", "0"], "ConfigError: Received an invalid value for `--temperature`, expected a positive number"),
    (["--temperature", "-0.5"], "Received: --temperature=-0.5"),
    (["--length", "-1"], "Received: --length=-1"),
])
def test_generate_bad_arguments_are_one_line_with_status_2(capsys, lm_file, argv, message):
    rc, out, err = run_cli(capsys, "generate", "--model", lm_file, *argv)
    assert rc == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1, err


def test_generate_length_zero_default_prime_and_files(capsys, lm_file, tmp_path):
    rc, out, _ = run_cli(capsys, "generate", "--model", lm_file, "--prime", "the ", "--length", 0)
    assert rc == 0 and out == "the \n"
    # the default prime "The " holds a 'T' this model never saw: it starts from a character it knows
    rc, out, err = run_cli(capsys, "generate", "--model", lm_file, "--length", 5, "--seed", 1, "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["prime"] == " " and len(report["text"]) == 5 and set(report["text"]) <= set(TEXT)
    other = tmp_path / "plain.glassnet"
    gn.Sequential([L.Dense(2)], seed=0).compile("mse", "sgd").build(3).save(other)
    for model, message in [(other, "not a character-level language model"),
                           (tmp_path / "missing.glassnet", "no such model file"),
                           (__file__, "not a readable glassnet model file")]:
        rc, out, err = run_cli(capsys, "generate", "--model", model)
        assert rc == 2 and f"ModelFileError: {model}" in err and message in err, err


def test_train_text_on_empty_tiny_binary_and_degenerate_files(capsys, tmp_path):
    files = {"empty.txt": b"", "tiny.txt": b"hello", "binary.bin": bytes(range(256)),
             "one.txt": b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "short-val.txt": b"abcdefghijklmnopq"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    cases = [
        (["--text", tmp_path / "empty.txt"], "DataError: " + str(tmp_path / "empty.txt") + ": the text file is empty"),
        (["--text", tmp_path / "tiny.txt"], "5 training characters are fewer than one window of --seq-length + 1 = 26"),
        (["--text", tmp_path / "binary.bin"], "not a text file (a NUL byte at offset 0: binary data)"),
        (["--text", tmp_path / "one.txt", "--seq-length", 5],
         "DataError: the text holds one distinct character ('a')"),
        (["--text", tmp_path / "short-val.txt", "--seq-length", 5, "--validation-fraction", 0.05],
         "ConfigError: --validation-fraction 0.05 holds out 1 character"),
        (["--text", tmp_path / "missing.txt"], "cannot read the file: No such file"),
    ]
    for argv, message in cases:
        rc, _, err = run_cli(capsys, "train-text", "--hidden", 2, *argv)
        assert rc == 2 and message in err and "epoch" not in err, err


def test_char_model_api_checks_before_training_and_keeps_its_settings(tmp_path):
    lm = CharLM(hidden=3, seq_length=4, batch_size=2, learning_rate=0.2, clipvalue=2.0, seed=4)
    with pytest.raises(DataError, match="validation text needs at least 2 characters"):
        lm.fit(TEXT, validation_text="x")
    assert not hasattr(lm, "model_")  # refused before any training
    with pytest.raises(DataError, match="validation_text must be a str or None; received int"):
        lm.fit(TEXT, validation_text=5)
    lm.fit(TEXT[:120], validation_text="the cat")
    with pytest.raises(DataError, match="the text must be a str; received int"):
        lm.bits_per_character(123)
    lm.save(tmp_path / "lm.glassnet")
    back = CharLM.load(tmp_path / "lm.glassnet")
    assert (back.batch_size, back.learning_rate, back.clipvalue, back.seed) == (2, 0.2, 2.0, 4)
    assert back.bits_per_character("the mat") == lm.bits_per_character("the mat")
    assert back.sample("a ", 30, 0.7, seed=2) == lm.sample("a ", 30, 0.7, seed=2)


# -- forecasting and UCR classification --------------------------------------------------------------------
def test_forecast_on_constant_nan_short_and_huge_series():
    f = WindowForecaster(window=5, units=3, epochs=2, seed=0).fit(np.full(30, 3.0))
    assert f.std_ == 1.0
    r = f.evaluate(np.full(12, 3.0))
    assert r == {"windows": 7, "mse": 0.0, "naive_mse": 0.0, "ratio": 1.0}  # as good as repeating the last value
    np.testing.assert_array_equal(f.predict(windows(np.full(8, 3.0), 5)[0]), np.full((3, 1), 3.0))
    with pytest.raises(DataError, match="series contains NaN at row 10"):
        WindowForecaster(window=5, epochs=1).fit(np.r_[np.ones(10), np.nan, np.ones(10)])
    with pytest.raises(DataError, match=r"series\[1\] contains inf at row 2"):
        WindowForecaster(window=2, epochs=1).fit([np.ones(10), np.array([1.0, 2.0, np.inf, 3.0])])
    with pytest.raises(ShapeError, match="series has 20 values; a window of 50 needs at least 51"):
        WindowForecaster(window=50, epochs=1).fit(np.arange(20.0))
    with pytest.raises(ShapeError, match=r"windows of shape \(N, 5, 1\).*received shape \(3, 5\); add the channel"):
        f.predict(np.ones((3, 5)))
    # values near 1e300: the scale is found without overflow, and the ratio stays finite
    big = WindowForecaster(window=4, units=2, epochs=1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        series = np.sin(np.arange(40.0)) * 1e300
        big.fit(series)
        assert np.isfinite([big.mean_, big.std_]).all() and big.std_ == pytest.approx(np.std(series / 1e300) * 1e300)
        r = big.evaluate(series)
    assert r["mse"] == np.inf and np.isfinite(r["ratio"]) and r["ratio"] > 0


def test_tsc_lstm_bad_labels_and_shapes_name_them():
    X = rand(6, 5, 1)
    with pytest.raises(DataError, match=r"y_train holds one class only \('a'\)"):
        tsc_train("lstm", X, np.array(["a"] * 6), X, np.array(["a"] * 6), epochs=1)
    with pytest.raises(ShapeError, match=r"X_train must be 3-dimensional .* received shape \(6, 5\)"):
        tsc_train("lstm", X[..., 0], np.arange(6) % 2, X, np.arange(6) % 2, epochs=1)
    with pytest.raises(DataError, match=r"X_test contains NaN at index \(0, 0, 0\)"):
        tsc_train("lstm", X, np.arange(6) % 2, np.full_like(X, np.nan), np.arange(6) % 2, epochs=1)
    result = tsc_train("lstm", X, np.arange(6) % 2, X, np.arange(6) % 2, epochs=2)
    assert result["model"].layers[0].units == 64 and 0 <= result["test_error"] <= 1

