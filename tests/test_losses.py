"""Losses: float64 finite differences and PyTorch as the oracle, alone and fused with their activation.

Conventions checked against torch: ``half_sse`` is ½·Σ (not averaged); ``mse``, ``mae`` and
``binary_crossentropy`` average over every element; the categorical cross-entropies average over rows.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glassnet as gn
from glassnet.layers import Dense, Softmax
from glassnet.losses import get_loss

torch.set_num_threads(1)

RTOL, ATOL = 1e-6, 1e-12
N, K = 6, 3


def assert_ours_vs_torch(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=f"{what}: ours (ACTUAL) vs torch (DESIRED)")


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def case(key, seed=0):
    """(logits Z or None, predictions A, targets as the loss takes them) for one loss."""
    rng = np.random.default_rng(seed)
    if key in ("half_sse", "mse", "mae"):
        return None, rng.standard_normal((N, 2)), rng.standard_normal((N, 2))
    if key == "binary_crossentropy":
        z = rng.standard_normal((N, 2)) * 2
        return z, sigmoid(z), rng.integers(0, 2, (N, 2)).astype(float)
    z = rng.standard_normal((N, K)) * 2
    labels = rng.integers(0, K, N)
    if key == "sparse_categorical_crossentropy":
        return z, softmax(z), labels
    return z, softmax(z), np.eye(K)[labels]


def torch_value(key, a, y, z=None):
    """The same loss in torch, from probabilities (z None) or from logits (fused)."""
    if key == "half_sse":
        return 0.5 * ((a - y) ** 2).sum()
    if key == "mse":
        return F.mse_loss(a, y)
    if key == "mae":
        return F.l1_loss(a, y)
    if key == "binary_crossentropy":
        return F.binary_cross_entropy(a, y) if z is None else F.binary_cross_entropy_with_logits(z, y)
    if key == "categorical_crossentropy":
        return -(y * torch.log(a)).sum(dim=1).mean() if z is None else F.cross_entropy(z, y)
    if key == "sparse_categorical_crossentropy":
        return F.nll_loss(torch.log(a), y) if z is None else F.cross_entropy(z, y)
    raise KeyError(key)


def torch_target(key, y):
    return torch.from_numpy(np.asarray(y, dtype=np.int64 if key.startswith("sparse") else np.float64))


KEYS = ["half_sse", "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
        "sparse_categorical_crossentropy"]
FUSED = ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]


# --- finite differences ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_gradcheck_loss(key):
    _, a, y = case(key)
    report = gn.gradcheck(get_loss(key), a, y)
    expected = {"y_pred", "z (fused)"} if key in FUSED else {"y_pred"}
    assert set(report.errors) == expected
    assert report.passed, str(report)


# --- PyTorch oracle: the loss alone ------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_loss_and_gradient_match_torch(key):
    loss = get_loss(key)
    _, a, y = case(key)
    Y = loss.prepare(y, a.shape, np.float64)
    ours, dA = loss.forward(a, Y), loss.backward(a, Y)
    a_t = torch.tensor(a, requires_grad=True)
    theirs = torch_value(key, a_t, torch_target(key, y))
    theirs.backward()
    assert_ours_vs_torch(ours, theirs.item(), f"{key} value")
    assert_ours_vs_torch(dA, a_t.grad.numpy(), f"{key} dL/dA")


@pytest.mark.parametrize("key", FUSED)
@pytest.mark.parametrize("scale", [1.0, 40.0], ids=["moderate", "huge_logits"])
def test_fused_loss_and_gradient_match_torch(key, scale):
    # value from the logits (log-sum-exp), gradient dL/dZ = (A - Y) / n — torch's *_with_logits / cross_entropy
    loss = get_loss(key)
    z, _, y = case(key)
    z = z * scale
    act = gn.layers.get_activation(loss.fused_activation)
    a = act.forward(z)
    Y = loss.prepare(y, a.shape, np.float64)
    ours, dZ = loss.forward(a, Y, z), loss.fused_backward(a, Y)
    z_t = torch.tensor(z, requires_grad=True)
    theirs = torch_value(key, None, torch_target(key, y), z_t)
    theirs.backward()
    assert np.isfinite(ours)
    assert_ours_vs_torch(ours, theirs.item(), f"{key} value from logits")
    assert_ours_vs_torch(dZ, z_t.grad.numpy(), f"{key} dL/dZ (fused)")


def test_categorical_crossentropy_with_soft_targets_matches_torch():
    # rows of probabilities (label smoothing) rather than one-hot: the fused gradient still holds
    loss = get_loss("categorical_crossentropy")
    z, _, y = case("categorical_crossentropy")
    y = 0.9 * y + 0.1 / K
    ours, dZ = loss.forward(softmax(z), y, z), loss.fused_backward(softmax(z), y)
    z_t = torch.tensor(z, requires_grad=True)
    theirs = F.cross_entropy(z_t, torch.from_numpy(y))
    theirs.backward()
    assert_ours_vs_torch(ours, theirs.item(), "value")
    assert_ours_vs_torch(dZ, z_t.grad.numpy(), "dL/dZ")


# --- the losses inside a model: fused paths end to end ----------------------------------------------

# (glassnet layers, loss, torch head after the first tanh Dense); the head's last activation is fused
MODELS = {
    "sigmoid+bce": (lambda: [Dense(4, activation="tanh"), Dense(2, activation="sigmoid")], "binary_crossentropy"),
    "softmax+cce": (lambda: [Dense(4, activation="tanh"), Dense(K, activation="softmax")],
                    "categorical_crossentropy"),
    "softmax_layer+sparse_cce": (lambda: [Dense(4, activation="tanh"), Dense(K), Softmax()],
                                 "sparse_categorical_crossentropy"),
    "linear+half_sse": (lambda: [Dense(4, activation="tanh"), Dense(2)], "half_sse"),
    "tanh+mae": (lambda: [Dense(4, activation="tanh"), Dense(2, activation="tanh")], "mae"),
    "sigmoid+mse": (lambda: [Dense(4, activation="tanh"), Dense(2, activation="sigmoid")], "mse"),
}


def model_case(name):
    layers, key = MODELS[name]
    model = gn.Sequential(layers(), seed=0, dtype="float64")
    model.compile(loss=key, optimizer="sgd")
    model.build(3)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((N, 3))
    n_out = model.output_shape[-1]
    if key.startswith("sparse"):
        y = rng.integers(0, n_out, N)
    elif key == "categorical_crossentropy":
        y = np.eye(n_out)[rng.integers(0, n_out, N)]
    elif key == "binary_crossentropy":
        y = rng.integers(0, 2, (N, n_out)).astype(float)
    else:
        y = rng.standard_normal((N, n_out))
    return model, key, X, y


@pytest.mark.parametrize("name", list(MODELS))
def test_gradcheck_model_with_loss(name):
    model, _, X, y = model_case(name)
    report = gn.gradcheck(model, X, y)
    assert report.passed, str(report)


@pytest.mark.parametrize("name", list(MODELS))
def test_model_loss_and_gradients_match_torch(name):
    model, key, X, y = model_case(name)
    Y = model.loss.prepare(y, (N, model.output_shape[-1]), np.float64)
    a = model.forward(X, training=True)
    ours = model.compute_loss(a, Y)
    model.backward(a, Y)

    dense = [la for la in model.layers if la.params]
    W = [torch.tensor(la.params["W"].T.copy(), requires_grad=True) for la in dense]
    b = [torch.tensor(la.params["b"].copy(), requires_grad=True) for la in dense]
    h = torch.tanh(torch.from_numpy(X) @ W[0].T + b[0])
    z = h @ W[1].T + b[1]
    last = model.layers[-1]
    act = (last.activation if isinstance(last, Dense) else last).key
    y_t = torch_target(key, y)
    if key in FUSED:  # torch from logits, as the oracle of the fused path
        theirs = torch_value(key, None, y_t, z)
    else:
        theirs = torch_value(key, {"linear": z, "tanh": torch.tanh(z), "sigmoid": torch.sigmoid(z)}[act], y_t)
    theirs.backward()

    assert_ours_vs_torch(ours, theirs.item(), f"{name} loss")
    for k, la in enumerate(dense):
        assert_ours_vs_torch(la.grads["W"], W[k].grad.numpy().T, f"{name} dW{k + 1}")
        assert_ours_vs_torch(la.grads["b"], b[k].grad.numpy(), f"{name} db{k + 1}")


def test_single_output_targets_may_be_one_dimensional():
    # y of shape (N,) for a model with one output is read as (N, 1), as Keras and torch users expect
    loss = get_loss("binary_crossentropy")
    Y = loss.prepare(np.array([0, 1, 1]), (3, 1), np.float64)
    assert Y.shape == (3, 1)


# --- cross-entropy from probabilities at the clip (issue 10, item 12) --------------------------------
# Without logits ŷ is clipped to [ε, 1-ε] (categorical: [ε, 1]) as Keras does; the clip's derivative is 0
# outside, so a prediction of exactly 0 or 1 gets no gradient (it used to get about -2.5e6 = -1/(ε·size)).

EPS = 1e-7
# exact 0 and 1 and values beyond the clip, beside ordinary probabilities; the last row sits on the clip
CLIPPED_A = np.array([[0.0, 1.0], [1.0, 0.0], [1e-9, 1 - 1e-9], [0.3, 0.8], [EPS, 1 - EPS]])
CLIPPED_Y = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
CLIPPED_P = np.array([[0.0, 0.25, 0.75], [1.0, 0.0, 0.0], [1e-9, 0.5, 0.5 - 1e-9], [0.2, 0.3, 0.5]])
CLIPPED_LABELS = np.array([0, 1, 0, 2])


def clipped_case(key):
    """(loss, predictions, targets as the loss takes them, torch's loss of a tensor of predictions)."""
    loss = get_loss(key)
    if key == "binary_crossentropy":
        def theirs(a):  # Keras: clip, then the formula
            p = torch.clamp(a, EPS, 1 - EPS)
            y = torch.from_numpy(CLIPPED_Y)
            return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
        return loss, CLIPPED_A, CLIPPED_Y, theirs
    y = CLIPPED_LABELS if key.startswith("sparse") else np.eye(K)[CLIPPED_LABELS]

    def theirs(a):
        return -(torch.from_numpy(np.eye(K)[CLIPPED_LABELS]) * torch.log(torch.clamp(a, EPS, 1.0))).sum(dim=1).mean()
    return loss, CLIPPED_P, y, theirs


@pytest.mark.parametrize("key", FUSED)
def test_clipped_predictions_match_torch_clamp(key):
    loss, a, y, theirs_of = clipped_case(key)
    Y = loss.prepare(y, a.shape, np.float64)
    ours, dA = loss.forward(a, Y), loss.backward(a, Y)
    a_t = torch.tensor(a, requires_grad=True)
    theirs = theirs_of(a_t)
    theirs.backward()
    assert_ours_vs_torch(ours, theirs.item(), f"{key} value")
    assert_ours_vs_torch(dA, a_t.grad.numpy(), f"{key} dL/dA")
    np.testing.assert_array_equal(dA[(a < EPS) | (a > 1 - EPS)], 0)  # not -1/(ε·size); on the clip it passes


@pytest.mark.parametrize("key", FUSED)
def test_clipped_predictions_gradcheck(key):
    # steps of 1e-9 stay on the flat side of the clip for 0, 1, 1e-9 and 1 - 1e-9
    loss, a, y, _ = clipped_case(key)
    Y = loss.prepare(y, a.shape, np.float64)
    dA = loss.backward(a, Y)
    clipped = (a < EPS) | (a > 1 - EPS)
    for i in zip(*np.nonzero(clipped)):
        up, down = a.copy(), a.copy()
        up[i] += 1e-9
        down[i] -= 1e-9
        numeric = (loss.forward(up, Y) - loss.forward(down, Y)) / 2e-9
        assert numeric == 0 and dA[i] == 0, f"{key} at A{list(i)} = {a[i]}: ours {dA[i]} vs numeric {numeric}"
    report = gn.gradcheck(loss, np.clip(a, 0.1, 0.9), y)  # away from the clip, as usual
    assert report.passed, str(report)


def test_clipped_gradient_in_float32_is_zero_too():
    loss = get_loss("binary_crossentropy")
    a, y = CLIPPED_A.astype(np.float32), CLIPPED_Y.astype(np.float32)
    dA = loss.backward(a, y)
    assert dA.dtype == np.float32
    np.testing.assert_array_equal(dA[:3], 0)
    assert np.isfinite(dA).all() and np.abs(dA[:4]).max() < 10


def test_nan_prediction_still_reaches_the_gradient():
    loss = get_loss("binary_crossentropy")
    dA = loss.backward(np.array([[np.nan, 0.0]]), np.array([[1.0, 1.0]]))
    assert np.isnan(dA[0, 0]) and dA[0, 1] == 0


def test_non_fused_bce_after_a_linear_output_matches_torch():
    # a linear output is not fused with the cross-entropy: outputs below 0 or above 1 are clipped, get no gradient
    model = gn.Sequential([Dense(4, activation="tanh"), Dense(2)], seed=0, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    with pytest.warns(gn.GlassnetWarning, match="after a linear output"):  # the mismatch this test wants
        model.build(3)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((N, 3)) * 3
    y = rng.integers(0, 2, (N, 2)).astype(float)
    a = model.forward(X, training=True)
    assert ((a < 0) | (a > 1)).any() and ((a > 0) & (a < 1)).any()  # both sides of the clip
    ours = model.compute_loss(a, y)
    model.backward(a, y)

    W = [torch.tensor(la.params["W"].copy(), requires_grad=True) for la in model.layers]
    b = [torch.tensor(la.params["b"].copy(), requires_grad=True) for la in model.layers]
    p = torch.clamp(torch.tanh(torch.from_numpy(X) @ W[0] + b[0]) @ W[1] + b[1], EPS, 1 - EPS)
    y_t = torch.from_numpy(y)
    theirs = -(y_t * torch.log(p) + (1 - y_t) * torch.log(1 - p)).mean()
    theirs.backward()
    assert_ours_vs_torch(ours, theirs.item(), "loss")
    for k, la in enumerate(model.layers):
        assert_ours_vs_torch(la.grads["W"], W[k].grad.numpy(), f"dW{k + 1}")
        assert_ours_vs_torch(la.grads["b"], b[k].grad.numpy(), f"db{k + 1}")


# --- per-row losses and weights ---------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "fused"), [(k, False) for k in KEYS] + [(k, True) for k in KEYS if k in FUSED])
def test_per_row_losses_average_to_the_loss(key, fused):
    # mean(lᵢ) over the rows is the loss (their sum for half_sse), from probabilities and from logits
    loss = get_loss(key)
    z, a, y = case(key)
    Y = loss.prepare(y, a.shape, np.float64)
    kwargs = {}
    if fused:
        act = gn.layers.get_activation(loss.fused_activation)
        a = act.forward(z)
        kwargs = {"log_sum": act.log_sum} if getattr(act, "log_sum", None) is not None else {}
    rows = loss.per_row(a, Y, z if fused else None, **kwargs)
    assert rows.shape == (N,)
    reduce = np.sum if key == "half_sse" else np.mean
    np.testing.assert_allclose(reduce(rows), loss.forward(a, Y, z if fused else None), rtol=1e-13)


@pytest.mark.parametrize("key", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_class_weighted_cross_entropy_matches_torch(key):
    # torch's cross_entropy(weight=w_class) is Σ w_{yᵢ}·lᵢ / Σ w_{yᵢ}: ours with wᵢ = w_class[yᵢ], value and dL/dZ
    loss = get_loss(key)
    z, _, y = case(key, seed=3)
    labels = np.argmax(y, axis=1) if np.ndim(y) == 2 else y
    w_class = np.array([0.5, 2.0, 3.5])
    w = w_class[labels]  # (N,)
    act = gn.layers.get_activation("softmax")
    a = act.forward(z)
    Y = loss.prepare(y, a.shape, np.float64)
    ours = loss.weighted(loss.per_row(a, Y, z, log_sum=act.log_sum), w)
    dZ = loss.fused_backward(a, Y) * loss.row_scale(w)[:, None]
    z_t = torch.tensor(z, requires_grad=True)
    theirs = F.cross_entropy(z_t, torch.from_numpy(labels.astype(np.int64)), weight=torch.from_numpy(w_class))
    theirs.backward()
    assert_ours_vs_torch(ours, theirs.item(), f"{key} class-weighted value")
    assert_ours_vs_torch(dZ, z_t.grad.numpy(), f"{key} class-weighted dL/dZ")


def test_weights_of_a_batch_that_sum_to_zero_give_loss_and_gradient_zero():
    loss = get_loss("mse")
    w = np.zeros(4)
    assert loss.weighted(np.ones(4), w) == 0.0
    np.testing.assert_array_equal(loss.row_scale(w), np.zeros(4))
    np.testing.assert_array_equal(get_loss("half_sse").row_scale(np.array([2.0, 0.0])), [2.0, 0.0])
