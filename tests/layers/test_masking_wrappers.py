"""Masking (Masking, Embedding(mask_zero=True), the model's mask plumbing and the masked loss), Bidirectional
and TimeDistributed: finite differences, PyTorch as the oracle (float64), files, and bad input."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.errors import ConfigError, ShapeError
from glassnet.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Layer,
    Masking,
    ReLU,
    SimpleRNN,
    TimeDistributed,
)

torch.set_num_threads(1)

RTOL, ATOL = 1e-10, 1e-12
N, T, C, U = 3, 5, 4, 3


def close(ours, theirs, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"{what}: ours (ACTUAL) vs torch (DESIRED)")


def inputs(shape=(N, T, C), seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def built(layer, input_shape=(T, C), seed=0):
    """``layer`` built in float64, every bias random (the default init sets it to 0 or 1)."""
    rng = np.random.default_rng(seed)
    layer.build(input_shape, rng, np.float64)
    for k, p in layer.params.items():
        if k.endswith("b"):
            p[...] = rng.standard_normal(p.shape)
    return layer


# --- Bidirectional against torch.nn.LSTM/GRU/RNN(bidirectional=True) ----------------------------------------

TORCH = {SimpleRNN: torch.nn.RNN, LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}


def _columns(sub):
    """torch's gate order as columns of ours: the GRU's r, z, n of our z, r, n; the others keep theirs."""
    u = sub.units
    return np.r_[u:2 * u, 0:u, 2 * u:3 * u] if isinstance(sub, GRU) else np.arange(sub.params["W"].shape[1])


def torch_twin(bi):
    """A bidirectional torch RNN holding the wrapper's weights: ``*_l0`` the forward copy's, ``*_l0_reverse``
    the backward copy's (weight_ih = Wᵀ, weight_hh = Uᵀ, bias_hh = 0 or the GRU's b[1])."""
    f = bi.forward_layer
    net = TORCH[type(f)](f.params["W"].shape[0], f.units, batch_first=True, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        for sub, suffix in ((bi.forward_layer, ""), (bi.backward_layer, "_reverse")):
            P, (W, Uh, b) = _columns(sub), (sub.params[k] for k in ("W", "U", "b"))
            b_ih, b_hh = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
            getattr(net, "weight_ih_l0" + suffix).copy_(torch.from_numpy(np.ascontiguousarray(W[:, P].T)))
            getattr(net, "weight_hh_l0" + suffix).copy_(torch.from_numpy(np.ascontiguousarray(Uh[:, P].T)))
            getattr(net, "bias_ih_l0" + suffix).copy_(torch.from_numpy(b_ih[P]))
            getattr(net, "bias_hh_l0" + suffix).copy_(torch.from_numpy(b_hh[P]))
    return net


def torch_grads(bi, net):
    """torch's parameter gradients in our layout and names (``forward.W``, ..., ``backward.b``)."""
    out = {}
    for prefix, sub, suffix in (("forward.", bi.forward_layer, ""), ("backward.", bi.backward_layer, "_reverse")):
        back = np.argsort(_columns(sub))
        g = {k: getattr(net, k + suffix).grad.numpy() for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                                  "bias_hh_l0")}
        out[prefix + "W"] = g["weight_ih_l0"].T[:, back]
        out[prefix + "U"] = g["weight_hh_l0"].T[:, back]
        b_ih, b_hh = g["bias_ih_l0"][back], g["bias_hh_l0"][back]
        out[prefix + "b"] = np.stack([b_ih, b_hh]) if isinstance(sub, GRU) else b_ih
    return out


def torch_merge(out, seq, mode, units):
    """torch's (N, T, 2U) output merged as ``merge_mode`` says; without sequences: the forward direction's last
    step and the backward direction's first (each the state after reading the whole sequence)."""
    yf, yb = out[..., :units], out[..., units:]
    if not seq:
        yf, yb = yf[:, -1], yb[:, 0]
    return {"concat": lambda: torch.cat([yf, yb], dim=-1), "sum": lambda: yf + yb, "mul": lambda: yf * yb,
            "ave": lambda: (yf + yb) / 2}[mode]()


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
@pytest.mark.parametrize("seq", [True, False])
def test_bidirectional_matches_torch(cls, seq):
    bi = built(Bidirectional(cls(U, return_sequences=seq)))
    X = inputs()
    Y = bi.forward(X)
    dY = inputs(Y.shape, seed=2)
    dX = bi.backward(dY)
    net = torch_twin(bi)
    x = torch.tensor(X, requires_grad=True)
    y = torch_merge(net(x)[0], seq, "concat", U)
    y.backward(torch.from_numpy(dY))
    close(Y, y.detach().numpy(), "Y")
    close(dX, x.grad.numpy(), "dX")
    grads = torch_grads(bi, net)
    assert list(bi.grads) == list(grads)
    for k, g in grads.items():
        close(bi.grads[k], g, f"d{k}")


@pytest.mark.parametrize("mode", ["sum", "mul", "ave"])
def test_bidirectional_merge_modes_match_torch(mode):
    bi = built(Bidirectional(LSTM(U, return_sequences=True), merge_mode=mode))
    X = inputs()
    Y = bi.forward(X)
    assert Y.shape == (N, T, U)
    dY = inputs(Y.shape, seed=2)
    dX = bi.backward(dY)
    net = torch_twin(bi)
    x = torch.tensor(X, requires_grad=True)
    y = torch_merge(net(x)[0], True, mode, U)
    y.backward(torch.from_numpy(dY))
    close(Y, y.detach().numpy(), "Y")
    close(dX, x.grad.numpy(), "dX")
    for k, g in torch_grads(bi, net).items():
        close(bi.grads[k], g, f"d{k}")


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("seq", [True, False])
def test_bidirectional_gradcheck(mode, seq):
    report = gn.gradcheck(Bidirectional(GRU(2, return_sequences=seq), merge_mode=mode), inputs((2, 4, 3)))
    assert {"forward.W", "backward.U", "x"} <= set(report.errors)
    assert report.passed, str(report)


def test_bidirectional_in_a_model_gradcheck_and_first_layer_skips_dx():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 6, 2)), np.arange(4) % 3
    model = gn.Sequential([Bidirectional(LSTM(3, return_sequences=True)), Bidirectional(GRU(2), merge_mode="sum"),
                           Dense(3, activation="softmax")], seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    model.build(X.shape[1:])
    first = model.layers[0]
    assert not first.need_input_grad and not first.forward_layer.need_input_grad
    assert model.layers[1].backward_layer.need_input_grad
    report = gn.gradcheck(model, X, y)
    assert report.passed, str(report)
    assert "backward.U2" in report.errors


# --- weights: registered once, in Keras' order -------------------------------------------------------


def test_bidirectional_weights_state_dict_optimizer_and_files(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, T, C)), rng.standard_normal((8, 2))
    model = gn.Sequential([Bidirectional(LSTM(U, name="enc")), Dense(2)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    model.build((T, C))
    bi = model.layers[0]
    assert [w.shape for w in bi.get_weights()] == [(C, 4 * U), (U, 4 * U), (4 * U,)] * 2  # forward, backward
    weights = model.get_weights()
    assert len(weights) == 8 and np.array_equal(weights[3], bi.backward_layer.params["W"])
    keys = list(model.state_dict(("params",))["params"])
    assert keys[:6] == ["0/forward.W", "0/forward.U", "0/forward.b", "0/backward.W", "0/backward.U", "0/backward.b"]
    # the sublayers' arrays are views onto the model's flat buffer, so set_weights and the optimizer reach them
    new = [w + 1.0 for w in weights]
    model.set_weights(new)
    assert np.array_equal(bi.backward_layer.params["U"], new[4])
    before = bi.backward_layer.params["U"].copy()
    model.fit(X, y, epochs=1, verbose=0)
    assert not np.array_equal(before, bi.backward_layer.params["U"])  # trained
    path = tmp_path / "bi.glassnet"
    model.save(path)
    loaded = gn.load(path)
    assert loaded.get_config()["layers"] == model.get_config()["layers"]
    assert loaded.layers[0].forward_layer.name == "forward_enc" and loaded.layers[0].layer_name == "enc"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    loaded.fit(X, y, epochs=1, verbose=0)  # the optimizer state came back too


@pytest.mark.parametrize("layer", [Bidirectional(GRU(2, return_sequences=True), merge_mode="mul"),
                                   TimeDistributed(Dense(3, activation="relu")), Masking(mask_value=-1.0)],
                         ids=["bidirectional", "time_distributed", "masking"])
def test_save_load_round_trip(tmp_path, layer):
    X = inputs((4, T, C))
    X[1, 3:] = -1.0
    model = gn.Sequential([layer, Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.fit(X, inputs((4, T, 1), seed=3), epochs=1, verbose=0)
    model.save(tmp_path / "m.glassnet")
    loaded = gn.load(tmp_path / "m.glassnet")
    assert repr(loaded.layers[0]) == repr(layer)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_embedding_mask_zero_round_trip(tmp_path):
    model = gn.Sequential([Embedding(10, 3, mask_zero=True), Dense(2)], seed=0)
    model.build((4,))
    model.save(tmp_path / "e.glassnet")
    loaded = gn.load(tmp_path / "e.glassnet")
    assert loaded.layers[0].mask_zero and repr(loaded.layers[0]) == "Embedding(10, 3, mask_zero=True)"
    loaded.predict(np.array([[1, 2, 0, 0]]))
    assert np.array_equal(loaded.output_mask, [[True, True, False, False]])


# --- TimeDistributed ---------------------------------------------------------------------------------


def test_time_distributed_dense_equals_dense_on_the_last_axis_and_torch():
    X, dY = inputs(), inputs((N, T, 2), seed=2)
    td, dense = built(TimeDistributed(Dense(2, activation="tanh"))), built(Dense(2, activation="tanh"))
    td.set_weights(dense.get_weights())
    assert td.output_shape == (T, 2) and list(td.params) == ["W", "b"]
    Y, Yd = td.forward(X), dense.forward(X)
    dX, dXd = td.backward(dY), dense.backward(dY)
    np.testing.assert_array_equal(Y, Yd)
    np.testing.assert_array_equal(dX, dXd)
    for k in ("W", "b"):
        np.testing.assert_array_equal(td.grads[k], dense.grads[k])
    # torch: Linear on every step of (N, T, C)
    lin = torch.nn.Linear(C, 2, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(dense.params["W"].T.copy()))
        lin.bias.copy_(torch.from_numpy(dense.params["b"]))
    x = torch.tensor(X, requires_grad=True)
    y = torch.tanh(lin(x))
    y.backward(torch.from_numpy(dY))
    close(Y, y.detach().numpy(), "Y")
    close(dX, x.grad.numpy(), "dX")
    close(td.grads["W"], lin.weight.grad.numpy().T, "dW")
    close(td.grads["b"], lin.bias.grad.numpy(), "db")


def test_time_distributed_conv1d_matches_torch_and_gradcheck():
    # (N, T, L, C): a Conv1D over the L axis of every one of the T steps, the same kernel for each
    X = inputs((2, 3, 6, 2))
    td = built(TimeDistributed(Conv1D(4, 3)), input_shape=(3, 6, 2))
    Y = td.forward(X)
    assert Y.shape == (2, 3, 4, 4) and td.output_shape == (3, 4, 4)
    dY = inputs(Y.shape, seed=2)
    dX = td.backward(dY)
    conv = torch.nn.Conv1d(2, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(td.params["W"].transpose(2, 1, 0).copy()))  # ours (K, C_in, C_out)
        conv.bias.copy_(torch.from_numpy(td.params["b"]))
    x = torch.tensor(X, requires_grad=True)
    y = conv(x.reshape(6, 6, 2).transpose(1, 2)).transpose(1, 2).reshape(2, 3, 4, 4)
    y.backward(torch.from_numpy(dY))
    close(Y, y.detach().numpy(), "Y")
    close(dX, x.grad.numpy(), "dX")
    close(td.grads["W"], conv.weight.grad.numpy().transpose(2, 1, 0), "dW")
    report = gn.gradcheck(TimeDistributed(Conv1D(2, 3, activation="tanh")), X)
    assert report.passed, str(report)


def test_time_distributed_passes_the_mask_and_shapes_in_a_summary():
    X = inputs((2, T, C))
    X[0, 3:] = 0.0
    model = gn.Sequential([Masking(), TimeDistributed(Dense(3)), TimeDistributed(Dropout(0.5)), Dense(1)], seed=0)
    out = model.predict(X)
    assert out.shape == (2, T, 1)
    assert np.array_equal(model.output_mask, [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    lines = []
    model.summary(print_fn=lines.append)
    assert "TimeDistributed(Dense(3))" in lines[0] and "(None, 5, 3)" in lines[0]


# --- Masking and Embedding(mask_zero=True) -----------------------------------------------------------


def test_masking_by_hand():
    layer = Masking(mask_value=0.5)
    layer.build((3, 2), np.random.default_rng(0))
    x = np.array([[[0.5, 0.5], [0.5, 1.0], [2.0, 3.0]]])
    # step 0 has every feature equal to 0.5: padding, zeroed; step 1 has one other value: kept
    np.testing.assert_array_equal(layer.forward(x), [[[0.0, 0.0], [0.5, 1.0], [2.0, 3.0]]])
    np.testing.assert_array_equal(layer.compute_mask(None), [[False, True, True]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[[0, 0], [1, 1], [1, 1]]])
    # the mask is a step function of x (not differentiable at padding): finite differences go through the
    # parameters of a model around the layer, whose loss leaves the padded steps out
    model = gn.Sequential([Masking(mask_value=0.5), Dense(3, activation="tanh"), Dense(2)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    model.build((4, 2))
    X = inputs((3, 4, 2))
    X[0, 2:] = X[2, :1] = 0.5
    report = gn.gradcheck(model, X, inputs((3, 4, 2), seed=5))
    assert report.passed, str(report)
    model.forward(X)
    assert np.array_equal(model.output_mask, [[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1]])


def test_embedding_mask_zero():
    emb = Embedding(6, 2, mask_zero=True)
    emb.build((4,), np.random.default_rng(0))
    ids = np.array([[5, 1, 0, 0], [0, 3, 2, 0]])
    emb.forward(ids)
    np.testing.assert_array_equal(emb.compute_mask(None), ids != 0)
    plain = Embedding(6, 2)
    plain.build((4,), np.random.default_rng(0))
    plain.forward(ids)
    assert plain.compute_mask(None) is None and plain.get_config()["mask_zero"] is False
    with pytest.raises(ConfigError, match="mask_zero"):
        Embedding(6, 2, mask_zero=1)


class _Spy(Layer):
    """Records the mask the model hands it; passes its input and its mask on."""

    supports_masking = True

    def forward(self, x, training=False):
        self.seen = self.input_mask
        return x

    def backward(self, dy):
        return dy


def test_the_model_hands_each_layer_its_mask():
    ids = np.array([[4, 2, 0], [1, 0, 0]])
    spies = [_Spy() for _ in range(4)]
    model = gn.Sequential([spies[0], Embedding(5, 2, mask_zero=True), spies[1], Dense(3), ReLU(), Dropout(0.3),
                           spies[2], Flatten(), spies[3]], seed=0)
    model.build((3,))
    with pytest.warns(UserWarning, match=r"Layer 7 \(flatten, Flatten\) does not support masking"):
        model.forward(ids, training=True)
    assert spies[0].seen is None  # no mask before the Embedding
    np.testing.assert_array_equal(spies[1].seen, ids != 0)
    np.testing.assert_array_equal(spies[2].seen, ids != 0)  # Dense, ReLU and Dropout pass it on
    assert spies[3].seen is None and model.output_mask is None  # Flatten drops it
    # without a mask nothing warns, and the layers see None
    plain = gn.Sequential([Dense(2), _Spy(), Flatten()], seed=0)
    plain.build((3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain.forward(inputs((2, 3, 4)))
    assert plain.layers[1].seen is None


# --- the loss leaves masked steps out ------------------------------------------------------------------


def _masked_model(loss, last):
    model = gn.Sequential([Embedding(7, 3, mask_zero=True), Dense(4, activation="tanh"), last], seed=0,
                          dtype="float64")
    model.compile(loss=loss, optimizer="sgd")
    model.build((5,))
    return model


IDS = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0], [6, 2, 3, 4, 1]])
REAL = IDS != 0


@pytest.mark.parametrize("loss, act", [("mse", None), ("categorical_crossentropy", "softmax"),
                                       ("binary_crossentropy", "sigmoid"), ("half_sse", None)])
def test_masked_loss_is_the_mean_over_real_steps_and_its_gradient(loss, act):
    model = _masked_model(loss, Dense(3, activation=act))
    rng = np.random.default_rng(0)
    y = rng.random((3, 5, 3))
    if loss == "categorical_crossentropy":
        y = np.eye(3)[rng.integers(0, 3, (3, 5))]
    a = model.forward(IDS)
    L = model.compute_loss(a, y)
    # torch: the same outputs, each real step's loss over its last axis, averaged over the real steps (Keras)
    at, yt, m = torch.tensor(a, requires_grad=True), torch.from_numpy(y), torch.from_numpy(REAL)
    per_step = {"mse": lambda: ((at - yt) ** 2).mean(-1),
                "half_sse": lambda: 0.5 * ((at - yt) ** 2).sum(-1),
                "categorical_crossentropy": lambda: -(yt * torch.log(at)).sum(-1),
                "binary_crossentropy": lambda: torch.nn.functional.binary_cross_entropy(at, yt, reduction="none")
                .mean(-1)}[loss]()
    Lt = per_step[m].sum() if loss == "half_sse" else per_step[m].mean()
    Lt.backward()
    close(L, Lt.item(), "loss")
    # the gradient through the last layer (fused softmax/sigmoid included): dA vs torch's
    model.backward(a, y)
    if act is None:
        close(model.layers[-1].da, at.grad.numpy(), "dL/dA")
    else:  # fused: dL/dZ = (dA/dZ)ᵀ·dL/dA through the activation
        z = torch.tensor(model.layers[-1].z, requires_grad=True)
        (torch.softmax(z, -1) if act == "softmax" else torch.sigmoid(z)).backward(at.grad)
        close(model.layers[-1].dz, z.grad.numpy(), "dL/dZ", rtol=1e-9)
    report = gn.gradcheck(model, IDS, y)
    assert report.passed, str(report)


def test_masked_loss_ignores_what_padded_steps_hold():
    # changing the targets (and the ids' embedding row 0 sits only at padding) at masked steps changes nothing
    model = _masked_model("mse", Dense(2))
    y = inputs((3, 5, 2))
    a = model.forward(IDS)
    L1 = model.compute_loss(a, y)
    model.backward(a, y)
    g1 = model.flat_grads.copy()
    y2 = y.copy()
    y2[~REAL] = 100.0
    L2 = model.compute_loss(a, y2)
    model.backward(a, y2)
    assert L1 == L2 and np.array_equal(g1, model.flat_grads)
    assert not model.layers[0].grads["E"][0].any()  # the padding id's row gets no gradient


def test_masked_loss_with_sample_weights_and_evaluate():
    model = _masked_model("mse", Dense(2))
    y, w = inputs((3, 5, 2)), np.array([2.0, 0.5, 1.0])
    a = model.forward(IDS)
    per_step = ((a - y) ** 2).mean(-1)  # (N, T)
    weights = REAL * w[:, None]
    expected = (weights * per_step).sum() / weights.sum()  # Σ w·m·l / Σ w·m
    assert model.compute_loss(a, y, sample_weight=w) == pytest.approx(expected, rel=1e-13)
    assert model.evaluate(IDS, y, sample_weight=w)["loss"] == pytest.approx(expected, rel=1e-13)
    assert model.evaluate(IDS, y)["loss"] == pytest.approx(per_step[REAL].mean(), rel=1e-13)
    report = gn.gradcheck(model, IDS, y)
    assert report.passed


def test_metrics_count_real_steps_only():
    model = _masked_model("categorical_crossentropy", Dense(3, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    a = model.predict(IDS)
    y = np.eye(3)[a.argmax(-1)]  # right at every step...
    y[~REAL] = np.roll(y[~REAL], 1, axis=-1)  # ...but wrong at every padded one
    assert model.evaluate(IDS, y)["accuracy"] == 1.0
    y[0, 0] = np.roll(y[0, 0], 1)  # one real step wrong out of 10
    assert model.evaluate(IDS, y)["accuracy"] == pytest.approx(0.9)
    assert repr(model.metrics[0][1]) == "masked(accuracy)"


def test_a_masked_batch_equals_its_rows_trimmed_one_at_a_time():
    # Dense layers act step by step, so a masked padded batch must give each unpadded sequence's gradient,
    # weighted by its share of the real steps
    model = _masked_model("mse", Dense(2))
    y = inputs((3, 5, 2))
    a = model.forward(IDS)
    model.backward(a, y)
    batch = model.flat_grads.copy()
    total = np.zeros_like(batch)
    lengths = REAL.sum(axis=1)
    for n, length in enumerate(lengths):
        an = model.forward(IDS[n:n + 1, :length])
        assert model.output_mask.all()
        model.backward(an, y[n:n + 1, :length])
        total += model.flat_grads * (length / lengths.sum())
    close(batch, total, "padded batch vs rows one at a time", rtol=1e-12)


def test_fit_trains_on_real_steps_only():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 7, (32, 5))
    ids[::2, 3:] = 0
    y = (ids[..., None] % 2).astype(float)
    y[ids == 0] = 50.0  # nonsense at padding: it must not matter
    model = gn.Sequential([Embedding(7, 8, mask_zero=True), Dense(1, activation="sigmoid")], seed=0)
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(lr=0.05), metrics=[])
    hist = model.fit(ids, np.clip(y, 0, 1), epochs=30, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < 0.05
    assert np.isfinite(model.evaluate(ids, np.clip(y, 0, 1))["loss"])


# --- end to end with the recurrent layers' masking -----------------------------------------------------


def _padded(seqs, T_pad, pre=False):
    X = np.zeros((len(seqs), T_pad, seqs[0].shape[1]))
    for n, s in enumerate(seqs):
        if pre:
            X[n, T_pad - len(s):] = s
        else:
            X[n, :len(s)] = s
    return X


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_bidirectional_padded_batch_equals_unpadded_runs_and_torch_packed(cls):
    rng = np.random.default_rng(0)
    lengths = [5, 3, 1]
    seqs = [rng.standard_normal((t, 2)) + 3.0 for t in lengths]  # no step is all zeros
    X = _padded(seqs, 5)
    bi = built(Bidirectional(cls(U, return_sequences=True)), input_shape=(5, 2))
    model = gn.Sequential([Masking(), bi], seed=0, dtype="float64")
    model.build((5, 2))
    bi.set_weights(built(Bidirectional(cls(U, return_sequences=True)), input_shape=(5, 2)).get_weights())
    Y = model.predict(X)
    for n, s in enumerate(seqs):
        alone = model.forward(s[None])
        close(Y[n, :lengths[n]], alone[0], f"row {n} padded vs alone")
        assert not Y[n, lengths[n]:].any()  # masked steps output zeros
    # torch over packed sequences
    net = torch_twin(bi)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(X), lengths, batch_first=True)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(net(packed)[0], batch_first=True, total_length=5)
    close(Y, out.detach().numpy(), "padded vs torch packed")


def test_bidirectional_last_step_with_a_mask_equals_torch_packed_final_states():
    rng = np.random.default_rng(1)
    lengths = [4, 2, 3]
    X = _padded([rng.standard_normal((t, 2)) + 3.0 for t in lengths], 4)
    bi = built(Bidirectional(LSTM(U)), input_shape=(4, 2))
    bi.input_mask = np.arange(4) < np.array(lengths)[:, None]  # (N, T), as the model sets it
    Y = bi.forward(X)
    assert len(bi.states) == 4 and np.array_equal(bi.states[2], Y[:, U:])  # [h_f, c_f, h_b, c_b]
    dY = inputs(Y.shape, seed=2)
    dX = bi.backward(dY)
    net = torch_twin(bi)
    x = torch.tensor(X, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    h_n = net(packed)[1][0]  # (2, N, U): the forward direction's state at each row's last real step, the backward's
    y = torch.cat([h_n[0], h_n[1]], dim=-1)
    y.backward(torch.from_numpy(dY))
    close(Y, y.detach().numpy(), "Y")
    close(dX, x.grad.numpy(), "dX")
    for k, g in torch_grads(bi, net).items():
        close(bi.grads[k], g, f"d{k}")


@pytest.mark.parametrize("bidirectional", [False, True])
def test_variable_length_batch_trains_as_its_sequences_one_at_a_time(bidirectional):
    # Embedding(mask_zero) -> (Bi)LSTM -> softmax per step: the padded batch's loss and gradient are those of
    # the unpadded sequences run one at a time, each weighted by its share of the real steps
    rng = np.random.default_rng(2)
    lengths = np.array([6, 2, 4])
    ids = np.zeros((3, 6), dtype=np.int64)
    for n, t in enumerate(lengths):
        ids[n, :t] = rng.integers(1, 8, t)
    y = np.eye(5)[rng.integers(0, 5, (3, 6))]
    rnn = LSTM(4, return_sequences=True)
    model = gn.Sequential([Embedding(8, 3, mask_zero=True), Bidirectional(rnn) if bidirectional else rnn,
                           Dense(5, activation="softmax")], seed=0, dtype="float64")
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    model.build((6,))
    a = model.forward(ids)
    loss = model.compute_loss(a, y)
    model.backward(a, y)
    batch = model.flat_grads.copy()
    losses, total = [], np.zeros_like(batch)
    for n, t in enumerate(lengths):
        an = model.forward(ids[n:n + 1, :t])
        losses.append(model.compute_loss(an, y[n:n + 1, :t]))
        model.backward(an, y[n:n + 1, :t])
        total += model.flat_grads * (t / lengths.sum())
    close(loss, np.dot(losses, lengths) / lengths.sum(), "loss of the padded batch vs the rows alone")
    close(batch, total, "gradient of the padded batch vs the rows alone", rtol=1e-9)
    report = gn.gradcheck(model, ids, y)
    assert report.passed, str(report)


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, message", [
    (lambda: Bidirectional(Dense(3)), r"Bidirectional wraps a recurrent layer .* received Dense\(3\) of type Dense"),
    (lambda: Bidirectional(LSTM(3), merge_mode=None), r"merge_mode.*Received: merge_mode=None"),
    (lambda: Bidirectional(LSTM(3), merge_mode="max"), r"merge_mode.*'concat' or 'sum' or 'mul' or 'ave'"),
    (lambda: TimeDistributed("dense"), r"TimeDistributed wraps a glassnet layer; received 'dense'"),
    (lambda: Masking(mask_value=float("nan")), r"mask_value"),
])
def test_bad_settings_are_config_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_bad_shapes_are_shape_errors_naming_them():
    with pytest.raises(ShapeError, match=r"TimeDistributed\) takes inputs of shape \(N, T, \.\.\.\).*\(None, 4\)"):
        gn.Sequential([TimeDistributed(Dense(2))], seed=0).build((4,))
    td = built(TimeDistributed(Dense(2)))
    with pytest.raises(ShapeError, match=r"received shape \(3, 4\)"):
        td.forward(inputs((3, 4)))
    with pytest.raises(ShapeError, match=r"Bidirectional\) takes sequences of shape \(N, T, C\); received input "
                                         r"shape \(None, 4\)"):
        gn.Sequential([Bidirectional(LSTM(2))], seed=0).build((4,))
    with pytest.raises(ShapeError, match=r"Masking\) takes sequences of shape \(N, T, C\); received input shape "
                                         r"\(None, 4\)"):
        gn.Sequential([Masking()], seed=0).build((4,))
    bi = built(Bidirectional(LSTM(2)))
    with pytest.raises(ShapeError, match=r"received shape \(3, 4\)"):
        bi.forward(inputs((3, 4)))
    with pytest.raises(ShapeError, match=r"C=4"):  # the wrapped layer checks the channels
        bi.forward(inputs((3, 5, 2)))


# --- on a device --------------------------------------------------------------------------------------------


def test_on_a_device_equals_the_cpu():
    # masks, flips and merges on the model's device: the fake GPU refuses to mix host and device arrays
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fakegpu

    fakegpu.install()
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 9, (12, 6))
    ids[::3, 4:] = 0
    y = rng.integers(0, 3, (12, 6))
    results = []
    for where in ("cpu", "fakegpu"):
        model = gn.Sequential([Embedding(9, 4, mask_zero=True), Bidirectional(GRU(3, return_sequences=True)),
                               TimeDistributed(Dense(4, activation="relu")), Dense(3, activation="softmax")],
                              seed=1, dtype="float64", device=where)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        hist = model.fit(ids, y, epochs=2, batch_size=4, verbose=0)
        results.append((model.predict(ids), hist.history["loss"], hist.history["accuracy"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1:] == results[1][1:]
