"""Small things a stranger trips on: Keras' Activation("tanh"), gradcheck of a truncated layer, gn.load(directory)."""

import numpy as np
import pytest

import glassnet as gn


def test_activation_by_name_builds_that_activation_layer_as_keras_does():
    layer = gn.layers.Activation("tanh")
    assert type(layer) is gn.layers.Tanh
    assert type(gn.layers.Activation(activation="leaky_relu", name="act")).__name__ == "LeakyReLU"
    assert gn.layers.Activation(gn.layers.LeakyReLU(0.3)).alpha == 0.3  # an instance keeps its settings
    model = gn.Sequential([gn.layers.Dense(3), gn.layers.Activation("relu"), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    assert isinstance(model.layers[1], gn.layers.ReLU)
    with pytest.raises(gn.ConfigError, match="needs the activation"):
        gn.layers.Activation()
    with pytest.raises(gn.ConfigError, match="Unknown activation 'nope'"):
        gn.layers.Activation("nope")


def test_gradcheck_of_a_truncated_recurrent_layer_says_why_it_cannot_compare():
    x = np.random.default_rng(0).normal(size=(2, 6, 3))
    with pytest.raises(gn.ConfigError, match=r"bptt=2.*bptt=None"):
        gn.gradcheck(gn.layers.LSTM(4, bptt=2, return_sequences=True), x)
    model = gn.Sequential([gn.layers.Bidirectional(gn.layers.GRU(3, bptt=3)), gn.layers.Dense(1)], seed=0,
                          dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(gn.ConfigError, match="bptt=3"):
        gn.gradcheck(model, x, np.ones((2, 1)))
    assert gn.gradcheck(gn.layers.LSTM(4, return_sequences=True), x).passed


def test_loading_a_directory_says_it_is_a_directory(tmp_path):
    with pytest.raises(gn.errors.ModelFileError, match="is a directory"):
        gn.load(tmp_path)
