"""gn.models.tsc: Wang et al.'s MLP, FCN and ResNet, and the paper's training protocol in train()."""

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.errors import ConfigError, DataError, ShapeError
from glassnet.layers import (
    BatchNormalization,
    Conv1D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling1D,
    ReLU,
    Residual,
)
from glassnet.models import tsc
from glassnet.optimizers import Adadelta, Adam


def kinds(layers):
    return [type(la).__name__ for la in layers]


# -- architectures --------------------------------------------------------------------------------------------
def test_mlp_layers_and_parameter_count():
    model = tsc.mlp(2, (150, 1))
    assert kinds(model.layers) == ["Flatten", "Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense",
                                   "Dropout", "Dense"]
    assert [la.rate for la in model.layers if isinstance(la, Dropout)] == [0.1, 0.2, 0.2, 0.3]
    dense = [la for la in model.layers if isinstance(la, Dense)]
    assert [d.units for d in dense] == [500, 500, 500, 2]
    assert [d.activation.key for d in dense] == ["relu", "relu", "relu", "softmax"]
    # 150·500+500 + 2·(500·500+500) + 500·2+2
    assert model.count_params() == 75_500 + 2 * 250_500 + 1_002 == 577_502


def test_fcn_layers_and_parameter_count():
    model = tsc.fcn(2, (150, 1))
    assert kinds(model.layers) == ["Conv1D", "BatchNormalization", "ReLU"] * 3 + ["GlobalAveragePooling1D",
                                                                                   "Dense"]
    convs = [la for la in model.layers if isinstance(la, Conv1D)]
    assert [(c.filters, c.kernel_size[0], c.padding) for c in convs] == [(128, 8, "same"), (256, 5, "same"),
                                                                         (128, 3, "same")]
    # conv (8·1·128+128) + BN 2·128 + conv (5·128·256+256) + BN 2·256 + conv (3·256·128+128) + BN 2·128
    # + dense 128·2+2: the trainable count Keras prints for the authors' FCN on GunPoint
    assert model.count_params() == 1_152 + 256 + 164_096 + 512 + 98_432 + 256 + 258 == 264_962
    assert model.output_shape == (2,)


def test_resnet_blocks_and_shortcuts():
    model = tsc.resnet(3, (150, 1))
    blocks = [la for la in model.layers if isinstance(la, Residual)]
    assert kinds(model.layers) == ["Residual", "ReLU"] * 3 + ["GlobalAveragePooling1D", "Dense"]
    # the first block normalises the raw input in its main branch only (the authors' code)
    assert isinstance(blocks[0].main[0], BatchNormalization)
    for block, filters in zip(blocks, (64, 128, 128)):
        convs = [la for la in block.main if isinstance(la, Conv1D)]
        assert [(c.filters, c.kernel_size[0]) for c in convs] == [(filters, 8), (filters, 5), (filters, 3)]
        assert isinstance(block.main[-1], BatchNormalization)  # no ReLU before the addition
        assert sum(isinstance(la, ReLU) for la in block.main) == 2
    # channels change in blocks 1 (1→64) and 2 (64→128): 1×1 conv + BN; block 3 keeps 128: BN only
    assert kinds(blocks[0].shortcut) == kinds(blocks[1].shortcut) == ["Conv1D", "BatchNormalization"]
    assert blocks[0].shortcut[0].kernel_size == (1,)
    assert kinds(blocks[2].shortcut) == ["BatchNormalization"]
    # block 1: BN 2 + conv 8·1·64+64 + BN 128 + conv 5·64·64+64 + BN 128 + conv 3·64·64+64 + BN 128
    #          + shortcut conv 1·64+64 + BN 128                                             = 34,114
    # block 2: 8·64·128+128 + 256 + 5·128·128+128 + 256 + 3·128·128+128 + 256 + 64·128+128 + 256 = 206,336
    # block 3: 8·128·128+128 + 256 + 82,048 + 256 + 49,280 + 256 + BN 256                   = 263,552
    # dense 128·3+3                                                                         = 387
    assert model.count_params() == 34_114 + 206_336 + 263_552 + 387


def test_lstm_layers_and_parameter_count():
    model = tsc.lstm(2, (150, 1))
    assert kinds(model.layers) == ["LSTM", "Dense"]
    lstm, dense = model.layers
    assert lstm.units == 64 and not lstm.return_sequences and dense.activation.key == "softmax"
    assert model.output_shape == (2,)
    # W (1, 4·64) + U (64, 4·64) + b (4·64,) = 256 + 16,384 + 256; dense 64·2 + 2
    assert model.count_params() == 256 + 16_384 + 256 + 130 == 17_026
    np.testing.assert_array_equal(lstm.params["b"][64:128], 1)  # Keras' unit_forget_bias
    assert tsc.lstm(5, (24, 3), units=8).count_params() == 3 * 32 + 8 * 32 + 32 + 8 * 5 + 5
    with pytest.raises(ConfigError, match="units"):
        tsc.lstm(2, (10, 1), units=0)


@pytest.mark.parametrize("build", [tsc.mlp, tsc.fcn, tsc.resnet, tsc.lstm])
def test_outputs_are_class_probabilities(build):
    X = np.random.default_rng(0).normal(size=(4, 16, 2)).astype(np.float32)
    model = build(3, (16, 2), seed=0)
    p = model.predict(X)
    assert p.shape == (4, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    # the same seed builds the same network
    np.testing.assert_array_equal(build(3, (16, 2), seed=0).predict(X), p)


def test_unbuilt_models_build_on_first_use():
    model = tsc.fcn(2)
    assert not model.built
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(np.zeros((2, 8, 1)), [0, 1], epochs=1, verbose=0)
    assert model.input_shape == (8, 1)


def test_architecture_arguments_are_checked():
    with pytest.raises(ConfigError, match="n_classes"):
        tsc.fcn(1, (10, 1))
    with pytest.raises(ConfigError, match="input_shape"):
        tsc.fcn(2, (10,))
    assert tsc.fcn(2, 10).input_shape == (10, 1)  # a length alone means one channel


# -- the paper's protocol --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, batch", [(50, 5), (67, 6), (36, 3), (200, 16), (1000, 16), (5, 1)])
def test_paper_batch_size(n, batch):
    assert tsc.paper_batch_size(n) == batch  # int(min(N/10, 16)), at least 1


def test_paper_optimizers():
    mlp = tsc.PAPER_SETTINGS["mlp"]
    opt = mlp["optimizer"]()
    assert isinstance(opt, Adadelta) and (opt.lr, opt.rho, opt.epsilon) == (0.1, 0.95, 1e-8)
    assert (mlp["patience"], mlp["min_lr"], mlp["epochs"]) == (200, 0.1, 5000)
    for arch, epochs in (("fcn", 2000), ("resnet", 1500), ("lstm", 2000)):  # the LSTM: the FCN's settings
        s = tsc.PAPER_SETTINGS[arch]
        opt = s["optimizer"]()
        assert isinstance(opt, Adam) and (opt.lr, opt.beta1, opt.beta2, opt.epsilon) == (1e-3, 0.9, 0.999, 1e-8)
        assert (s["patience"], s["min_lr"], s["epochs"]) == (50, 1e-4, epochs)


@pytest.fixture(scope="module")
def italy():
    """ItalyPowerDemand: 67 training series of length 24, the smallest real UCR set in aeon's wheel.

    aeon is in the dev extra, so it is not skipped: without it aeon_ucr_path raises a DataError naming it.
    """
    train = gn.data.load_ucr(gn.data.aeon_ucr_path("ItalyPowerDemand"), znorm="train")
    test = gn.data.load_ucr(gn.data.aeon_ucr_path("ItalyPowerDemand", "test"), znorm="train", stats=train.stats)
    return train, test


def test_fcn_on_a_real_ucr_set_learns(italy):
    train, test = italy
    r = tsc.train("fcn", train.X, train.y, test.X[:200], test.y[:200], epochs=8, seed=0)
    loss = r["history"]["loss"]
    assert loss[-1] < 0.75 * loss[0], loss
    # (the test error is not checked: after 96 steps the batch-norm moving averages, momentum 0.99, still
    # hold 38% of their start, so inference lags training; benchmarks/tsc/ has the full-length runs)
    assert r["batch_size"] == 6 and r["epochs"] == 8 and r["classes"] == [1, 2]
    assert isinstance(r["model"], gn.Sequential)
    # the reported error is the one at the epoch of lowest training loss
    best = int(np.argmin(loss))
    assert r["best_epoch"] == best + 1 and r["train_loss"] == loss[best]
    assert r["test_error"] == r["history"]["test_error"][best]
    assert r["test_error_final"] == r["history"]["test_error"][-1]
    assert r["train_loss_final"] == loss[-1] and len(r["history"]["lr"]) == 8


def test_lstm_on_a_real_ucr_set_learns(italy):
    train, test = italy
    r = tsc.train("lstm", train.X, train.y, test.X[:200], test.y[:200], epochs=8, seed=0, test_every=0)
    loss = r["history"]["loss"]
    assert loss[-1] < 0.8 * loss[0], loss  # seed 0: 0.70 -> 0.37
    assert r["arch"] == "lstm" and r["batch_size"] == 6 and r["optimizer"]["class"] == "Adam"
    assert isinstance(r["model"].layers[0], gn.layers.LSTM)


def test_test_error_is_measured_only_where_needed(italy):
    train, test = italy
    X, y = train.X[:20], train.y[:20]
    r = tsc.train("mlp", X, y, test.X[:30], test.y[:30], epochs=6, seed=1, test_every=0)
    errors, loss = r["history"]["test_error"], r["history"]["loss"]
    for e in range(6):
        new_low = loss[e] < min(loss[:e], default=np.inf)
        assert (errors[e] is not None) == (new_low or e == 5), (e, errors, loss)
    # the same seed gives the same run
    again = tsc.train("mlp", X, y, test.X[:30], test.y[:30], epochs=6, seed=1, test_every=0)
    assert again["history"]["loss"] == loss


def test_train_checks_its_inputs():
    X = np.zeros((4, 8, 1))
    with pytest.raises(ConfigError, match="arch"):
        tsc.train("transformer", X, [0, 1, 0, 1], X, [0, 1, 0, 1], epochs=1)
    with pytest.raises(DataError, match="y_test has label 7 .* never saw"):
        tsc.train("fcn", X, [0, 1, 0, 1], X, [0, 1, 0, 7], epochs=1)
    with pytest.raises(DataError, match="one class"):
        tsc.train("fcn", X, [1, 1, 1, 1], X, [1, 1, 1, 1], epochs=1)
    with pytest.raises(ShapeError, match="same length"):
        tsc.train("fcn", X, [0, 1, 0, 1], np.zeros((4, 9, 1)), [0, 1, 0, 1], epochs=1)
    with pytest.raises(ShapeError, match="3-dimensional"):
        tsc.train("fcn", X[:, :, 0], [0, 1, 0, 1], X, [0, 1, 0, 1], epochs=1)
    with pytest.raises(ShapeError, match="4 series but y_train has 3"):
        tsc.train("fcn", X, [0, 1, 0], X, [0, 1, 0, 1], epochs=1)
    with pytest.raises(ConfigError, match="epochs"):
        tsc.train("fcn", X, [0, 1, 0, 1], X, [0, 1, 0, 1], epochs=0)


def test_text_labels_and_a_custom_optimizer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 8, 1))
    y = np.array(["a", "b", "c"] * 2)
    r = tsc.train("fcn", X, y, X, y, epochs=2, optimizer=gn.optimizers.SGD(0.01), batch_size=3)
    assert r["classes"] == ["a", "b", "c"] and r["optimizer"]["class"] == "SGD" and r["batch_size"] == 3
    assert set(r) >= {"test_error", "test_error_final", "train_loss", "epochs", "seconds"}


def test_models_are_exported():
    assert gn.models.tsc is tsc and set(tsc.ARCHS) == {"mlp", "fcn", "resnet", "lstm"}
    assert all(isinstance(la, (Flatten, Dropout, Dense)) for la in tsc.mlp(2, (5, 1)).layers)
    assert isinstance(tsc.fcn(2, (5, 1)).layers[-2], GlobalAveragePooling1D)


# -- PyTorch as the oracle for the assembled networks ----------------------------------------------------------


class _TorchResidual(torch.nn.Module):
    def __init__(self, main, shortcut):
        super().__init__()
        self.main, self.shortcut = main, shortcut

    def forward(self, x):
        return self.main(x) + self.shortcut(x)


class _TorchGAP(torch.nn.Module):
    def forward(self, x):  # (N, C, T) -> (N, C)
        return x.mean(dim=2)


def to_torch(layers, pairs):
    """A torch.nn.Sequential in (N, C, T) layout with our weights; `pairs` collects (our grad, torch param)."""
    mods = []
    for la in layers:
        if isinstance(la, Conv1D):
            K, C_in, F = la.params["W"].shape
            m = torch.nn.Conv1d(C_in, F, K, padding="same", dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(la.params["W"].transpose(2, 1, 0).copy()))  # (F, C_in, K)
                m.bias.copy_(torch.from_numpy(la.params["b"]))
            pairs += [(la.grads["W"].transpose(2, 1, 0), m.weight), (la.grads["b"], m.bias)]
        elif isinstance(la, BatchNormalization):
            m = torch.nn.BatchNorm1d(la.params["gamma"].size, eps=la.epsilon, momentum=1 - la.momentum,
                                     dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(la.params["gamma"]))
                m.bias.copy_(torch.from_numpy(la.params["beta"]))
                m.running_mean.copy_(torch.from_numpy(la.state["moving_mean"]))
                m.running_var.copy_(torch.from_numpy(la.state["moving_var"]))
            pairs += [(la.grads["gamma"], m.weight), (la.grads["beta"], m.bias)]
        elif isinstance(la, ReLU):
            m = torch.nn.ReLU()
        elif isinstance(la, Residual):
            m = _TorchResidual(to_torch(la.main, pairs), to_torch(la.shortcut, pairs))
        elif isinstance(la, GlobalAveragePooling1D):
            m = _TorchGAP()
        elif isinstance(la, Dense):  # the softmax is inside torch's cross-entropy
            m = torch.nn.Linear(*la.params["W"].shape, dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(la.params["W"].T.copy()))
                m.bias.copy_(torch.from_numpy(la.params["b"]))
            pairs += [(la.grads["W"].T, m.weight), (la.grads["b"], m.bias)]
        else:
            pytest.fail(f"no torch twin for {la!r}")
        mods.append(m)
    return torch.nn.Sequential(*mods)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("build", [tsc.fcn, tsc.resnet])
def test_network_matches_pytorch(build):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 12, 2))  # (N, T, C)
    codes = np.array([0, 2, 1, 2, 0])
    model = build(3, (12, 2), seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    for la in model.layers:  # moving statistics away from 0 and 1, so inference mode is tested too
        for sub in getattr(la, "main", []) + getattr(la, "shortcut", []) + [la]:
            if isinstance(sub, BatchNormalization):
                C = sub.state["moving_mean"].size
                sub.state["moving_mean"][...] = rng.normal(size=C) * 0.1
                sub.state["moving_var"][...] = rng.uniform(0.5, 2.0, size=C)
    pairs = []
    net = to_torch(model.layers, pairs)
    x = torch.from_numpy(X.transpose(0, 2, 1).copy())  # (N, C, T)

    net.eval()
    with torch.no_grad():
        p_eval = torch.softmax(net(x), dim=1).numpy()
    np.testing.assert_allclose(model.predict(X), p_eval, rtol=1e-9, atol=1e-12,
                               err_msg="inference: ours (ACTUAL) vs torch (DESIRED)")

    net.train()
    logits = net(x)
    loss_t = torch.nn.functional.cross_entropy(logits, torch.from_numpy(codes))
    loss_t.backward()
    a = model.forward(X, training=True)
    Y = model.loss.prepare(codes, a.shape, np.float64)
    np.testing.assert_allclose(a, torch.softmax(logits, dim=1).detach().numpy(), rtol=1e-9, atol=1e-12)
    assert model.compute_loss(a, Y) == pytest.approx(loss_t.item(), rel=1e-10)
    model.backward(a, Y)
    assert len(pairs) == len(model.param_index)
    for i, (ours, theirs) in enumerate(pairs):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-7, atol=1e-10,
                                   err_msg=f"gradient {i}: ours (ACTUAL) vs torch (DESIRED)")


def test_lstm_network_matches_pytorch():
    # torch.nn.LSTM with weight_ih = Wᵀ, weight_hh = Uᵀ, bias_ih = b, bias_hh = 0 (same gate order i, f, g, o),
    # its last step into a Linear; the softmax sits inside torch's cross-entropy
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 9, 2))  # (N, T, C)
    codes = np.array([2, 0, 1, 2])
    model = tsc.lstm(3, (9, 2), units=5, seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    lstm, dense = model.layers
    rnn = torch.nn.LSTM(2, 5, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(5, 3, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(lstm.params["W"].T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(lstm.params["U"].T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(lstm.params["b"]))
        rnn.bias_hh_l0.zero_()
        head.weight.copy_(torch.from_numpy(dense.params["W"].T.copy()))
        head.bias.copy_(torch.from_numpy(dense.params["b"]))
    out, _ = rnn(torch.from_numpy(X))
    logits = head(out[:, -1])  # (N, 3) from h_T
    loss_t = torch.nn.functional.cross_entropy(logits, torch.from_numpy(codes))
    loss_t.backward()

    a = model.forward(X, training=True)
    np.testing.assert_allclose(a, torch.softmax(logits, dim=1).detach().numpy(), rtol=1e-10, atol=1e-13,
                               err_msg="forward: ours (ACTUAL) vs torch (DESIRED)")
    Y = model.loss.prepare(codes, a.shape, np.float64)
    assert model.compute_loss(a, Y) == pytest.approx(loss_t.item(), rel=1e-12)
    model.backward(a, Y)
    for ours, theirs, name in ((lstm.grads["W"], rnn.weight_ih_l0.grad.T, "W"),
                               (lstm.grads["U"], rnn.weight_hh_l0.grad.T, "U"),
                               (lstm.grads["b"], rnn.bias_ih_l0.grad, "b"),
                               (dense.grads["W"], head.weight.grad.T, "dense W"),
                               (dense.grads["b"], head.bias.grad, "dense b")):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-8, atol=1e-12,
                                   err_msg=f"gradient {name}: ours (ACTUAL) vs torch (DESIRED)")


def test_builders_and_train_take_a_device():
    import fakegpu

    fakegpu.install()
    for build in (tsc.mlp, tsc.fcn, tsc.resnet, tsc.lstm):
        assert build(3, (20, 1), seed=0, device="fakegpu").device == "fakegpu"
