"""Trace of models from `glassnet train` (Normalization layers), --max-cells, the too-big advice, no "W1 = W1"."""

import json
import re

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.main import main
from glassnet.data import write_csv
from glassnet.layers import Dense, Normalization
from glassnet.trace import from_json, preset, record
from glassnet.trace.xlsx import count_cells


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_trace_a_model_from_glassnet_train(tmp_path, capsys, task):
    rng = np.random.default_rng(0)
    X = rng.normal([100.0, -5.0], [30.0, 0.1], (40, 2))
    y = (X[:, 0] > 100).astype(int) if task == "classification" else 1000 + 50 * X[:, 1]
    data = tmp_path / "d.csv"
    write_csv(data, ["id", "a", "b", "y"], [[f"r{i}", *x, t] for i, (x, t) in enumerate(zip(X, y))])
    save = tmp_path / "m.glassnet"
    assert main(["train", "--data", str(data), "--target", "y", "--id", "id", "--layers", "4", "--epochs", "2",
                 "--save", str(save), "--task", task, "--quiet"]) == 0
    capsys.readouterr()
    j = tmp_path / "t.json"
    assert main(["trace", "--model", str(save), "--data", str(data), "--target", "y", "--json", str(j)]) == 0
    model = gn.load(save)
    step = from_json(j).steps[0]
    norm = model.layers[0]
    expected = (X - norm.state["mean"]) / norm.std()  # A0: what the Dense layers see, standardized
    np.testing.assert_allclose(step["A0"].value, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(step["W1"].value, model.layers[1].params["W"])
    if task == "regression":  # targets standardized as in training
        last = model.layers[-1]
        np.testing.assert_allclose(step["Y"].value[:, 0], (y - last.state["mean"]) / last.std(), rtol=1e-5,
                                   atol=1e-5)


def test_recorder_traces_normalization_with_its_buffers():  # issue 12: no longer refused
    model = gn.Sequential([Normalization(mean=[0.0, 1.0, 2.0], variance=[1.0, 4.0, 0.25]), Dense(1)], seed=0,
                          dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    X = np.arange(6.0).reshape(2, 3)
    step = record(model, X, np.ones((2, 1))).steps[0]
    np.testing.assert_array_equal(step["std1"].value, [1.0, 2.0, 0.5])
    np.testing.assert_array_equal(step["A1"].value, (X - [0.0, 1.0, 2.0]) / [1.0, 2.0, 0.5])
    assert step.buffers_before["mean1"].tolist() == [0.0, 1.0, 2.0]


def test_max_cells_option_reaches_the_workbook(tmp_path, capsys):
    x = tmp_path / "t.xlsx"
    assert main(["trace", "--preset", "article", "--xlsx", str(x), "--max-cells", "50"]) == 2
    err = capsys.readouterr().err
    assert "more than max_cells=50 " in err and "--max-cells" in err and not x.exists()
    assert main(["trace", "--preset", "article", "--xlsx", str(x), "--max-cells", "100000"]) == 0
    assert x.exists()
    assert main(["trace", "--preset", "article", "--max-cells", "0"]) == 2
    assert "--max-cells" in capsys.readouterr().err


def test_too_big_advice_makes_sense_when_nothing_fits(tmp_path):
    trace = record(*preset("article"))
    with pytest.raises(gn.ExportError) as e:
        trace.to_xlsx(tmp_path / "t.xlsx", max_cells=5)
    msg = str(e.value)
    assert "): or" not in msg and ": even 1 step of 1 row needs" in msg and "so raise max_cells" in msg
    needed = int(re.search(r"needs ([\d,]+) cells", msg).group(1).replace(",", ""))
    assert needed <= count_cells(trace)
    with pytest.raises(gn.ExportError) as e:  # something fits: the advice, then "or raise max_cells"
        trace.to_xlsx(tmp_path / "t.xlsx", max_cells=count_cells(trace) - 1)
    assert ", or raise max_cells" in str(e.value)


def test_html_labels_parameters_without_tautology(tmp_path):
    page = record(*preset("article")).to_html()
    block = re.search(r'<script[^>]*type="application/json"[^>]*>(.*?)</script>', page, re.DOTALL).group(1)
    data = json.loads(block)
    quantities = {q["name"]: q for step in data["steps"] for q in step["quantities"]}
    assert quantities["W1"]["formula"] == "" and "initial weights" in quantities["W1"]["words"]
    assert quantities["Z1"]["formula"] == "A0·W1 + b1"
    assert not any(q["formula"] == q["name"] for q in quantities.values())
