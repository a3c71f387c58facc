"""The trace of convolutions, pooling and reshaping: LibreOffice and PyTorch as oracles.

Every workbook is written with wrong (0) cached values and recalculated by LibreOffice headless (one run for
all of them); every defined name must equal the engine's number to relative 1e-9. The gradients the trace
records for every parameter (``dW1``, ``db1``...) must equal PyTorch's autograd on the same network with
copied weights to relative 1e-10 (float64), at every step (each step's weights are its ``params_before``).
"""

import json
import re

import numpy as np
import openpyxl
import pytest
import torch
import torch.nn.functional as F
from test_xlsx import first_cell, max_rel_diff, named_values, recalculate

import glassnet as gn
from glassnet.trace import PRESETS, Trace, preset, record
from glassnet.trace.xlsx import to_xlsx

torch.set_num_threads(1)
L = gn.layers


def _compiled(layers, loss, optimizer, seed=0):
    return gn.Sequential(layers, seed=seed, dtype="float64").compile(loss=loss, optimizer=optimizer)


def _onehot(codes, k):
    return np.eye(k)[codes]


def conv1d_case():
    """Causal dilated, strided "same", both poolings with padding, global average pooling; mini-batches."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(4, 7, 2)), _onehot([0, 1, 1, 0], 2)
    model = _compiled([L.Conv1D(3, 3, padding="causal", dilation_rate=2, activation="tanh"),
                       L.Conv1D(2, 2, strides=2, padding="same", activation="leaky_relu"),
                       L.MaxPool1D(3, strides=1, padding="same"), L.AveragePool1D(3, strides=2, padding="same"),
                       L.GlobalAveragePooling1D(), L.Dense(2, activation="softmax")],
                      "categorical_crossentropy", gn.optimizers.Adam(0.05))
    return model, X, y


def conv2d_case():
    """Strided "same" Conv2D with a ReLU, max pooling with padding, Flatten, a softmax Dense."""
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(3, 6, 5, 2)), _onehot([0, 2, 1], 3)
    model = _compiled([L.Conv2D(3, (3, 2), strides=(2, 1), padding="same", activation="relu"),
                       L.MaxPool2D(2, padding="same"), L.Flatten(), L.Dense(3, activation="softmax")],
                      "categorical_crossentropy", gn.optimizers.SGD(0.1, momentum=0.9))
    return model, X, y


def reshape_case():
    """Reshape first (it sends dA0 back), a dilated Conv2D without bias, average pooling, GAP2D, MSE."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(3, 24)), rng.normal(size=(3, 1))
    model = _compiled([L.Reshape((6, 4, 1)), L.Conv2D(2, 2, dilation_rate=(1, 2), activation="sigmoid",
                                                      use_bias=False),
                       L.AveragePool2D(2, strides=1), L.GlobalAveragePooling2D(), L.Dense(1)],
                      "mse", gn.optimizers.SGD(0.5))
    return model, X, y


def softmax_output_case():
    """A Conv1D softmax output over every time step: the loss's gradient fused with it (dZ2 given)."""
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(3, 5, 2)), _onehot(rng.integers(0, 3, size=(3, 5)), 3)
    model = _compiled([L.Conv1D(3, 3, padding="same", activation="tanh"), L.Conv1D(3, 1, activation="softmax")],
                      "categorical_crossentropy", gn.optimizers.SGD(0.2))
    return model, X, y


def sigmoid_output_case():
    """A Conv2D sigmoid output with binary cross-entropy (fused), after a Conv2D with a linear activation."""
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(2, 4, 4, 1)), rng.integers(0, 2, size=(2, 3, 3, 1)).astype(float)
    model = _compiled([L.Conv2D(2, 2, padding="same"), L.Conv2D(1, 2, activation="sigmoid")],
                      "binary_crossentropy", gn.optimizers.SGD(0.3))
    return model, X, y


def ties_case():
    """Max pooling of a 1×1 convolution of integer images, full of ties: each window's first maximum gets dA."""
    X = np.random.default_rng(6).integers(0, 3, size=(3, 4, 4, 1)).astype(float)
    model = _compiled([L.Conv2D(1, 1), L.MaxPool2D(2, strides=1), L.Flatten(), L.Dense(2, activation="softmax")],
                      "categorical_crossentropy", gn.optimizers.SGD(0.1))
    return model, X, _onehot([0, 1, 0], 2)


def residual_case():
    """Wang et al.'s ResNet block in small: Conv1D, BatchNormalization, ReLU and max pooling inside a Residual,
    a 1×1 Conv1D on the shortcut."""
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(3, 6, 2)), _onehot([0, 1, 0], 2)
    block = L.Residual(main=[L.Conv1D(3, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
                             L.MaxPool1D(2, strides=1, padding="same")], shortcut=[L.Conv1D(3, 1)])
    model = _compiled([L.Conv1D(3, 3, padding="same", activation="relu"), block, L.GlobalAveragePooling1D(),
                       L.Dense(2, activation="softmax")], "categorical_crossentropy", gn.optimizers.Adam(0.01))
    return model, X, y


CASES = {  # name: (model, X, y), record() arguments
    "conv1d": (conv1d_case, {"steps": 3, "batch_size": 2}),
    "conv2d": (conv2d_case, {"steps": 2}),
    "reshape": (reshape_case, {"steps": 2}),
    "softmax_output": (softmax_output_case, {"steps": 2}),
    "sigmoid_output": (sigmoid_output_case, {"steps": 2}),
    "ties": (ties_case, {"steps": 2}),
    "cnn-tiny": (lambda: preset("cnn-tiny"), {"steps": 2}),
    "fcn-tiny": (lambda: preset("fcn-tiny"), {"steps": 3, "batch_size": 4}),
    "residual": (residual_case, {"steps": 2}),  # (no PyTorch twin of Residual below: the workbook checks it)
}
OP_KIND = {"conv": "Conv", "conv_dW": "Conv", "conv_dx": "Conv", "max_pool": "MaxPool", "max_pool_backward": "MaxPool",
           "average_pool": "AveragePool", "average_pool_backward": "AveragePool", "global_avg_pool": "GAP",
           "global_avg_pool_backward": "GAP", "reshape": "Flatten/Reshape"}
EDITED = (0, 1, 0, 1)  # the index of W1 edited in the cnn-tiny workbook


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """(traces, folder of the written workbooks, {case: recalculated workbook}): every case written with 0 cached
    values, plus cnn-tiny with one starting weight edited; one LibreOffice run for all."""
    root = tmp_path_factory.mktemp("kind_conv")
    traces, paths = {}, []
    for name, (make, kw) in CASES.items():
        traces[name] = record(*make(), **kw)
        paths.append(root / f"{name}.xlsx")
        to_xlsx(traces[name], paths[-1], cached_values=False)
    wb = openpyxl.load_workbook(root / "cnn-tiny.xlsx")  # a user edits one starting weight of the kernel
    ws, cell = first_cell(wb, "s1_W1")
    first = openpyxl.utils.cell.coordinate_from_string(cell)
    W1 = traces["cnn-tiny"].steps[0]["W1"].value
    row, col = EDITED[0], int(np.ravel_multi_index(EDITED[1:], W1.shape[1:]))
    ws.cell(row=first[1] + row, column=openpyxl.utils.column_index_from_string(first[0]) + col).value = 0.75
    wb.save(root / "cnn-tiny_edited.xlsx")
    paths.append(root / "cnn-tiny_edited.xlsx")
    out = recalculate(paths, root / "out", str(root / "profile"))
    return traces, root, dict(zip([p.stem for p in paths], out))


@pytest.mark.parametrize("case", list(CASES))
def test_libreoffice_recalculates_every_name_to_the_engines_number(traced, case):
    traces, _, out = traced
    trace = traces[case]
    got = named_values(out[case])
    expected = {f"s{s.step}_{q.name}" for s in trace.steps for q in s.quantities}
    assert expected <= set(got)
    worst, where = max_rel_diff(got, trace)
    kinds = {}  # this family's ops, by layer kind: the numbers the closing note reports
    for s in trace.steps:
        for q in s.quantities:
            if q.op in OP_KIND:
                ours = got[f"s{s.step}_{q.name}"].astype(np.float64).ravel()
                theirs = np.asarray(q.value, dtype=np.float64).ravel()
                rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)
                kinds[OP_KIND[q.op]] = max(kinds.get(OP_KIND[q.op], 0.0), float(np.max(rel, initial=0.0)))
    print(f"{case}: max relative difference workbook (LibreOffice) vs engine = {worst:.3e} at {where}; by kind: "
          + ", ".join(f"{k} {v:.2e}" for k, v in sorted(kinds.items())))


def test_edited_kernel_weight_recomputes_the_chain(traced):
    traces, _, out = traced
    model, X, y = preset("cnn-tiny")
    weights = model.get_weights()
    weights[0][EDITED] = 0.75
    model.set_weights(weights)
    trace = record(model, X, y, **CASES["cnn-tiny"][1])
    got = named_values(out["cnn-tiny_edited"])
    worst, where = max_rel_diff(got, trace)
    before = traces["cnn-tiny"].steps[-1]["W1_new"].value
    assert not np.allclose(got["s2_W1_new"].astype(float).reshape(before.shape), before)
    print(f"cnn-tiny, W1{list(EDITED)} edited: max relative difference vs the engine re-run = {worst:.3e} at {where}")


def test_max_pool_ties_go_to_the_first_maximum_as_the_engine_does(traced):
    traces, _, _ = traced
    step = traces["ties"].steps[0]
    x, a, da, dx = (step[n].value for n in ("A1", "A2", "dA2", "dA1"))
    ties = 0
    for n, i, j in np.ndindex(*a.shape[:3]):  # window (i, j) of sample n: 2×2 cells from (i, j), stride 1
        window = x[n, i:i + 2, j:j + 2, 0].ravel()
        ties += int((window == window.max()).sum() > 1)
    assert ties >= 5  # the case really has ties
    expected = np.zeros_like(x)  # routed by hand: the first maximal cell in row-major window order
    for n, i, j in np.ndindex(*a.shape[:3]):
        p = int(np.argmax(x[n, i:i + 2, j:j + 2, 0].ravel() == a[n, i, j, 0]))
        expected[n, i + p // 2, j + p % 2, 0] += da[n, i, j, 0]
    np.testing.assert_allclose(dx, expected, rtol=1e-15, atol=0)


# -- PyTorch -----------------------------------------------------------------------------------------------

TORCH_ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z,
             "softmax": lambda z: torch.softmax(z, -1)}


def _act(info, z):
    if info["activation"] == "leaky_relu":
        return F.leaky_relu(z, info["alpha"])
    return TORCH_ACT[info["activation"]](z)


def _channels_first(x, rank):
    return x.permute(0, rank + 1, *range(1, rank + 1))


def _channels_last(x, rank):
    return x.permute(0, *range(2, rank + 2), 1)


def _pad(x, pads, value=0.0):  # pads: [(before, after)] per spatial axis; F.pad wants the last axis first
    return F.pad(x, [p for lo_hi in reversed(pads) for p in lo_hi], value=value)


def _conv(info, x, P, k):
    rank = len(info["kernel_size"])
    W = P[f"W{k}"]  # (*K, C_in, F) -> (F, C_in, *K)
    w = W.permute(rank + 1, rank, *range(rank)).contiguous()
    xp = _pad(_channels_first(x, rank), info["pads"])
    conv = F.conv1d if rank == 1 else F.conv2d
    z = conv(xp, w, P.get(f"b{k}"), stride=info["strides"], dilation=info["dilation_rate"])
    return _channels_last(z, rank)


def _pool(info, x):
    rank = len(info["pool_size"])
    xc = _channels_first(x, rank)
    if info["mode"] == "max":
        pool = F.max_pool1d if rank == 1 else F.max_pool2d
        out = pool(_pad(xc, info["pads"], -torch.inf), info["pool_size"], info["strides"])
    else:  # padded cells not counted: window sums over the real cells' count
        pool = F.avg_pool1d if rank == 1 else F.avg_pool2d
        area = float(np.prod(info["pool_size"]))
        sums = pool(_pad(xc, info["pads"]), info["pool_size"], info["strides"]) * area
        counts = pool(_pad(torch.ones_like(xc), info["pads"]), info["pool_size"], info["strides"]) * area
        out = sums / counts
    return _channels_last(out, rank)


def torch_loss(trace, step):
    """PyTorch's loss of the traced network at ``step``'s starting weights, and those weights as leaf tensors."""
    net = trace.network
    P = {k: torch.tensor(v, requires_grad=True) for k, v in step.params_before.items()}
    buffers = step.buffers_before
    x = torch.tensor(step["A0"].value)
    z = None
    for info in net["layers"]:
        k, kind = info["layer"], info["kind"]
        if kind in ("Conv1D", "Conv2D"):
            z = _conv(info, x, P, k)
            x = _act(info, z)
        elif kind == "Dense":
            z = x @ P[f"W{k}"] + P.get(f"b{k}", 0)
            x = _act(info, z)
        elif kind in ("MaxPool1D", "MaxPool2D", "AveragePool1D", "AveragePool2D"):
            x = _pool(info, x)
        elif kind.startswith("GlobalAveragePooling"):
            x = x.mean(dim=tuple(range(1, x.dim() - 1)))
        elif kind in ("Flatten", "Reshape"):
            x = x.reshape(x.shape[0], *info["output_shape"])
        elif kind == "BatchNormalization":
            dims = tuple(range(x.dim() - 1))
            mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
            assert f"moving_mean{k}" in buffers
            x = (x - mean) / torch.sqrt(var + info.get("epsilon", 1e-3)) * P[f"gamma{k}"] + P[f"beta{k}"]
        elif kind == "ReLU":
            x = torch.relu(x)
        else:
            raise AssertionError(f"no PyTorch twin for {kind}")
    y = torch.tensor(step["Y"].value)
    if net["loss"] == "categorical_crossentropy":
        rows = y.numel() // y.shape[-1]
        loss = -(y * torch.log_softmax(z, -1)).sum() / rows
    elif net["loss"] == "binary_crossentropy":
        loss = F.binary_cross_entropy_with_logits(z, y)
    else:
        loss = ((x - y) ** 2).mean()
    return loss, P


def torch_differences(trace) -> dict:
    """{layer kind: the largest difference between a ``d<P>`` and PyTorch's autograd, relative to the array's
    largest magnitude}, over every parameter of every step."""
    worst = {}
    kind = {info["layer"]: info["kind"] for info in trace.network["layers"]}
    for step in trace.steps:
        loss, P = torch_loss(trace, step)
        np.testing.assert_allclose(loss.item(), step.loss, rtol=1e-12)
        loss.backward()
        for name, p in P.items():
            ours, theirs = step[f"d{name}"].value, p.grad.numpy()
            rel = np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-300)
            assert rel <= 1e-10, f"step {step.step}, d{name}: ours vs PyTorch, relative {rel:.2e}\n{ours}\n{theirs}"
            k = kind[int(re.search(r"\d+$", name).group())]
            worst[k] = max(worst.get(k, 0.0), float(rel))
    return worst


@pytest.mark.parametrize("case", [c for c in CASES if c != "residual"])
def test_every_parameters_gradient_equals_pytorch_autograd(traced, case):
    traces, _, _ = traced
    trace = Trace.from_dict(json.loads(traces[case].to_json()))  # the JSON's numbers
    worst = torch_differences(trace)
    print(f"{case}: max relative difference of every d<P> vs PyTorch, by the parameter's layer kind: "
          + ", ".join(f"{k} {v:.2e}" for k, v in sorted(worst.items())))


# -- text, JSON, HTML, the preset ----------------------------------------------------------------------------

def test_text_json_round_trip_and_html(traced, tmp_path):
    traces, written, _ = traced
    for name, trace in traces.items():
        back = Trace.from_dict(json.loads(trace.to_json()))
        assert str(back) == str(trace)
        for s, t in zip(trace.steps, back.steps):
            assert s.names() == t.names()
            for q in s.quantities:
                assert t[q.name].value.shape == np.shape(q.value) and np.array_equal(t[q.name].value, q.value)
        page = trace.to_html()
        assert all(f'"name":"d{p}"' in page for p in trace.steps[0].params_before), name
    back = Trace.from_dict(json.loads(traces["conv1d"].to_json()))  # attrs come back as lists: the same formulas
    to_xlsx(back, tmp_path / "back.xlsx", cached_values=False)
    ours, theirs = (named_values(p, data_only=False) for p in (tmp_path / "back.xlsx", written / "conv1d.xlsx"))
    assert ours.keys() == theirs.keys()
    text_of = np.vectorize(lambda v: getattr(v, "text", v), otypes=[object])  # an array formula's text
    assert all(np.array_equal(text_of(ours[k]), text_of(theirs[k])) for k in ours)
    text = str(traces["conv2d"])
    assert "Z1 = conv(A0, W1) + b1   (3×3×5×3)" in text and "A2 = max_pool(A1)   (3×2×3×3)" in text
    assert "dA1 = dA2 routed to each window's argmax in A1" in text
    layers = traces["conv1d"].network["layers"]
    assert layers[0]["kernel_size"] == [3] and layers[0]["dilation_rate"] == [2] and layers[0]["pads"] == [[4, 0]]
    assert layers[2]["pool_size"] == [3] and layers[2]["mode"] == "max" and layers[3]["pads"] == [[0, 1]]


def test_conv_presets_are_listed_and_seeded():
    assert {"cnn-tiny", "fcn-tiny"} <= set(PRESETS)
    model, X, _ = preset("cnn-tiny")
    assert X.shape[1:] == (6, 6, 1) and model.dtype == np.float64
    np.testing.assert_array_equal(preset("cnn-tiny")[0].get_weights()[0], model.get_weights()[0])
    assert not np.array_equal(preset("cnn-tiny", seed=5)[0].get_weights()[0], model.get_weights()[0])
    model, X, _ = preset("fcn-tiny")
    assert X.ndim == 3 and [type(la).__name__ for la in model.layers] == [
        "Conv1D", "BatchNormalization", "ReLU", "GlobalAveragePooling1D", "Dense"]


def test_a_too_long_formula_is_refused_with_its_size(tmp_path):
    model = _compiled([L.Conv1D(1, 2), L.GlobalAveragePooling1D(), L.Dense(1)], "mse", gn.optimizers.SGD(0.1))
    X, y = np.random.default_rng(0).normal(size=(2, 600, 3)), np.zeros((2, 1))
    trace = record(model, X, y)
    with pytest.raises(gn.ExportError, match=r"the formula of dW1 at \(0, 0, 0\) would be [\d,]+ characters, more "
                                             r"than a workbook cell holds \(8,192\); trace fewer rows"):
        trace.to_xlsx(tmp_path / "long.xlsx", max_cells=10**7)
    assert not list(tmp_path.iterdir())  # nothing written
