"""Tracing SimpleRNN, LSTM and GRU (alone, stacked, with BPTT cuts, stateful, padded, in Bidirectional and
next to TimeDistributed and Masking): every step's gates and states, backpropagation through time.

Oracles: LibreOffice recalculates each workbook (written with wrong cached values) and every defined name
equals the engine's number; PyTorch's autograd (``torch.nn.RNN/LSTM/GRU`` holding the trace's weights, run
on the step's rows) gives every parameter gradient of the JSON.
"""

import json

import numpy as np
import openpyxl
import pytest
import torch
from test_xlsx import first_cell, max_rel_diff, named_values, recalculate

import glassnet as gn
from glassnet.cli.main import main
from glassnet.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Flatten,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from glassnet.trace import preset, record
from glassnet.trace.records import Trace, from_json
from glassnet.trace.xlsx import to_xlsx

torch.set_num_threads(1)
RTOL = 1e-10  # gradients vs torch, float64


def compiled(layers, seed=1):
    model = gn.Sequential(layers, seed=seed, dtype="float64")
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.Adam(learning_rate=0.05))
    return model


def series(n=4, T=3, C=2, per_step=False, seed=0):
    """Random sequences (n, T, C) and one-hot targets of 2 classes, (n, 2) or per step (n, T, 2)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, C))
    codes = rng.integers(0, 2, size=(n, T) if per_step else n)
    return X, np.eye(2)[codes]


def padded(layers):
    """Ids with padding (0) before, after, inside and nowhere: the recurrent layers keep their states there."""
    X = np.array([[0, 0, 3, 1], [2, 5, 0, 0], [1, 0, 4, 2], [3, 3, 1, 5]])
    return compiled(layers), X, np.eye(2)[[0, 1, 1, 0]]


def padded_series(layers):
    """Series (4, 4, 2) whose zero steps (before, after, inside) a Masking layer marks as padding."""
    X, y = series(T=4)
    X[0, :2] = X[1, 2:] = X[2, 1] = 0
    return compiled(layers), X, y


def case(layers, per_step=False, T=3, **kw):
    return lambda: (compiled(layers()), *series(T=T, per_step=per_step)), kw


# name: (() -> (model, X, y), record() arguments). A SimpleRNN's and a GRU's last step alone (no sequence out)
# are in "bptt", "stacked" and "gru-tiny"; dA{k-1} through each kind in "stacked", "timedist" and "lstm-tiny"
CASES = {
    "rnn_seq_relu": case(lambda: [SimpleRNN(2, activation="relu", return_sequences=True), Flatten(),
                                  Dense(2, activation="softmax")], steps=2),
    "lstm": case(lambda: [LSTM(2), Dense(2, activation="softmax")], steps=3, batch_size=2),
    "lstm_seq": case(lambda: [LSTM(2, return_sequences=True), Dense(2, activation="softmax")], per_step=True,
                     steps=2),
    "gru_seq": case(lambda: [GRU(2, return_sequences=True), Flatten(), Dense(2, activation="softmax")], steps=2),
    "stacked": case(lambda: [LSTM(2, return_sequences=True), SimpleRNN(2, return_sequences=True), GRU(2),
                             Dense(2, activation="softmax")], steps=2),
    "bptt": case(lambda: [GRU(2, return_sequences=True, bptt=2), LSTM(2, return_sequences=True, bptt=2),
                          SimpleRNN(2, bptt=2), Dense(2, activation="softmax")], T=4, steps=2),
    "stateful": case(lambda: [LSTM(2, return_sequences=True, stateful=True, batch_size=2),
                              GRU(2, return_sequences=True, stateful=True, batch_size=2), Flatten(),
                              Dense(2, activation="softmax")], steps=3, batch_size=2),
    "bidir": case(lambda: [Bidirectional(LSTM(2, return_sequences=True)), Bidirectional(GRU(2), merge_mode="mul"),
                           Dense(2, activation="softmax")], steps=2, batch_size=3),
    "bidir_seq": case(lambda: [Bidirectional(SimpleRNN(2, return_sequences=True), merge_mode="sum"),
                               Bidirectional(GRU(2, return_sequences=True), merge_mode="mul"),
                               Bidirectional(LSTM(2), merge_mode="ave"), Dense(2, activation="softmax")], steps=2),
    "masked": (lambda: padded([Embedding(6, 2, mask_zero=True), LSTM(2, return_sequences=True), GRU(2),
                               Dense(2, activation="softmax")]), {"steps": 2}),
    "masked_rnn": (lambda: padded([Embedding(6, 2, mask_zero=True), SimpleRNN(2, return_sequences=True),
                                   Bidirectional(LSTM(2), merge_mode="ave"), Dense(2, activation="softmax")]),
                   {"steps": 2, "batch_size": 3}),
    "masking": (lambda: padded_series([Dense(2, use_bias=False), Masking(), GRU(2, return_sequences=True), LSTM(2),
                                       Dense(2, activation="softmax")]), {"steps": 2}),
    "timedist": case(lambda: [LSTM(2, return_sequences=True), TimeDistributed(Dense(3, activation="tanh")), GRU(2),
                              Dense(2, activation="softmax")], steps=2, batch_size=3),
    "lstm-tiny": (lambda: preset("lstm-tiny"), {"steps": 2}),
    "gru-tiny": (lambda: preset("gru-tiny"), {"steps": 2, "batch_size": 4}),
}


def edit_weight(W):
    W = W.copy()
    W[0, 0] = 0.75
    return W


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """Every case recorded and written with wrong (0) cached values, plus an edited LSTM workbook; one
    LibreOffice run recalculates them all."""
    root = tmp_path_factory.mktemp("recurrent")
    traces, data, paths = {}, {}, []
    for name, (make, kw) in CASES.items():
        model, X, y = make()
        data[name] = (model, X, y)
        traces[name] = record(model, X, y, **kw)
        paths.append(root / f"{name}.xlsx")
        to_xlsx(traces[name], paths[-1], cached_values=False)
    wb = openpyxl.load_workbook(root / "lstm.xlsx")  # a user edits the LSTM's first starting weight W1[0, 0]
    ws, cell = first_cell(wb, "s1_W1")
    ws[cell] = 0.75
    wb.save(root / "lstm_edited.xlsx")
    paths.append(root / "lstm_edited.xlsx")
    out = recalculate(paths, root / "recalculated", str(root / "profile"))
    return traces, data, dict(zip([p.stem for p in paths], out))


@pytest.mark.parametrize("name", list(CASES))
def test_libreoffice_recalculates_every_step_to_the_engines_numbers(traced, name):
    traces, _, recalculated = traced
    trace = traces[name]
    got = named_values(recalculated[name])
    expected = {f"s{s.step}_{q.name}" for s in trace.steps for q in s.quantities}
    assert expected <= set(got)
    worst, where = max_rel_diff(got, trace)
    print(f"{name}: max relative difference workbook (LibreOffice) vs engine = {worst:.3e} at {where}")


def test_an_edited_starting_weight_recomputes_every_step(traced):
    traces, _, recalculated = traced
    make, kw = CASES["lstm"]
    model, X, y = make()
    model.build(X.shape[1:])
    weights = model.get_weights()
    weights[0] = edit_weight(weights[0])
    model.set_weights(weights)
    trace = record(model, X, y, **kw)
    got = named_values(recalculated["lstm_edited"])
    worst, _ = max_rel_diff(got, trace)
    assert not np.allclose(got["s3_U1_new"].astype(float), traces["lstm"].steps[2]["U1_new"].value)
    print(f"lstm, edited W1[0, 0]: max relative difference vs the engine re-run = {worst:.3e}")


# -- PyTorch ----------------------------------------------------------------------------------------------------

def _columns(layer):
    """torch's gate order as columns of ours: r, z, n of our z, r, n for the GRU; the same for the others."""
    u = layer.units
    return np.r_[u:2 * u, 0:u, 2 * u:3 * u] if isinstance(layer, GRU) else np.arange(layer.gates * u)


def _torch_recurrent(layer, x, W, U, b, h0, mask=None):
    """torch.nn.RNN/LSTM/GRU run with our tensors as its weights (so the gradients reach them); with a mask
    (N, T), step by step with torch's cells, each padded step keeping the states."""
    cls = {SimpleRNN: torch.nn.RNN, LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}[type(layer)]
    extra = {"nonlinearity": layer.activation.key} if isinstance(layer, SimpleRNN) else {}
    P = torch.as_tensor(_columns(layer))
    b_ih, b_hh = (b[0], b[1]) if b.ndim == 2 else (b, torch.zeros_like(b))
    if mask is not None:
        cell = {SimpleRNN: torch.nn.RNNCell, LSTM: torch.nn.LSTMCell, GRU: torch.nn.GRUCell}[type(layer)]
        net = cell(W.shape[0], layer.units, dtype=torch.float64, **extra)
        weights = {"weight_ih": W[:, P].T, "weight_hh": U[:, P].T, "bias_ih": b_ih[P], "bias_hh": b_hh[P]}
        state, outs = tuple(h[0] for h in h0) if isinstance(h0, tuple) else h0[0], []
        for t in range(x.shape[1]):
            new = torch.func.functional_call(net, weights, (x[:, t], state))
            m = torch.as_tensor(mask[:, t:t + 1])
            state = tuple(torch.where(m, n, s) for n, s in zip(new, state)) if isinstance(new, tuple) else \
                torch.where(m, new, state)
            outs.append(state[0] if isinstance(state, tuple) else state)
        out = torch.stack(outs, 1)
        return out if layer.return_sequences else out[:, -1]
    net = cls(W.shape[0], layer.units, batch_first=True, dtype=torch.float64, **extra)
    weights = {"weight_ih_l0": W[:, P].T, "weight_hh_l0": U[:, P].T, "bias_ih_l0": b_ih[P], "bias_hh_l0": b_hh[P]}
    T, chunk = x.shape[1], layer.bptt or x.shape[1]
    outs, state = [], h0
    for t in range(0, T, chunk):  # truncated BPTT: the state goes on, its gradient stops between chunks
        if t > 0:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        out, state = torch.func.functional_call(net, weights, (x[:, t:t + chunk], state))
        outs.append(out)
    out = torch.cat(outs, dim=1)
    return out if layer.return_sequences else out[:, -1]


def _torch_layer(layer, x, P, sfx, step, mask):
    """A recurrent layer named with suffix ``sfx`` (``1``, ``2f``), from zeros or its carried states."""
    n, u = x.shape[0], layer.units
    h0 = [torch.tensor(step.buffers_before[f"state_{s}{sfx}"]) if layer.stateful else torch.zeros(n, u,
          dtype=torch.float64) for s in layer.state_keys]
    h0 = tuple(h[None] for h in h0) if isinstance(layer, LSTM) else h0[0][None]
    return _torch_recurrent(layer, x, P[f"W{sfx}"], P[f"U{sfx}"], P[f"b{sfx}"], h0, mask)


def torch_gradients(model, step, X, Y):
    """dL/dP for every parameter P of the step's starting weights, by torch's autograd on the step's rows."""
    P = {k: torch.tensor(v, requires_grad=True) for k, v in step.params_before.items()}
    rows = np.asarray(step.rows)
    a, mask = torch.tensor(X[rows]), None
    for k, layer in enumerate(model.layers, 1):
        if isinstance(layer, Embedding):
            a = P[f"E{k}"][torch.as_tensor(X[rows], dtype=torch.long)]
            mask = X[rows] != 0 if layer.mask_zero and (X[rows] == 0).any() else None
        elif isinstance(layer, (SimpleRNN, LSTM, GRU)):
            a = _torch_layer(layer, a, P, k, step, mask)
        elif isinstance(layer, Bidirectional):
            f = _torch_layer(layer.forward_layer, a, P, f"{k}f", step, mask)
            b = _torch_layer(layer.backward_layer, a.flip(1), P, f"{k}b", step, None if mask is None else
                             np.ascontiguousarray(mask[:, ::-1]))
            b = b.flip(1) if layer.return_sequences else b
            mode = layer.merge_mode
            a = torch.cat([f, b], -1) if mode == "concat" else f + b if mode == "sum" else f * b if mode == "mul" \
                else (f + b) / 2
        elif isinstance(layer, Masking):
            keep = (a != layer.mask_value).any(-1)  # (N, T)
            mask = keep.numpy()
            a = a * keep[..., None]
        elif isinstance(layer, TimeDistributed):  # a tanh Dense on every step
            assert isinstance(layer.layer, Dense) and layer.layer.activation.key == "tanh"
            a = torch.tanh(a @ P[f"W{k}"] + P[f"b{k}"])
        elif isinstance(layer, Flatten):
            a = a.reshape(a.shape[0], -1)
        else:  # Dense: linear inside, the softmax of the output goes into the loss
            assert isinstance(layer, Dense) and (k == len(model.layers) or layer.activation.key == "linear")
            a = a @ P[f"W{k}"] + (P[f"b{k}"] if layer.use_bias else 0)
    y = torch.tensor(Y[rows])
    loss = -(y * torch.log_softmax(a, -1)).sum() / (y.numel() // y.shape[-1])
    loss.backward()
    return float(loss.detach()), {f"d{k}": v.grad.numpy() for k, v in P.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_every_parameter_gradient_of_the_json_equals_torch(traced, name):
    traces, data, _ = traced
    _, X, y = data[name]
    model = CASES[name][0]()[0]  # a fresh twin for the layer settings (the traced one has trained)
    trace = Trace.from_dict(json.loads(traces[name].to_json()))
    worst = 0.0
    for step in trace.steps:
        loss, grads = torch_gradients(model, step, X, y)
        assert loss == pytest.approx(step.loss, rel=1e-12)
        for d, theirs in grads.items():
            ours = step[d].value
            scale = np.abs(theirs).max()
            np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-12 * scale,
                                       err_msg=f"step {step.step} {d}: trace (ACTUAL) vs torch (DESIRED)")
            worst = max(worst, float(np.abs(ours - theirs).max() / scale))
    print(f"{name}: max relative difference of the JSON's gradients vs torch = {worst:.3e}")


# -- text, JSON, HTML, names ------------------------------------------------------------------------------------

def test_text_json_and_html_carry_every_step(traced, tmp_path):
    traces, _, _ = traced
    for name in ("lstm", "gru_seq", "rnn_seq_relu", "bidir", "masking", "lstm-tiny"):
        trace = traces[name]
        path = tmp_path / f"{name}.json"
        trace.to_json(path)
        back = from_json(path)
        for s, s2 in zip(trace.steps, back.steps):
            assert s.names() == s2.names()
            for q, q2 in zip(s.quantities, s2.quantities):
                np.testing.assert_array_equal(q.value, q2.value)
                assert (q.op, q.inputs, q.attrs) == (q2.op, tuple(q2.inputs), q2.attrs)
        assert str(back) == str(trace)
        page = trace.to_html()
        assert any(f"h{k}{s}_t1" in page for k in (1, 2, 3) for s in ("", "f")), name
    text = str(traces["lstm"])
    for name in ("h1_t0", "zi1_t1", "i1_t3", "f1_t3", "g1_t3", "o1_t3", "c1_t3", "h1_t3", "dh1_t3", "dc1_t1",
                 "dzi1_t2", "dzo1_t1", "dW1 = Σ_t A0[:, t]ᵀ"):
        assert name in text, name


def test_names_per_step_and_shapes(traced):
    traces, _, _ = traced
    s = traces["gru_seq"].steps[0]
    N, T, u = 4, 3, 2
    for t in range(1, T + 1):
        for stem in ("hn", "zz", "z", "zr", "r", "zn", "n", "h", "dh", "dzn", "dzz", "dzr", "dhn"):
            assert s[f"{stem}1_t{t}"].value.shape == (N, u), (stem, t)
    assert s["A1"].value.shape == (N, T, u) and s["A1"].op == "rnn_sequence"
    assert s["dh1_t3"].inputs == ("dA1",)  # the last step: only the output's gradient
    s = traces["stateful"].steps[1]  # step 2 starts from step 1's carried states
    np.testing.assert_array_equal(s["h1_t0"].value, traces["stateful"].steps[0]["state_h1_new"].value)
    assert s["c1_t0"].inputs == ("state_c1",)
    s = traces["bptt"].steps[0]
    assert s["dh2_t2"].inputs == ("dA2",)  # truncated after step 2: nothing comes back from step 3
    assert "dzi2_t3" in s["dh2_t2"].formula or s["dh2_t2"].formula == "dA2[:, t2]"
    layers = traces["lstm"].network["layers"]
    assert layers[0]["gate_order"] == "i f g o" and layers[0]["units"] == 2 and layers[0]["steps"] == 3


def test_padded_steps_keep_the_states_and_pass_the_gradients_on(traced):
    s = traces_step = traced[0]["masked"].steps[0]
    np.testing.assert_array_equal(s["mask2"].value, [[0, 0, 1, 1], [1, 1, 0, 0], [1, 0, 1, 1], [1, 1, 1, 1]])
    np.testing.assert_array_equal(s["h2_t2"].value[0], 0)  # row 0 starts with two padded steps
    np.testing.assert_array_equal(s["h2_t3"].value[1], s["h2_t2"].value[1])  # row 1 keeps its state after t2
    np.testing.assert_array_equal(s["dzi2_t3"].value[1], 0)  # no delta at a padded step
    np.testing.assert_array_equal(traces_step["dh3_t1"].value[0], traces_step["dh3_t2"].value[0])  # passed on
    # the masks are live in the workbook: from the ids, from a Masking layer, from the layer before
    assert (s["mask2"].op, s["mask2"].inputs, s["mask3"].inputs) == ("rnn_mask_ids", ("A0",), ("mask2",))
    s = traced[0]["masking"].steps[0]
    assert (s["mask2"].op, s["mask3"].inputs, s["mask4"].inputs) == ("masking_mask", ("mask2",), ("mask3",))


def test_a_padded_bidirectional_sequence_zeroes_its_padded_steps():
    """Keras' zero_output_for_mask: the merged output and both copies' gradients are 0 at padded steps, by a
    formula that reads the forward copy's mask (the workbook of such a model: test_trace_any_model.py)."""
    model, X, y = padded([Embedding(6, 2, mask_zero=True), Bidirectional(LSTM(2, return_sequences=True)),
                          Flatten(), Dense(2, activation="softmax")])
    with pytest.warns(UserWarning, match="Flatten"):  # the mask stops at Flatten, after the layer under test
        s = record(model, X, y).steps[0]
    padding = X == 0
    assert s["A2"].inputs == ("A2f", "A2b", "mask2f") and "mask2f" in s["dA2b"].inputs
    np.testing.assert_array_equal(s["A2"].value[padding], 0)
    np.testing.assert_array_equal(s["dA2f"].value[padding], 0)
    assert np.abs(s["A2"].value[~padding]).min() > 0


@pytest.mark.parametrize("name", ["lstm-tiny", "gru-tiny"])
def test_glassnet_trace_accepts_the_recurrent_presets(tmp_path, capsys, name):
    j, x = tmp_path / "t.json", tmp_path / "t.xlsx"
    assert main(["trace", "--preset", name, "--steps", "2", "--json", str(j), "--xlsx", str(x), "-q"]) == 0
    back, expected = from_json(j), record(*preset(name), steps=2)
    assert back.preset == name
    for a, b in zip(expected.steps, back.steps):
        assert a.names() == b.names() and a.loss == b.loss
    assert f"s2_h{2 if name == 'lstm-tiny' else 1}_t4" in openpyxl.load_workbook(x).defined_names
