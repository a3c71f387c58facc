"""Embedding: lookup and scatter-add against PyTorch and by hand, finite differences in a model, bad ids."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.layers import LSTM, Dense, Embedding

torch.set_num_threads(1)


def built(input_dim=10, output_dim=4, T=6, dtype=np.float64):
    layer = Embedding(input_dim, output_dim)
    layer.build((T,), np.random.default_rng(0), dtype)
    return layer


IDS = np.array([[1, 3, 3, 0, 9, 1], [2, 2, 2, 7, 3, 5]])


def test_matches_torch():
    layer = built()
    Y = layer.forward(IDS, training=True)
    dY = np.random.default_rng(1).standard_normal(Y.shape)
    assert layer.backward(dY) is None  # ids have no gradient
    emb = torch.nn.Embedding(10, 4, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(layer.params["E"]))
    y = emb(torch.from_numpy(IDS))
    y.backward(torch.from_numpy(dY))
    np.testing.assert_array_equal(Y, y.detach().numpy())
    np.testing.assert_allclose(layer.grads["E"], emb.weight.grad.numpy(), rtol=1e-12, atol=1e-15,
                               err_msg="dE: ours (ACTUAL) vs torch (DESIRED)")


def test_by_hand():
    # E = [[0, 1], [10, 11], [20, 21]];  ids [[2, 0, 2]] -> rows 2, 0, 2;  dE[2] = dy_0 + dy_2, dE[1] = 0
    layer = built(3, 2, T=3)
    layer.params["E"][...] = [[0, 1], [10, 11], [20, 21]]
    y = layer.forward(np.array([[2, 0, 2]]))
    np.testing.assert_array_equal(y, [[[20, 21], [0, 1], [20, 21]]])
    layer.backward(np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]]))
    np.testing.assert_array_equal(layer.grads["E"], [[3, 4], [0, 0], [6, 8]])


def test_backward_overwrites_the_last_gradient():
    layer = built()
    layer.forward(IDS)
    dY = np.ones(IDS.shape + (4,))
    layer.backward(dY)
    layer.backward(dY)  # not accumulated across calls
    np.testing.assert_array_equal(layer.grads["E"][:, 0], np.bincount(IDS.ravel(), minlength=10))


def test_float_ids_from_a_model_equal_integer_ids():
    layer = built()
    np.testing.assert_array_equal(layer.forward(IDS.astype(np.float32)), layer.forward(IDS))


def test_gradcheck_in_a_model():
    X, y = IDS.astype(float), np.array([0, 1])
    model = gn.Sequential([Embedding(10, 3), LSTM(4), Dense(2, activation="softmax")], seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    report = gn.gradcheck(model, X, y)
    assert set(report.errors) == {"E1", "W2", "U2", "b2", "W3", "b3"}
    assert report.passed, str(report)


def test_learns_and_round_trips(tmp_path):
    # class 1 when token 7 occurs anywhere in the sequence
    rng = np.random.default_rng(0)
    X = rng.integers(0, 7, (256, 8))
    y = np.arange(256) % 2
    X[y == 1, rng.integers(0, 8, 128)] = 7
    model = gn.Sequential([Embedding(8, 8), LSTM(8), Dense(2, activation="softmax")], seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(0.02), metrics=["accuracy"])
    model.fit(X, y, epochs=10, batch_size=32, verbose=0)
    assert model.evaluate(X, y)["accuracy"] >= 0.95
    model.save(tmp_path / "emb.glassnet")
    again = gn.load(tmp_path / "emb.glassnet")
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.layers[0].get_config() == {"input_dim": 8, "output_dim": 8, "embeddings_initializer": "random_uniform",
                                            "mask_zero": False, "name": None}


@pytest.mark.parametrize("ids", [IDS, IDS.astype(float)], ids=["int", "float"])
def test_on_a_device_equals_the_cpu(ids):
    # the fake GPU of tests/test_device.py: every array on the model's device, ids included
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fakegpu

    device = fakegpu.install().name
    X, y = ids, np.array([0, 1])
    predictions = []
    for where in ("cpu", device):
        model = gn.Sequential([Embedding(10, 3), LSTM(4), Dense(2, activation="softmax")], seed=0, device=where)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        model.fit(X, y, epochs=2, verbose=0)
        predictions.append(model.predict(X))
    np.testing.assert_array_equal(predictions[0], predictions[1])


# --- ids above 2**24 (issue 10, item 9): a float32 cast rounds them -----------------------------------


class Spy(Embedding):
    """An Embedding that keeps the dtype of every x it was given."""

    def forward(self, x, training=False):
        self.seen = [*getattr(self, "seen", []), x.dtype]
        return super().forward(x, training)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_integer_ids_reach_the_layer_as_int64(dtype):
    # they used to arrive as the model's float dtype; float ids keep their own float dtype
    model = gn.Sequential([Spy(10, 3), LSTM(4), Dense(2, activation="softmax")], seed=0, dtype=dtype)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    y = np.array([0, 1])
    model.fit(IDS.astype(np.int32), y, epochs=1, verbose=0)
    model.evaluate(IDS.tolist(), y)
    model.predict(IDS.astype(np.uint8))
    assert model.layers[0].seen == [np.int64] * 3
    model.layers[0].seen = []
    model.predict(IDS.astype(np.float64))
    model.predict(IDS.astype(np.float32))
    assert model.layers[0].seen == [np.float64, np.float32]


def test_integer_and_float_ids_give_the_same_model():
    outputs = []
    for X in (IDS, IDS.astype(float)):
        model = gn.Sequential([Embedding(10, 3), LSTM(4), Dense(2, activation="softmax")], seed=0)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        model.fit(X, np.array([0, 1]), epochs=3, batch_size=1, validation_split=0.5, verbose=0)
        outputs.append(model.predict(X))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_gradcheck_with_integer_ids():
    model = gn.Sequential([Embedding(10, 3), LSTM(4), Dense(2, activation="softmax")], seed=0, dtype="float64")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    assert gn.gradcheck(model, IDS, np.array([0, 1])).passed


BIG = 2**24  # float32 holds every whole number up to 2**24 = 16777216, then only even ones


@pytest.fixture(scope="module")
def big_model():
    # 2**24 + 5 rows of one float32 (64 MB); row i holds i - 2**24 from row 2**24 on, zeros before
    model = gn.Sequential([Embedding(BIG + 5, 1, embeddings_initializer="zeros")], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.build(2)
    model.layers[0].params["E"][BIG:, 0] = np.arange(5)
    return model


def test_ids_above_2_24_read_their_own_rows(big_model):
    # ids 16777217 and 16777219 used to be cast to float32 and read rows 16777216 and 16777220
    X = np.array([[BIG + 1, BIG + 3], [BIG + 4, BIG]])
    expected = np.array([[[1.0], [3.0]], [[4.0], [0.0]]], dtype=np.float32)
    np.testing.assert_array_equal(big_model.predict(X), expected)
    np.testing.assert_array_equal(big_model.predict(X.astype(np.float64)), expected)  # float64 is exact to 2**53
    assert big_model.evaluate(X, expected)["loss"] == 0.0


def test_float32_ids_above_2_24_are_data_errors(big_model):
    # float32 cannot tell 16777218 from a rounded 16777217: refused rather than read from a guessed row
    X = np.array([[0, 1], [BIG + 2, 7]], dtype=np.float32)
    with pytest.raises(gn.DataError, match=r'Layer "embedding" \(Embedding\): id x\[1, 0\] = 16777218 in row 1 is '
                                           r"above 2\*\*24 = 16777216, beyond which float32 ids may be rounded"):
        big_model.predict(X)
    np.testing.assert_array_equal(big_model.predict(X[:1]), [[[0.0], [0.0]]])  # 2**24 and below are exact
    # the last id of a 2**24 + 1 table is in range, although float32(2**24 + 1) rounds to 2**24
    np.testing.assert_array_equal(Embedding(BIG + 1, 1).ids(np.array([[BIG, 0]], dtype=np.float32)), [[BIG, 0]])


def test_float64_ids_above_2_53_are_data_errors():
    layer = Embedding(2**53 + 8, 1)  # ids() reads only input_dim: no table of 2**53 rows is built
    np.testing.assert_array_equal(layer.ids(np.array([[2.0**53, 3.0]])), [[2**53, 3]])
    with pytest.raises(gn.DataError, match=r"id x\[0, 1\] = 9007199254740994 in row 0 is above 2\*\*53"):
        layer.ids(np.array([[3.0, 2.0**53 + 2]]))
    np.testing.assert_array_equal(layer.ids(np.array([[2**53 + 1]])), [[2**53 + 1]])  # integers are exact


def test_bad_integer_inputs_keep_their_messages():
    model = gn.Sequential([Embedding(10, 3), LSTM(4), Dense(1)], seed=0)
    model.compile(loss="mse")
    model.build(6)
    with pytest.raises(gn.DataError, match=r"X is empty"):
        model.predict(np.zeros((0, 6), dtype=np.int64))
    with pytest.raises(gn.ShapeError, match=r"X must be at least 2-dimensional; received shape \(6,\)"):
        model.predict(IDS[0])
    with pytest.raises(gn.ShapeError, match=r"X has shape \(2, 5\)"):
        model.predict(IDS[:, :5])


def test_default_init_is_keras_random_uniform():
    E = built(1000, 16).params["E"]
    assert -0.05 <= E.min() < -0.04 and 0.04 < E.max() <= 0.05


# --- bad ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad,message", [
    (1.5, r"takes integer ids; x\[1, 2\] = 1.5 is not a whole number"),
    (np.nan, r"x\[1, 2\] = nan is not a whole number"),
    (10, r"id x\[1, 2\] = 10 is not in \[0, 10\)"),
    (-1, r"id x\[1, 2\] = -1 is not in \[0, 10\)"),
])
def test_bad_ids_are_data_errors_naming_the_value(bad, message):
    ids = IDS.astype(float)
    ids[1, 2] = bad
    with pytest.raises(gn.DataError, match=r'Layer "embedding" \(Embedding\)'):
        built().forward(ids)
    with pytest.raises(gn.DataError, match=message):
        built().forward(ids)


def test_out_of_range_integer_id_and_text():
    ids = IDS.copy()
    ids[0, 5] = 12
    with pytest.raises(gn.DataError, match=r"id x\[0, 5\] = 12 is not in \[0, 10\)"):
        built().forward(ids)
    with pytest.raises(gn.DataError, match="takes integer ids; received dtype <U1"):
        built().forward(np.array([["a", "b", "c", "d", "e", "f"]]))


def test_out_of_range_id_through_fit_is_a_data_error():
    model = gn.Sequential([Embedding(5, 2), LSTM(2), Dense(1)], seed=0)
    model.compile(loss="mse")
    with pytest.raises(gn.DataError, match=r"id x\[0, 1\] = 5 is not in \[0, 5\)"):
        model.fit(np.array([[0, 5, 1]]), np.ones(1), verbose=0)


def test_wrong_rank_is_a_shape_error():
    with pytest.raises(gn.ShapeError, match=r"takes ids of shape \(N, T\); received input shape \(None, 6, 2\)"):
        Embedding(10, 4).build((6, 2), np.random.default_rng(0))
    with pytest.raises(gn.ShapeError, match=r"takes ids of shape \(N, T\); received shape \(2, 6, 1\)"):
        built().forward(IDS[..., None])


def test_bad_settings_are_config_errors():
    with pytest.raises(gn.ConfigError, match="Received: input_dim=0"):
        Embedding(0, 4)
    with pytest.raises(gn.ConfigError, match="Received: output_dim=-2"):
        Embedding(10, -2)
