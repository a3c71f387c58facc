"""Recurrent layers' sequence features: initial and final states, stateful, truncated BPTT, masking, configs.

Each feature is checked against PyTorch in float64 (``nn.RNN``/``nn.LSTM``/``nn.GRU`` with an initial
state, chunked runs with ``detach``, packed sequences) and by finite differences.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import glassnet as gn
from glassnet.layers import GRU, LSTM, Dense, SimpleRNN
from glassnet.serialize import layer_from_config

torch.set_num_threads(1)

RTOL, ATOL = 1e-10, 1e-12
N, T, C, U = 3, 6, 4, 3
LAYERS = [SimpleRNN, LSTM, GRU]


def close(ours, theirs, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"{what}: ours (ACTUAL) vs reference")


def built(layer, seed=0, C=C):
    """``layer`` built in float64 with a random bias (the default bias is zero)."""
    rng = np.random.default_rng(seed)
    layer.build((T, C), rng, np.float64)
    layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    return layer


def normal(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def first_states(layer, n=N, seed=7):
    """A random initial state per state of the layer: [h0] or [h0, c0], (n, U) each."""
    return [normal(n, layer.units, seed=seed + k) for k in range(len(layer.state_keys))]


def twin(layer):
    """``layer``'s class and settings (without stateful, bptt) sharing nothing, holding the same weights."""
    cfg = layer.get_config() | {"stateful": False, "batch_size": None, "bptt": None}
    if "activation" in cfg:
        cfg["activation"] = layer.activation
    other = type(layer)(**cfg)
    other.build(layer.input_shape, np.random.default_rng(0), np.float64)
    for k, v in layer.params.items():
        other.params[k][...] = v
    return other


# -- the torch oracle: our weights in torch.nn.RNN / LSTM / GRU --------------------------------------------------


def torch_columns(layer):
    u = layer.units
    return np.r_[u:2 * u, 0:u, 2 * u:3 * u] if isinstance(layer, GRU) else np.arange(layer.params["W"].shape[1])


def torch_twin(layer):
    cls = {SimpleRNN: torch.nn.RNN, LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}[type(layer)]
    W, Uh, b = (layer.params[k] for k in ("W", "U", "b"))
    net = cls(W.shape[0], layer.units, batch_first=True, dtype=torch.float64)
    P = torch_columns(layer)
    b_ih, b_hh = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(W[:, P].T)))
        net.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(Uh[:, P].T)))
        net.bias_ih_l0.copy_(torch.from_numpy(b_ih[P]))
        net.bias_hh_l0.copy_(torch.from_numpy(b_hh[P]))
    return net


def torch_grads(layer, net):
    """torch's parameter gradients in our layout."""
    back = np.argsort(torch_columns(layer))
    dW = net.weight_ih_l0.grad.numpy().T[:, back]
    dU = net.weight_hh_l0.grad.numpy().T[:, back]
    db_ih, db_hh = net.bias_ih_l0.grad.numpy()[back], net.bias_hh_l0.grad.numpy()[back]
    return {"W": dW, "U": dU, "b": np.stack([db_ih, db_hh]) if isinstance(layer, GRU) else db_ih}


def torch_state(layer, states):
    """Our [h] / [h, c] as torch's (1, N, U) leaf tensors that take gradients, in torch's form."""
    ts = [torch.tensor(s[None], requires_grad=True) for s in states]
    return ts, (tuple(ts) if isinstance(layer, LSTM) else ts[0])


def final_states(layer, hidden):
    return [s[0].detach().numpy() for s in (hidden if isinstance(hidden, tuple) else (hidden,))]


# -- initial state and return_state ---------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("cls", LAYERS)
def test_initial_state_and_return_state_match_torch(cls, seq):
    layer = built(cls(U, return_sequences=seq, return_state=True))
    X, states = normal(N, T, C), first_states(layer)
    y, *finals = layer(X, initial_state=states)
    assert len(finals) == len(layer.state_keys) and layer.initial_state is None  # the call's state only
    dY, dfinals = normal(*y.shape, seed=2), first_states(layer, seed=11)  # dL/dy, dL/dh_T (and dL/dc_T)
    dX = layer.backward(dY, dstates=dfinals)

    net = torch_twin(layer)
    x = torch.tensor(X, requires_grad=True)
    leaves, init = torch_state(layer, states)
    out, hidden = net(x, init)
    loss = ((out if seq else out[:, -1]) * torch.from_numpy(dY)).sum()
    for s, ds in zip(hidden if isinstance(hidden, tuple) else (hidden,), dfinals):
        loss = loss + (s[0] * torch.from_numpy(ds)).sum()
    loss.backward()
    close(y, (out if seq else out[:, -1]).detach().numpy(), "y")
    for k, (ours, theirs) in enumerate(zip(finals, final_states(layer, hidden))):
        close(ours, theirs, f"final state {layer.state_keys[k]}")
    close(dX, x.grad.numpy(), "dX")
    for k, v in torch_grads(layer, net).items():
        close(layer.grads[k], v, f"d{k}")
    for key, ours, leaf in zip(layer.state_keys, layer.initial_state_grads, leaves):
        close(ours, leaf.grad.numpy()[0], f"d{key}0")


def central_differences(f, a, h=1e-6):
    """∂f/∂a elementwise by central differences (a is changed in place and put back)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        keep = a[i]
        a[i] = keep + h
        up = f()
        a[i] = keep - h
        down = f()
        a[i] = keep
        g[i] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("cls", LAYERS)
def test_initial_state_grads_by_finite_differences(cls):
    layer = built(cls(U, return_sequences=True))
    X, states = normal(N, T, C), first_states(layer)
    dY = normal(N, T, U, seed=2)
    layer.initial_state = states  # the attribute form a Sequential uses; held until set back to None
    layer.forward(X, training=True)
    layer.backward(dY)
    assert layer.initial_state_grads is not None
    for key, s, ours in zip(layer.state_keys, states, layer.initial_state_grads):
        fd = central_differences(lambda: float(np.sum(layer.forward(X) * dY)), s)
        close(ours, fd, f"d{key}0 vs finite differences", rtol=1e-6, atol=1e-9)
    report = gn.gradcheck(layer, X)  # W, U, b and x with the initial state in place
    assert report.passed, str(report)
    layer.initial_state = None
    layer.forward(X, training=True)
    layer.backward(dY)
    assert layer.initial_state_grads is None


# -- truncated backpropagation through time ------------------------------------------------------------------


@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("cls", LAYERS)
def test_bptt_matches_torch_chunks_with_detach(cls, seq):
    k, T_ = 2, T  # chunks [0, 2), [2, 4), [4, 6)
    layer = built(cls(U, return_sequences=seq, bptt=k))
    X, states = normal(N, T_, C), first_states(layer)
    y = layer(X, initial_state=states)
    dY = normal(*y.shape, seed=2)
    dX = layer.backward(dY)

    net = torch_twin(layer)
    x = torch.tensor(X, requires_grad=True)
    leaves, hidden = torch_state(layer, states)
    outs = []
    for s in range(0, T_, k):
        out, hidden = net(x[:, s:s + k], hidden)
        outs.append(out)
        hidden = tuple(h.detach() for h in hidden) if isinstance(hidden, tuple) else hidden.detach()
    out = torch.cat(outs, dim=1)
    (out if seq else out[:, -1]).backward(torch.from_numpy(dY))
    close(y, (out if seq else out[:, -1]).detach().numpy(), "y")
    close(dX, x.grad.numpy(), "dX")
    for name, v in torch_grads(layer, net).items():
        close(layer.grads[name], v, f"d{name}")
    for key, ours, leaf in zip(layer.state_keys, layer.initial_state_grads, leaves):
        close(ours, leaf.grad.numpy()[0], f"d{key}0")
    full = twin(layer)  # without bptt the gradient differs: the test can tell
    full(X, initial_state=states)
    full.backward(dY)
    assert not np.allclose(full.grads["U"], layer.grads["U"])


@pytest.mark.parametrize("cls", LAYERS)
def test_bptt_equals_finite_differences_of_the_truncated_graph(cls):
    # the truncated graph: each chunk starts from the boundary states of the unperturbed run, held fixed
    k = 4  # chunks [0, 4), [4, 6)
    layer = built(cls(2, return_sequences=True, bptt=k), C=3)
    X = normal(2, T, 3)
    layer.forward(X, training=True)
    dY = normal(2, T, 2, seed=2)
    layer.backward(dY)
    boundary = {s: [layer.H[s].copy()] + ([layer.C[s].copy()] if isinstance(layer, LSTM) else [])
                for s in range(0, T, k)}
    plain = twin(layer)

    def truncated_loss():
        return sum(float(np.sum(plain(X[:, s:s + k], initial_state=boundary[s] if s else None) * dY[:, s:s + k]))
                   for s in boundary)

    for name, p in plain.params.items():
        close(layer.grads[name], central_differences(truncated_loss, p), f"d{name} vs finite differences",
              rtol=1e-6, atol=1e-9)


# -- masking --------------------------------------------------------------------------------------------------


LENGTHS = [6, 4, 1]


def padded(lengths, where, seed=1):
    """Sequences of the given lengths, padded to T with noise (not zeros: padding must not matter), their mask."""
    X = normal(len(lengths), T, C, seed=seed)
    mask = np.zeros((len(lengths), T), bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    if where == "pre":
        mask = mask[:, ::-1].copy()
    return X, mask


@pytest.mark.parametrize("where", ["post", "pre"])
@pytest.mark.parametrize("cls", LAYERS)
def test_masked_batch_equals_each_sequence_alone(cls, where):
    layer = built(cls(U, return_sequences=True, return_state=True))
    X, mask = padded(LENGTHS, where)
    states = first_states(layer)
    dY = normal(N, T, U, seed=2) * mask[..., None]  # no gradient at padded outputs (see the next test)
    y, *finals = layer(X, initial_state=states, mask=mask)
    dX = layer.backward(dY)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    dstates = [g.copy() for g in layer.initial_state_grads]

    alone = twin(layer)
    summed = {k: 0 for k in grads}
    for i, row in enumerate(mask):
        real = np.flatnonzero(row)
        y_i, *finals_i = alone(X[i:i + 1, real], initial_state=[s[i:i + 1] for s in states])
        close(y[i, real], y_i[0], f"row {i}: outputs at real steps")
        for key, a, b in zip(layer.state_keys, finals, finals_i):
            close(a[i], b[0], f"row {i}: final {key}")
        dX_i = alone.backward(dY[i:i + 1, real])
        close(dX[i, real], dX_i[0], f"row {i}: dX at real steps")
        assert not dX[i, ~row].any(), "padded steps get no input gradient"
        for key, a, b in zip(layer.state_keys, dstates, alone.initial_state_grads):
            close(a[i], b[0], f"row {i}: d{key}0")
        for k in grads:
            summed[k] = summed[k] + alone.grads[k]
    for k, g in grads.items():
        close(g, summed[k], f"d{k}: the batch's vs the sum over single rows")


@pytest.mark.parametrize("cls", LAYERS)
def test_masked_steps_output_the_carried_state(cls):
    # Keras 3 (zero_output_for_mask=False): a masked step outputs the state it keeps, the last real step's h
    layer = built(cls(U, return_sequences=True))
    X, mask = padded(LENGTHS, "post")
    y = layer(X, mask=mask)
    for i, n in enumerate(LENGTHS):
        np.testing.assert_array_equal(y[i, n:], np.broadcast_to(y[i, n - 1], y[i, n:].shape))
    _, pre = padded(LENGTHS, "pre")
    assert not layer(X, mask=pre)[~pre].any()  # before the first real step: h_0 = 0
    # so the gradient at a padded output reaches the last real step's h
    dY = np.zeros((N, T, U))
    dY[0, 5], dY[1, 5], dY[2, 3] = 1.0, 2.0, 3.0  # rows 1 and 2 are padded there
    layer(X, mask=mask)
    dX = layer.backward(dY)
    moved = np.zeros_like(dY)
    moved[0, 5], moved[1, 3], moved[2, 0] = 1.0, 2.0, 3.0
    layer(X, mask=mask)
    close(dX, layer.backward(moved), "dX")


@pytest.mark.parametrize("cls", LAYERS)
def test_masked_batch_matches_torch_packed_sequences(cls):
    layer = built(cls(U, return_sequences=True, return_state=True))
    X, mask = padded(LENGTHS, "post")
    states = first_states(layer)
    dY, dH = normal(N, T, U, seed=2) * mask[..., None], normal(N, U, seed=3)
    y, h, *_ = layer(X, initial_state=states, mask=mask)
    dY_all = dY.copy()
    dY_all[:, -1] += dH * ~mask[:, -1:]  # dL/dh_T of a row padded at T-1 reaches its last real step...
    for i, n in enumerate(LENGTHS):
        if n == T:
            dY_all[i, -1] += dH[i]  # ...and of a full row, its last output
    dX = layer.backward(dY_all)

    net = torch_twin(layer)
    x = torch.tensor(X, requires_grad=True)
    leaves, init = torch_state(layer, states)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    out, hidden = net(packed, init)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    h_n = hidden[0] if isinstance(hidden, tuple) else hidden
    ((out * torch.from_numpy(dY)).sum() + (h_n[0] * torch.from_numpy(dH)).sum()).backward()
    close(y * mask[..., None], out.detach().numpy(), "outputs at real steps")
    close(h, h_n[0].detach().numpy(), "final h")
    close(dX, x.grad.numpy(), "dX")
    for k, v in torch_grads(layer, net).items():
        close(layer.grads[k], v, f"d{k}")
    for key, ours, leaf in zip(layer.state_keys, layer.initial_state_grads, leaves):
        close(ours, leaf.grad.numpy()[0], f"d{key}0")


@pytest.mark.parametrize("cls", LAYERS)
def test_masked_gradcheck(cls):
    layer = built(cls(U, return_sequences=True))
    X, layer.input_mask = padded(LENGTHS, "pre")
    layer.initial_state = first_states(layer)
    report = gn.gradcheck(layer, X)
    assert report.passed, str(report)


def test_compute_mask_follows_keras():
    mask = np.ones((2, 5), bool)
    assert LSTM(3, return_sequences=True).compute_mask(mask) is mask
    assert GRU(3).compute_mask(mask) is None
    assert SimpleRNN(3).compute_mask(None) is None


def test_a_mask_of_real_steps_only_changes_nothing():
    layer = built(LSTM(U, return_sequences=True))
    X = normal(N, T, C)
    plain = layer(X)
    np.testing.assert_array_equal(layer(X, mask=np.ones((N, T), bool)), plain)


# -- stateful ----------------------------------------------------------------------------------------------------


def stateful_pair(cls, chunk=3, seq=True, seed=0):
    """A stateful model over chunks of ``chunk`` steps and a plain one of the same weights over the whole."""
    def make(**kw):
        model = gn.Sequential([cls(U, return_sequences=seq, **kw), Dense(2)], seed=seed, dtype="float64")
        model.compile(loss="mse", optimizer=gn.optimizers.SGD(0.1))
        return model
    stateful, plain = make(stateful=True, batch_size=N).build((chunk, C)), make().build((T, C))
    weights = stateful.get_weights()  # W, U, b, the carried states, Dense W, b
    plain.set_weights(weights[:3] + weights[3 + len(stateful.layers[0].state_keys):])
    return stateful, plain


@pytest.mark.parametrize("cls", LAYERS)
def test_stateful_chunks_equal_one_long_pass(cls):
    stateful, plain = stateful_pair(cls)
    X = normal(N, T, C)
    whole = plain.predict(X)
    parts = [stateful.predict(X[:, s:s + 3], batch_size=N) for s in (0, 3)]
    close(np.concatenate(parts, axis=1), whole, "chunked predictions")
    stateful.reset_states()
    assert not any(a.any() for a in stateful.state_dict()["buffers"].values())
    close(stateful.predict(X[:, :3], batch_size=N), whole[:, :3], "after reset_states")


def test_stateful_fit_carries_states_between_batches_and_calls():
    # fit, shuffle off: batch j holds chunk j of the N sequences; its step starts from chunk j-1's final
    # states, exactly as a plain layer given those states as its initial state (truncated at chunks)
    stateful, plain = stateful_pair(LSTM, seq=False)
    plain_chunks = gn.Sequential([LSTM(U), Dense(2)], seed=0, dtype="float64").build((3, C))
    plain_chunks.compile(loss="mse", optimizer=gn.optimizers.SGD(0.1))
    plain_chunks.set_weights(plain.get_weights())
    X, Y = normal(N, 4 * 3, C), normal(4, N, 2, seed=5)
    rows = np.concatenate([X[:, s:s + 3] for s in range(0, 12, 3)])  # (4N, 3, C): chunk by chunk
    stateful.fit(rows, Y.reshape(-1, 2), batch_size=N, epochs=1, shuffle=False, verbose=0)
    lstm = plain_chunks.layers[0]
    for j in range(4):
        plain_chunks.train_step(rows[j * N:(j + 1) * N], Y[j])
        lstm.initial_state = lstm.states
    for i, k in plain_chunks.param_index:
        close(stateful.layers[i].params[k], plain_chunks.layers[i].params[k], f"{k}{i + 1} after one epoch")
    carried = stateful.state_dict()["buffers"]
    close(carried["0/state_h"], lstm.states[0], "carried h")
    close(carried["0/state_c"], lstm.states[1], "carried c")
    # evaluate and predict go on from there, until reset_states
    close(stateful.predict(rows[:N], batch_size=N), plain_chunks.predict(rows[:N]), "predict after fit")
    lstm.initial_state = lstm.states
    close(stateful.evaluate(rows[N:2 * N], Y[1], batch_size=N)["loss"],
          plain_chunks.evaluate(rows[N:2 * N], Y[1])["loss"], "evaluate after predict")
    close(stateful.state_dict()["buffers"]["0/state_c"], lstm.states[1], "carried c after evaluate")
    stateful.reset_states()
    lstm.initial_state = None
    close(stateful.predict(rows[:N], batch_size=N), plain_chunks.predict(rows[:N]), "predict after reset_states")


def test_stateful_states_are_model_state(tmp_path):
    stateful, _ = stateful_pair(GRU)
    X = normal(N, 3, C)
    stateful.predict(X, batch_size=N)
    sd = stateful.state_dict()
    assert set(sd["buffers"]) == {"0/state_h"} and sd["buffers"]["0/state_h"].any()
    stateful.save(tmp_path / "m.glassnet")
    again = gn.load(tmp_path / "m.glassnet")
    np.testing.assert_array_equal(again.predict(X, batch_size=N), stateful.predict(X, batch_size=N))
    copy = stateful.__class__([GRU(U, return_sequences=True, stateful=True, batch_size=N), Dense(2)],
                              dtype="float64").build((3, C))
    copy.load_state_dict(stateful.state_dict(("params", "buffers")))
    np.testing.assert_array_equal(copy.predict(X, batch_size=N), stateful.predict(X, batch_size=N))


def test_stateful_with_another_batch_size_is_a_shape_error():
    stateful, _ = stateful_pair(LSTM)
    with pytest.raises(gn.ShapeError, match=r"stateful=True carries states of shape \(3, 3\), so it expects batches "
                                            r"of \(N, T, C\) with N=3. Full shape received: \(2, 3, 4\)"):
        stateful.predict(normal(2, 3, C), batch_size=2)


def test_stateful_needs_a_batch_size():
    with pytest.raises(gn.ConfigError, match="pass batch_size=B"):
        LSTM(4, stateful=True)


# -- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
def test_bad_inputs_and_initial_states_are_shape_errors(cls):
    layer = built(cls(U))
    with pytest.raises(gn.ShapeError, match=r"expected ndim=3 \(N, T, C\), found ndim=2. Full shape received: "
                                            r"\(3, 4\)"):
        layer(normal(N, C))
    with pytest.raises(gn.ShapeError, match=r"expected \(N, T, C\) with T >= 1 and C=4. Full shape received: "
                                            r"\(3, 6, 5\)"):
        layer(normal(N, T, 5))
    good = first_states(layer)
    with pytest.raises(gn.ShapeError, match=r"initial state h of layer .* must have shape \(N, U\) = \(3, 3\) for "
                                            r"inputs of shape \(N, T, C\) = \(3, 6, 4\); received \(2, 3\)"):
        layer(normal(N, T, C), initial_state=[good[0][:2]] + good[1:])
    with pytest.raises(gn.ShapeError, match=rf"must be a list of {len(good)} arrays .* of shape \(N, U\) = "
                                            rf"\(3, 3\); received {len(good) + 1} arrays"):
        layer(normal(N, T, C), initial_state=good + good[:1])
    with pytest.raises(gn.ShapeError, match=r"mask of .* must have shape \(N, T\) = \(3, 6\)"):
        layer(normal(N, T, C), mask=np.ones((N, T - 1), bool))


@pytest.mark.parametrize("make,message", [
    (lambda: LSTM(3, bptt=0), "Received an invalid value for `bptt`, expected a positive integer. Received: bptt=0"),
    (lambda: GRU(3, stateful="yes", batch_size=2), "Received: stateful='yes'"),
    (lambda: SimpleRNN(3, return_state=1), "Received: return_state=1"),
])
def test_bad_settings_are_config_errors(make, message):
    with pytest.raises(gn.ConfigError, match=message):
        make()


# -- configs and files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
def test_config_round_trip(cls, tmp_path):
    layer = cls(5, return_sequences=True, return_state=True, stateful=True, batch_size=4, bptt=3, name="rec")
    cfg = layer.get_config()
    assert {k: cfg[k] for k in ("return_state", "stateful", "batch_size", "bptt")} == \
        {"return_state": True, "stateful": True, "batch_size": 4, "bptt": 3}
    assert layer_from_config({"class": cls.__name__, "config": cfg}).get_config() == cfg
    model = gn.Sequential([layer, Dense(1)], seed=0).build((6, 2))
    model.compile(loss="mse", optimizer="adam")
    X, y = normal(8, 6, 2).astype(np.float32), normal(8, 6, 1).astype(np.float32)
    model.fit(X, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.glassnet")
    again = gn.load(tmp_path / "m.glassnet")
    assert again.layers[0].get_config() == cfg
    np.testing.assert_array_equal(again.predict(X[:4], batch_size=4), model.predict(X[:4], batch_size=4))


def test_on_a_device_equals_the_cpu():
    # masks, initial and carried states, truncated BPTT: every array on the model's device
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fakegpu

    fakegpu.install()
    X, y = normal(8, T, C), normal(8, 1, seed=3)
    X[:4, 4:] = 0  # padding for Masking(0.0)
    results = []
    for where in ("cpu", "fakegpu"):
        model = gn.Sequential([gn.layers.Masking(0.0), LSTM(4, return_sequences=True, bptt=2),
                               GRU(3, stateful=True, batch_size=4), Dense(1)], seed=1, dtype="float64", device=where)
        model.compile(loss="mse", optimizer="adam")
        model.layers[1].initial_state = [normal(4, 4, seed=8), normal(4, 4, seed=9)]
        model.fit(X, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
        results.append((model.predict(X, batch_size=4), model.state_dict()["buffers"]["2/state_h"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
