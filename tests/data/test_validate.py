"""Tests of glassnet.data.validate: array checks, labels, splits and batches."""

import numpy as np
import pytest

from glassnet.data import (
    batches,
    check_array,
    check_labels,
    check_lengths,
    check_positive_int,
    decode_labels,
    encode_labels,
    one_hot,
    train_val_split,
)
from glassnet.errors import ConfigError, DataError, ShapeError

# --- check_array: what passes ---------------------------------------------------------------------


def test_list_becomes_contiguous_float32():
    out = check_array([[1, 2], [3, 4]])
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])


def test_no_copy_when_dtype_and_layout_already_fit():
    x = np.zeros((3, 2), dtype=np.float32)
    assert check_array(x) is x
    y = np.zeros((3, 2), dtype=np.float64)
    assert check_array(y, dtype=np.float64) is y


def test_non_contiguous_and_int_inputs_are_converted():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    out = check_array(x)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, x)
    assert check_array(np.arange(3, dtype=np.int64), dtype="float64").dtype == np.float64


def test_object_array_of_numbers_is_accepted():
    out = check_array(np.array([1, 2.5, np.float32(3)], dtype=object))
    np.testing.assert_array_equal(out, [1, 2.5, 3])


def test_empty_allowed_when_asked():
    assert check_array(np.zeros((0, 3)), allow_empty=True).shape == (0, 3)


# --- check_array: what fails, and how the message says it -----------------------------------------


@pytest.mark.parametrize(
    "value, match",
    [
        (["a", "bb"], r"X has dtype <U2 \(text\); expected numbers"),
        (np.array([b"1"]), r"X has dtype \|S1 \(bytes\); expected numbers"),
        (np.array([1 + 2j]), r"complex128 \(complex numbers\); expected numbers"),
        (np.array([1, "x"], dtype=object), r"X contains 'x' \(str\) at row 1; expected numbers"),
        ([[1.0, None]], r"X contains None \(NoneType\) at row 0, column 1"),
    ],
)
def test_non_numbers_are_data_errors(value, match):
    with pytest.raises(DataError, match=match):
        check_array(value)


def test_booleans_must_be_cast_explicitly():
    with pytest.raises(DataError, match=r"X has dtype bool; booleans must be cast explicitly"):
        check_array(np.array([[True, False]]))
    with pytest.raises(DataError, match=r"contains a boolean \(True\) at row 0"):
        check_array(np.array([True, 1.0], dtype=object))


@pytest.mark.parametrize(
    "value, match",
    [
        ([[1, 2, 3], [4, 5]], r"X is ragged: row 0 has 3 values but row 1 has 2 values"),
        ([[1, 2], 3], r"X is ragged: row 0 has 2 values but row 1 is a single value"),
        (
            [[[1, 2], [3, 4]], [[1, 2], [3]]],
            r"X is ragged: X\[1\]\[0\] has 2 values but X\[1\]\[1\] has 1 value;",
        ),
    ],
)
def test_ragged_lists_name_the_first_mismatch(value, match):
    with pytest.raises(DataError, match=match):
        check_array(value)


def test_empty_arrays_are_data_errors():
    with pytest.raises(DataError, match=r"X is empty: expected at least one row; received shape \(0, 3\)"):
        check_array(np.zeros((0, 3)))
    with pytest.raises(DataError, match=r"X is empty: expected at least one column; received shape \(3, 0\)"):
        check_array(np.zeros((3, 0)))
    with pytest.raises(DataError, match=r"y is empty"):
        check_array([], name="y")


def test_nan_and_inf_name_the_first_position():
    x = np.zeros((5, 3))
    x[3, 1] = np.nan
    x[4, 0] = np.inf
    with pytest.raises(DataError, match=r"X contains NaN at row 3, column 1"):
        check_array(x)
    with pytest.raises(DataError, match=r"y contains -inf at row 2; expected finite numbers"):
        check_array([0.0, 1.0, -np.inf], name="y")
    z = np.zeros((2, 2, 2))
    z[1, 0, 1] = np.inf
    with pytest.raises(DataError, match=r"X contains inf at index \(1, 0, 1\)"):
        check_array(z)


def test_overflow_to_float32_is_named():
    with pytest.raises(DataError, match=r"X has value 1e\+300 at row 1 that does not fit in float32"):
        check_array([0.0, 1e300])
    assert check_array([0.0, 1e300], dtype="float64")[1] == 1e300


def test_wrong_rank_is_a_shape_error():
    with pytest.raises(
        ShapeError, match=r"X must be 2-dimensional \(samples, features\); received shape \(5,\)"
    ):
        check_array(np.zeros(5), min_ndim=2, max_ndim=2)
    with pytest.raises(ShapeError, match=r"must be 3- to 4-dimensional; received shape \(2, 2\)"):
        check_array(np.zeros((2, 2)), min_ndim=3, max_ndim=4)
    with pytest.raises(ShapeError, match=r"X must be at least 2-dimensional; received shape \(5,\)"):
        check_array(np.zeros(5), min_ndim=2)


def test_scalar_is_a_shape_error():
    with pytest.raises(
        ShapeError, match=r"X must be an array with a batch dimension; received a scalar \(5.0\)"
    ):
        check_array(5.0)


def test_unsupported_dtype_argument_is_a_config_error():
    with pytest.raises(ConfigError, match=r"`dtype`"):
        check_array([1.0], dtype="int32")


def test_check_lengths():
    check_lengths(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ShapeError, match=r"X and y have different numbers of rows: X has 3, y has 4"):
        check_lengths(np.zeros((3, 2)), np.zeros((4, 1)))
    with pytest.raises(ShapeError, match=r"y must be an array with a batch dimension; received 1.0"):
        check_lengths([[1], [2]], np.float64(1.0))


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3", None])
def test_check_positive_int_rejects(value):
    with pytest.raises(
        ConfigError, match=r"Received an invalid value for `units`, expected a positive integer"
    ):
        check_positive_int("units", value)


# --- labels ----------------------------------------------------------------------------------------


def test_encode_decode_round_trip_strings():
    codes, classes = encode_labels(["b", "a", "c", "a"])
    assert codes.dtype == np.int64
    assert codes.tolist() == [1, 0, 2, 0]
    assert classes.tolist() == ["a", "b", "c"]
    assert decode_labels(codes, classes).tolist() == ["b", "a", "c", "a"]


def test_encode_numbers_and_column_vector():
    codes, classes = encode_labels(np.array([[3.0], [1.0], [3.0]]))
    assert codes.tolist() == [1, 0, 1] and classes.tolist() == [1.0, 3.0]


def test_encode_rejects_bad_labels():
    with pytest.raises(DataError, match=r"y contains NaN at row 1"):
        encode_labels([0.0, np.nan])
    with pytest.raises(DataError, match=r"y mixes label types \(NoneType, int, str\)"):
        encode_labels(np.array(["a", 1, None], dtype=object))
    with pytest.raises(DataError, match=r"y is empty"):
        encode_labels([])
    with pytest.raises(ShapeError, match=r"y must be 1-dimensional .* received shape \(2, 2\)"):
        encode_labels(np.zeros((2, 2)))


def test_check_labels_maps_known_labels():
    _, classes = encode_labels(["a", "b", "c"])
    assert check_labels(["c", "a"], classes).tolist() == [2, 0]
    assert check_labels([2, 0], classes).tolist() == [2, 0]  # integers against text classes are codes
    assert check_labels([3.0, 1.0], np.array([1, 2, 3])).tolist() == [2, 0]


def test_check_labels_names_first_unseen_label():
    classes = np.array(["a", "b"])
    with pytest.raises(
        DataError,
        match=r"y has label 'z' at row 7 that the model never saw during training; "
        r"known labels: \['a', 'b'\]",
    ):
        check_labels(["a", "b", "a", "b", "a", "b", "a", "z"], classes)
    with pytest.raises(DataError, match=r"y has label '1' at row 0 .* known labels: \[1, 2, 3\]"):
        check_labels(["1"], np.array([1, 2, 3]))
    with pytest.raises(DataError, match=r"y has label 4 at row 1"):
        check_labels([1, 4], np.array([1, 2, 3]))
    with pytest.raises(DataError, match=r"y has code 5 at row 2; expected class codes 0..1"):
        check_labels([0, 1, 5], classes)


def test_decode_rejects_bad_codes():
    with pytest.raises(DataError, match=r"codes has code 3 at row 1"):
        decode_labels([0, 3], np.array(["a", "b"]))
    with pytest.raises(DataError, match=r"codes has dtype float64; expected integer class codes"):
        decode_labels([0.0], np.array(["a"]))


def test_one_hot():
    out = one_hot([2, 0, 1], 3, dtype=np.float64)
    np.testing.assert_array_equal(out, np.eye(3)[[2, 0, 1]])
    assert one_hot([0], 2).dtype == np.float32
    with pytest.raises(DataError, match=r"codes has code 3 at row 2"):
        one_hot([0, 1, 3], 3)
    with pytest.raises(ConfigError, match=r"`n_classes`"):
        one_hot([0], 0)
    with pytest.raises(ShapeError, match=r"codes must be 1-dimensional"):
        one_hot([[0]], 2)


# --- train/validation split and batches -------------------------------------------------------------


def test_train_val_split_takes_last_rows_like_keras():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    _, y_tr, X_va, y_va = train_val_split(X, y, 0.25)  # floor(10 * 0.75) = 7 rows for training
    assert y_tr.tolist() == list(range(7)) and y_va.tolist() == [7, 8, 9]
    np.testing.assert_array_equal(X_va, X[7:])
    assert train_val_split(X, None, 0.5)[1] is None


def test_train_val_split_with_rng_is_a_partition_in_order():
    X = np.arange(10)
    X_tr, _, X_va, _ = train_val_split(X, X, 0.3, rng=0)
    assert len(X_va) == 3 and sorted(np.r_[X_tr, X_va].tolist()) == list(range(10))
    assert np.all(np.diff(X_tr) > 0) and np.all(np.diff(X_va) > 0)
    again = train_val_split(X, X, 0.3, rng=0)[2]
    np.testing.assert_array_equal(X_va, again)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, True, "0.2", None])
def test_train_val_split_rejects_fraction(fraction):
    with pytest.raises(ConfigError, match=r"Received an invalid value for `validation_split`"):
        train_val_split(np.zeros(10), None, fraction)


def test_train_val_split_needs_rows_on_both_sides():
    # floor(1 * 0.5) = 0 rows would be left for training
    with pytest.raises(ConfigError, match=r"Training data contains 1 samples, which is not sufficient"):
        train_val_split(np.zeros(1), None, 0.5)
    # 1 - 1e-20 rounds to 1.0, so floor(3 * 1.0) = 3 rows for training and none for validation
    with pytest.raises(ConfigError, match=r"Training data contains 3 samples.*`validation_split=1e-20`"):
        train_val_split(np.zeros(3), None, 1e-20)


def test_train_val_split_checks_lengths():
    with pytest.raises(ShapeError, match=r"X has 4, y has 3"):
        train_val_split(np.zeros(4), np.zeros(3), 0.5)


def test_batches_in_order_are_slices():
    assert list(batches(5, 2)) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert list(batches(5, None)) == [slice(0, 5)]
    assert list(batches(3, 10)) == [slice(0, 3)]
    assert list(batches(0, 4)) == []


def test_batches_shuffled_cover_every_row_once():
    parts = list(batches(10, 3, rng=np.random.default_rng(0)))
    assert [len(p) for p in parts] == [3, 3, 3, 1]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    again = list(batches(10, 3, rng=np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


@pytest.mark.parametrize("batch_size", [0, -3, 2.0, True, "32"])
def test_batches_rejects_batch_size_at_call_time(batch_size):
    with pytest.raises(
        ConfigError, match=r"Received an invalid value for `batch_size`, expected a positive integer or None"
    ):
        batches(10, batch_size)  # raises before iteration starts
