"""The trace of batch normalization, Normalization, Dropout, residual blocks and Embedding.

Oracles: LibreOffice headless recalculates each case's workbook (written with wrong, 0, cached values; one
run for all of them) and every defined name must equal the engine's number to relative 1e-9; the gradients of
every parameter in the JSON (``d<P>``) must equal PyTorch's autograd on the same network with the trace's own
starting weights, batch and dropout masks (float64) to relative 1e-10.
"""

import io
import json

import numpy as np
import openpyxl
import pytest
import torch
import torch.nn.functional as F
from test_xlsx import first_cell, max_rel_diff, named_values, recalculate

import glassnet as gn
from glassnet.layers import (
    BatchNormalization,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    GlobalAveragePooling1D,
    Normalization,
    ReLU,
    Residual,
)
from glassnet.trace import Trace, record
from glassnet.trace.kinds import norm
from glassnet.trace.xlsx import to_xlsx

torch.set_num_threads(1)
RTOL_TORCH = 1e-10


def _rng(seed):
    return np.random.default_rng(seed)


def bn2d():
    model = gn.Sequential([Dense(4, use_bias=False), BatchNormalization(momentum=0.9), ReLU(), Dense(2)], seed=1,
                          dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=0.1, momentum=0.5))
    return model, _rng(0).normal(size=(6, 3)), _rng(1).normal(size=(6, 2)), {"steps": 3, "batch_size": 3}


def bn3d():  # (N, L, C) sequences; no gamma: the scale is left out
    model = gn.Sequential([Dense(3, use_bias=False), BatchNormalization(momentum=0.8, scale=False),
                           Dense(1, activation="tanh")], seed=2, dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.Adam(learning_rate=0.05))
    return model, _rng(2).normal(size=(4, 5, 2)), _rng(3).normal(size=(4, 5, 1)), {"steps": 2, "batch_size": 2}


def bn4d():  # (N, H, W, C) images, batch norm first (it sends dA0 back: it is the first layer with weights)
    model = gn.Sequential([BatchNormalization(momentum=0.5, center=False, epsilon=0.01), Dense(2, activation="relu"),
                           Dense(1)], seed=3, dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=0.2))
    return model, _rng(4).normal(1.0, 2.0, size=(3, 3, 3, 2)), _rng(5).normal(size=(3, 3, 3, 1)), {"steps": 2}


def dropout():
    model = gn.Sequential([Dense(5, activation="tanh"), Dropout(0.4), Dense(4, activation="relu"), Dropout(0.25),
                           Dense(1, activation="sigmoid")], seed=4, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(learning_rate=0.5))
    y = (_rng(7).random((6, 1)) > 0.5).astype(np.float64)
    return model, _rng(6).normal(size=(6, 3)), y, {"steps": 3, "batch_size": 3}


def normalization():  # fixed statistics: first, in the middle (its backward is traced) and inverted at the end
    model = gn.Sequential([Normalization(mean=[1.0, 2.0], variance=[4.0, 0.25]), Dense(3, activation="tanh"),
                           Normalization(mean=[0.1, -0.2, 0.3], variance=[2.0, 0.5, 1.0]), Dense(1),
                           Normalization(mean=3.0, variance=4.0, invert=True)], seed=5, dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=0.1, momentum=0.9))
    return model, _rng(8).normal([1, 2], [2, 0.5], size=(5, 2)), _rng(9).normal(3, 2, size=(5, 1)), {"steps": 2}


def residual():  # a projection shortcut with a batch norm and an L2 penalty inside, then an identity block
    main = [Dense(4, activation="relu", kernel_regularizer=gn.regularizers.L2(0.01)), BatchNormalization(), Dense(3)]
    model = gn.Sequential([Dense(3), Residual(main=main, shortcut=[Dense(3, use_bias=False)]),
                           Residual(main=[Dense(3, activation="tanh")]), Dense(1)], seed=6, dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.Adam(learning_rate=0.05))
    return model, _rng(10).normal(size=(6, 2)), _rng(11).normal(size=(6, 1)), {"steps": 2, "batch_size": 3}


def embedding():  # repeated ids add up in dE; id 5 is never met
    model = gn.Sequential([Embedding(6, 3), Dense(2, activation="tanh"), Dense(1)], seed=7, dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=0.5))
    ids = np.array([[1, 2, 1, 0], [4, 4, 3, 1], [0, 2, 2, 2], [3, 1, 0, 4]])
    return model, ids, _rng(12).normal(size=(4, 4, 1)), {"steps": 2, "batch_size": 2}


def nested():  # a block inside a block; a batch norm without gamma and beta; dropout of rate 0 and 0.5
    inner = Residual(main=[Dense(3, activation="tanh"), BatchNormalization(center=False, scale=False)],
                     shortcut=[Dense(3)])
    model = gn.Sequential([Dense(3), Residual(main=[inner, Dropout(0.0), Dense(3)]), Dropout(0.5), Dense(1)], seed=9,
                          dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=0.1, momentum=0.9))
    return model, _rng(14).normal(size=(5, 2)), _rng(15).normal(size=(5, 1)), {"steps": 2}


def resnet_block():  # Wang et al.'s ResNet in small: convolutions and batch norms inside the block, GAP, softmax
    main = [BatchNormalization(), Conv1D(3, 3, padding="same", use_bias=False), BatchNormalization(momentum=0.9),
            ReLU(), Conv1D(3, 3, padding="same", use_bias=False), BatchNormalization()]
    shortcut = [Conv1D(3, 1, use_bias=False), BatchNormalization()]
    model = gn.Sequential([Residual(main=main, shortcut=shortcut), ReLU(), GlobalAveragePooling1D(),
                           Dense(2, activation="softmax")], seed=8, dtype="float64")
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.Adam(learning_rate=0.01))
    y = np.eye(2)[[0, 1, 1, 0]]
    return model, _rng(13).normal(size=(4, 6, 2)), y, {"steps": 2, "batch_size": 2}


CASES = {f.__name__: f for f in (bn2d, bn3d, bn4d, dropout, normalization, residual, embedding, nested,
                                            resnet_block)}
EDIT = 0.25  # the edited starting weight W1[0, 0] of bn2d


def edited_bn2d():
    model, X, y, kw = bn2d()
    model.build(X.shape[1:])
    model.layers[0].params["W"][0, 0] = EDIT
    return model, X, y, kw


@pytest.fixture(scope="module")
def traces():
    out = {}
    for name, make in CASES.items():
        model, X, y, kw = make()
        out[name] = record(model, X, y, **kw)
    return out


@pytest.fixture(scope="module")
def recalculated(traces, tmp_path_factory):
    """Every case's workbook, bn4d also with the channel sums written as SUMPRODUCT, and bn2d with an edited
    starting weight: recalculated by one LibreOffice run."""
    root = tmp_path_factory.mktemp("kind_norm")
    paths = []
    for name, trace in traces.items():
        paths.append(root / f"{name}.xlsx")
        to_xlsx(trace, paths[-1], cached_values=False)
    saved, norm.MAX_RANGES = norm.MAX_RANGES, 1
    try:
        paths.append(root / "bn4d_sumproduct.xlsx")
        to_xlsx(traces["bn4d"], paths[-1], cached_values=False)
    finally:
        norm.MAX_RANGES = saved
    wb = openpyxl.load_workbook(root / "bn2d.xlsx")
    ws, cell = first_cell(wb, "s1_W1")
    ws[cell] = EDIT
    paths.append(root / "bn2d_edited.xlsx")
    wb.save(paths[-1])
    out = recalculate(paths, root / "out", str(root / "profile"))
    return {p.stem: o for p, o in zip(paths, out)}


@pytest.mark.parametrize("case", list(CASES))
def test_libreoffice_recalculates_every_name_to_the_engines_number(traces, recalculated, case):
    worst, where = max_rel_diff(named_values(recalculated[case]), traces[case])
    print(f"LibreOffice vs engine, {case}: largest relative difference {worst:.2e} ({where})")


def test_channel_sums_beyond_the_argument_limit_recalculate_too(traces, recalculated):
    saved, norm.MAX_RANGES = norm.MAX_RANGES, 1
    try:
        data = to_xlsx(traces["bn4d"], cached_values=False)
    finally:
        norm.MAX_RANGES = saved
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws, cell = first_cell(wb, "s1_batch_mean1")
    assert "SUMPRODUCT((MOD(COLUMN(" in ws[cell].value
    worst, where = max_rel_diff(named_values(recalculated["bn4d_sumproduct"]), traces["bn4d"])
    print(f"LibreOffice vs engine, bn4d with SUMPRODUCT channel sums: {worst:.2e} ({where})")


def test_an_edited_starting_weight_recomputes_the_chain_like_the_engine(traces, recalculated):
    model, X, y, kw = edited_bn2d()
    expected = record(model, X, y, **kw)
    worst, where = max_rel_diff(named_values(recalculated["bn2d_edited"]), expected)
    print(f"LibreOffice (edited W1[0, 0]) vs engine re-run: {worst:.2e} ({where})")
    # the edit reached the last step's moving statistics
    assert not np.array_equal(expected.steps[-1]["moving_mean2_new"].value,
                              traces["bn2d"].steps[-1]["moving_mean2_new"].value)


# -- PyTorch ---------------------------------------------------------------------------------------------------

ACTS = {"linear": lambda z: z, "relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _torch_layer(layer, x, sfx, P, step, logits):
    """Our layer ``layer`` (names ending in ``sfx``) on torch tensor ``x``; ``P`` holds the parameters."""
    if isinstance(layer, Dense):
        z = x @ P[f"W{sfx}"] + (P[f"b{sfx}"] if layer.use_bias else 0)
        return z if logits else ACTS[layer.activation.key](z)
    if isinstance(layer, Conv1D):  # our kernel (K, C_in, C_out) is torch's (C_out, C_in, K) transposed
        z = F.conv1d(x.movedim(-1, 1), P[f"W{sfx}"].permute(2, 1, 0), padding=layer.padding).movedim(1, -1)
        return ACTS[layer.activation.key](z + (P[f"b{sfx}"] if layer.use_bias else 0))
    if isinstance(layer, GlobalAveragePooling1D):
        return x.mean(dim=1)
    if isinstance(layer, ReLU):
        return F.relu(x)
    if isinstance(layer, BatchNormalization):  # torch's own batch norm, channels moved to axis 1
        C = x.shape[-1]
        w = P[f"gamma{sfx}"] if layer.scale else torch.ones(C, dtype=x.dtype)
        b = P[f"beta{sfx}"] if layer.center else torch.zeros(C, dtype=x.dtype)
        return F.batch_norm(x.movedim(-1, 1), None, None, w, b, training=True, eps=layer.epsilon).movedim(1, -1)
    if isinstance(layer, Dropout) and layer.rate == 0:
        return x
    if isinstance(layer, Dropout):
        return x * torch.tensor(step[f"mask{sfx}"].value) * (1 / (1 - layer.rate))
    if isinstance(layer, Normalization):
        mean, var = (torch.tensor(step[f"{key}{sfx}"].value) for key in ("mean", "variance"))
        std = torch.clamp(torch.sqrt(var), min=1e-7)
        return mean + x * std if layer.invert else (x - mean) / std
    if isinstance(layer, Residual):
        a = x
        for i, sub in enumerate(layer.main, 1):
            a = _torch_layer(sub, a, f"{sfx}m{i}", P, step, False)
        s = x
        for i, sub in enumerate(layer.shortcut, 1):
            s = _torch_layer(sub, s, f"{sfx}s{i}", P, step, False)
        return a + s
    if isinstance(layer, Embedding):
        return P[f"E{sfx}"][torch.as_tensor(step["A0"].value, dtype=torch.long)]
    raise AssertionError(f"no torch twin for {type(layer).__name__}")


def _penalties(model):
    """{trace name: regularizer} for every regularized parameter (here: inside Residual blocks only)."""
    out = {}
    for k, layer in enumerate(model.layers, 1):
        for key, reg in getattr(layer, "regularizers", {}).items():
            if reg is not None:
                branch, i, p = key.split(".")
                out[f"{p}{k}{branch[0]}{int(i) + 1}"] = reg
    return out


def torch_gradients(model, step):
    """PyTorch's gradients of the step's loss for every parameter, from the step's own starting weights."""
    P = {name: torch.tensor(v, requires_grad=True) for name, v in step.params_before.items()}
    bce = isinstance(model.loss, gn.losses.BinaryCrossEntropy)
    cce = isinstance(model.loss, gn.losses.CategoricalCrossEntropy)
    a = torch.tensor(step["A0"].value, dtype=torch.float64)
    for k, layer in enumerate(model.layers, 1):
        a = _torch_layer(layer, a, str(k), P, step, (bce or cce) and k == len(model.layers))
    y = torch.tensor(step["Y"].value)
    if cce:
        loss = -(y * F.log_softmax(a, dim=-1)).sum(dim=-1).mean()
    else:
        loss = F.binary_cross_entropy_with_logits(a, y) if bce else F.mse_loss(a, y)
    for name, reg in _penalties(model).items():
        loss = loss + reg.l2 * (P[name] ** 2).sum() + reg.l1 * P[name].abs().sum()
    loss.backward()
    return {name: t.grad.numpy() for name, t in P.items()}, loss.item()


@pytest.mark.parametrize("case", list(CASES))
def test_json_gradients_equal_pytorch(traces, case):
    model = CASES[case]()[0]  # a fresh model of the same architecture: torch reads only the trace's numbers
    trace = Trace.from_dict(json.loads(traces[case].to_json()))
    worst = 0.0
    for step in trace.steps:
        grads, loss = torch_gradients(model, step)
        assert abs(loss - step.loss) <= 1e-12 * abs(loss), (case, step.step, loss, step.loss)
        for name, theirs in grads.items():
            ours = step[f"d{name}"].value
            rel = np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-300)
            worst = max(worst, rel)
            assert rel <= RTOL_TORCH, f"{case} step {step.step} d{name}: ours\n{ours}\ntorch\n{theirs}"
    print(f"PyTorch vs trace, {case}: largest relative difference of the gradients {worst:.2e}")


# -- what each kind records --------------------------------------------------------------------------------------

def test_batch_norm_records_the_engines_statistics_and_moving_averages(traces):
    trace = traces["bn2d"]
    for step in trace.steps:
        x = step["A1"].value
        np.testing.assert_array_equal(step["batch_mean2"].value, x.mean(axis=0))
        np.testing.assert_array_equal(step["xhat2"].value, (x - x.mean(axis=0)) * step["istd2"].value)
        np.testing.assert_array_equal(step["moving_mean2_new"].value, step.buffers_after["moving_mean2"])
        np.testing.assert_array_equal(step["moving_var2_new"].value, step.buffers_after["moving_var2"])
    for before, after in zip(trace.steps, trace.steps[1:]):  # the chain across steps
        np.testing.assert_array_equal(after["moving_mean2"].value, before["moving_mean2_new"].value)
    shapes = {name: traces[name].steps[0]["xhat" + k].value.shape for name, k in
              (("bn2d", "2"), ("bn3d", "2"), ("bn4d", "1"))}
    assert shapes == {"bn2d": (3, 4), "bn3d": (2, 5, 3), "bn4d": (3, 3, 3, 2)}
    assert traces["bn4d"].steps[0]["batch_mean1"].value.shape == (2,)
    layer = traces["bn3d"].network["layers"][1]
    assert layer["momentum"] == 0.8 and layer["scale"] is False and layer["channels"] == 3


def test_dropout_records_the_mask_it_drew(traces):
    trace = traces["dropout"]
    masks = []
    for step in trace.steps:
        mask = step["mask2"].value
        assert set(np.unique(mask)) <= {0.0, 1.0} and step["mask2"].kind == "input"
        np.testing.assert_array_equal(step["A2"].value, step["A1"].value * mask * (1 / (1 - 0.4)))
        np.testing.assert_array_equal(step["dA1"].value, step["dA2"].value * mask * (1 / (1 - 0.4)))
        masks.append(mask)
    assert not np.array_equal(masks[0], masks[1])  # a new draw at every step
    assert 0 < masks[0].mean() < 1


def test_residual_names_follow_the_recorders_parameter_names(traces):
    step = traces["residual"].steps[0]
    names = [q.name for q in step.quantities]
    for name in ("W2m1", "b2m1", "gamma2m2", "moving_mean2m2", "W2m3", "W2s1", "W3m1", "A2m1", "A2m3", "A2s1",
                 "moving_mean2m2_new", "dW2m1_data", "dW2m1_reg", "dW2m1", "dgamma2m2", "dA2m0", "dA2s0", "dA1",
                 "dA3m0", "W2m1_new", "m_W2s1_new"):
        assert name in names, name
    assert set(step.params_before) >= {"W2m1", "gamma2m2", "W2s1", "W3m1"}
    np.testing.assert_array_equal(step["A2"].value, step["A2m3"].value + step["A2s1"].value)
    np.testing.assert_array_equal(step["dA1"].value, step["dA2m0"].value + step["dA2s0"].value)
    np.testing.assert_array_equal(step["A3"].value, step["A3m1"].value + step["A2"].value)  # identity shortcut
    block = traces["residual"].network["layers"][1]
    assert [e["layer"] for e in block["main"]] == ["2m1", "2m2", "2m3"] and block["shortcut"][0]["layer"] == "2s1"
    assert "Residual[" in traces["residual"].network["summary"]


def test_embedding_looks_up_rows_and_adds_their_gradients(traces):
    step = traces["embedding"].steps[0]
    ids, E = step["A0"].value, step["E1"].value
    assert ids.dtype.kind == "i"
    np.testing.assert_array_equal(step["A1"].value, E[ids])
    dE = np.zeros_like(E)
    np.add.at(dE, ids.ravel(), step["dA1"].value.reshape(-1, 3))
    np.testing.assert_array_equal(step["dE1"].value, dE)
    assert not step["dE1"].value[5].any()  # id 5 is in no row of this batch


def test_normalization_is_traced_with_its_buffers(traces):
    step = traces["normalization"].steps[0]
    assert {"mean1", "variance1", "std1", "mean3", "variance3", "std3", "dA2", "mean5", "std5"} <= {
        q.name for q in step.quantities}
    assert "dA0" not in {q.name for q in step.quantities}  # the first layer with weights is layer 2
    np.testing.assert_array_equal(step["std3"].value, np.sqrt([2.0, 0.5, 1.0]))


@pytest.mark.parametrize("case", list(CASES))
def test_text_json_and_html_lay_out_every_case(traces, case):
    trace = traces[case]
    text = str(trace)
    back = Trace.from_dict(json.loads(trace.to_json()))
    assert json.loads(back.to_json()) == json.loads(trace.to_json())  # Embedding's ids come back as float64
    for s, b in zip(trace.steps, back.steps):
        for q in s.quantities:
            np.testing.assert_array_equal(b[q.name].value, q.value)
    names = {"bn2d": "xhat2", "bn3d": "batch_var2", "bn4d": "istd1", "dropout": "mask4", "normalization": "std3",
             "residual": "A2m3", "embedding": "dE1", "nested": "dA2m1m0",
             "resnet_block": "xhat1m3"}
    assert names[case] in text
    html = trace.to_html()
    assert names[case] in html and "<html" in html.lower()
