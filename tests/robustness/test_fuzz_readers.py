"""Fuzzing the readers: whatever a CSV or UCR file holds, it reads or raises the documented DataError.

docs/errors.md: ``read_csv`` raises DataError for any content it cannot use (ConfigError for bad
arguments, OSError when the file cannot be opened); ``load_ucr`` likewise. Nothing else escapes, and a
table that reads is consistent (finite features, one target per row).
"""

import codecs

import numpy as np
import pytest
from fuzzing import fuzz_settings, tried
from hypothesis import given
from hypothesis import strategies as st

from glassnet import errors as gn_errors
from glassnet.data import read_csv
from glassnet.data.ucr import load_ucr
from glassnet.errors import DataError

FUZZ = fuzz_settings()

# -- strategies ---------------------------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "y", "target", " a ", "", "é", "a,b", '"q"', "\ufeffa", "x" * 300])
SPECIAL = ["1e999", "-1e999", "nan", "NaN", "inf", "-inf", "Infinity", "1,5", "1.000,5", "1,000", "1 000",
           "1_000", "1'000", "0x10", "", " ", "--1", "1e", ".", "+.5", "3.4e38", "3.5e38", "1e-50", "١٢",
           '"1,5"', '"1,000"', "  7  ", "\t2", "true", "None", "1" * 400, "0." + "1" * 5000]
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.floats(-1e6, 1e6).map(lambda v: f"{v:.3e}"),
)
CELLS = st.one_of(NUMBERS, st.sampled_from(SPECIAL), st.text(max_size=6))


@st.composite
def tables(draw):
    """CSV text: a header and rows of numbers and odd cells, sometimes ragged, sometimes very long."""
    ncol = draw(st.integers(1, 5))
    header = [draw(NAMES) for _ in range(ncol)]
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        width = ncol if draw(st.booleans()) or draw(st.booleans()) else draw(st.integers(0, ncol + 2))
        rows.append([draw(CELLS) for _ in range(width)])
    if draw(st.integers(0, 9)) == 0:  # a very long line of many numbers
        rows.append(["1.5"] * (ncol if draw(st.booleans()) else 50_000))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    blank = draw(st.sampled_from(["", eol, eol * 2 + "  " + eol]))
    text = eol.join([",".join(header)] + [blank + ",".join(r) for r in rows])
    if draw(st.booleans()):
        text += eol
    return text, header


ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])


@st.composite
def encoded(draw):
    text, header = draw(tables())
    encoding = draw(ENCODINGS)
    data = text.encode(encoding, errors="replace")
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))  # truncated anywhere, even mid-character
    return (data if cut is None else data[:cut]), header


def _check_table(t, target):
    assert t.X.ndim == 2 and t.X.shape[0] >= 1 and t.X.shape[1] == len(t.feature_names) >= 1
    assert t.X.dtype == np.float32 and np.isfinite(t.X).all()
    if target is None:
        assert t.y is None
    else:
        assert len(t.y) == len(t.X) and t.target_name == target
        if t.y.dtype.kind == "f":
            assert np.isfinite(t.y).all()


def _read(path, target):
    try:
        t = read_csv(path, target=target)
    except DataError as e:
        assert str(e)  # a message, naming the problem
        return
    _check_table(t, target)


# -- read_csv -----------------------------------------------------------------------------------------------


@FUZZ
@given(content=encoded(), pick=st.integers(0, 7))
def test_csv_any_table_reads_or_raises_data_error(tmp_path, content, pick):
    data, header = content
    target = (header + [None, "missing"])[pick % (len(header) + 2)]
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    tried("csv")
    _read(path, target)


@FUZZ
@given(data=st.binary(max_size=300), target=st.sampled_from([None, "a", ""]))
def test_csv_random_bytes_read_or_raise_data_error(tmp_path, data, target):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    tried("csv")
    _read(path, target)


@pytest.mark.parametrize(
    "content, target, match",
    [
        (b"", None, "is empty"),
        (b"\n\r\n\n", None, "is empty"),
        (b"\n  \n", None, "has no name"),  # spaces make a header of one unnamed column
        (b"a,b,y\n", "y", "no data rows"),
        (b"\xef\xbb\xbfa,b,y\n", "y", "no data rows"),  # a BOM is not a column name
        (b"a,a,y\n1,2,3\n", "y", "appears twice"),
        (b"a,,y\n1,2,3\n", "y", "has no name"),
        (b"a,b\n1,2\n", "y", "no column 'y'"),
        (b"a,y\n1e999,2\n", "y", "not finite"),
        (b"a,y\nnan,2\n", "y", "not finite"),
        (b"a,y\ninf,2\n", "y", "not finite"),
        (b"a,y\n-Infinity,2\n", "y", "not finite"),
        (b'a,y\n"1,5",2\n', "y", r"use '\.' as the decimal point"),
        (b'a,y\n"1,000",2\n', "y", r"use '\.' as the decimal point"),
        (b"a,y\n1 000,2\n", "y", "not a number"),
        (b"a,y\n1_000,2\n", "y", "not a number"),
        (b"a,b,y\n1,2\n", "y", "row has 2 fields, header has 3"),
        (b"a,b,y\n1,2,3,4\n", "y", "row has 4 fields"),
        (b"a,y\n1,2\n3,\n", "y", "missing value"),
        (b"a,y\n3.5e38,1\n", "y", "does not fit in float32"),
        (b'a,y\n"1,2\n', "y", "not valid CSV"),
        (b"a,y\n\xe9,1\n", "y", "not valid UTF-8"),
        ("a,y\n1,2\n".encode("utf-16"), "y", "not valid UTF-8"),
        (b"a,y\n" + b"1" * 200_000 + b",2\n", "y", "not valid CSV"),  # one cell over the csv module's limit
    ],
)
def test_csv_documented_errors(tmp_path, content, target, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        read_csv(path, target=target)
    assert str(path) in str(info.value)


def test_csv_bom_and_long_lines_read(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"a,y\r\n1.5,x\r\n")
    t = read_csv(path, target="y")
    assert t.columns == ["a", "y"] and t.X.tolist() == [[1.5]] and t.y.tolist() == ["x"]
    n = 20_000
    path.write_text(",".join(f"c{i}" for i in range(n)) + "\n" + ",".join(["0.5"] * n) + "\n")
    assert read_csv(path).X.shape == (1, n)


def test_csv_unreadable_paths_are_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_csv(tmp_path / "nowhere.csv")
    with pytest.raises(IsADirectoryError):
        read_csv(tmp_path)


# -- load_ucr -----------------------------------------------------------------------------------------------

TS_HEADER = st.lists(
    st.sampled_from(["@problemName P", "@univariate true", "@univariate false", "@equalLength true",
                     "@seriesLength 3", "@seriesLength x", "@classLabel true a b", "@classLabel false",
                     "@targetlabel true", "@timeStamps false", "@missing true", "# comment", "@bogus 1",
                     "@dimensions 2", "@seriesLength 0"]),
    max_size=6,
)
TS_VALUES = st.one_of(NUMBERS, st.sampled_from(["?", "NaN", "1e999", "", "a", "1,5", "(1,2)"]))


@st.composite
def ts_files(draw):
    lines = draw(TS_HEADER)
    if draw(st.integers(0, 5)):
        lines.append("@data")
    for _ in range(draw(st.integers(0, 4))):
        dims = [",".join(draw(st.lists(TS_VALUES, min_size=0, max_size=4))) for _ in range(draw(st.integers(1, 2)))]
        label = draw(st.sampled_from(["a", "b", "c", "1", "2.5", ""]))
        lines.append(":".join(dims + ([label] if label else [])))
    return "\n".join(lines)


@st.composite
def tsv_files(draw):
    sep = draw(st.sampled_from(["\t", ",", " "]))
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        rows.append(sep.join([draw(st.sampled_from(["1", "2", "a", "-1", ""]))]
                             + draw(st.lists(TS_VALUES, min_size=0, max_size=5))))
    return "\n".join(rows)


def _read_ucr(path, **kw):
    try:
        data = load_ucr(path, **kw)
    except DataError as e:
        assert str(e)
        return
    assert data.X.ndim == 3 and len(data.X) >= 1
    assert data.y is None or len(data.y) == len(data.X)


@FUZZ
@given(text=ts_files(), encoding=ENCODINGS, znorm=st.sampled_from([None, "series", "train"]))
def test_ucr_ts_reads_or_raises_data_error(tmp_path, text, encoding, znorm):
    path = tmp_path / "fuzz.ts"
    path.write_bytes(text.encode(encoding, errors="replace"))
    tried("ucr")
    _read_ucr(path, znorm=znorm)


@FUZZ
@given(text=tsv_files(), cut=st.integers(0, 10_000), ext=st.sampled_from(["tsv", "txt"]))
def test_ucr_tsv_reads_or_raises_data_error(tmp_path, text, cut, ext):
    path = tmp_path / f"fuzz.{ext}"
    data = text.encode()
    path.write_bytes(data[: cut % (len(data) + 1)])
    tried("ucr")
    _read_ucr(path)


@FUZZ
@given(data=st.binary(max_size=300), ext=st.sampled_from(["ts", "tsv"]))
def test_ucr_random_bytes_read_or_raise_data_error(tmp_path, data, ext):
    path = tmp_path / f"fuzz.{ext}"
    path.write_bytes(data)
    tried("ucr")
    _read_ucr(path)


# -- the command line: any arguments end in a result (status 0) or one line and status 2 ---------------------


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    (d / "good.csv").write_text("a,b,c,y\n" + "\n".join(f"{r[0]},{r[1]},{r[2]},{'xy'[int(r[0] > 0)]}" for r in X))
    (d / "reg.csv").write_text("a,b,c,y\n" + "\n".join(f"{r[0]},{r[1]},{r[2]},{r.sum()}" for r in X))
    (d / "bad.csv").write_bytes(b"a,b\n1,\xff\n")
    (d / "model.glassnet").write_bytes(b"PK\x03\x04 not a model")
    from glassnet.cli.main import main

    assert main(["train", "--data", str(d / "good.csv"), "--target", "y", "--epochs", "1", "--layers", "4",
                 "--save", str(d / "trained.glassnet"), "--json"]) == 0
    return d


FILES = ["good.csv", "reg.csv", "bad.csv", "missing.csv", "model.glassnet", "trained.glassnet", ".", "no/dir/f"]
VALUES = st.one_of(st.sampled_from(["1", "2", "0", "-1", "0.5", "1e9", "nan", "inf", "x", "", "y", "a", "relu",
                                    "adam", "sgd", "classification", "64,32", "4", "0,4", "a,b", "article",
                                    "xor"]), st.text(max_size=5))
FLAGS = {
    "train": ["--data", "--target", "--layers", "--activation", "--optimizer", "--lr", "--epochs", "--batch-size",
              "--validation-split", "--task", "--seed", "--save", "--checkpoint", "--checkpoint-every", "--resume"],
    "predict": ["--model", "--data", "--out"],
    "evaluate": ["--model", "--data", "--target"],
    "trace": ["--preset", "--model", "--data", "--target", "--steps", "--batch-size", "--seed", "--json", "--html"],
}
PATH_FLAGS = {"--data", "--save", "--checkpoint", "--resume", "--model", "--out", "--json", "--html"}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(FLAGS)))
    argv = [command]
    for flag in draw(st.lists(st.sampled_from(FLAGS[command]), max_size=7, unique=True)):
        if flag in PATH_FLAGS:
            argv += [flag, draw(st.sampled_from(FILES + ["out.csv", "out.json", "out.html", "new.glassnet"]))]
        else:
            argv += [flag, draw(VALUES)]
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--json", "--bogus", "-h", "--debug"])))
    if command == "train" and "--epochs" not in argv:
        argv += ["--epochs", "1"]
    return argv


@FUZZ
@given(argv=command_lines())
def test_cli_any_arguments_give_status_0_or_one_line_and_status_2(cli_files, argv, capsys, monkeypatch):
    from glassnet.cli.main import main

    monkeypatch.chdir(cli_files)
    argv = [a if a not in FILES else str(cli_files / a) for a in argv]
    tried("cli")
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: a usage error (status 2) or --help (status 0)
        code = e.code
    except gn_errors.GlassnetError:  # --debug shows the traceback instead of the one line
        assert "--debug" in argv
        return
    err = capsys.readouterr().err
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("glassnet"), (argv, err)
