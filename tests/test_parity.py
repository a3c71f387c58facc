"""benchmarks/parity.py: glassnet's estimators next to scikit-learn's MLP (issue 14).

A smoke run on a tiny subset (one data set, 2 folds, 1 seed, 3 epochs) checks the structure of the
results and of the Markdown tables, never a score threshold or a time. The one exact check is the
conversion of scikit-learn's ``alpha`` into glassnet's ``l2`` that the script relies on: with the same
weights, both libraries' losses and gradients must agree (equal for classification, a factor 2 for
regression, whose squared error scikit-learn halves).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from glassnet.sklearn import GlassClassifier, GlassRegressor
from glassnet.training import batch_targets

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "parity.py"


@pytest.fixture(scope="module")
def parity():
    spec = importlib.util.spec_from_file_location("benchmarks_parity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(parity):
    s = parity.Settings(hidden_layer_sizes=(8,), epochs=3, folds=2, seeds=(0,))
    return parity.run(s, names=("iris",), log=lambda line: None)


def test_results_structure(parity, tiny):
    res = tiny
    assert set(res) == {"date", "settings", "machine", "runtime_s", "results"}
    assert res["settings"]["blas_threads"] == 1 and res["settings"]["epochs"] == 3
    (row,) = res["results"]
    assert (row["dataset"], row["metric"], row["rows"], row["features"], row["classes"]) == \
        ("iris", "accuracy", 150, 4, 3)
    assert list(row["contestants"]) == list(parity.DEFAULT_CONTESTANTS)
    for name, c in row["contestants"].items():
        assert len(c["scores"]) == len(c["fit_s"]) == 2, name  # 2 folds × 1 seed
        assert c["epochs"] == [3, 3], name  # scikit-learn's stopping rule is off: every epoch runs
        assert all(math.isfinite(x) and 0 <= x <= 100 for x in c["scores"]), (name, c["scores"])
        assert all(t > 0 for t in c["fit_s"]), name
        assert c["mean"] == pytest.approx(np.mean(c["scores"]))
    json.dumps(res)  # JSON-ready as it is


def test_markdown_tables(parity, tiny):
    res = tiny
    md = parity.markdown(res)
    scores, times = [line for line in md.splitlines() if line.startswith("| iris |")]
    cells = [c.strip() for c in scores.strip("|").split("|")]
    assert cells[:3] == ["iris", "150×4, 3 classes", "accuracy"]
    assert len(cells) == 3 + 3 + 2  # three scores, two differences to scikit-learn
    mean = res["results"][0]["contestants"]["glassnet float64"]["mean"]
    assert float(cells[3].split("±")[0]) == pytest.approx(mean, abs=0.005)
    assert len(times.strip("|").split("|")) == 2 + 3 + 2
    assert "every fit made all 3 epochs" in md and "1 BLAS thread" in md


def test_regression_pipeline_scores_r2(parity):
    s = parity.Settings(hidden_layer_sizes=(4,), epochs=2, folds=2, seeds=(0,))
    row = parity.run_dataset("diabetes", s, contestants=("glassnet float32",), log=lambda line: None)
    assert row["metric"] == "R²" and row["classes"] is None
    assert all(math.isfinite(x) for x in row["contestants"]["glassnet float32"]["scores"])


@pytest.mark.parametrize("task, n_classes", [("classification", 3), ("classification", 2), ("regression", 0)])
def test_l2_conversion_matches_scikit_learn(parity, task, n_classes):
    """Same weights, one batch: glassnet's loss and gradients (penalty included) against MLP's own."""
    rng = np.random.default_rng(0)
    B, alpha = 16, 0.5  # a large alpha, so a wrong penalty would show
    X = rng.normal(size=(B, 5))
    l2 = parity.glassnet_l2(alpha, B, task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=1: ConvergenceWarning
        if task == "classification":
            y = np.arange(B) % n_classes
            sk = MLPClassifier(hidden_layer_sizes=(7,), alpha=alpha, max_iter=1, batch_size=B, random_state=0)
            glass = GlassClassifier((7,), l2=l2, epochs=1, batch_size=B, dtype="float64", random_state=0)
            sk.fit(X, y)
            Y_sk = sk._label_binarizer.transform(y).astype(np.float64)
        else:
            y = rng.normal(size=B)
            sk = MLPRegressor(hidden_layer_sizes=(7,), alpha=alpha, max_iter=1, batch_size=B, random_state=0)
            glass = GlassRegressor((7,), l2=l2, epochs=1, batch_size=B, dtype="float64", random_state=0)
            sk.fit(X, y)
            Y_sk = y.reshape(-1, 1)
        glass.fit(X, y)
    model = glass.model_
    model.set_weights([w for pair in zip(sk.coefs_, sk.intercepts_) for w in pair])  # W1, b1, W2, b2
    # scikit-learn's own loss and gradients for this batch (its private _backprop, what its fit calls)
    activations = [X, None, None]
    coef_grads = [np.empty_like(w) for w in sk.coefs_]
    intercept_grads = [np.empty_like(b) for b in sk.intercepts_]
    loss_sk, coef_grads, intercept_grads = sk._backprop(X, Y_sk, None, activations, [None, None],
                                                        coef_grads, intercept_grads)
    Y = batch_targets(model, glass._targets(y, fresh=False, classes=None, dtype=np.float64)[0])
    a = model.forward(X, training=True)
    loss = model.compute_loss(a, Y)
    model.backward(a, Y)
    ours = [layer.grads[k] for layer in model.layers if layer.params for k in ("W", "b")]
    theirs = [g for pair in zip(coef_grads, intercept_grads) for g in pair]
    factor = 1.0 if task == "classification" else 2.0  # scikit-learn's squared error is mean(e²) / 2
    assert loss == pytest.approx(factor * loss_sk, rel=1e-12), (loss, loss_sk)
    for name, g, g_sk in zip(["W1", "b1", "W2", "b2"], ours, theirs):
        np.testing.assert_allclose(g, factor * g_sk, rtol=1e-10, atol=1e-14, err_msg=f"{name}: ours vs theirs")
