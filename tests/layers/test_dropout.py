"""Dropout: float64 finite differences with a fixed mask, and PyTorch's inverted-dropout convention."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glassnet as gn
from glassnet.layers import Dense, Dropout

torch.set_num_threads(1)


def built_dropout(rate, shape=(4,), seed=0):
    layer = Dropout(rate)
    layer.build(shape, np.random.default_rng(seed), np.float64)
    return layer


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 0.9])
def test_gradcheck_dropout_fixed_mask(rate):
    # gradcheck reseeds the layer's generator before every forward, so each evaluation sees one mask
    X = np.random.default_rng(1).standard_normal((8, 4))
    report = gn.gradcheck(built_dropout(rate), X)
    assert report.passed, str(report)


def test_gradcheck_sees_the_mask():
    # with rate 0.5 about half the inputs get gradient 0 and the rest 1/(1-rate) = 2 (checked above):
    # make sure the mask really was applied during the check, i.e. the check was not of the identity
    layer = built_dropout(0.5)
    layer.rng = np.random.default_rng(0)
    layer.forward(np.ones((8, 4)), training=True)
    assert set(np.unique(layer.mask)) == {0.0, 2.0}


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_dropout_matches_torch_given_the_same_mask(rate):
    # torch draws its own mask, so hand it ours (the kept units) and let autograd do the rest
    X = np.random.default_rng(1).standard_normal((8, 4))
    dA = np.random.default_rng(2).standard_normal((8, 4))
    layer = built_dropout(rate)
    a = layer.forward(X, training=True)
    dX = layer.backward(dA)
    keep = torch.from_numpy(layer.mask != 0)
    x = torch.tensor(X, requires_grad=True)
    a_t = torch.where(keep, x / (1 - rate), torch.zeros_like(x))
    a_t.backward(torch.from_numpy(dA))
    np.testing.assert_allclose(a, a_t.detach().numpy(), rtol=1e-6, atol=1e-12, err_msg="forward: ours vs torch")
    np.testing.assert_allclose(dX, x.grad.numpy(), rtol=1e-6, atol=1e-12, err_msg="dX: ours vs torch")


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_scaling_convention_is_torchs(rate):
    # inverted dropout in both: kept units are scaled by 1/(1-rate) while training, nothing at inference
    ones = np.ones((200, 50))
    ours = built_dropout(rate, (50,)).forward(ones, training=True)
    with torch.random.fork_rng():  # seed torch's draw without touching its global generator
        torch.manual_seed(0)
        theirs = F.dropout(torch.from_numpy(ones), p=rate, training=True)
    assert set(np.unique(ours)) == set(np.unique(theirs.numpy())) == {0.0, 1 / (1 - rate)}
    kept = float((ours != 0).mean())
    assert abs(kept - (1 - rate)) < 0.03, f"kept fraction {kept}, expected about {1 - rate}"
    np.testing.assert_array_equal(built_dropout(rate, (50,)).forward(ones, training=False), ones)


def test_same_seed_same_mask_inside_a_model():
    X = np.random.default_rng(1).standard_normal((16, 3))
    runs = []
    for _ in range(2):
        model = gn.Sequential([Dense(8), Dropout(0.5), Dense(1)], seed=7, dtype="float64")
        model.build(3)
        runs.append(model.forward(X, training=True))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_gradcheck_model_with_dropout():
    # the model check runs in inference mode, so Dropout is the identity and the other layers are checked
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    model = gn.Sequential([Dense(4, activation="tanh"), Dropout(0.5), Dense(1)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    report = gn.gradcheck(model, X, y)
    assert set(report.errors) == {"W1", "b1", "W2", "b2"}
    assert report.passed, str(report)
