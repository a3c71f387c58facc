"""Fuzzing fit/predict/evaluate inputs: anything a user passes trains or raises a documented GlassnetError.

docs/errors.md: bad arrays are DataError (non-numbers, booleans, NaN/inf, empty, labels out of range) or
ShapeError (wrong rank, mismatched lengths, a shape the model was not built for); bad settings are
ConfigError; calls before compile are NotBuiltError; a run that overflows is DivergenceError. All are
ValueErrors. A run that trains leaves finite weights.
"""

import warnings

import numpy as np
import pytest
from fuzzing import count, fuzz_settings, tried
from hypothesis import given
from hypothesis import strategies as st

import glassnet as gn

FIT_ERRORS = (gn.ConfigError, gn.ShapeError, gn.DataError, gn.NotBuiltError, gn.DivergenceError)


def binary(dtype="float32"):
    model = gn.Sequential([gn.layers.Dense(3, activation="tanh"), gn.layers.Dense(1, activation="sigmoid")],
                          seed=0, dtype=dtype)
    return model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])


def softmax(dtype="float32"):
    model = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.Dropout(0.5),
                           gn.layers.Dense(3, activation="softmax")], seed=0, dtype=dtype)
    return model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])


def regression(dtype="float32"):
    model = gn.Sequential([gn.layers.Dense(2, activation="relu"), gn.layers.Dense(1)], seed=0, dtype=dtype)
    return model.compile(loss="mse", optimizer=gn.optimizers.SGD(0.01, momentum=0.9), metrics=["mae"])


MODELS = st.sampled_from([binary, softmax, regression])
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.int8, np.int64, np.uint8, np.bool_,
                          np.complex64, object, "U3", "S3", "datetime64[s]"])
ELEMENTS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(-3, 5),
                     st.sampled_from([0.0, 1.0, 2.0, 1e38, 1e300, -1e300]))


@st.composite
def arrays(draw, rows=None):
    """Arrays of any rank and dtype (rows first), and the odd non-array."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from([None, "abc", 3.0, {"a": 1}, [], [[]], [[1, 2], [3]], [[1, "a"]],
                                     (x for x in range(3)), np.float32(1.0), [[1, 2], [3, 4]], [[None, 1.0]],
                                     [[True, False]], np.zeros((2, 2)).T, np.ma.masked_array([[1.0, 2.0]])]))
    n = draw(st.integers(0, 7)) if rows is None else rows
    shape = (n,) + tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    values = np.array(draw(st.lists(ELEMENTS, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                      dtype=np.float64).reshape(shape)
    dtype = draw(DTYPES)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return values.astype(dtype)
        except (ValueError, TypeError, OverflowError):
            return values


@st.composite
def good_data(draw, make):
    """Inputs a model can train on: finite numbers, 2-D X, targets that fit the model's loss."""
    n, features = draw(st.integers(1, 9)), draw(st.integers(1, 4))
    X = draw(st.lists(st.floats(-100, 100, width=32), min_size=n * features, max_size=n * features))
    X = np.array(X, dtype=draw(st.sampled_from([np.float32, np.float64, np.int64]))).reshape(n, features)
    if make is softmax:
        y = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))  # one class only, too
    elif make is binary:
        y = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))[:, None]
    else:
        y = np.array(draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n)))
    return X, y


VALID = {
    "epochs": [1, 2, np.int64(2)],
    "batch_size": [None, 1, 3, 1000, np.int32(2)],
    "shuffle": [True, False],
    "verbose": [0, 2],
    "validation_split": [0.0, 0.5],
    "callbacks": [None, [], [gn.callbacks.History()], (gn.callbacks.EarlyStopping("loss"),)],
    "initial_epoch": [0, 1],
}
INVALID = {
    "epochs": [0, -1, 1.5, "2", None, True],
    "batch_size": [0, -2, 2.0, "3", False],
    "verbose": [3, -1, "0", None],
    "validation_split": [0.99, 1.0, -0.1, float("nan"), "x", True],
    "callbacks": [gn.callbacks.History(), "cb", [None], [print]],
    "initial_epoch": [-1, 0.5, "1"],
}


@st.composite
def fit_settings(draw):
    """Valid settings, with one of them (now and then) replaced by an invalid value."""
    kw = {k: draw(st.sampled_from(v)) for k, v in VALID.items()}
    if draw(st.integers(0, 2)) == 0:
        key = draw(st.sampled_from(sorted(INVALID)))
        kw[key] = draw(st.sampled_from(INVALID[key]))
    return kw


def _quietly(call):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


@fuzz_settings()
@given(make=MODELS, data=st.data(), settings_=fit_settings(), same_rows=st.booleans(), validation=st.integers(0, 3))
def test_fit_trains_or_raises_a_documented_error(make, data, settings_, same_rows, validation):
    if data.draw(st.booleans()):
        X, y = data.draw(good_data(make))
    else:
        X = data.draw(arrays())
        n = len(X) if isinstance(X, np.ndarray) and X.ndim else None
        y = data.draw(arrays(rows=n if same_rows and n is not None else None))
    if validation == 1 and not settings_["validation_split"]:
        settings_["validation_data"] = (X, y)
    elif validation == 2:
        settings_["validation_data"] = data.draw(st.sampled_from([(X,), "v", (X, y, y), [X, y]]))
    model = make()
    tried("fit")
    try:
        history = _quietly(lambda: model.fit(X, y, **settings_))
    except FIT_ERRORS as e:
        assert isinstance(e, ValueError) and str(e)
        return
    count("fuzzed fit calls that trained")
    assert 0 <= len(history.epoch) <= 2 and np.isfinite(model.flat_params).all()


@fuzz_settings()
@given(make=MODELS, X=arrays(), y=arrays(), batch_size=st.sampled_from([None, 1, 2, 0, "2", 2.5]), built=st.booleans())
def test_predict_and_evaluate_answer_or_raise_a_documented_error(make, X, y, batch_size, built):
    model = make()
    if built:
        model.build(3)
    tried("predict/evaluate")
    for call in (lambda: model.predict(X, batch_size=batch_size), lambda: model.evaluate(X, y, batch_size=batch_size)):
        try:
            _quietly(call)
        except FIT_ERRORS as e:
            assert isinstance(e, ValueError) and str(e)


# -- the documented cases, one by one (others live in tests/test_errors.py) -----------------------------------

X4 = np.random.default_rng(0).normal(size=(6, 4))
Y3 = np.array([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize(
    "X, y, kw, error, match",
    [
        (X4[0], Y3, {}, gn.ShapeError, "at least 2-dimensional"),  # wrong rank
        (X4[:, :, None, None], Y3, {}, gn.ShapeError, r"outputs of shape \(samples, classes\)"),
        (X4.astype(object), np.array(["a"] * 6), {}, gn.DataError, "y has dtype <U1 \\(text\\)"),
        (X4.astype(str), Y3, {}, gn.DataError, "text"),
        (X4 > 0, Y3, {}, gn.DataError, "bool"),
        (X4.astype(complex), Y3, {}, gn.DataError, "complex"),
        (np.zeros((6, 4), "datetime64[s]"), Y3, {}, gn.DataError, "dates"),
        (X4, Y3[:5], {}, gn.ShapeError, "X has 6, y has 5"),
        (X4, Y3 + 1, {}, gn.DataError, "out of range"),  # label 3 for 3 outputs
        (X4, Y3 - 1, {}, gn.DataError, "out of range"),
        (X4, Y3 + 0.5, {}, gn.DataError, "integer class labels"),
        (X4[:0], Y3[:0], {}, gn.DataError, "empty"),  # zero rows
        (np.zeros((6, 0)), Y3, {}, gn.DataError, "empty"),
        (None, Y3, {}, gn.DataError, "NoneType"),
        ({"a": 1}, Y3, {}, gn.DataError, "dict"),
        (X4, Y3, {"epochs": 0}, gn.ConfigError, "`epochs`"),
        (X4, Y3, {"epochs": -3}, gn.ConfigError, "`epochs`"),
        (X4, Y3, {"epochs": 2.0}, gn.ConfigError, "`epochs`"),
        (X4, Y3, {"batch_size": 0}, gn.ConfigError, "`batch_size`"),
        (X4, Y3, {"callbacks": gn.callbacks.History()}, gn.ConfigError, "`callbacks`"),
        (X4, Y3, {"callbacks": [print]}, gn.ConfigError, "Callback instances"),
        (X4, Y3, {"validation_data": (X4,)}, gn.ConfigError, "validation_data"),
        (X4, Y3, {"validation_split": 1.0}, gn.ConfigError, "validation_split"),
        (X4, Y3, {"initial_epoch": -1}, gn.ConfigError, "`initial_epoch`"),
        (X4, Y3, {"initial_epoch": 1, "resume_from": "x"}, gn.ConfigError, "not both"),
        (X4, Y3, {"resume_from": "/nonexistent/ckpt"}, gn.ModelFileError, "no such model file"),
        (X4, Y3, {"health": "yes"}, gn.ConfigError, "`health`"),
    ],
)
def test_documented_fit_errors(X, y, kw, error, match):
    with pytest.raises(error, match=match) as info:
        softmax().fit(X, y, verbose=0, **kw)
    assert isinstance(info.value, ValueError)


def test_one_class_only_trains_in_the_library_and_is_refused_by_the_cli(tmp_path, capsys):
    # a Sequential model does not know it is a classifier (as in Keras): labels in range are labels
    history = softmax().fit(X4, np.zeros(6, dtype=int), epochs=2, verbose=0)
    assert len(history.epoch) == 2
    from glassnet.cli.main import main

    path = tmp_path / "one.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,x\n5,6,x\n")
    assert main(["train", "--data", str(path), "--target", "label", "--save", str(tmp_path / "m")]) == 2
    assert "one class only" in capsys.readouterr().err


@pytest.mark.parametrize("batch_size", [0, -1, "2", 2.5, True])
def test_predict_and_evaluate_batch_size_is_checked(batch_size):
    model = softmax()
    model.build(4)
    with pytest.raises(gn.ConfigError, match="`batch_size`"):
        model.predict(X4, batch_size=batch_size)
    with pytest.raises(gn.ConfigError, match="`batch_size`"):
        model.evaluate(X4, Y3, batch_size=batch_size)
