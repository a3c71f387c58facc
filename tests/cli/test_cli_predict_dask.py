"""`glassnet predict` over several CSV files: one output per input, locally or on a Dask cluster.

Each partition's output must be, line for line, the matching rows of `glassnet predict` on the
concatenated file. Partitions hold multiples of 16 rows (see tests/test_dask.py: BLAS rounding depends on
a row's place in a block of 16 rows).
"""

import json
import socket
import time

import distributed  # the dask extra is in dev: missing, it fails loudly
import numpy as np
import pytest
from test_cli_train import cli, write  # the CSV and command helpers of the train tests

import glassnet as gn
import glassnet.dask
from glassnet.cli import predict as predict_cli

pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use")

SIZES = [96, 64, 128]
COLORS = np.array(["red", "green", "blue"])


@pytest.fixture(scope="module")
def cluster():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """part-0..2.csv, their concatenation all.csv, a model trained on it, and its predictions of all.csv."""
    d = tmp_path_factory.mktemp("parts")
    X, codes = gn.data.blobs(sum(SIZES), centers=[[0, 0], [4, 0], [0, 4]], std=1.2, rng=5)
    rows = [[f"id{i}", b * 100, "note", a, COLORS[c]] for i, ((a, b), c) in enumerate(zip(X, codes))]
    header = ["key", "x2", "text", "x1", "color"]
    write(d / "all.csv", header, rows)
    edges = np.cumsum([0, *SIZES])
    parts = [write(d / f"part-{k}.csv", header, rows[edges[k]:edges[k + 1]]) for k in range(len(SIZES))]
    model = str(d / "m.glassnet")
    assert cli_ok("train", "--data", str(d / "all.csv"), "--target", "color", "--id", "key", "--ignore", "text",
                  "--layers", "16", "--epochs", "3", "--save", model, "-q") == 0
    assert cli_ok("predict", "--model", model, "--data", str(d / "all.csv"), "--id", "key",
                  "--out", str(d / "all-preds.csv"), "-q") == 0
    lines = (d / "all-preds.csv").read_text().splitlines()
    expected = [[lines[0], *lines[1 + edges[k]:1 + edges[k + 1]]] for k in range(len(SIZES))]
    return {"dir": d, "parts": parts, "model": model, "expected": expected}


def cli_ok(*argv):
    from glassnet.cli.main import main

    return main(list(argv))


def assert_outputs(out_dir, files, suffix=".csv"):
    for k, expected in enumerate(files["expected"]):
        assert (out_dir / f"part-{k}{suffix}").read_text().splitlines() == expected, f"part-{k}"


def test_partitions_on_a_cluster_equal_one_predict_of_the_whole(capsys, files, cluster):
    out = files["dir"] / "preds"  # created: the name ends in /
    rc, stdout, err = cli(capsys, "predict", "--model", files["model"], "--data", str(files["dir"] / "part-*.csv"),
                          "--id", "key", "--out", f"{out}/", "--scheduler", cluster.scheduler_address)
    assert rc == 0, err
    assert stdout == ""
    assert err.strip() == f"wrote {sum(SIZES)} predictions to {out}/ (3 files) on {cluster.scheduler_address}"
    assert sorted(p.name for p in out.iterdir()) == ["part-0.csv", "part-1.csv", "part-2.csv"]
    assert_outputs(out, files)


def test_partitions_locally_take_the_same_path(capsys, files, tmp_path):
    # no --scheduler: the same tasks on Dask's threads; the files as a list instead of a glob
    rc, _, err = cli(capsys, "predict", "--model", files["model"], "--data", *reversed(files["parts"]),
                     "--id", "key", "--out", str(tmp_path), "-q")
    assert rc == 0 and err == ""
    assert_outputs(tmp_path, files)


def test_json_per_partition(capsys, files, tmp_path):
    rc, _, err = cli(capsys, "predict", "--model", files["model"], "--data", *files["parts"], "--json",
                     "--out", str(tmp_path), "-q")
    assert rc == 0, err
    for k, part in enumerate(files["parts"]):
        obj = json.loads((tmp_path / f"part-{k}.json").read_text())
        assert obj["data"] == part and obj["model"] == files["model"] and obj["rows"] == SIZES[k]
        assert obj["columns"] == ["prediction"] + [f"prob_{k}" for k in gn.load(files["model"]).metadata["classes"]]
        assert len(obj["predictions"]) == SIZES[k]


def test_one_file_on_a_cluster_into_a_named_file(capsys, files, cluster, tmp_path):
    out = tmp_path / "p.csv"
    rc, _, err = cli(capsys, "predict", "--model", files["model"], "--data", files["parts"][1], "--id", "key",
                     "--out", str(out), "--scheduler", cluster.scheduler_address, "-q")
    assert rc == 0, err
    assert out.read_text().splitlines() == files["expected"][1]


def test_a_scheduler_that_does_not_answer_is_one_line_within_the_timeout(capsys, files, tmp_path):
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    try:
        start = time.perf_counter()
        rc, _, err = cli(capsys, "predict", "--model", files["model"], "--data", *files["parts"],
                         "--out", str(tmp_path), "--scheduler", address)
        elapsed = time.perf_counter() - start
    finally:
        silent.close()
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"glassnet predict: ConfigError: no Dask scheduler answered at {address} within 5 s")
    assert elapsed < predict_cli.CONNECT_TIMEOUT_S + 25  # not a hang (a generous bound)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("argv, message", [
    (["--data", "{dir}/nothing-*.csv", "--out", "{tmp}"], "DataError: --data {dir}/nothing-*.csv: no file matches"),
    (["--data", "{dir}/part-*.csv", "--out", "{tmp}/p.csv"],
     "ConfigError: --out {tmp}/p.csv is not a directory; with 3 input files it must be one"),
    (["--data", "{dir}/part-*.csv"], "ConfigError: with 3 input files, --out DIR is needed"),
    (["--data", "{dir}/part-*.csv", "--out", "{tmp}/no/such/"], "ConfigError: --out {tmp}/no/such: the directory"),
    (["--data", "{dir}/part-*.csv", "--out", "{dir}"],
     "ConfigError: --out {dir}: the predictions of {dir}/part-0.csv would overwrite the input file"),
    (["--data", "{dir}/part-0.csv", "{tmp}/a/part-0.csv", "--out", "{tmp}"],
     "ConfigError: --data {dir}/part-0.csv and {tmp}/a/part-0.csv would both write"),
    (["--data", "{dir}/part-0.csv", "--scheduler", "tcp://127.0.0.1:1"],
     "ConfigError: with --scheduler, --out DIR is needed"),
    (["--data", "{dir}/part-*.csv", "--out", "{tmp}", "--scheduler", "nonsense://x"],
     "ConfigError: 'nonsense://x' is no Dask scheduler address"),
])
def test_bad_files_and_outputs_are_one_line(capsys, files, tmp_path, argv, message):
    (tmp_path / "a").mkdir()
    (tmp_path / "p.csv").write_text("x\n")
    fill = {"dir": files["dir"], "tmp": tmp_path}
    argv = [a.format(**fill) for a in argv]
    rc, _, err = cli(capsys, "predict", "--model", files["model"], *argv)
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("glassnet predict: " + message.format(**fill)), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "p.csv"]  # nothing written


@pytest.mark.parametrize("where", ["threads", "cluster"])
def test_a_bad_row_in_one_partition_names_its_file_and_line(capsys, files, tmp_path, request, where):
    (tmp_path / "in").mkdir()
    bad = write(tmp_path / "in" / "bad.csv", ["key", "x2", "text", "x1"], [["a", "1", "", "2"], ["b", "x", "", "3"]])
    on = ["--scheduler", request.getfixturevalue("cluster").scheduler_address] if where == "cluster" else []
    rc, _, err = cli(capsys, "predict", "--model", files["model"], "--data", files["parts"][0], bad,
                     "--out", str(tmp_path), *on)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"glassnet predict: DataError: 'x' in column 'x2' at line 3 of {bad} is not a number"), err


def test_one_file_into_a_directory(capsys, files, tmp_path):
    rc, _, err = cli(capsys, "predict", "--model", files["model"], "--data", files["parts"][2], "--id", "key",
                     "--out", f"{tmp_path}/new/")
    assert rc == 0, err
    assert err.strip() == f"wrote {SIZES[2]} predictions to {tmp_path}/new/part-2.csv"
    assert (tmp_path / "new" / "part-2.csv").read_text().splitlines() == files["expected"][2]
