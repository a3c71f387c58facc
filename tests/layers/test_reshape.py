"""Flatten and Reshape: shapes, row-major order (as Keras and NumPy), gradients, bad target shapes."""

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.layers import Flatten, Reshape


def test_flatten_is_row_major_and_matches_torch():
    X = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    layer = Flatten()
    assert layer.build(X.shape[1:], None) == (60,)
    a = layer.forward(X)
    # element [n, i, j, c] lands at [n, (i·W + j)·C + c], as keras.layers.Flatten on channels-last input
    assert a[1, (2 * 4 + 3) * 5 + 4] == X[1, 2, 3, 4]
    np.testing.assert_array_equal(a, torch.flatten(torch.from_numpy(X), start_dim=1).numpy())
    dy = np.random.default_rng(1).standard_normal(a.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy.reshape(X.shape))


@pytest.mark.parametrize("layer,in_shape,out_shape", [
    (Flatten(), (3, 4), (12,)),
    (Reshape((4, 3)), (3, 4), (4, 3)),
    (Reshape((-1, 2)), (3, 4), (6, 2)),
    (Reshape([12]), (2, 2, 3), (12,)),
    (Reshape((2, 3, -1)), (12,), (2, 3, 2)),
])
def test_shapes_and_gradcheck(layer, in_shape, out_shape):
    assert layer.build(in_shape, None, np.float64) == out_shape
    X = np.random.default_rng(0).standard_normal((2, *in_shape))
    assert layer.forward(X).shape == (2, *out_shape)
    report = gn.gradcheck(layer, X)
    assert report.passed, str(report)


@pytest.mark.parametrize("target", [(0, 3), (-1, -1), (2.5,), "12", (), (True, 3)])
def test_bad_target_shape_is_a_config_error(target):
    with pytest.raises(gn.ConfigError, match="Received an invalid value for `target_shape`"):
        Reshape(target)


@pytest.mark.parametrize("target", [(5,), (5, -1)])
def test_target_shape_that_does_not_fit_names_the_layer(target):
    with pytest.raises(gn.ShapeError, match=r'Layer "to_seq" \(Reshape\): the total size.*\(None, 3, 4\) has 12'):
        Reshape(target, name="to_seq").build((3, 4), None)


def test_reshape_in_a_model_round_trips(tmp_path):
    # features -> (T, C) sequence -> Conv1D -> Flatten -> Dense: the config keeps target_shape
    X = np.random.default_rng(0).standard_normal((6, 12))
    model = gn.Sequential([Reshape((6, 2)), gn.layers.Conv1D(3, 3), Flatten(), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.build(12)
    assert model.output_shape == (1,)
    model.save(tmp_path / "m.glassnet")
    np.testing.assert_array_equal(gn.load(tmp_path / "m.glassnet").predict(X), model.predict(X))
