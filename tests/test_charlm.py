"""The character-level language model (glassnet.text, `glassnet train-text` / `generate`) and the
sequence form of the categorical cross-entropies: outputs (N, T, V) against labels (N, T).

Oracles: torch.nn.functional.cross_entropy in float64 (value and gradient) and finite differences.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.cli.main import main
from glassnet.errors import ConfigError, DataError, ModelFileError, ShapeError
from glassnet.losses import CategoricalCrossEntropy, SparseCategoricalCrossEntropy
from glassnet.text import CharLM, Vocabulary, default_text, read_text, smooth, split_text, windows

# a few hundred characters with structure to learn: repeated words
TINY = ("the cat sat on the mat. the dog sat on the log. " * 8).strip()


# -- the loss on sequences: (N, T, V) outputs, (N, T) integer labels ---------------------------------
def _seq_problem(N=3, T=5, V=7, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(N, T, V)) * 2  # logits
    y = rng.integers(0, V, size=(N, T))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return z, e / e.sum(axis=-1, keepdims=True), y


def test_sparse_cross_entropy_on_sequences_matches_torch_value_and_gradient():
    z, a, y = _seq_problem()
    V = z.shape[-1]
    loss = SparseCategoricalCrossEntropy()
    Y = loss.prepare(y, a.shape, np.float64)  # (N, T, V) one-hot
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt.reshape(-1, V), torch.tensor(y).reshape(-1))  # mean over N·T
    ref.backward()
    # the value from logits, from logits + log Σ exp (the softmax's cache), and from probabilities
    log_sum = np.log(np.exp(z).sum(axis=-1, keepdims=True))
    for value in (loss.forward(a, Y, z), loss.forward(a, Y, z, log_sum=log_sum), loss.forward(a, Y)):
        assert abs(value - ref.item()) < 1e-13, (value, ref.item())
    # dL/dZ through the fused softmax
    dz = loss.fused_backward(a, Y)
    assert np.max(np.abs(dz - zt.grad.numpy())) < 1e-15, np.max(np.abs(dz - zt.grad.numpy()))
    # dL/dA without fusion: torch's NLL of log A, differentiated with respect to A
    at = torch.tensor(a, requires_grad=True)
    torch.nn.functional.nll_loss(torch.log(at).reshape(-1, V), torch.tensor(y).reshape(-1)).backward()
    assert np.max(np.abs(loss.backward(a, Y) - at.grad.numpy())) < 1e-12
    # per-row losses are each sequence's mean over its steps; their mean is the loss
    rows = loss.per_row(a, Y, z)
    ref_rows = torch.nn.functional.cross_entropy(torch.tensor(z).permute(0, 2, 1), torch.tensor(y),
                                                 reduction="none").mean(dim=1).numpy()
    assert np.max(np.abs(rows - ref_rows)) < 1e-13
    assert np.max(np.abs(loss.per_row(a, Y, z, log_sum=log_sum) - ref_rows)) < 1e-13
    # the one-hot loss on the same targets is the same loss
    assert abs(CategoricalCrossEntropy().forward(a, Y, z) - ref.item()) < 1e-13


def test_sequence_model_gradients_match_finite_differences_and_torch():
    # SimpleRNN(4, return_sequences) -> Dense(V, softmax) per step, sparse labels per step, float64
    N, T, C, V = 2, 6, 3, 5
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(N, T, C)), rng.integers(0, V, size=(N, T))
    model = gn.Sequential([gn.layers.SimpleRNN(4, return_sequences=True), gn.layers.Dense(V, activation="softmax")],
                          seed=0, dtype=np.float64)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    model.build((T, C))
    report = gn.gradcheck(model, X, y, max_checks=None)  # every element of W1, U1, b1, W2, b2
    assert report.passed, report.errors
    # torch: the same weights (Keras layout: W (C, U), U (U, U)), the loss of every step
    rnn, dense = model.layers[0], model.layers[1]
    p = {k: torch.tensor(v, requires_grad=True) for k, v in
         {"W": rnn.params["W"], "U": rnn.params["U"], "b": rnn.params["b"],
          "W2": dense.params["W"], "b2": dense.params["b"]}.items()}
    h, logits = torch.zeros(N, 4, dtype=torch.float64), []
    for t in range(T):
        h = torch.tanh(torch.tensor(X[:, t]) @ p["W"] + h @ p["U"] + p["b"])
        logits.append(h @ p["W2"] + p["b2"])
    ref = torch.nn.functional.cross_entropy(torch.stack(logits, 1).reshape(-1, V), torch.tensor(y).reshape(-1))
    ref.backward()
    a = model.forward(X, training=True)
    assert abs(model.compute_loss(a, model.loss.prepare(y, a.shape, np.float64)) - ref.item()) < 1e-13
    model.backward(a, model.loss.prepare(y, a.shape, np.float64))
    for layer, key, name in ((rnn, "W", "W"), (rnn, "U", "U"), (rnn, "b", "b"), (dense, "W", "W2"), (dense, "b", "b2")):
        err = np.max(np.abs(layer.grads[key] - p[name].grad.numpy()))
        assert err < 1e-14, (name, err)


def test_fit_and_evaluate_take_labels_per_step():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4, 3)).astype(np.float32)
    y = (X[..., 0] > 0).astype(np.int64)  # the class of each step is the sign of its first channel
    model = gn.Sequential([gn.layers.SimpleRNN(8, return_sequences=True), gn.layers.Dense(2, activation="softmax")],
                          seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(0.05), metrics=["accuracy"])
    history = model.fit(X, y, epochs=30, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    result = model.evaluate(X, y)
    assert result["accuracy"] > 0.9
    # evaluate's loss is the mean over all N·T steps (computed here by hand from the outputs)
    a = model.predict(X).astype(np.float64)
    by_hand = -np.mean(np.log(np.take_along_axis(a, y[..., None], axis=-1)))
    assert abs(result["loss"] - by_hand) < 1e-5


def test_metrics_count_every_step():
    _, a, y = _seq_problem(N=4, T=6, V=7, seed=3)
    Y = SparseCategoricalCrossEntropy.expand(y, 7, np.float64)  # (N, T, V), as fit hands them over
    assert gn.metrics.accuracy(a, Y) == np.mean(a.argmax(-1) == y)
    rank = (a > np.take_along_axis(a, y[..., None], -1)).sum(-1)  # classes scored above the true one
    assert gn.metrics.top_k_categorical_accuracy(a, Y, k=3) == np.mean(rank < 3)


def test_labels_per_step_are_checked():
    loss = SparseCategoricalCrossEntropy()
    with pytest.raises(ShapeError, match=r"labels of shape \(2, 3\); received shape \(2,\)"):
        loss.codes(np.zeros(2), (2, 3, 4))
    with pytest.raises(DataError, match="Label 4 at row 1, step 2 is out of range .* 4 outputs"):
        loss.codes(np.array([[0, 1, 2], [3, 0, 4]]), (2, 3, 4))
    with pytest.raises(ShapeError, match="outputs of shape"):
        loss.codes(np.zeros((2, 3, 4)), (2, 3, 4, 5))
    codes = loss.codes([[0, 3], [2, 1]], (2, 2, 4))
    one_hot = loss.expand(codes, 4)
    assert one_hot.shape == (2, 2, 4) and np.array_equal(one_hot.argmax(-1), codes) and one_hot.sum() == 4


# -- vocabulary and windows -------------------------------------------------------------------------------
def test_vocabulary_round_trip_and_windows():
    vocab = Vocabulary.from_text(TINY)
    assert vocab.chars == " .acdeghlmnost" and len(vocab) == 14
    ids = vocab.encode(TINY)
    assert ids.dtype == np.int64 and vocab.decode(ids) == TINY
    assert np.array_equal(vocab.one_hot(ids[:3]).argmax(-1), ids[:3])
    X, Y = windows(ids, 25)
    assert X.shape == Y.shape == ((len(ids) - 1) // 25, 25)
    assert np.array_equal(X[:, 1:], Y[:, :-1]) and np.array_equal(X[1], ids[25:50])  # Y is X shifted by one
    assert windows(ids, 25, step=1)[0].shape == (len(ids) - 25, 25)
    with pytest.raises(DataError, match="shorter than one window of seq_length \\+ 1 = 26"):
        windows(ids[:25], 25)
    # characters beyond the BMP and the vocabulary of the pydoc topics
    assert Vocabulary.from_text("a😀b").decode(Vocabulary.from_text("a😀b").encode("b😀a")) == "b😀a"
    text = default_text()
    assert len(text) > 400_000 and "\n" in Vocabulary.from_text(text).chars


def test_unknown_characters_are_named():
    vocab = Vocabulary.from_text(TINY)
    with pytest.raises(DataError, match=r"the prime holds 2 character\(s\) that are not in the model's vocabulary "
                                        r"of 14: 'T' \(U\+0054\), 'é' \(U\+00E9\); the first at position 0"):
        vocab.encode("Thé cat", "the prime")
    with pytest.raises(ConfigError, match="distinct characters sorted"):
        Vocabulary("ba")


def test_smooth_is_min_char_rnns_running_average():
    s = smooth([1.0, 1.0], start=3.0)
    assert np.allclose(s, [0.999 * 3 + 0.001, 0.999 * (0.999 * 3 + 0.001) + 0.001])


# -- training, measuring, sampling -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm():
    """min-char-rnn's way (stateful): the text in order, the state carried from window to window."""
    train, val = split_text(TINY, 0.2)
    return CharLM("rnn", hidden=32, seq_length=10, seed=0).fit(train, epochs=40, validation_text=val)


@pytest.fixture(scope="module")
def lm_windows():
    """Shuffled windows, each from the zero state (stateful=False)."""
    train, val = split_text(TINY, 0.2)
    return CharLM("rnn", hidden=32, seq_length=10, stateful=False, seed=0).fit(train, epochs=40, validation_text=val)


@pytest.mark.parametrize("name", ["lm", "lm_windows"])
def test_loss_falls_well_below_the_uniform_guess(name, request):
    lm = request.getfixturevalue(name)
    V = len(lm.vocabulary_)
    first, last = lm.history_[0], lm.history_[-1]
    assert first["loss"] > 0.6 * math.log(V)  # it starts near the uniform guess ln V
    assert last["loss"] < 0.4 * math.log(V), (last["loss"], math.log(V))
    assert last["val_bpc"] < 0.5 * math.log2(V)
    assert abs(lm.bits_per_character(split_text(TINY, 0.2)[1]) - last["val_bpc"]) < 1e-12
    assert len(lm.loss_curve_) == last["steps"] and lm.chars_per_second_ > 0


def test_bits_per_character_is_the_mean_negative_log2_probability(lm, lm_windows):
    # stateful: the whole text in one pass from the zero state; -log2 p(next) averaged
    ids = lm.vocabulary_.encode(TINY)
    p = lm.model_.forward(lm.vocabulary_.one_hot(ids[None, :-1]), training=False)[0].astype(np.float64)
    by_hand = -np.log2(p[np.arange(len(ids) - 1), ids[1:]]).mean()
    assert abs(lm.bits_per_character(TINY) - by_hand) < 1e-5, (lm.bits_per_character(TINY), by_hand)
    # stateless: every window from the zero state, the tail a shorter window
    lm = lm_windows
    text, T = TINY[:37], lm.seq_length
    ids = lm.vocabulary_.encode(text)
    total, n = 0.0, 0
    for lo in range(0, len(ids) - 1, T):
        x, y = ids[lo:lo + T + 1][:-1], ids[lo + 1:lo + T + 1]
        p = lm.model_.predict(lm.vocabulary_.one_hot(x[None]))[0] if len(x) == T else \
            lm.model_.forward(lm.vocabulary_.one_hot(x[None]), training=False)[0]
        total -= np.log2(p[np.arange(len(y)), y].astype(np.float64)).sum()
        n += len(y)
    assert n == 36
    assert abs(lm.bits_per_character(text) - total / n) < 1e-4


def test_sampling_is_deterministic_with_a_seed(lm):
    a = lm.sample("the ", 60, 0.8, seed=3)
    assert a == lm.sample("the ", 60, 0.8, seed=3)
    assert len(a) == 60 and set(a) <= set(lm.vocabulary_.chars)
    assert a != lm.sample("the ", 60, 0.8, seed=4)
    assert "the" in lm.sample("the ", 200, 0.5, seed=0)  # it learned the text's most common word


def test_sampling_carries_the_state_from_character_to_character(lm, lm_windows):
    # near-zero temperature: each drawn character is the arg-max of the model's next-character distribution
    # after everything before it, read from the zero state in one pass (stateful) or as the last window
    for model in (lm, lm_windows):
        out = model.sample("the ", 30, 1e-6, seed=0)
        text = "the " + out
        ids = model.vocabulary_.encode(text)
        for k in range(4, len(text)):
            context = ids[:k] if model.stateful else ids[max(0, k - model.seq_length):k]
            p = model.model_.forward(model.vocabulary_.one_hot(context[None]), training=False)[0, -1]
            assert ids[k] == int(np.argmax(p)), (model.stateful, k, text)


@pytest.mark.parametrize("name", ["lm", "lm_windows"])
def test_temperature_reshapes_the_distribution(name, request):
    lm = request.getfixturevalue(name)
    vocab = lm.vocabulary_
    p = lm.model_.forward(vocab.one_hot(vocab.encode("the ca")[None]), training=False)[0, -1].astype(np.float64)
    for temperature in (0.5, 2.0):
        q = p ** (1 / temperature)
        q /= q.sum()
        draws = [lm.sample("the ca", 1, temperature, seed=s) for s in range(1500)]
        freq = np.array([draws.count(ch) for ch in vocab.chars]) / len(draws)
        assert 0.5 * np.abs(freq - q).sum() < 0.05, (temperature, freq, q)  # total variation
    # near 0 the most likely character always wins
    assert {lm.sample("the ca", 1, 1e-3, seed=s) for s in range(20)} == {vocab.chars[int(np.argmax(p))]}


def test_bad_sampling_arguments(lm):
    with pytest.raises(DataError, match=r"the prime holds 1 character\(s\) .*'Z'"):
        lm.sample("Zoo", 5)
    for temperature in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="temperature"):
            lm.sample("the", 5, temperature)
    with pytest.raises(ConfigError, match="length"):
        lm.sample("the", -1)
    with pytest.raises(ConfigError, match="prime"):
        lm.sample("", 5)
    with pytest.raises(ConfigError, match="not trained yet"):
        CharLM().sample("the", 5)
    with pytest.raises(ConfigError, match="arch"):
        CharLM("gru")


def test_save_and_load_keep_the_vocabulary(lm, tmp_path):
    lm.save(tmp_path / "m.glassnet")
    again = CharLM.load(tmp_path / "m.glassnet")
    assert again.vocabulary_ == lm.vocabulary_ and again.seq_length == lm.seq_length
    assert again.sample("the ", 50, 0.8, seed=1) == lm.sample("the ", 50, 0.8, seed=1)
    plain = gn.Sequential([gn.layers.Dense(2)], seed=0)
    plain.compile(loss="mse", optimizer="sgd")
    plain.build(3)
    plain.save(tmp_path / "plain.glassnet")
    with pytest.raises(ModelFileError, match="not a character-level language model"):
        CharLM.load(tmp_path / "plain.glassnet")


def test_lstm_learns_too():
    lstm = CharLM("lstm", hidden=16, seq_length=10, seed=0).fit(TINY, epochs=15)
    assert lstm.history_[-1]["loss"] < 0.5 * math.log(len(lstm.vocabulary_))


# -- files and the command line ------------------------------------------------------------------------
def test_read_text_rejects_missing_empty_and_binary_files(tmp_path):
    with pytest.raises(FileNotFoundError):  # as open() raises it, like the other readers; the CLI names it
        read_text(tmp_path / "nope.txt")
    (tmp_path / "crlf.txt").write_bytes("\ufeffab\r\ncd\r\n".encode())
    assert read_text(tmp_path / "crlf.txt") == "ab\ncd\n"
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(DataError, match="empty.txt: the text file is empty"):
        read_text(tmp_path / "empty.txt")
    (tmp_path / "bin.dat").write_bytes(b"abc\x00\x01\x02")
    with pytest.raises(DataError, match="bin.dat: not a text file \\(a NUL byte at offset 3"):
        read_text(tmp_path / "bin.dat")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(DataError, match="latin1.txt: not UTF-8 text \\(byte 0xe9 at offset 3\\)"):
        read_text(tmp_path / "latin1.txt")


def test_cli_train_text_then_generate(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text(TINY)
    model = tmp_path / "tiny.glassnet"
    assert main(["train-text", "--text", str(text), "--hidden", "24", "--seq-length", "10", "--epochs", "4",
                 "--save", str(model)]) == 0
    out, err = capsys.readouterr()
    assert "epoch 4/4" in err and "bits/char" in err and "chars/s" in err
    assert "smoothed loss" in out and "sample (temperature 0.8" in out
    assert main(["train-text", "--text", str(text), "--hidden", "24", "--seq-length", "10", "--steps", "7",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 7 and report["vocabulary"] == 14 and report["uniform_bpc"] == math.log2(14)
    assert report["val_bpc"] > 0 and report["chars_per_second"] > 0
    args = ["generate", "--model", str(model), "--prime", "the ", "--length", "40", "--temperature", "0.8",
            "--seed", "5"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and first.startswith("the ") and len(first) == 4 + 40 + 1
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == first[4:-1]


@pytest.mark.parametrize("argv, message", [
    (["generate", "--prime", "Zoo"], ("DataError: the prime holds 1 character(s) that are not in the model's "
                                      "vocabulary of 14: 'Z' (U+005A)")),
    (["generate", "--temperature", "0"], "ConfigError: Received an invalid value for `--temperature`"),
    (["generate", "--temperature", "nan"], "ConfigError: Received an invalid value for `--temperature`"),
    (["generate", "--length", "-3"], "ConfigError: Received an invalid value for `--length`"),
    (["train-text", "--epochs", "0"], "ConfigError: Received an invalid value for `--epochs`"),
    (["train-text", "--text", "MISSING"], "DataError: --text MISSING: cannot read the file: No such file"),
    (["train-text", "--text", "EMPTY"], "DataError: EMPTY: the text file is empty"),
    (["train-text", "--text", "BINARY"], "DataError: BINARY: not a text file"),
])
def test_cli_bad_input_is_one_line_with_status_2(tmp_path, capsys, lm, argv, message):
    model = tmp_path / "m.glassnet"
    lm.save(model)
    files = {"MISSING": tmp_path / "missing.txt", "EMPTY": tmp_path / "empty.txt", "BINARY": tmp_path / "b.bin"}
    files["EMPTY"].write_text("")
    files["BINARY"].write_bytes(bytes(range(256)))
    argv = [str(files.get(a, a)) for a in argv]
    for key, path in files.items():
        message = message.replace(key, str(path))
    if argv[0] == "generate":
        argv += ["--model", str(model)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_cli_default_text_and_quiet(capsys):
    # no --text: the pydoc topics; --steps stops within the first epoch; --quiet keeps stderr empty
    assert main(["train-text", "--steps", "3", "--hidden", "8", "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert err == "" and report["text"] == "pydoc_data.topics" and report["steps"] == 3
    assert report["vocabulary"] == 103 and report["train_chars"] + report["validation_chars"] == len(default_text())
    assert 0 < report["val_bpc"] < 7.0
