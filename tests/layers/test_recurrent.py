"""SimpleRNN, LSTM and GRU: finite differences, PyTorch as the oracle, a hand-worked example, learning, files."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.layers import GRU, LSTM, Dense, SimpleRNN

torch.set_num_threads(1)

RTOL, ATOL = 1e-10, 1e-12
N, T, C, U = 3, 5, 4, 3
LAYERS = [SimpleRNN, LSTM, GRU]
SEQUENCES = [False, True]


def assert_ours_vs_torch(ours, theirs, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"{what}: ours (ACTUAL) vs torch (DESIRED)")


def built(layer, input_shape=(T, C), seed=0, dtype=np.float64):
    """``layer`` built with its default init and (unlike the zero init) a random bias."""
    rng = np.random.default_rng(seed)
    layer.build(input_shape, rng, dtype)
    layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    return layer


def inputs(shape=(N, T, C), seed=1, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# torch's gate order, as columns of ours: the same for RNN and LSTM; r, z, n of our z, r, n for the GRU
def torch_columns(layer):
    u = layer.units
    return np.r_[u:2 * u, 0:u, 2 * u:3 * u] if isinstance(layer, GRU) else np.arange(layer.params["W"].shape[1])


def torch_twin(layer):
    """torch.nn.RNN / LSTM / GRU holding our weights: weight_ih = Wᵀ, weight_hh = Uᵀ, bias_hh = 0 (GRU: b[1])."""
    cls = {SimpleRNN: torch.nn.RNN, LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}[type(layer)]
    W, Uh, b = (layer.params[k] for k in ("W", "U", "b"))
    net = cls(W.shape[0], layer.units, batch_first=True, dtype=torch.from_numpy(W).dtype)
    P = torch_columns(layer)
    b_ih, b_hh = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(W[:, P].T)))
        net.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(Uh[:, P].T)))
        net.bias_ih_l0.copy_(torch.from_numpy(b_ih[P]))
        net.bias_hh_l0.copy_(torch.from_numpy(b_hh[P]))
    return net


def torch_run(layer, X, dY):
    """torch's output, dX and (in our layout) dW, dU, db for the same weights, input and dL/dY."""
    net = torch_twin(layer)
    x = torch.tensor(X, requires_grad=True)
    out, _ = net(x)
    y = out if layer.return_sequences else out[:, -1]
    y.backward(torch.from_numpy(dY))
    back = np.argsort(torch_columns(layer))  # torch's columns back into ours
    dW = net.weight_ih_l0.grad.numpy().T[:, back]
    dU = net.weight_hh_l0.grad.numpy().T[:, back]
    db_ih, db_hh = net.bias_ih_l0.grad.numpy()[back], net.bias_hh_l0.grad.numpy()[back]
    db = np.stack([db_ih, db_hh]) if isinstance(layer, GRU) else db_ih
    return y.detach().numpy(), x.grad.numpy(), {"W": dW, "U": dU, "b": db}


# --- finite differences ------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", SEQUENCES)
@pytest.mark.parametrize("cls", LAYERS)
def test_gradcheck(cls, seq):
    report = gn.gradcheck(built(cls(U, return_sequences=seq)), inputs())
    assert set(report.errors) == {"W", "U", "b", "x"}
    assert report.passed, str(report)


def test_gradcheck_simple_rnn_sigmoid():
    report = gn.gradcheck(built(SimpleRNN(U, activation="sigmoid", return_sequences=True)), inputs())
    assert report.passed, str(report)


def test_gradcheck_stacked_in_a_model():
    # LSTM -> GRU -> Dense softmax: the sequence output of one feeds the next; the first layer skips dx
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 6, 2)), np.arange(4) % 3
    model = gn.Sequential([LSTM(4, return_sequences=True), GRU(3), Dense(3, activation="softmax")], seed=0,
                          dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    model.build(X.shape[1:])
    assert not model.layers[0].need_input_grad and model.layers[1].need_input_grad
    report = gn.gradcheck(model, X, y)
    assert set(report.errors) == {"W1", "U1", "b1", "W2", "U2", "b2", "W3", "b3"}
    assert report.passed, str(report)


# --- PyTorch oracle ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", SEQUENCES)
@pytest.mark.parametrize("cls", LAYERS)
def test_matches_torch(cls, seq):
    layer = built(cls(U, return_sequences=seq))
    X = inputs()
    Y = layer.forward(X, training=True)
    dY = np.random.default_rng(2).standard_normal(Y.shape)
    dX = layer.backward(dY)
    Y_t, dX_t, grads_t = torch_run(layer, X, dY)
    assert Y.shape == Y_t.shape == ((N, T, U) if seq else (N, U)) == (N, *layer.output_shape)
    assert_ours_vs_torch(Y, Y_t, "Y")
    assert_ours_vs_torch(dX, dX_t, "dX")
    for k in ("W", "U", "b"):
        assert_ours_vs_torch(layer.grads[k], grads_t[k], f"d{k}")


@pytest.mark.parametrize("cls", LAYERS)
def test_float32_stays_float32_and_matches_torch(cls):
    layer = built(cls(8, return_sequences=True), dtype=np.float32)
    X = inputs((4, 12, C), dtype=np.float32)
    Y = layer.forward(X, training=True)
    dY = np.random.default_rng(2).standard_normal(Y.shape).astype(np.float32)
    dX = layer.backward(dY)
    assert Y.dtype == dX.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    Y_t, dX_t, grads_t = torch_run(layer, X, dY)
    assert_ours_vs_torch(Y, Y_t, "Y", 1e-4, 1e-5)
    assert_ours_vs_torch(dX, dX_t, "dX", 1e-4, 1e-5)
    for k in ("W", "U", "b"):
        assert_ours_vs_torch(layer.grads[k], grads_t[k], f"d{k}", 1e-4, 1e-5)


def test_repeated_calls_and_other_batch_sizes_reuse_nothing_stale():
    layer = built(LSTM(U, return_sequences=True))
    first = layer.forward(inputs(), training=True)
    layer.forward(inputs((7, T, C), seed=5))  # other buffers' shapes in between
    np.testing.assert_array_equal(layer.forward(inputs(), training=True), first)
    assert first is not layer.forward(inputs())  # every call returns a fresh array


# --- worked by hand ----------------------------------------------------------------------------------


def test_simple_rnn_by_hand():
    # one unit, linear: W = 0.5, U = 0.5, b = 0, x = 1, 2
    layer = SimpleRNN(1, activation="linear")
    layer.build((2, 1), np.random.default_rng(0), np.float64)
    layer.params["W"][...], layer.params["U"][...] = 0.5, 0.5
    h = layer.forward(np.array([1.0, 2.0]).reshape(1, 2, 1), training=True)
    assert h.item() == 1.25  # h1 = 0.5·1 = 0.5;  h2 = 0.5·2 + 0.5·h1 = 1.25
    dx = layer.backward(np.ones((1, 1)))  # dz2 = 1, dz1 = dz2·U = 0.5
    assert layer.grads["W"].item() == 2.5  # x1·dz1 + x2·dz2 = 0.5 + 2
    assert layer.grads["U"].item() == 0.5  # h0·dz1 + h1·dz2 = 0 + 0.5
    assert layer.grads["b"].item() == 1.5  # dz1 + dz2
    np.testing.assert_array_equal(dx.ravel(), [0.25, 0.5])  # dz1·W, dz2·W


def test_lstm_one_step_by_hand():
    # one unit, one step, W = U = 0 and b = [i f g o] = [0, 0, atanh(0.5), 0]: σ(0) = 0.5, g = 0.5
    layer = LSTM(1, unit_forget_bias=False)
    layer.build((1, 1), np.random.default_rng(0), np.float64)
    layer.params["W"][...], layer.params["U"][...] = 0, 0
    layer.params["b"][...] = [0.0, 0.0, np.arctanh(0.5), 0.0]
    h = layer.forward(np.zeros((1, 1, 1)))
    # i = f = o = 0.5, g = 0.5;  c1 = f·c0 + i·g = 0.25;  h1 = o·tanh(0.25)
    np.testing.assert_allclose(h.item(), 0.5 * np.tanh(0.25), rtol=1e-15)


# --- initialization and settings ---------------------------------------------------------------------


def test_keras_initialization():
    lstm = LSTM(4)
    lstm.build((7, 3), np.random.default_rng(0), np.float64)
    b = lstm.params["b"]
    np.testing.assert_array_equal(b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])  # forget gate starts at 1
    Uh = lstm.params["U"]  # (4, 16): orthonormal rows, C order like every weight
    assert Uh.flags.c_contiguous
    np.testing.assert_allclose(Uh @ Uh.T, np.eye(4), atol=1e-12)
    limit = np.sqrt(6 / (3 + 16))  # glorot_uniform over (C, 4U)
    assert lstm.params["W"].shape == (3, 16) and np.abs(lstm.params["W"]).max() <= limit
    plain = LSTM(4, unit_forget_bias=False)
    plain.build((7, 3), np.random.default_rng(0))
    assert not plain.params["b"].any()
    gru = GRU(5)
    gru.build((7, 3), np.random.default_rng(0))
    assert {k: v.shape for k, v in gru.params.items()} == {"W": (3, 15), "U": (5, 15), "b": (2, 15)}


def test_output_shapes_and_summary():
    rng = np.random.default_rng(0)
    assert SimpleRNN(6).build((10, 2), rng) == (6,)
    assert LSTM(6, return_sequences=True).build((10, 2), rng) == (10, 6)
    model = gn.Sequential([LSTM(8, return_sequences=True), GRU(4), Dense(2)], seed=0).build((10, 3))
    assert model.count_params() == (3 * 32 + 8 * 32 + 32) + (8 * 12 + 4 * 12 + 24) + (4 * 2 + 2)
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "LSTM(8, return_sequences=True)" in text and "GRU(4)" in text and "(None, 10, 8)" in text


@pytest.mark.parametrize("make,message", [
    (lambda: LSTM(0), "Received an invalid value for `units`, expected a positive integer. Received: units=0"),
    (lambda: GRU(3, return_sequences="yes"), "Received: return_sequences='yes'"),
    (lambda: GRU(3, reset_after=False), "reset_after=True only"),
    (lambda: SimpleRNN(3, activation="softmax"), "an elementwise activation"),
    (lambda: LSTM(3, recurrent_initializer="nope"), "Unknown initializer 'nope'"),
])
def test_bad_settings_are_config_errors(make, message):
    with pytest.raises(gn.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


# --- bad inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
def test_two_dimensional_input_is_a_shape_error(cls):
    with pytest.raises(gn.ShapeError, match=r"expected ndim=3 \(N, T, C\), found ndim=2. Full shape received: "
                                            r"\(None, 10\)"):
        cls(4).build((10,), np.random.default_rng(0))
    layer = built(cls(4))
    with pytest.raises(gn.ShapeError, match=r'layer "\w+" \(\w+\).*expected ndim=3 \(N, T, C\), found ndim=2. '
                                            r"Full shape received: \(8, 4\)"):
        layer.forward(np.ones((8, C)))
    with pytest.raises(gn.ShapeError, match=r"expected \(N, T, C\) with T >= 1 and C=4. Full shape received: "
                                            r"\(8, 5, 3\)"):
        layer.forward(np.ones((8, T, 3)))


def test_model_fit_on_flat_rows_names_the_lstm():
    model = gn.Sequential([LSTM(4, name="encoder"), Dense(1)], seed=0)
    model.compile(loss="mse")
    with pytest.raises(gn.ShapeError, match=r'layer "encoder" \(LSTM\).*\(N, T, C\).*\(None, 6\)'):
        model.fit(np.ones((5, 6)), np.ones(5), verbose=0)


# --- in a model: learning and files ------------------------------------------------------------------


def two_sines(n, T=24, seed=0):
    """Class 0: a sine of period 12 steps; class 1: period 6; random phase and amplitude, noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    period = np.where(y == 0, 12.0, 6.0)[:, None]
    t = np.arange(T)[None, :]
    X = rng.uniform(0.5, 1.5, (n, 1)) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, (n, 1)))
    X += rng.normal(0, 0.2, X.shape)
    return X[..., None].astype(np.float32), y


@pytest.mark.parametrize("cls", LAYERS)
def test_learns_which_of_two_frequencies(cls):
    X, y = two_sines(256)
    X_test, y_test = two_sines(200, seed=1)
    model = gn.Sequential([cls(16), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(0.01), metrics=["accuracy"])
    model.fit(X, y, epochs=15, batch_size=32, verbose=0)
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    assert accuracy >= 0.95, accuracy
    assert model.layers[0].params["W"].dtype == np.float32


def test_save_load_round_trip(tmp_path):
    X, y = two_sines(64)
    model = gn.Sequential([SimpleRNN(5, activation="relu", return_sequences=True), LSTM(6, return_sequences=True),
                           GRU(4), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "rnn.glassnet")
    again = gn.load(tmp_path / "rnn.glassnet")
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert [la.get_config() for la in again.layers] == [la.get_config() for la in model.layers]
    assert again.layers[0].activation.key == "relu" and again.layers[1].need_input_grad


def fake_gpu() -> str:
    """Install tests/fakegpu.py (CuPy's strict stand-in, see tests/test_device.py) and return its name."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fakegpu

    fakegpu.install()
    return "fakegpu"


def test_on_a_device_equals_the_cpu():
    # every allocation on the model's device: the fake GPU refuses to mix host and device arrays
    device = fake_gpu()
    X, y = two_sines(24, T=6)
    predictions = []
    for where in ("cpu", device):
        model = gn.Sequential([SimpleRNN(5, return_sequences=True), LSTM(4, return_sequences=True), GRU(3),
                               Dense(2, activation="softmax")], seed=1, dtype="float64", device=where)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        model.fit(X, y, epochs=2, batch_size=8, verbose=0)
        predictions.append(model.predict(X))
    np.testing.assert_array_equal(predictions[0], predictions[1])
