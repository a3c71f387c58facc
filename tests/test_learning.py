"""End-to-end learning: glassnet solves the classic small problems.

Each run is seeded, so the accuracies are reproducible; the seeds were not cherry-picked (every seed
tried from 0 to 4 on XOR and spiral, 0 to 7 on digits, clears the bar) and each test takes well under
a second or two.
"""

import numpy as np
import pytest

import glassnet as gn
from glassnet.data import spiral, xor


def test_xor_reaches_full_accuracy():
    X, y = xor()
    model = gn.Sequential(
        [gn.layers.Dense(4, activation="tanh"), gn.layers.Dense(1, activation="sigmoid")], seed=0
    )
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(learning_rate=0.05),
                  metrics=["accuracy"])
    history = model.fit(X, y, epochs=300, verbose=0)

    result = model.evaluate(X, y)
    print(f"XOR: accuracy {result['accuracy']:.4f}, loss {result['loss']:.4g}")
    assert result["accuracy"] == 1.0
    np.testing.assert_array_equal(model.predict(X) > 0.5, y > 0.5)
    assert history.history["loss"][-1] < history.history["loss"][0] / 10


def test_spiral_three_classes_reaches_95_percent_train_accuracy():
    X, y = spiral(n_per_class=100, n_classes=3, rng=0)
    model = gn.Sequential(
        [gn.layers.Dense(64, activation="relu"), gn.layers.Dense(3, activation="softmax")], seed=1
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(learning_rate=0.03),
                  metrics=["accuracy"])
    history = model.fit(X, y, epochs=3000, batch_size=None, verbose=0)

    result = model.evaluate(X, y)
    print(f"spiral: train accuracy {result['accuracy']:.4f}, loss {result['loss']:.4g}")
    assert result["accuracy"] >= 0.95
    assert np.mean(model.predict(X).argmax(axis=1) == y) == pytest.approx(result["accuracy"])
    # the History's last epoch is measured during the final update (training mode, before the step)
    assert history.history["accuracy"][-1] >= 0.9


def test_digits_reaches_97_percent_test_accuracy():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    model = gn.Sequential(
        [gn.layers.Dense(64, activation="relu"), gn.layers.Dense(10, activation="softmax")], seed=0
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(learning_rate=0.001),
                  metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=80, batch_size=32, verbose=0)

    result = model.evaluate(X_test, y_test)
    print(f"digits: test accuracy {result['accuracy']:.4f}, loss {result['loss']:.4g}")
    assert result["accuracy"] >= 0.97
    assert model.count_params() == 64 * 64 + 64 + 64 * 10 + 10
