"""Trace models nobody wrote a test for: a seeded generator mixes every layer kind, loss and optimizer.

Each generated model (float64, built only through the public API) is recorded for 1–3 steps and laid out in
every format: ``str()``, the JSON round trip (``to_json`` → ``from_json`` gives back every number), the HTML
page, and the workbook. All workbooks go through ONE LibreOffice recalculation (written with every cached
value 0, so only a real recalculation can match) and every defined name must equal the engine to 1e-9.

One place where workbook and engine cannot agree relatively, by construction (see ``exact_zero``): a bias
right before BatchNormalization has a true gradient of 0; both leave their own rounding noise (~1e-17),
which Adam's or RMSProp's division by the gradient's size turns into a bias step of about lr·1e-10. There
the comparison is absolute.
"""

import itertools
import re
import warnings

import numpy as np
import pytest
from test_xlsx import named_values, recalculate

import glassnet as gn
from glassnet.errors import ExportError, GlassnetWarning
from glassnet.layers import (
    GRU,
    LSTM,
    AveragePool1D,
    AveragePool2D,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    Masking,
    MaxPool1D,
    MaxPool2D,
    Normalization,
    Reshape,
    Residual,
    SimpleRNN,
    TimeDistributed,
)
from glassnet.trace import from_json, record
from glassnet.trace.xlsx import to_xlsx

ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear", "gelu", "silu", "softplus", "selu",
        "hard_sigmoid", "softmax"]
LOSSES = ["half_sse", "mse", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]


def _optimizer(i, rng):
    """The i-th optimizer of a cycle over every optimizer and option (clipping, schedules)."""
    lr = float(rng.choice([0.05, 0.1]))
    kinds = [
        lambda: gn.optimizers.SGD(learning_rate=lr),
        lambda: gn.optimizers.SGD(learning_rate=lr, momentum=0.7, clipvalue=0.3),
        lambda: gn.optimizers.SGD(learning_rate=lr, momentum=0.6, nesterov=True, clipnorm=0.5),
        lambda: gn.optimizers.AdaGrad(learning_rate=gn.schedules.InverseTimeDecay(lr, decay_rate=0.5)),
        lambda: gn.optimizers.RMSProp(learning_rate=lr, global_clipnorm=1.0),
        lambda: gn.optimizers.Adadelta(learning_rate=1.0),
        lambda: gn.optimizers.Adam(learning_rate=lr),
        lambda: gn.optimizers.AdamW(learning_rate=gn.schedules.ExponentialDecay(lr, decay_steps=1, decay_rate=0.7)),
        lambda: gn.optimizers.Adam(learning_rate=gn.schedules.StepDecay(lr, step_size=2, gamma=0.5), clipnorm=2.0),
    ]
    return kinds[i % len(kinds)]()


def _features(rng, n, shape):
    return rng.normal(size=(n, *shape))


# Bodies: (rng) -> (layers, X, per_step). A head (the output layer for the loss) follows the body.
def mlp(rng):
    a1, a2 = rng.choice(ACTS, size=2)
    reg = gn.regularizers.L2(0.01) if rng.random() < 0.5 else None
    return [Dense(4, activation=str(a1), kernel_regularizer=reg), Dense(3, activation=str(a2))], \
        _features(rng, 5, (3,)), False


def conv1d(rng):
    padding = str(rng.choice(["valid", "same", "causal"]))
    strides, dilation = (1, 2) if rng.random() < 0.5 else (2, 1)
    pool = [MaxPool1D(2), AveragePool1D(2, strides=1)][int(rng.integers(2))]
    end = [GlobalAveragePooling1D(), Flatten()][int(rng.integers(2))]
    reg = gn.regularizers.L1(0.01) if rng.random() < 0.5 else None
    return [Conv1D(2, 3, strides=strides, padding=padding, dilation_rate=dilation, activation="relu",
                   kernel_regularizer=reg), pool, end], _features(rng, 4, (9, 2)), False


def conv2d(rng):
    padding = str(rng.choice(["valid", "same"]))
    strides = int(rng.integers(1, 3))
    pool = [MaxPool2D(2), AveragePool2D(2)][int(rng.integers(2))]
    end = [GlobalAveragePooling2D(), Flatten()][int(rng.integers(2))]
    return [Conv2D(2, (2, 3), strides=strides, padding=padding, activation="tanh"), pool, end], \
        _features(rng, 3, (6, 6, 1)), False


def fcn(rng):
    bias = bool(rng.random() < 0.5)  # a bias before BatchNormalization: see exact_zero
    return [Conv1D(3, 3, padding="same", use_bias=bias), BatchNormalization(), gn.layers.ReLU(),
            GlobalAveragePooling1D()], _features(rng, 4, (6, 2)), False


def dense_bn(rng):
    bias = bool(rng.random() < 0.5)
    return [Dense(4, use_bias=bias), BatchNormalization(momentum=0.9), gn.layers.ELU(), Dropout(0.3)], \
        _features(rng, 6, (3,)), False


def residual(rng):
    shortcut = [] if rng.random() < 0.5 else [Dense(3)]
    return [Dense(3, activation="tanh"), Residual([Dense(3, activation="relu"), Dense(3)], shortcut)], \
        _features(rng, 5, (2,)), False


def reshape(rng):
    return [Dense(6, activation="sigmoid"), Reshape((3, 2)), Conv1D(2, 2, activation="relu"), Flatten()], \
        _features(rng, 4, (3,)), False


def embed_rnn(rng):
    cell = [SimpleRNN(3), LSTM(2), GRU(2)][int(rng.integers(3))]
    return [Embedding(6, 3), cell], rng.integers(0, 6, size=(4, 4)), False


def stacked(rng):
    first = [LSTM(2, return_sequences=True), GRU(2, return_sequences=True)][int(rng.integers(2))]
    return [first, SimpleRNN(2, activation="tanh")], _features(rng, 4, (3, 2)), False


def seq_out(rng):
    cell = [SimpleRNN(2, return_sequences=True), LSTM(2, return_sequences=True),
            GRU(3, return_sequences=True)][int(rng.integers(3))]
    return [cell, TimeDistributed(Dense(3, activation="tanh"))], _features(rng, 3, (4, 2)), True


def bidirectional(rng):
    cell = [LSTM(2), GRU(2), SimpleRNN(2)][int(rng.integers(3))]
    mode = str(rng.choice(["concat", "sum"]))
    return [Bidirectional(cell, merge_mode=mode)], _features(rng, 3, (3, 2)), False


def masked(rng):
    """Padded steps; with a sequence out, the loss leaves them out (a cross-entropy inside TimeDistributed
    then reads the clipped probabilities, step by step weighted by the mask)."""
    X = _features(rng, 4, (4, 2))
    X[0, 2:] = X[1, :1] = 0
    seq = bool(rng.random() < 0.5)
    cell = [LSTM(2, return_sequences=seq), GRU(2, return_sequences=seq)][int(rng.integers(2))]
    return [Masking(), cell], X, seq


def normalized(rng):
    X = _features(rng, 5, (3,)) * 3 + 1
    return [Normalization(mean=X.mean(0), variance=X.var(0)), Dense(3, activation="softplus")], X, False


BODIES = [mlp, conv1d, conv2d, fcn, dense_bn, residual, reshape, embed_rnn, stacked, seq_out, bidirectional,
          masked, normalized]


def _head(loss, classes, rng, per_step):
    """The output layer; for a cross-entropy on a sequence, inside TimeDistributed: the loss then reads the
    clipped probabilities instead of the logits, as the engine does."""
    if loss == "binary_crossentropy":
        head = Dense(classes, activation="sigmoid")
    elif "categorical" in loss:
        head = Dense(classes, activation="softmax")
    else:
        head = Dense(classes, activation=str(rng.choice(["linear", "sigmoid", "tanh"])))
    return TimeDistributed(head) if per_step and "crossentropy" in loss else head


def _targets(loss, lead, classes, rng):
    codes = rng.integers(0, classes, size=lead)
    if loss == "sparse_categorical_crossentropy":
        return codes
    if loss == "categorical_crossentropy":
        return np.eye(classes)[codes]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, size=(*lead, classes)).astype(float)
    return rng.normal(size=(*lead, classes))


def generated(i):
    """The i-th generated case: (name, model, X, y, record() arguments); seeded by i alone."""
    rng = np.random.default_rng(1000 + i)
    body = BODIES[i % len(BODIES)]
    loss = LOSSES[(i // len(BODIES) + i) % len(LOSSES)]
    layers, X, per_step = body(rng)
    classes = 1 if loss in ("binary_crossentropy", "half_sse") and rng.random() < 0.5 else 2
    if "categorical" in loss:
        classes = 3
    model = gn.Sequential([*layers, _head(loss, classes, rng, per_step)], seed=i, dtype="float64")
    model.compile(loss=loss, optimizer=_optimizer(i, rng))
    y = _targets(loss, (len(X), X.shape[1]) if per_step else (len(X),), classes, rng)
    kw = {"steps": int(rng.integers(1, 4))}
    if rng.random() < 0.4 and len(X) > 2:
        kw |= {"batch_size": len(X) - 1 - int(rng.integers(2)), "shuffle": bool(rng.random() < 0.5)}
    return f"{i:02d}-{body.__name__}-{loss}-{type(model.optimizer).__name__}", model, X, y, kw


N_GENERATED = 39


def _edge_cases():
    """Corner cases a stranger would try: (name, () -> (model, X, y), record() arguments)."""
    rng = np.random.default_rng(7)
    X3, y1 = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))

    def one_row():
        m = gn.Sequential([Dense(2, activation="tanh"), Dense(1)], seed=1, dtype="float64")
        m.compile(loss="mse", optimizer=gn.optimizers.Adam(0.1))
        return m, X3[:1], y1[:1]

    def act_first():
        m = gn.Sequential([gn.layers.Activation("tanh"), Dense(1, activation="sigmoid", use_bias=False)], seed=2,
                          dtype="float64")
        m.compile(loss="binary_crossentropy", optimizer="rmsprop")
        return m, X3, (y1 > 0).astype(float)

    def input_shape():
        m = gn.Sequential([Dense(3, activation="relu", input_shape=(3,)), Dense(3, activation="softmax")],
                          seed=3, dtype="float64")
        m.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.SGD(0.2, momentum=0.9))
        return m, X3, np.array([0, 2, 1, 1, 0])

    def fitted():
        m = gn.Sequential([Dense(3, activation="elu"), Dense(1)], seed=4, dtype="float64")
        m.compile(loss="half_sse", optimizer=gn.optimizers.Adam(0.05))
        m.fit(X3, y1, epochs=3, batch_size=2, verbose=0)  # optimizer state and t are not zero at step 1
        return m, X3, y1

    def set_weights():
        m = gn.Sequential([Dense(2, activation="sigmoid"), Dense(1)], seed=5, dtype="float64")
        m.compile(loss="mse", optimizer=gn.optimizers.AdaGrad(0.3))
        m.build(3)
        m.set_weights([np.arange(6.0).reshape(3, 2) / 10, np.array([0.1, -0.2]), np.array([[0.5], [-1.5]]),
                       np.array([0.3])])
        return m, X3, y1

    def probabilities():  # no sigmoid to fuse with: the loss reads the clipped outputs, some of them clipped
        m = gn.Sequential([Dense(2, activation="hard_sigmoid", kernel_initializer="ones")], seed=6, dtype="float64")
        m.compile(loss="binary_crossentropy", optimizer="sgd")
        return m, 3 * np.abs(X3) - 1, (X3[:, :2] > 0).astype(float)

    def tagger():  # padded ids, both directions zeroed at padding, the loss over the real steps only
        m = gn.Sequential([Embedding(5, 2, mask_zero=True), Bidirectional(LSTM(2, return_sequences=True),
                                                                         merge_mode="mul"),
                           TimeDistributed(Dense(3, activation="softmax"))], seed=8, dtype="float64")
        m.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(0.1))
        return m, np.array([[0, 1, 2, 3], [3, 4, 0, 0], [1, 0, 4, 2]]), np.array([[0, 1, 2, 0], [2, 1, 0, 0],
                                                                                 [1, 1, 0, 2]])

    return [("edge-probabilities", probabilities, {"steps": 2}), ("edge-tagger", tagger, {"steps": 2}), ("edge-one-row", one_row, {"steps": 2}), ("edge-activation-first", act_first, {"steps": 2}),
            ("edge-input-shape-sparse", input_shape, {"steps": 2, "batch_size": 2, "shuffle": True}),
            ("edge-fitted", fitted, {"steps": 2}), ("edge-set-weights", set_weights, {"steps": 2})]


def _cases():
    out = [(name, model, X, y, kw) for name, model, X, y, kw in map(generated, range(N_GENERATED))]
    out += [(name, *make(), kw) for name, make, kw in _edge_cases()]
    return out


def _same_trace(a, b, name):
    """Every field of every quantity, parameter and buffer survives the JSON round trip exactly."""
    assert a.network == b.network, name
    for s, t in zip(a.steps, b.steps, strict=True):
        assert (s.step, s.loss, list(s.rows), s.lr, s.t) == (t.step, t.loss, list(t.rows), t.lr, t.t), name
        for before, after in ((s.params_before, t.params_before), (s.params_after, t.params_after),
                              (s.buffers_before, t.buffers_before), (s.buffers_after, t.buffers_after)):
            assert before.keys() == after.keys(), name
            for key in before:
                np.testing.assert_array_equal(after[key], before[key], err_msg=f"{name}: {key}")
        assert s.names() == t.names(), name
        for q, r in zip(s.quantities, t.quantities, strict=True):
            assert (q.formula, q.words, tuple(q.inputs), q.kind, q.op, q.layer, q.attrs) == \
                (r.formula, r.words, tuple(r.inputs), r.kind, r.op, r.layer, r.attrs), f"{name}: {q.name}"
            np.testing.assert_array_equal(np.asarray(r.value), np.asarray(q.value), err_msg=f"{name}: {q.name}")


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """Every case recorded, laid out as text, JSON and HTML, and its workbook written and recalculated."""
    tmp = tmp_path_factory.mktemp("any")
    out = []
    for name, model, X, y, kw in _cases():
        trace = record(model, X, y, **kw)
        path = tmp / f"{name}.xlsx"
        to_xlsx(trace, path, cached_values=False)
        out.append((name, trace, path))
    done = recalculate([p for _, _, p in out], tmp / "recalc", tmp / "profile")
    return [(name, trace, r) for (name, trace, _), r in zip(out, done, strict=True)]


def test_text_json_html(traced, tmp_path):
    for name, trace, _ in traced:
        text = str(trace)
        assert f"step {len(trace.steps)} of {len(trace.steps)}" in text, name
        path = tmp_path / f"{name}.json"
        trace.to_json(path)
        back = from_json(path)
        _same_trace(trace, back, name)
        html = trace.to_html()
        assert back.to_html() == html and str(back) == text, name  # the JSON holds everything the pages show
        assert html.lstrip().lower().startswith("<!doctype html>"), name
        for q in trace.steps[-1].quantities:  # every quantity is in the text and on the page
            assert f" {q.name} " in text and q.name in html, (name, q.name)


def exact_zero(trace) -> re.Pattern | None:
    """The names that carry the gradient of a bias feeding BatchNormalization (``db1``, ``m_b1_new``, ``b1_new``).

    Batch normalization subtracts the batch mean, so such a bias has a true gradient of exactly 0. The
    engine's sum over the batch leaves float rounding (~1e-17) and so does LibreOffice's, each its own; an
    optimizer that divides by the gradient's size (Adam, RMSProp, Adadelta) turns that noise into a step
    of about lr·1e-10. Both are noise around the same exact 0: these names are compared absolutely (1e-9),
    everything else relatively (docs/trace-names.md, "Exact zeros").
    """
    layers = trace.network["layers"]
    ks = [la["layer"] for la, nxt in itertools.pairwise(layers) if nxt["kind"] == "BatchNormalization"
          and f"b{la['layer']}" in trace.steps[0].params_before]
    return re.compile(rf"(^|_|d)b({'|'.join(map(str, ks))})(_|$)") if ks else None


def compare(got, trace):
    """Largest relative difference (workbook vs engine) and where; ``exact_zero`` names compared absolutely."""
    zero, worst = exact_zero(trace), (0.0, "")
    for s in trace.steps:
        for name, value in ({q.name: q.value for q in s.quantities} | {"lr": s.lr, "t": s.t}).items():
            cells = got[f"s{s.step}_{name}"]
            assert all(isinstance(v, (int, float)) for v in cells.ravel()), f"s{s.step}_{name}: {cells}"
            ours = cells.astype(np.float64)
            theirs = np.asarray(value, dtype=np.float64).reshape(ours.shape)
            diff = np.abs(ours - theirs)
            if zero is not None and zero.search(name):
                assert diff.max() <= 1e-9, f"s{s.step}_{name}: workbook {ours} vs engine {theirs}"
                continue
            rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(theirs), 1e-300))
            if rel.max() <= 1e-9:
                worst = max(worst, (float(rel.max()), f"s{s.step}_{name}"))
            else:  # as test_xlsx: an array of rounding noise around 0 may agree only absolutely
                assert diff.max() <= 1e-15, (f"s{s.step}_{name}: relative {rel.max():.2e}\nworkbook\n{ours}\n"
                                             f"engine\n{theirs}")
    return worst


def test_workbooks_equal_engine(traced):
    worst = [(*compare(named_values(path), trace), name, exact_zero(trace) is None) for name, trace, path in traced]
    for label, rows in (("every model", worst), ("no bias before BatchNormalization", [w for w in worst if w[3]])):
        top = max(rows)
        print(f"largest relative difference, LibreOffice vs engine, {label}: {top[0]:.2e} ({top[1]} of {top[2]})")


def test_bias_before_batchnorm_is_noise(traced):
    """The generator does produce the case exact_zero describes, and its gradient is noise around 0 there."""
    cases = [(name, trace) for name, trace, _ in traced if exact_zero(trace)]
    assert cases
    for name, trace in cases:
        for q in trace.steps[0].quantities:
            if re.fullmatch(r"db\d+", q.name) and exact_zero(trace).search(q.name):
                assert np.abs(q.value).max() < 1e-12, (name, q.name, q.value)
                assert "Exact zeros" in q.words  # the trace says why this gradient is noise


def test_edge_cases_hold(traced):
    by_name = {name: trace for name, trace, _ in traced}
    fitted = by_name["edge-fitted"].steps[0]
    assert fitted.t == 3 * 3 + 1 and np.abs(fitted["m_W1"].value).max() > 0  # 3 epochs of 3 batches before
    np.testing.assert_array_equal(by_name["edge-set-weights"].steps[0]["W1"].value,
                                  np.arange(6.0).reshape(3, 2) / 10)
    assert by_name["edge-one-row"].steps[0]["A0"].value.shape == (1, 3)
    probs = by_name["edge-probabilities"].steps[0]
    assert probs["loss"].op == "bce_prob" and probs["dA1"].op == "bce_prob_grad"
    clipped = (probs["A1"].value <= 1e-7) | (probs["A1"].value >= 1 - 1e-7)
    assert clipped.any() and not clipped.all() and np.all(probs["dA1"].value[clipped] == 0)


def test_float32_warns():
    model = gn.Sequential([Dense(2, activation="relu"), Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    with pytest.warns(GlassnetWarning, match="float32"):
        record(model, np.ones((3, 2)), np.zeros((3, 1)))


class Doubler(gn.layers.Layer):
    """A user's own layer: the tracer cannot know its math."""

    def build(self, input_shape, rng=None):
        return input_shape

    def forward(self, x, training=False):
        return 2 * x

    def backward(self, dy):
        return 2 * dy


def test_a_layer_the_tracer_does_not_know_is_named():
    model = gn.Sequential([Dense(2), Doubler(name="twice"), Dense(1)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(ExportError, match=r"Cannot trace layer 2 \(twice, Doubler\): the tracer lays out"):
        record(model, np.ones((3, 2)), np.zeros((3, 1)))


def test_a_loss_the_tracer_does_not_know_is_named():
    class Quartic(gn.losses.Loss):
        """A user's own loss, mean((y - ŷ)⁴): not one the tracer lays out."""

        key = "quartic"

        def forward(self, y_pred, y_true, z=None):
            return float(np.mean((y_true - y_pred) ** 4))

        def backward(self, y_pred, y_true):
            return 4 * (y_pred - y_true) ** 3 / y_pred.size

    model = gn.Sequential([Dense(1)], seed=0, dtype="float64")
    model.compile(loss=Quartic(), optimizer="sgd")
    with pytest.raises(ExportError, match="Cannot trace loss"):
        record(model, np.ones((3, 2)), np.zeros((3, 1)))


if __name__ == "__main__":  # a quick look at every case without LibreOffice
    warnings.simplefilter("error")
    for name, model, X, y, kw in _cases():
        try:
            tr = record(model, X, y, **kw)
            str(tr), tr.to_json(), tr.to_html(), to_xlsx(tr, cached_values=False)
            print("ok  ", name)
        except Exception as e:  # noqa: BLE001
            print("FAIL", name, type(e).__name__, str(e)[:300])


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "binary_crossentropy"])
def test_cross_entropy_without_logits_matches_torch(loss):
    """TimeDistributed(Dense(softmax or sigmoid)): no logits reach the loss, which the engine computes on the
    clipped probabilities; the traced loss and every gradient equal torch's autograd of the same clipped loss."""
    import torch

    rng = np.random.default_rng(3)
    X = rng.normal(size=(3, 4, 2)) * 30  # large enough that some probabilities are clipped
    act, K = ("softmax", 3) if loss == "categorical_crossentropy" else ("sigmoid", 2)
    y = np.eye(K)[rng.integers(0, K, size=(3, 4))] if K == 3 else rng.integers(0, 2, size=(3, 4, K)).astype(float)
    model = gn.Sequential([TimeDistributed(Dense(K, activation=act))], seed=0, dtype="float64")
    model.compile(loss=loss, optimizer="sgd")
    step = record(model, X, y).steps[0]
    W = torch.tensor(step["W1"].value, requires_grad=True)
    b = torch.tensor(step["b1"].value, requires_grad=True)
    z = torch.tensor(X) @ W + b
    Y = torch.tensor(y)
    if K == 3:
        p = torch.clamp(torch.softmax(z, dim=-1), 1e-7, 1.0)
        value = -(Y * torch.log(p)).sum() / (3 * 4)
    else:
        p = torch.clamp(torch.sigmoid(z), 1e-7, 1 - 1e-7)
        value = -(Y * torch.log(p) + (1 - Y) * torch.log(1 - p)).mean()
    value.backward()
    clipped = (p.detach().numpy() != (torch.softmax(z, -1) if K == 3 else torch.sigmoid(z)).detach().numpy())
    assert 0 < clipped.sum() < clipped.size and step["dA1"].op == ("cce" if K == 3 else "bce") + "_prob_grad"
    assert abs(step["loss"].value - value.item()) <= 1e-12 * abs(value.item())
    for name, theirs in (("dW1", W.grad), ("db1", b.grad)):
        np.testing.assert_allclose(step[name].value, theirs.numpy(), rtol=1e-10, atol=1e-15, err_msg=name)
