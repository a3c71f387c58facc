"""The recorder: every recorded number is the engine's, named as design.md says, and survives JSON."""

import json
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.trace import from_json, preset, record

ARTICLE_ORDER = ["A0", "Y", "W1", "b1", "W2", "b2", "Z1", "A1", "Z2", "A2", "E", "loss", "dA2", "slope2", "slope1",
                 "d_output", "dZ2", "Error_at_hidden_layer", "dA1", "d_hiddenlayer", "dZ1", "dW2", "dW1", "W2_new",
                 "W1_new", "db2", "db1", "b2_new", "b1_new"]


def loss_of(model, X, Y):
    a = model.forward(X, training=True)
    return model.compute_loss(a, Y)


def finite_difference(model, X, Y, layer, name, h=1e-6):
    """Central differences of the loss for every element of one parameter (float64)."""
    p = model.layers[layer].params[name]
    grad = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        old = p[idx]
        p[idx] = old + h
        up = loss_of(model, X, Y)
        p[idx] = old - h
        down = loss_of(model, X, Y)
        p[idx] = old
        grad[idx] = (up - down) / (2 * h)
    return grad


def assert_close(ours, theirs, rtol, what):
    """Largest difference relative to the array's largest magnitude (tiny elements carry the FD noise)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    err = np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-8)
    assert err <= rtol, f"{what}: max relative error {err:.2e} > {rtol}\nours\n{ours}\ntheirs\n{theirs}"


def mixed_model(optimizer, loss="mse"):
    """Every supported hidden activation, a non-fused softmax, and a linear output."""
    model = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.Dense(3, activation="leaky_relu"),
                           gn.layers.Dense(3, activation="softmax"), gn.layers.Dense(2, activation="tanh"),
                           gn.layers.Dense(2, activation=None)], seed=3, dtype="float64")
    model.compile(loss=loss, optimizer=optimizer)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 3))
    y = rng.normal(size=(6, 2))
    model.build(3)
    return model, X, y


# -- names, order, the tutorial ---------------------------------------------------------------------------
def test_article_trace_has_the_tutorials_steps_names_and_order():
    model, X, y = preset("article")
    trace = record(model, X, y, steps=2)
    step = trace.steps[0]
    assert step.names() == ARTICLE_ORDER
    sections = list(dict.fromkeys(q.section for q in step.quantities))
    assert [s.split(":")[0] for s in sections] == [f"Step {i}" for i in range(12)]
    assert sections[0] == "Step 0: Read input and output"
    assert sections[6] == "Step 6: Compute slope at output and hidden layer"
    articles = {q.name: q.article for q in step.quantities}
    assert articles["W1"] == "wh" and articles["b1"] == "bh" and articles["W2"] == "wout" and articles["b2"] == "bout"
    assert articles["Z1"] == "hidden_layer_input" and articles["A1"] == "hiddenlayer_activations"
    assert articles["A2"] == "output" and articles["slope2"] == "slope_output_layer"
    assert articles["slope1"] == "slope_hidden_layer"
    assert step["Z1"].formula == "A0·W1 + b1" and step["Z1"].inputs == ("A0", "W1", "b1")
    assert all(q.words for q in step.quantities)
    shapes = {q.name: np.shape(q.value) for q in step.quantities}
    assert shapes["A0"] == (3, 4) and shapes["W1"] == (4, 3) and shapes["b1"] == (3,) and shapes["Z1"] == (3, 3)
    assert shapes["A2"] == (3, 1) and shapes["loss"] == () and shapes["dW1"] == (4, 3) and shapes["db2"] == (1,)
    assert trace.steps[1].quantities[2].section.startswith("Step 1: Weights and biases (from the previous")


def test_article_json_equals_the_tutorials_literal_loop(tmp_path):
    model, X, y = preset("article")
    wh, bh, wout, bout = (w.copy() for w in model.get_weights())
    record(model, X, y, steps=3).to_json(tmp_path / "article.json")
    trace = from_json(tmp_path / "article.json")
    for step in trace.steps:
        # the tutorial's loop body, with its own names (tests/test_article.py)
        hidden_layer_input = X.dot(wh) + bh
        hiddenlayer_activations = 1 / (1 + np.exp(-hidden_layer_input))
        output = 1 / (1 + np.exp(-(hiddenlayer_activations.dot(wout) + bout)))
        E = y - output
        slope_output_layer = output * (1 - output)
        slope_hidden_layer = hiddenlayer_activations * (1 - hiddenlayer_activations)
        d_output = E * slope_output_layer
        Error_at_hidden_layer = d_output.dot(wout.T)
        d_hiddenlayer = Error_at_hidden_layer * slope_hidden_layer
        wout += hiddenlayer_activations.T.dot(d_output) * 0.1
        bout += np.sum(d_output, axis=0) * 0.1
        wh += X.T.dot(d_hiddenlayer) * 0.1
        bh += np.sum(d_hiddenlayer, axis=0) * 0.1
        theirs = {"hidden_layer_input": hidden_layer_input, "hiddenlayer_activations": hiddenlayer_activations,
                  "output": output, "E": E, "slope_output_layer": slope_output_layer,
                  "slope_hidden_layer": slope_hidden_layer, "d_output": d_output,
                  "Error_at_hidden_layer": Error_at_hidden_layer, "d_hiddenlayer": d_hiddenlayer,
                  "wh (updated)": wh, "bh (updated)": bh, "wout (updated)": wout, "bout (updated)": bout}
        by_article = {q.article: q for q in step.quantities if q.article}
        for name, value in theirs.items():
            np.testing.assert_allclose(by_article[name].value, value, rtol=0, atol=1e-15, err_msg=name)
        # d_output is the tutorial's sign: exactly -dZ2
        np.testing.assert_array_equal(step["d_output"].value, -step["dZ2"].value)


# -- the engine's own numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["article", "xor", "spiral"])
def test_recorded_numbers_are_the_engines(name):
    model, X, y = preset(name)
    twin, _, _ = preset(name)
    trace = record(model, X, y, steps=3)
    Y = gn.training.check_targets(twin, X, y)
    for step in trace.steps:
        before = [w.copy() for w in twin.get_weights()]
        a = twin.forward(X, training=True)
        assert step.loss == twin.compute_loss(a, Y)
        assert step["loss"].value == step.loss
        np.testing.assert_array_equal(step[f"A{len(twin.layers)}"].value, a)
        twin.train_step(X, Y)
        for k, layer in enumerate(twin.layers, 1):
            np.testing.assert_array_equal(step[f"W{k}"].value, before[2 * (k - 1)])
            np.testing.assert_array_equal(step[f"dW{k}"].value, layer.grads["W"])
            np.testing.assert_array_equal(step[f"W{k}_new"].value, layer.params["W"])
            np.testing.assert_array_equal(step[f"b{k}_new"].value, layer.params["b"])
            np.testing.assert_array_equal(step.params_after[f"W{k}"], layer.params["W"])
    # recording trained the model itself: same weights as its twin after the same 3 steps
    for ours, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert model.optimizer.iterations == 3 and trace.steps[-1].t == 3


def test_recording_is_fit():
    model, X, y = preset("xor")
    twin, _, _ = preset("xor")
    record(model, X, y, steps=4)
    twin.fit(X, y, epochs=4, batch_size=None, verbose=0)
    for ours, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", ["article", "xor", "spiral"])
def test_weight_gradients_equal_finite_differences(name):
    model, X, y = preset(name)
    probe, _, _ = preset(name)
    step = record(model, X, y, steps=1).steps[0]
    Y = gn.training.check_targets(probe, X, y)
    for k in range(1, len(probe.layers) + 1):
        for p in ("W", "b"):
            fd = finite_difference(probe, X, Y, k - 1, p)
            assert_close(step[f"d{p}{k}"].value, fd, 1e-6, f"{name}: d{p}{k} vs finite differences")


def test_every_activation_and_the_non_fused_softmax():
    model, X, y = mixed_model(gn.optimizers.SGD(learning_rate=0.05, momentum=0.8, nesterov=True))
    probe, _, _ = mixed_model(gn.optimizers.SGD(learning_rate=0.05))
    step = record(model, X, y, steps=1).steps[0]
    ops = {q.name: q.op for q in step.quantities}
    assert [ops[f"A{k}"] for k in range(1, 6)] == ["relu", "leaky_relu", "softmax", "tanh", "linear"]
    assert ops["dZ3"] == "softmax_backward" and "slope3" not in ops
    assert ops["slope1"] == "relu_slope" and ops["slope2"] == "leaky_relu_slope" and ops["W1_new"] == "nesterov_update"
    for k in (1, 2, 4, 5):
        np.testing.assert_allclose(step[f"dZ{k}"].value, step[f"dA{k}"].value * step[f"slope{k}"].value, rtol=1e-15)
    # the softmax's Jacobian, written out from the recorded A3 and dA3
    a3, da3 = step["A3"].value, step["dA3"].value
    np.testing.assert_allclose(step["dZ3"].value, a3 * (da3 - (da3 * a3).sum(axis=1, keepdims=True)), rtol=1e-14)
    for k in range(1, 6):
        fd = finite_difference(probe, X, y, k - 1, "W")
        assert_close(step[f"dW{k}"].value, fd, 1e-6, f"dW{k} vs finite differences")
    # Nesterov: W_new = W - lr·(dW + μ·velocity_new), from the recorded numbers
    w, dw, v = step["W1"].value, step["dW1"].value, step["velocity_W1_new"].value
    np.testing.assert_allclose(step["W1_new"].value, w - 0.05 * (dw + 0.8 * v), rtol=1e-15)
    np.testing.assert_array_equal(v, model.optimizer.state_for((0, "W"))["velocity"])


def test_optimizer_state_chains_from_step_to_step():
    model, X, y = preset("spiral")  # Adam
    trace = record(model, X, y, steps=3)
    s1, s2, s3 = trace.steps
    for p in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(s2[p].value, s1[f"{p}_new"].value)
        np.testing.assert_array_equal(s2[f"m_{p}"].value, s1[f"m_{p}_new"].value)
        np.testing.assert_array_equal(s3[f"v_{p}"].value, s2[f"v_{p}_new"].value)
    assert not s1["m_W1"].value.any()  # a fresh Adam starts from zero moments
    np.testing.assert_array_equal(s3["m_W2_new"].value, model.optimizer.state_for((1, "W"))["m"])
    np.testing.assert_allclose(s3["m_hat_W1"].value, s3["m_W1_new"].value / (1 - 0.9**3), rtol=1e-15)
    np.testing.assert_allclose(s3["v_hat_W1"].value, s3["v_W1_new"].value / (1 - 0.999**3), rtol=1e-15)
    upd = s3["W1"].value - 0.05 * s3["m_hat_W1"].value / (np.sqrt(s3["v_hat_W1"].value) + 1e-7)
    np.testing.assert_allclose(s3["W1_new"].value, upd, rtol=1e-13)
    assert [s.t for s in trace.steps] == [1, 2, 3]


def test_mini_batches_record_their_rows():
    model, X, y = preset("spiral")  # 12 rows
    trace = record(model, X, y, steps=4, batch_size=5)
    assert [s.rows for s in trace.steps] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11], [0, 1, 2, 3, 4]]
    for s in trace.steps:
        np.testing.assert_array_equal(s["A0"].value, X[s.rows])
        assert s["A0"].formula == "X[rows]"
    shuffled = record(*preset("spiral"), steps=3, batch_size=4, shuffle=True)
    again = record(*preset("spiral"), steps=3, batch_size=4, shuffle=True)
    rows = [s.rows for s in shuffled.steps]
    assert rows == [s.rows for s in again.steps]  # the model's seeded generator
    assert sorted(r for batch in rows for r in batch) == list(range(12)) and rows != [list(range(i, i + 4)) for i in (0, 4, 8)]


# -- bad input ------------------------------------------------------------------------------------------------
def _compiled(layers, loss="mse", optimizer="sgd"):
    model = gn.Sequential(layers, seed=0, dtype="float64")
    return model.compile(loss=loss, optimizer=optimizer)


@pytest.mark.parametrize("model, words", [
    (lambda: gn.Sequential([gn.layers.Dense(1)]), "must be compiled"),
])
def test_untraceable_models_raise_export_error_naming_what(model, words):
    X, y = np.ones((2, 3)), np.ones((2, 1))
    with pytest.raises(gn.ExportError) as e:
        record(model(), X, y)
    assert words in str(e.value)
    if "compiled" not in words:
        assert "the tracer supports" in str(e.value)


def test_bad_arguments():
    model, X, y = preset("article")
    with pytest.raises(gn.ConfigError, match="steps"):
        record(model, X, y, steps=0)
    with pytest.raises(gn.ConfigError, match="batch_size"):
        record(model, X, y, batch_size=-1)
    with pytest.raises(gn.ShapeError):
        record(model, X[:, :3], y)
    with pytest.raises(gn.ConfigError, match="Unknown trace preset 'nope'"):
        preset("nope")


def test_float32_models_are_recorded_with_a_warning():
    model = gn.Sequential([gn.layers.Dense(2, activation="tanh"), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    with pytest.warns(gn.GlassnetWarning, match="float64"):
        trace = record(model, np.ones((2, 3)), np.ones((2, 1)))
    assert trace.steps[0]["Z1"].value.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record(*preset("article"))  # float64: no warning


# -- text and JSON ---------------------------------------------------------------------------------------------
def test_text_shows_formulas_article_names_and_numbers():
    model, X, y = preset("article")
    trace = record(model, X, y, steps=2)
    text = str(trace)
    assert "step 1 of 2" in text and "step 2 of 2" in text
    assert "Step 11: Update biases at both output and hidden layer" in text
    assert "Z1 = A0·W1 + b1   [article: hidden_layer_input]" in text
    assert f"{trace.steps[0].loss:.6g}" in text
    assert "Trace(4 → 3 sigmoid → 1 sigmoid, 2 step(s))" == repr(trace)


@pytest.mark.parametrize("name", ["article", "spiral"])
def test_json_round_trip_is_exact(tmp_path, name):
    model, X, y = preset(name)
    trace = record(model, X, y, steps=2, batch_size=None if name == "article" else 5)
    trace.preset = name
    path = tmp_path / "t.json"
    text = trace.to_json(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert json.loads(text) == data
    assert set(data) >= {"network", "steps"}
    s = data["steps"][0]
    assert set(s) >= {"step", "loss", "params_before", "params_after", "quantities"}
    assert set(s["quantities"][0]) >= {"name", "formula", "value", "words", "inputs", "article"}
    back = from_json(path)
    assert back.preset == name and back.network == json.loads(json.dumps(trace.network))
    for a, b in zip(trace.steps, back.steps):
        assert (a.step, a.loss, a.rows, a.lr, a.t) == (b.step, b.loss, b.rows, b.lr, b.t)
        assert a.names() == b.names()
        for qa, qb in zip(a.quantities, b.quantities):
            assert np.shape(qa.value) == qb.value.shape
            np.testing.assert_array_equal(qa.value, qb.value)
            assert (qa.formula, qa.words, qa.inputs, qa.kind, qa.op, qa.layer, qa.article, qa.section) == \
                   (qb.formula, qb.words, qb.inputs, qb.kind, qb.op, qb.layer, qb.article, qb.section)
            assert qa.attrs == qb.attrs
        for k in a.params_after:
            np.testing.assert_array_equal(a.params_after[k], b.params_after[k])
    assert str(back) == str(trace)


def test_from_json_rejects_other_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"steps": []}')
    with pytest.raises(gn.ExportError, match="not a glassnet trace"):
        from_json(bad)
    bad.write_text("{")
    with pytest.raises(gn.ExportError, match="not JSON"):
        from_json(bad)
    with pytest.raises(gn.ExportError, match="Cannot read trace"):
        from_json(tmp_path / "missing.json")
