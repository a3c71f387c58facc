"""Residual blocks: naming and binding of sublayer arrays, gradients, PyTorch, training and the model file."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glassnet as gn
from glassnet.layers import BatchNormalization, Conv1D, Dense, GlobalAveragePooling1D, ReLU, Residual

torch.set_num_threads(1)


def block(filters=4, kernels=(3, 3), shortcut=True):
    """The ResNet block of Wang et al. in miniature: conv-BN-ReLU-conv-BN, plus a 1x1 conv-BN shortcut."""
    main = [Conv1D(filters, kernels[0], padding="same", use_bias=False), BatchNormalization(), ReLU(),
            Conv1D(filters, kernels[1], padding="same", use_bias=False), BatchNormalization()]
    return Residual(main=main, shortcut=[Conv1D(filters, 1, use_bias=False), BatchNormalization()] if shortcut else [])


def inputs(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def test_params_state_and_config_use_prefixed_names():
    layer = block()
    layer.build((10, 2), np.random.default_rng(0))
    assert list(layer.params) == ["main.0.W", "main.1.gamma", "main.1.beta", "main.3.W", "main.4.gamma",
                                  "main.4.beta", "shortcut.0.W", "shortcut.1.gamma", "shortcut.1.beta"]
    assert list(layer.state) == ["main.1.moving_mean", "main.1.moving_var", "main.4.moving_mean",
                                 "main.4.moving_var", "shortcut.1.moving_mean", "shortcut.1.moving_var"]
    assert layer.params["main.3.W"] is layer.main[3].params["W"]
    assert layer.count_params() == 3 * 2 * 4 + 8 + 3 * 4 * 4 + 8 + 2 * 4 + 8
    config = layer.get_config()
    assert [e["class"] for e in config["main"]] == ["Conv1D", "BatchNormalization", "ReLU", "Conv1D",
                                                    "BatchNormalization"]
    assert config["shortcut"][0]["config"]["kernel_size"] == 1


def test_model_binds_sublayers_to_its_flat_buffers():
    model = gn.Sequential([block(), ReLU(), GlobalAveragePooling1D(), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.SGD(0.1))
    model.build((8, 2))
    for sub in model.layers[0].main + model.layers[0].shortcut:
        for k in sub.params:
            assert np.shares_memory(sub.params[k], model.flat_params), k
            assert np.shares_memory(sub.grads[k], model.flat_grads), k
    W = model.layers[0].main[0].params["W"]
    before = W.copy()
    model.train_step(inputs((4, 8, 2)), np.eye(2)[[0, 1, 1, 0]].astype(np.float32))
    assert not np.array_equal(W, before)  # the optimizer's flat update reached the sublayer


@pytest.mark.parametrize("shortcut", [True, False], ids=["conv_shortcut", "identity"])
def test_gradcheck_residual(shortcut):
    report = gn.gradcheck(block(filters=2 if not shortcut else 3, shortcut=shortcut), inputs((3, 6, 2)))
    assert "main.0.W" in report.errors and "x" in report.errors
    assert report.passed, str(report)


def test_gradcheck_nested_residual():
    inner = Residual(main=[Conv1D(2, 3, padding="same", activation="tanh")])
    outer = Residual(main=[inner, Dense(2, activation="tanh")], shortcut=[Dense(2)])
    report = gn.gradcheck(outer, inputs((2, 5, 2)))
    assert {"main.0.main.0.W", "main.1.W", "shortcut.0.b"} <= set(report.errors)
    assert report.passed, str(report)


def test_model_gradcheck_through_a_residual_block_in_inference_mode():
    X, y = inputs((4, 6, 2)), np.array([0, 1, 1, 0])
    model = gn.Sequential([block(3), GlobalAveragePooling1D(), Dense(2, activation="softmax")], seed=0,
                          dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    model.fit(X, y, epochs=2, verbose=0)  # moves the BN averages away from 0 and 1
    report = gn.gradcheck(model, X, y)
    assert report.passed, str(report)


def test_residual_block_matches_torch():
    X = inputs((3, 7, 2))
    layer = block()
    layer.build(X.shape[1:], np.random.default_rng(0), np.float64)
    a = layer.forward(X, training=True)
    dA = inputs(a.shape, seed=2)
    dX = layer.backward(dA)

    def conv(i, branch="main"):  # torch Conv1d weight (C_out, C_in, K) from our (K, C_in, C_out)
        return torch.tensor(getattr(layer, branch)[i].params["W"].transpose(2, 1, 0), requires_grad=True)

    def bn(x, i, branch="main"):
        sub = getattr(layer, branch)[i]
        g = torch.tensor(np.ones(4), requires_grad=True)
        b = torch.tensor(np.zeros(4), requires_grad=True)
        rm, rv = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
        out = F.batch_norm(x, rm, rv, g, b, training=True, momentum=1 - sub.momentum, eps=sub.epsilon)
        return out, (g, b, rm)

    x = torch.tensor(X, requires_grad=True)
    xt = x.permute(0, 2, 1)
    w0, w3, ws = conv(0), conv(3), conv(0, "shortcut")
    h, bn1 = bn(F.conv1d(xt, w0, padding="same"), 1)
    h, bn4 = bn(F.conv1d(torch.relu(h), w3, padding="same"), 4)
    s, bns = bn(F.conv1d(xt, ws), 1, "shortcut")
    a_t = (h + s).permute(0, 2, 1)
    a_t.backward(torch.from_numpy(dA))
    expected = {"main.0.W": w0.grad.numpy().transpose(2, 1, 0), "main.3.W": w3.grad.numpy().transpose(2, 1, 0),
                "shortcut.0.W": ws.grad.numpy().transpose(2, 1, 0)}
    for prefix, (g, b, rm) in (("main.1.", bn1), ("main.4.", bn4), ("shortcut.1.", bns)):
        expected |= {prefix + "gamma": g.grad.numpy(), prefix + "beta": b.grad.numpy()}
        np.testing.assert_allclose(layer.state[prefix + "moving_mean"], rm.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a, a_t.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg="A")
    np.testing.assert_allclose(dX, x.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg="dX")
    for k, v in expected.items():
        np.testing.assert_allclose(layer.grads[k], v, rtol=1e-9, atol=1e-12, err_msg=f"{k}: ours vs torch")


def sequences(n=32, T=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, size=(n, T, 1))
    y = (X[:, : T // 2, 0].mean(axis=1) > X[:, T // 2:, 0].mean(axis=1)).astype(int)
    return X, y


def test_resnet_trains_and_round_trips_with_moving_averages(tmp_path):
    X, y = sequences()
    model = gn.Sequential([block(4, (5, 3)), ReLU(), Residual(main=[Residual(main=[Conv1D(4, 3, padding="same")]),
                                                                    BatchNormalization()]),
                           GlobalAveragePooling1D(), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(0.02), metrics=["accuracy"])
    loss = model.fit(X, y, epochs=25, batch_size=8, verbose=0).history["loss"]
    assert loss[-1] < 0.6 * loss[0], loss
    moving = model.layers[0].main[1].state["moving_mean"]
    assert np.abs(moving).max() > 0  # training moved the averages
    model.save(tmp_path / "resnet.glassnet")
    again = gn.load(tmp_path / "resnet.glassnet")
    for k, v in model.layers[0].state.items():
        np.testing.assert_array_equal(again.layers[0].state[k], v, err_msg=k)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.layers[2].get_config() == model.layers[2].get_config()
    # and training goes on identically from the file (optimizer state, generator state)
    model.fit(X, y, epochs=1, batch_size=8, verbose=0)
    again.fit(X, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_branches_of_different_shapes_name_the_block():
    layer = Residual(main=[Conv1D(8, 3, padding="same")], name="res1")
    with pytest.raises(gn.ShapeError, match=r'Layer "res1" \(Residual\).*main gives \(None, 10, 8\) and shortcut '
                                            r"gives \(None, 10, 2\)"):
        layer.build((10, 2), np.random.default_rng(0))


@pytest.mark.parametrize("kwargs,message", [
    ({"main": []}, "Received an invalid value for `main`, expected a non-empty list of layers"),
    ({"main": [Dense(2), "relu"]}, "Residual `main` must be a list of glassnet layers"),
    ({"main": [Dense(2)], "shortcut": Dense(2)}, "Residual `shortcut` must be a list of glassnet layers"),
])
def test_bad_residual_arguments(kwargs, message):
    with pytest.raises(gn.ConfigError, match=message):
        Residual(**kwargs)
