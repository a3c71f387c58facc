"""Tests of glassnet.data.csv: reading tables, every malformed-file error, and atomic writes."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from glassnet.data import Table, read_csv, write_csv
from glassnet.errors import ConfigError, DataError

# Hypothesis reuses one tmp_path for all examples of a test; each example overwrites the file.
REUSE_TMP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


@pytest.fixture
def write(tmp_path):
    """Write text (or bytes) to tmp_path/data.csv and return the path."""

    def _write(content, name="data.csv"):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    return _write


# --- what reads ----------------------------------------------------------------------------------------


def test_numeric_target(write):
    t = read_csv(write("x1,x2,y\n1,2,0\n3.5,-4e-1,1\n"), target="y")
    assert isinstance(t, Table)
    assert t.columns == ["x1", "x2", "y"] and t.feature_names == ["x1", "x2"] and t.target_name == "y"
    assert t.X.dtype == np.float32 and t.X.shape == (2, 2)
    np.testing.assert_array_equal(t.X, np.array([[1, 2], [3.5, -0.4]], dtype=np.float32))
    assert t.y.dtype == np.float32 and t.y.tolist() == [0.0, 1.0]


def test_text_target_and_target_in_the_middle(write):
    t = read_csv(write("a,label,b\n1, cat ,2\n3,dog,4\n5,7,6\n"), target="label", dtype="float64")
    assert t.feature_names == ["a", "b"] and t.X.dtype == np.float64
    np.testing.assert_array_equal(t.X, [[1, 2], [3, 4], [5, 6]])
    assert t.y.dtype.kind == "U" and t.y.tolist() == ["cat", "dog", "7"]


def test_no_target_means_all_features(write):
    t = read_csv(write("a,b\n1,2\n"))
    assert t.target_name is None and t.y is None and t.feature_names == ["a", "b"]


def test_bom_crlf_blank_lines_whitespace_and_quotes(write):
    t = read_csv(write('\ufeff a , b \r\n\r\n 1 ,\t2\r\n"3",4\r\n\r\n'))
    assert t.columns == ["a", "b"]
    np.testing.assert_array_equal(t.X, [[1, 2], [3, 4]])


def test_other_delimiter(write):
    t = read_csv(write("a;b\n1;2\n"), delimiter=";")
    np.testing.assert_array_equal(t.X, [[1, 2]])


def test_path_is_kept_as_given(write):
    path = write("a\n1\n")
    assert read_csv(path).path == str(path)


# --- what fails, with file, line and column in the message ---------------------------------------------


@pytest.mark.parametrize(
    "content, target, match",
    [
        ("", None, r"data.csv is empty: expected a header row"),
        ("\n\n", None, r"data.csv is empty"),
        ("a,b\n", None, r"data.csv has a header \(line 1\) but no data rows"),
        ("a,a\n1,2\n", None, r"column name 'a' appears twice in the header at line 1 of .*data.csv"),
        ("a, ,c\n1,2,3\n", None, r"column 2 of the header at line 1 of .*data.csv has no name"),
        ("a,b,c,d\n1,2,3,4\n\n1,2,3\n", None, r"line 4 of .*data.csv: row has 3 fields, header has 4"),
        (
            "x1,x2\n1,2\n3,4\n5,6\n7,abc\n",
            None,
            r"'abc' in column 'x2' at line 5 of .*data.csv is not a number",
        ),
        ("x1,x2\n1,nan\n", None, r"'nan' in column 'x2' at line 2 of .*data.csv is not finite"),
        ("x1,x2\n1,-inf\n", None, r"'-inf' in column 'x2' at line 2 .* is not finite"),
        ("x1,x2\n1,1e999\n", None, r"'1e999' in column 'x2' at line 2 .* is not finite"),
        ("x1,x2\n1,1e39\n", None, r"'1e39' in column 'x2' at line 2 .* does not fit in float32"),
        ("x1,x2\n1,\n", None, r"missing value in column 'x2' at line 2 of .*data.csv: the cell is empty"),
        (
            'x1,x2\n1,"1,5"\n',
            None,
            r"'1,5' in column 'x2' at line 2 .* is not a number \(use '.' as the decimal",
        ),
        ("x1,x2\n1,1_000\n", None, r"'1_000' in column 'x2' .* is not a number"),
        ("x1,x2\n1,2\n", "y", r"data.csv has no column 'y' to use as the target; columns: \['x1', 'x2'\]"),
        ("y\n1\n", "y", r"has no feature columns: its only column is the target 'y'"),
        ("x,y\n1,a\n2,\n", "y", r"missing value in column 'y' at line 3"),
        ("x,y\n1,0\n2,nan\n", "y", r"'nan' in column 'y' at line 3 .* is not finite"),
        ('x,y\n1,2\n3,"open\n4,5\n', None, r"line 3 of .*data.csv is not valid CSV: unexpected end of data"),
        ('x,y\n1,"a"b\n', None, r"line 2 of .*data.csv is not valid CSV"),
    ],
)
def test_malformed_files_are_data_errors(write, content, target, match):
    with pytest.raises(DataError, match=match):
        read_csv(write(content), target=target)


def test_line_numbers_count_multiline_quoted_fields(write):
    # the record on line 2 spans two lines, so the bad cell is on line 4 as an editor shows it
    with pytest.raises(DataError, match=r"'x' in column 'a' at line 4 of"):
        read_csv(write('a,b\n1,"two\nlines"\nx,3\n'), target="b")


def test_undecodable_bytes_name_position_and_line(write):
    with pytest.raises(DataError, match=r"is not valid UTF-8: byte 0xff at byte position 8 \(line 3\)"):
        read_csv(write(b"a,b\n1,2\n\xff,3\n"))
    with pytest.raises(DataError, match=r"byte 0xe9 at byte position 11 \(line 3\)"):
        read_csv(write(b"\xef\xbb\xbfa,b\n1,2\n\xe9,3\n"))  # positions count the byte-order mark


def test_bad_arguments_are_config_errors(write):
    path = write("a\n1\n")
    with pytest.raises(ConfigError, match=r"`delimiter`"):
        read_csv(path, delimiter=";;")
    with pytest.raises(ConfigError, match=r"`target`"):
        read_csv(path, target=0)
    with pytest.raises(ConfigError, match=r"`dtype`"):
        read_csv(path, dtype="int8")


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_csv(tmp_path / "nope.csv")


# --- write_csv ---------------------------------------------------------------------------------------


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / "pred.csv"
    write_csv(path, ["a", "label"], [[0.1, "x"], [2.5, "y,z"]])
    assert path.read_text() == 'a,label\n0.1,x\n2.5,"y,z"\n'
    t = read_csv(path, target="label", dtype="float64")
    assert t.X[:, 0].tolist() == [0.1, 2.5] and t.y.tolist() == ["x", "y,z"]
    assert os.listdir(tmp_path) == ["pred.csv"]  # no temporary file left behind


def test_write_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "pred.csv"
    path.write_text("old\n")
    with pytest.raises(DataError, match=r"row 1 for .*pred.csv has 1 value\(s\), but there are 2 columns"):
        write_csv(path, ["a", "b"], [[1, 2], [3]])
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["pred.csv"]


@REUSE_TMP
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 4)), elements=st.floats(-1e300, 1e300)))
def test_float64_round_trip_is_exact(tmp_path, X):
    path = tmp_path / "r.csv"
    write_csv(path, [f"c{j}" for j in range(X.shape[1])], X)
    np.testing.assert_array_equal(read_csv(path, dtype="float64").X, X)


# --- fuzzing: any file content either reads or is a DataError ------------------------------------------

CSVISH = st.text(alphabet='0123456789.,;-+eE \t\n\r"abnifx_\ufeff\x00é', max_size=80)


def _read_or_data_error(path, target):
    try:
        t = read_csv(path, target=target)
    except DataError:
        return
    assert t.X.ndim == 2 and t.X.shape[0] >= 1 and np.isfinite(t.X).all()
    assert t.y is None or len(t.y) == len(t.X)


@REUSE_TMP
@given(content=st.binary(max_size=80), target=st.sampled_from([None, "a"]))
def test_random_bytes_read_or_raise_data_error(tmp_path, content, target):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    _read_or_data_error(path, target)


@REUSE_TMP
@given(
    content=st.one_of(st.text(max_size=80), CSVISH, CSVISH.map(lambda s: "a,b\n" + s)),
    target=st.sampled_from([None, "a", "b"]),
)
def test_random_text_reads_or_raises_data_error(tmp_path, content, target):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content.encode("utf-8", "surrogatepass"))
    _read_or_data_error(path, target)


# --- choosing columns: features by name, ignored columns, text columns ----------------------------------


def test_features_by_name_in_their_order_other_columns_unread(write):
    path = write("name,x2,note,x1,y\np1,2,hello,1,a\np2,4,,3,b\n")
    t = read_csv(path, "y", features=["x1", "x2"], text=["name"])
    assert t.feature_names == ["x1", "x2"]
    np.testing.assert_array_equal(t.X, [[1, 2], [3, 4]])  # the model's order, whatever the file's
    assert t.text["name"].tolist() == ["p1", "p2"] and t.y.tolist() == ["a", "b"]  # 'note' never read
    with pytest.raises(DataError, match=r"has no column 'x3' feature; columns: \['name'"):
        read_csv(path, features=["x1", "x3"])
    t = read_csv(write("x1\n5\n"), features=["x1"])
    assert t.X.tolist() == [[5.0]]


def test_ignore_and_text_columns_are_no_features(write):
    path = write("id,x1,x2,y\n7,1,2,0\n8,3,4,1\n")
    t = read_csv(path, "y", ignore=["id"])
    assert t.feature_names == ["x1", "x2"] and t.text == {}
    t = read_csv(path, "y", text=["id"])
    assert t.feature_names == ["x1", "x2"] and t.text["id"].tolist() == ["7", "8"]
    with pytest.raises(DataError, match="has no column 'ID' to ignore"):
        read_csv(path, "y", ignore=["ID"])
    with pytest.raises(DataError, match="has no feature columns: its columns .* are all the target, ignored"):
        read_csv(path, "y", ignore=["x1", "x2"], text=["id"])
    # a text id column is no error when it is not a feature
    assert read_csv(write("name,x\np1,1\n"), text=["name"]).X.tolist() == [[1.0]]
