"""gn.data.load_ucr: both UCR formats, z-normalisation, and every malformed file as a DataError with its line."""

import shutil
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.data import aeon_ucr_path, load_ucr
from glassnet.errors import ConfigError, DataError

HERE = Path(__file__).parent / "ucr"


def fixture(name):
    return str(HERE / name)


# -- the .ts format ---------------------------------------------------------------------------------------
def test_ts_univariate_reads_series_labels_and_header():
    data = load_ucr(fixture("tiny_TRAIN.ts"))
    X, y = data  # unpacks like a tuple
    assert X.shape == (3, 4, 1) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, :, 0], [[1, 2, 3, 4], [4, 3, 2, 1], [0, 1, 1, 2]])
    assert y.tolist() == ["up", "down", "up"]
    assert data.classes.tolist() == ["up", "down"]  # in @classLabel's order
    assert data.name == "Tiny" and data.stats is None


def test_ts_multivariate_with_missing_values():
    # two dimensions separated by ':', '?' allowed because the header says @missing true
    X, y = load_ucr(fixture("multi.ts"), dtype="float64")
    assert X.shape == (2, 3, 2) and X.dtype == np.float64
    np.testing.assert_array_equal(X[0], [[1, 10], [2, 20], [3, 30]])
    assert np.isnan(X[1, 1, 0]) and X[1, 1, 1] == 50
    assert y.dtype == np.int64 and y.tolist() == [1, 3]  # integer labels come back as integers


def test_tsv_reads_label_first():
    data = load_ucr(fixture("tiny.tsv"))
    np.testing.assert_array_equal(data.X[:, :, 0], [[0.5, 1.5, 2.5], [-1, -2, -3], [0, 0, 1]])
    assert data.y.tolist() == [1, 2, 1] and data.classes.tolist() == [1, 2]
    assert data.name == "tiny"


def test_label_map():
    _, y = load_ucr(fixture("tiny_TRAIN.ts"), label_map={"down": 0, "up": 1})
    assert y.tolist() == [1, 0, 1]
    with pytest.raises(DataError, match=r"line 11 of .*tiny_TRAIN.ts: label 'down' is not in label_map"):
        load_ucr(fixture("tiny_TRAIN.ts"), label_map={"up": 1})


# -- z-normalisation ----------------------------------------------------------------------------------------
def test_znorm_series_gives_each_series_mean_0_std_1():
    X, _ = load_ucr(fixture("tiny_TRAIN.ts"), znorm="series", dtype="float64")
    np.testing.assert_allclose(X.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=1), 1, atol=1e-12)
    # series 1 is 1,2,3,4: mean 2.5, std sqrt(1.25)
    np.testing.assert_allclose(X[0, :, 0], (np.arange(1, 5) - 2.5) / np.sqrt(1.25))


def test_znorm_series_leaves_a_constant_series_at_zero():
    X, _ = load_ucr(fixture("tiny_TEST.ts"), znorm="series")  # first series is 2,2,2,2
    assert np.all(X[0] == 0) and np.isfinite(X).all()


def test_znorm_train_statistics_are_returned_and_reused():
    train = load_ucr(fixture("tiny_TRAIN.ts"), znorm="train", dtype="float64")
    raw = np.array([1, 2, 3, 4, 4, 3, 2, 1, 0, 1, 1, 2], dtype=float)
    mean, std = train.stats
    np.testing.assert_allclose(mean, [raw.mean()])
    np.testing.assert_allclose(std, [raw.std()])
    np.testing.assert_allclose(train.X.ravel(), (raw - raw.mean()) / raw.std())
    test = load_ucr(fixture("tiny_TEST.ts"), znorm="train", stats=train.stats, dtype="float64")
    np.testing.assert_allclose(test.X[1, :, 0], (np.array([-1, 0, 1, 5]) - raw.mean()) / raw.std())
    assert test.stats is not None and np.allclose(test.stats[0], mean)


def test_znorm_train_is_per_channel():
    train = load_ucr(fixture("multi.ts"), znorm="train")
    assert train.stats[0].shape == (2,)
    np.testing.assert_allclose(train.stats[0], [np.mean([1, 2, 3, 4, 6]), 35])  # NaN ignored


def test_znorm_options_are_checked():
    with pytest.raises(ConfigError, match="znorm"):
        load_ucr(fixture("tiny.tsv"), znorm="global")
    with pytest.raises(ConfigError, match="stats"):
        load_ucr(fixture("tiny.tsv"), stats=([0.0], [1.0]))
    with pytest.raises(ConfigError, match="1 value"):
        load_ucr(fixture("tiny.tsv"), znorm="train", stats=([0.0, 0.0], [1.0, 1.0]))


# -- malformed files: DataError naming the file and the line --------------------------------------------------
@pytest.mark.parametrize(
    "name, message",
    [
        ("ragged.ts", r"line 8 of .*ragged\.ts: series has 3 values but @seriesLength 4 \(line 4\)"),
        ("ragged.tsv", r"line 2 of .*ragged\.tsv: series has 2 values but the first series \(line 1\) has 3"),
        ("unknown_label.ts", r"line 7 of .*unknown_label\.ts: class label 'c' is not declared by @classLabel"),
        ("bad_number.ts", r"line 7 of .*bad_number\.ts: 'x3' \(value 3\) is not a number"),
        ("no_data.ts", r"line 4 of .*no_data\.ts: '1,2,3,4:a' comes before @data"),
        ("empty.ts", r"line 1 of .*empty\.ts: the file is empty"),
    ],
)
def test_malformed_files(name, message):
    with pytest.raises(DataError, match=message):
        load_ucr(fixture(name))


@pytest.mark.parametrize(
    "text, message",
    [
        ("@problemName X\n@classLabel true a\n", r"line 2 of .*: the file ends without a @data line"),
        ("@data\n", r"line 1 of .*: no series after @data"),
        ("@classLabel true a\n@data\n1,2,nan:a\n", r"line 3 of .*: 'nan' \(value 3\) marks a missing value"),
        ("@classLabel true a\n@data\n1,2,inf:a\n", r"line 3 of .*: 'inf' \(value 3\) is not a finite number"),
        ("@classLabel true a\n@data\n1,2,?:a\n", r"'\?' \(value 3\) marks a missing value, but .*@missing true"),
        ("@seriesLength 0\n@data\n", r"line 1 of .*: @seriesLength must be a positive integer"),
        ("@univariate maybe\n@data\n", r"line 1 of .*: @univariate must be true or false"),
        ("@timeStamps true\n@data\n(1,2):a\n", r"line 1 of .*: @timeStamps true is not supported"),
        ("@classLabel true a\n@data\n1,2,3\n", r"line 3 of .*: expected the series' values, a ':' and its label"),
        ("@dimensions 2\n@classLabel true a\n@data\n1,2:3,4:a\n1,2:a\n",
         r"line 5 of .*: series has 1 dimension\(s\) but the header \(line 1\) declares 2"),
        ("@equalLength false\n@classLabel true a\n@data\n1,2:a\n1,2,3:a\n",
         r"line 5 of .*: series has 3 values .*@equalLength false.*pad or resample"),
        ("@classLabel true a\n@data\n1,2:a\n@data\n", r"line 4 of .*: header line '@data' after @data"),
    ],
)
def test_malformed_ts_text(tmp_path, text, message):
    path = tmp_path / "bad.ts"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_ucr(path)


def test_unlabelled_and_regression_files(tmp_path):
    path = tmp_path / "plain.ts"
    path.write_text("@classLabel false\n@data\n1,2,3\n4,5,6\n")
    data = load_ucr(path)
    assert data.X.shape == (2, 3, 1) and data.y is None and data.classes is None
    path.write_text("% an ARFF-style comment\n@targetlabel true\n@data\n1,2,3:0.5\n4,5,6:-1.25\n")
    data = load_ucr(path)
    assert data.y.dtype == np.float64 and data.y.tolist() == [0.5, -1.25] and data.classes is None


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        load_ucr(tmp_path / "nope.ts")


# -- real data shipped in the aeon wheel -----------------------------------------------------------------------
# aeon is in the dev extra, so these are not skipped: without it aeon_ucr_path raises a DataError naming it.


def test_gunpoint_from_aeon():
    train = load_ucr(aeon_ucr_path("GunPoint"), znorm="train")
    test = load_ucr(aeon_ucr_path("GunPoint", "test"), znorm="train", stats=train.stats)
    assert train.X.shape == (50, 150, 1) and test.X.shape == (150, 150, 1)
    assert train.name == "GunPoint" and train.classes.tolist() == [1, 2]
    assert sorted(set(train.y.tolist())) == [1, 2] and np.bincount(test.y)[1:].tolist() == [76, 74]
    assert abs(float(train.X.mean())) < 1e-6 and abs(float(train.X.std()) - 1) < 1e-5


def test_gunpoint_ts_and_tsv_agree():
    ts = load_ucr(aeon_ucr_path("GunPoint"), dtype="float64")
    tsv = load_ucr(Path(aeon_ucr_path("GunPoint")).with_suffix(".tsv"), dtype="float64")
    np.testing.assert_array_equal(ts.X, tsv.X)
    np.testing.assert_array_equal(ts.y, tsv.y)


def test_gunpoint_copied_under_another_name_reads_the_same(tmp_path):
    # the format is told by the extension or the first line, never by aeon's folder layout
    copy = tmp_path / "my_series.txt"
    shutil.copy(aeon_ucr_path("GunPoint"), copy)
    assert load_ucr(copy).X.shape == (50, 150, 1)


def test_aeon_ucr_path_names_what_is_shipped():
    with pytest.raises(DataError, match="ships no UCR set 'NoSuchSet'.*GunPoint"):
        aeon_ucr_path("NoSuchSet")
    with pytest.raises(ConfigError, match="split"):
        aeon_ucr_path("GunPoint", "validation")
    assert gn.data.load_ucr is load_ucr
