"""``glassnet search``: the grid text, the table, JSON and CSV, and a saved best model that ``glassnet predict``
reads like a ``glassnet train`` model (raw rows in, the estimator's predictions out)."""

from __future__ import annotations

import csv
import json
import re
import time

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

import glassnet as gn
from glassnet.cli.main import main
from glassnet.cli.search import parse_grid, standalone_model
from glassnet.errors import ConfigError
from glassnet.layers import Normalization
from glassnet.model import Sequential
from glassnet.sklearn import GlassClassifier, GlassRegressor


def _write(path, X, y, ids=True):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow((["id"] if ids else []) + [f"x{j}" for j in range(X.shape[1])] + ["target"])
        for i, (row, t) in enumerate(zip(X, y)):
            w.writerow(([f"row{i}"] if ids else []) + list(row) + [t])
    return str(path)


def _standardized(X):
    norm = Normalization()
    norm.adapt(X)
    return Sequential([norm]).predict(X)


def _predict_cli(model, data, capsys):
    assert main(["predict", "--model", model, "--data", data]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    return rows[0], rows[1:]


def test_search_saves_a_model_that_predict_reads(tmp_path, capsys):
    X, y = load_iris(return_X_y=True)
    data = _write(tmp_path / "iris.csv", X, y)
    out = {k: str(tmp_path / f"r.{k}") for k in ("json", "csv", "glassnet")}
    argv = ["search", "--data", data, "--target", "target", "--id", "id", "--cv", "3", "--epochs", "20",
            "--grid", "hidden_layer_sizes=[(8,),(16,8)];learning_rate=[1e-3,1e-2]", "--seed", "3",
            "--json", out["json"], "--csv", out["csv"], "--save", out["glassnet"]]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "search: 12/12 fits, best mean_test_score" in captured.err
    assert captured.out.splitlines()[0].split() == ["rank", "mean", "std", "fit", "s", "params"]
    assert "best (score" in captured.out and "wrote the best model to" in captured.out
    with open(out["json"]) as f:
        result = json.load(f)
    assert [r["rank_test_score"] for r in result["results"]] == [1, 2, 3, 4] and result["n_fits"] == 12
    with open(out["csv"]) as f:
        assert len(list(csv.DictReader(f))) == 4

    # the estimator the search refit: the same settings and seed on the same standardized rows
    best = {k: tuple(v) if isinstance(v, list) else v for k, v in result["best_params"].items()}
    est = GlassClassifier(**{"hidden_layer_sizes": (64, 32), "epochs": 20, "random_state": 3, **best})
    est.fit(_standardized(X.astype(np.float32)), y)
    header, rows = _predict_cli(out["glassnet"], data, capsys)
    assert header == ["prediction", "prob_0", "prob_1", "prob_2"]
    proba = est.predict_proba(_standardized(X.astype(np.float32)))
    np.testing.assert_array_equal([int(r[0]) for r in rows], est.predict(_standardized(X.astype(np.float32))))
    np.testing.assert_allclose(np.array([r[1:] for r in rows], dtype=float), proba, rtol=1e-5, atol=1e-6)
    assert gn.load(out["glassnet"]).metadata["features"] == [f"x{j}" for j in range(4)]


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_standalone_model_reads_raw_rows(task):
    loader, cls = (load_breast_cancer, GlassClassifier) if task == "binary" else (load_diabetes, GlassRegressor)
    X, y = loader(return_X_y=True)
    X = X.astype(np.float32)
    Xs = _standardized(X)
    stats = None
    if task == "binary":
        meta = {"task": "classification", "target": "t", "features": [], "classes": [0, 1]}
        est = cls((8,), epochs=3, random_state=0).fit(Xs, y)
        expected = est.predict_proba(Xs)  # (N, 2): the sigmoid's 1 - p, p
    else:
        meta = {"task": "regression", "target": "t", "features": []}
        stats = (float(y.mean()), float(y.std()))
        est = cls((8,), epochs=3, random_state=0).fit(Xs, (y - stats[0]) / stats[1])
        expected = est.predict(Xs)[:, None] * stats[1] + stats[0]  # back in the target's units
    model = standalone_model(est, X, meta, stats)
    assert isinstance(model.layers[0], Normalization)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)


def test_regression_search_and_predict(tmp_path, capsys):
    X, y = load_diabetes(return_X_y=True)
    data = _write(tmp_path / "d.csv", X[:200], y[:200], ids=False)
    model = str(tmp_path / "d.glassnet")
    assert main(["search", "-q", "--data", data, "--target", "target", "--cv", "2", "--epochs", "9",
                 "--method", "halving", "--grid", "activation=[relu,tanh];learning_rate=[1e-3,1e-2]",
                 "--save", model, "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # -q: no progress
    result = json.loads(captured.out)
    assert result["method"] == "halving" and result["best_params"]["epochs"] == 9
    assert [r["n_resources"] for r in result["results"]][:1] == [9]
    header, rows = _predict_cli(model, data, capsys)
    predictions = np.array([float(r[0]) for r in rows])
    assert header == ["prediction"] and abs(predictions.mean() - y[:200].mean()) < y.std()  # target units


def test_parse_grid():
    assert parse_grid("hidden_layer_sizes=[(32,),(64,32)];learning_rate=[1e-3,1e-2]") == {
        "hidden_layer_sizes": [(32,), (64, 32)], "learning_rate": [1e-3, 1e-2]}
    assert parse_grid(" activation = [relu, 'tanh'] ; ") == {"activation": ["relu", "tanh"]}
    assert parse_grid("optimizer=['a;b']") == {"optimizer": ["a;b"]}
    for text, message in [("learning_rate=[1e-3", "are not a list of Python literals"),
                          ("learning_rate=1e-3", "must be a list in brackets"),
                          ("learning_rate", "is not NAME=\\[values\\]"), ("", "--grid is empty"),
                          ("a=[1];a=[2]", "names 'a' twice"), ("x=[__import__('os')]", "not a list of Python")]:
        with pytest.raises(ConfigError, match=message):
            parse_grid(text)


@pytest.mark.parametrize("grid, message", [
    ("learning_rat=[1]", "has no parameter 'learning_rat'"),
    ("learning_rate=[]", "the list of values of 'learning_rate' is empty"),
    ("learning_rate=[0]", "candidate learning_rate=0 is refused"),
    ("hidden_layer_sizes=[(32,),(0,)]", r"candidate hidden_layer_sizes=\(0,\) is refused"),
    ("learning_rate=[1e-3", "not a list of Python literals"),
])
def test_a_bad_grid_is_one_line_before_the_data_is_read(tmp_path, capsys, grid, message):
    missing = str(tmp_path / "no-such.csv")  # never opened: the grid is checked first
    assert main(["search", "--data", missing, "--target", "t", "--grid", grid]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassnet search: ConfigError: ") and len(err.splitlines()) == 1
    assert re.search(message, err)


def test_an_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path, capsys):
    X, y = load_iris(return_X_y=True)
    data = _write(tmp_path / "iris.csv", X, y, ids=False)
    start = time.perf_counter()
    assert main(["search", "-q", "--data", data, "--target", "target", "--grid", "learning_rate=[1e-2]",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert time.perf_counter() - start < 30  # not a hang (a generous bound)
    assert "no Dask scheduler answered at tcp://127.0.0.1:1 within 5 s" in capsys.readouterr().err


def test_bad_options(tmp_path, capsys):
    X, y = load_iris(return_X_y=True)
    data = _write(tmp_path / "iris.csv", X, y, ids=False)
    for extra, message in [(["--cv", "1"], "`--cv`"), (["--epochs", "0"], "`--epochs`"),
                           (["--json", str(tmp_path / "no" / "r.json")], "--json"),
                           (["--method", "halving", "--grid", "epochs=[1,2]"], "resource")]:
        argv = ["search", "--data", data, "--target", "target", "--grid", "learning_rate=[1e-2]", *extra]
        assert main(argv) == 2
        assert message in capsys.readouterr().err
