"""Metrics against scikit-learn: accuracy, precision, recall, auc, top_k_categorical_accuracy, mae, mse, rmse."""

import numpy as np
import pytest
from sklearn import metrics as sk

import glassnet as gn
from glassnet import metrics as gm


def binary_case(shape, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=shape)
    p.reshape(-1)[:6] = 0.5  # ties and the threshold itself (0.5 is predicted negative: ŷ > 0.5 is positive)
    p.reshape(-1)[6:12] = np.round(p.reshape(-1)[6:12], 1)
    y = (rng.uniform(size=shape) > 0.5).astype(float)
    return p, y


@pytest.mark.parametrize("shape", [(60, 1), (30, 4)])
def test_precision_recall_auc_match_sklearn(shape):
    p, y = binary_case(shape)
    labels, predicted = y.ravel(), p.ravel() > 0.5  # several columns: every output is one decision (Keras)
    assert gm.precision(p, y) == pytest.approx(sk.precision_score(labels, predicted), rel=1e-12)
    assert gm.recall(p, y) == pytest.approx(sk.recall_score(labels, predicted), rel=1e-12)
    assert gm.auc(p, y) == pytest.approx(sk.roc_auc_score(labels, p.ravel()), rel=1e-12)


def test_degenerate_batches_give_keras_zeros():
    p = np.array([[0.2], [0.4]])
    assert gm.precision(p, np.array([[1.0], [0.0]])) == 0.0  # nothing predicted positive
    assert gm.recall(np.array([[0.9], [0.1]]), np.zeros((2, 1))) == 0.0  # no positive label
    assert gm.auc(p, np.ones((2, 1))) == 0.0 and gm.auc(p, np.zeros((2, 1))) == 0.0  # no ROC curve


def test_auc_is_exact_with_ties():
    # positives score 0.8 and 0.5, negatives 0.5 and 0.1: pairs (0.8>0.5) (0.8>0.1) (0.5=0.5 → ½) (0.5>0.1)
    assert gm.auc(np.array([0.8, 0.5, 0.5, 0.1]), np.array([1, 1, 0, 0])) == 3.5 / 4


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_matches_sklearn(k):
    rng = np.random.default_rng(1)
    p, codes = rng.uniform(size=(80, 7)), rng.integers(0, 7, 80)
    expected = sk.top_k_accuracy_score(codes, p, k=k, labels=range(7))
    assert gm.top_k_categorical_accuracy(p, np.eye(7)[codes], k=k) == pytest.approx(expected)
    if k == 5:  # Keras' default k
        assert gm.top_k_categorical_accuracy(p, np.eye(7)[codes]) == pytest.approx(expected)


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    p, y = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    assert gm.mse(p, y) == pytest.approx(sk.mean_squared_error(y, p), rel=1e-12)
    assert gm.rmse(p, y) == pytest.approx(np.sqrt(sk.mean_squared_error(y, p)), rel=1e-12)
    assert gm.mae(p, y) == pytest.approx(sk.mean_absolute_error(y, p), rel=1e-12)


def test_names_and_aliases():
    for name in ["accuracy", "precision", "recall", "auc", "top_k_categorical_accuracy", "mae", "mse", "rmse"]:
        assert gm.get_metric(name)[0] == name
    assert gm.get_metric("mean_squared_error")[0] == "mse"
    assert gm.get_metric("root_mean_squared_error")[0] == "rmse"
    with pytest.raises(gn.ConfigError, match="Unknown metric 'f1'.*precision"):
        gm.get_metric("f1")


def test_evaluate_over_the_whole_set_matches_sklearn():
    # evaluate's default batch_size=None computes each metric over all rows at once: exactly sklearn's value
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(120) > 0).astype(float)[:, None]
    model = gn.Sequential([gn.layers.Dense(4, activation="tanh"), gn.layers.Dense(1, activation="sigmoid")],
                          seed=0, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(0.05),
                  metrics=["accuracy", "precision", "recall", "auc", "mse", "rmse"])
    model.fit(X, y, epochs=20, batch_size=None, verbose=0)
    logs = model.evaluate(X, y)
    p = model.predict(X).ravel()
    assert logs["precision"] == pytest.approx(sk.precision_score(y.ravel(), p > 0.5))
    assert logs["recall"] == pytest.approx(sk.recall_score(y.ravel(), p > 0.5))
    assert logs["auc"] == pytest.approx(sk.roc_auc_score(y.ravel(), p))
    assert logs["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y.ravel(), p)))
    assert logs["accuracy"] == pytest.approx(sk.accuracy_score(y.ravel(), p > 0.5))


def test_monitors_maximize_the_new_scores():
    for name in ["val_auc", "precision", "val_recall", "val_top_k_categorical_accuracy"]:
        assert gn.callbacks.EarlyStopping(name).mode == "max"
    for name in ["val_mse", "rmse", "val_loss"]:
        assert gn.callbacks.EarlyStopping(name).mode == "min"
