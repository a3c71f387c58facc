"""`glassnet train`, `predict` and `evaluate` on CSV files, and every bad input as one line with status 2."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.main import main
from glassnet.cli.train import infer_task
from glassnet.errors import ConfigError

SRC = str(Path(__file__).resolve().parents[2] / "src")
COLORS = np.array(["red", "green", "blue"])


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def read(path_or_text, is_text=False):
    lines = path_or_text.splitlines() if is_text else Path(path_or_text).read_text().splitlines()
    rows = list(csv.reader(lines))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three well separated clusters with text labels (features on very different scales), and a regression."""
    d = tmp_path_factory.mktemp("data")
    X, codes = gn.data.blobs(90, centers=[[0, 0], [6, 0], [0, 6]], std=0.7, rng=1)
    X = X * [1.0, 1000.0]  # standardization has to cope with this
    blobs = write(d / "blobs.csv", ["x1", "x2", "color"], [[a, b, COLORS[c]] for (a, b), c in zip(X, codes)])
    rng = np.random.default_rng(2)
    Z = rng.uniform(-1, 1, (120, 3))
    t = (
        500 + 40 * Z[:, 0] - 25 * Z[:, 1] + 10 * Z[:, 2]
    )  # a large offset and scale: the target is standardized
    reg = write(d / "reg.csv", ["a", "b", "c", "price"], [[*z, v] for z, v in zip(Z, t)])
    return {"dir": d, "blobs": blobs, "reg": reg, "X": X, "codes": codes, "Z": Z, "t": t}


def cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def train_json(capsys, *argv):
    rc, out, err = cli(capsys, "train", *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def blob_model(data):
    path = str(data["dir"] / "blobs.glassnet")
    assert (
        main(
            [
                "train",
                "--data",
                data["blobs"],
                "--target",
                "color",
                "--layers",
                "16",
                "--epochs",
                "40",
                "--lr",
                "0.01",
                "--save",
                path,
                "--json",
            ]
        )
        == 0
    )
    return path


def test_classification_with_text_labels_trains_saves_and_reports(capsys, data, tmp_path):
    save = str(tmp_path / "m.glassnet")
    d = train_json(
        capsys,
        "--data",
        data["blobs"],
        "--target",
        "color",
        "--layers",
        "16,8",
        "--epochs",
        "40",
        "--lr",
        "0.01",
        "--validation-split",
        "0.2",
        "--save",
        save,
    )
    assert d["task"] == "classification" and "text" in d["task_reason"]
    assert d["classes"] == ["blue", "green", "red"]
    assert d["rows"] == {"train": 72, "validation": 18}
    assert d["model"] == "2 → 16 relu → 8 relu → 3 softmax" and d["loss"] == "sparse_categorical_crossentropy"
    assert d["epochs"] == 40 and len(d["history"]["loss"]) == 40 and len(d["history"]["val_accuracy"]) == 40
    assert d["final"]["accuracy"] == 1.0 and d["final"]["val_accuracy"] == 1.0
    assert d["seconds"] > 0 and d["saved"] == save
    model = gn.load(save)
    meta = model.metadata
    assert meta["classes"] == ["blue", "green", "red"] and meta["features"] == ["x1", "x2"]
    assert meta["target"] == "color" and meta["task"] == "classification"
    norm = model.layers[0]  # the scaling lives in the model: a Normalization adapted on the training rows
    assert isinstance(norm, gn.layers.Normalization) and "feature_std" not in meta
    assert np.sqrt(norm.state["variance"][1]) > 500  # x2 was scaled by 1000


def test_predict_returns_labels_and_probabilities_and_ignores_other_columns(
    capsys, data, blob_model, tmp_path
):
    rc, out, _ = cli(capsys, "predict", "--model", blob_model, "--data", data["blobs"])
    assert rc == 0
    header, rows = read(out, is_text=True)
    assert header == ["prediction", "prob_blue", "prob_green", "prob_red"]
    assert [r[0] for r in rows] == COLORS[data["codes"]].tolist()
    probs = np.array([[float(v) for v in r[1:]] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)

    # columns in another order, an id column, no target: same predictions, written to --out
    X = data["X"]
    shuffled = write(tmp_path / "new.csv", ["id", "x2", "x1"], [[i, b, a] for i, (a, b) in enumerate(X)])
    out_csv = tmp_path / "pred.csv"
    rc, out, err = cli(capsys, "predict", "--model", blob_model, "--data", shuffled, "--out", str(out_csv))
    assert rc == 0 and out == "" and f"wrote 90 predictions to {out_csv}" in err
    assert read(out_csv) == (header, rows)


def test_evaluate_reports_accuracy_and_rejects_unseen_labels(capsys, data, blob_model, tmp_path):
    rc, out, _ = cli(
        capsys, "evaluate", "--model", blob_model, "--data", data["blobs"], "--target", "color", "--json"
    )
    d = json.loads(out)
    assert rc == 0 and d["rows"] == 90 and d["accuracy"] == 1.0 and d["loss"] < 0.2
    rc, out, _ = cli(capsys, "evaluate", "--model", blob_model, "--data", data["blobs"], "--target", "color")
    assert rc == 0 and out.startswith("90 rows: loss ") and "accuracy 1" in out

    unseen = write(tmp_path / "u.csv", ["x1", "x2", "color"], [[0, 0, "red"], [1, 1, "purple"]])
    rc, out, err = cli(capsys, "evaluate", "--model", blob_model, "--data", unseen, "--target", "color")
    assert rc == 2 and out == ""
    assert err.startswith("glassnet evaluate: DataError: ") and "'purple'" in err and "never saw" in err
    assert "['blue', 'green', 'red']" in err and len(err.splitlines()) == 1


def test_predict_names_missing_feature_columns(capsys, data, blob_model, tmp_path):
    lacking = write(tmp_path / "l.csv", ["x2", "color"], [[0, "red"]])
    for command in (["predict"], ["evaluate", "--target", "color"]):
        rc, _, err = cli(capsys, *command, "--model", blob_model, "--data", lacking)
        assert rc == 2 and "DataError" in err and "lacks column(s) the model was trained on: x1" in err


def test_regression_is_inferred_and_reported_in_the_targets_units(capsys, data, tmp_path):
    save = str(tmp_path / "r.glassnet")
    d = train_json(
        capsys,
        "--data",
        data["reg"],
        "--target",
        "price",
        "--layers",
        "",
        "--optimizer",
        "sgd",
        "--lr",
        "0.1",
        "--epochs",
        "60",
        "--batch-size",
        "16",
        "--save",
        save,
    )
    assert d["task"] == "regression" and d["classes"] is None and d["model"] == "3 → 1 linear"
    # a linear target and a linear model: near exact, in price units (std of price is ~28)
    assert d["final"]["mae"] < 0.05 and d["final"]["loss"] < 0.01
    assert d["history"]["loss"][0] > 100  # the first epoch's mse, in price² (not standardized units)

    rc, out, _ = cli(capsys, "predict", "--model", save, "--data", data["reg"])
    header, rows = read(out, is_text=True)
    pred = np.array([float(r[0]) for r in rows])
    assert header == ["prediction"] and rc == 0
    np.testing.assert_allclose(pred, data["t"], atol=0.2)
    rc, out, _ = cli(
        capsys, "evaluate", "--model", save, "--data", data["reg"], "--target", "price", "--json"
    )
    e = json.loads(out)
    assert e["loss"] == pytest.approx(np.mean((pred - data["t"]) ** 2), rel=1e-3, abs=1e-6)
    # the saved model predicts in price units, in float32: ~500 is resolved to 3e-5
    assert e["mae"] == pytest.approx(d["final"]["mae"], rel=1e-4, abs=5e-5)


def test_integer_targets_are_classes_and_print_as_integers(capsys, data, tmp_path):
    ints = write(
        tmp_path / "i.csv", ["x1", "x2", "label"], [[a, b, c] for (a, b), c in zip(data["X"], data["codes"])]
    )
    save = str(tmp_path / "i.glassnet")
    d = train_json(
        capsys, "--data", ints, "--target", "label", "--epochs", "30", "--lr", "0.01", "--save", save
    )
    assert (
        d["task"] == "classification"
        and d["classes"] == [0, 1, 2]
        and "3 distinct integer" in d["task_reason"]
    )
    _, out, _ = cli(capsys, "predict", "--model", save, "--data", ints)
    header, rows = read(out, is_text=True)
    assert header[:2] == ["prediction", "prob_0"] and {r[0] for r in rows} == {"0", "1", "2"}
    d = train_json(
        capsys, "--data", ints, "--target", "label", "--task", "regression", "--epochs", "2", "--save", save
    )
    assert d["task"] == "regression" and d["task_reason"] == "--task"


def test_infer_task():
    assert infer_task(np.array(["a", "b"]), "t")[0] == "classification"
    assert infer_task(np.array([0.0, 1.0, 1.0]), "t")[0] == "classification"
    assert infer_task(np.arange(10.0).repeat(3), "t")[0] == "classification"
    assert infer_task(np.arange(30.0), "t")[0] == "regression"  # every value distinct
    assert infer_task(np.arange(25.0).repeat(4), "t")[0] == "regression"  # more than 20 values
    assert infer_task(np.array([0.5, 1.5, 0.5, 1.5, 0.5]), "t")[0] == "regression"


def test_metadata_round_trips_through_the_model_file(tmp_path):
    model = gn.Sequential([gn.layers.Dense(2)], seed=0).build(3)
    model.compile(loss="mse", optimizer="sgd")
    model.metadata = {"classes": ["a", "b"], "feature_mean": [0.5, 1.0, 2.0]}
    model.save(tmp_path / "m.glassnet")
    assert gn.load(tmp_path / "m.glassnet").metadata == model.metadata
    model.metadata = {"scale": np.float32(1.5)}  # NumPy scalars are saved as the numbers they are
    model.save(tmp_path / "m.glassnet")
    assert gn.load(tmp_path / "m.glassnet").metadata == {"scale": 1.5}
    model.metadata = {"bad": object()}
    with pytest.raises(ConfigError, match="metadata must be a JSON-able dict"):
        model.save(tmp_path / "m2.glassnet")


BAD = [
    (
        ["train", "--data", "{dir}/nope.csv", "--target", "color", "--save", "{dir}/m"],
        "DataError",
        "nope.csv",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "nope", "--save", "{dir}/m"],
        "DataError",
        "no column 'nope'",
    ),
    (
        ["train", "--data", "{bad}", "--target", "y", "--save", "{dir}/m"],
        "DataError",
        "'x' in column 'b' at line 3",
    ),
    (["train", "--data", "{ragged}", "--target", "y", "--save", "{dir}/m"], "DataError", "row has 2 fields"),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--layers", "0", "--save", "{dir}/m"],
        "ConfigError",
        "`--layers`",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--layers", "8,x", "--save", "{dir}/m"],
        "ConfigError",
        "`--layers`",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--lr", "-1", "--save", "{dir}/m"],
        "ConfigError",
        "Received: --lr=-1.0",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--epochs", "0", "--save", "{dir}/m"],
        "ConfigError",
        "`--epochs`",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--batch-size", "0", "--save", "{dir}/m"],
        "ConfigError",
        "`--batch-size`",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--validation-split", "1", "--save", "{dir}/m"],
        "ConfigError",
        "`--validation-split`",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--optimizer", "foo", "--save", "{dir}/m"],
        "ConfigError",
        "valid optimizers are: adadelta, adagrad, adam",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--activation", "foo", "--save", "{dir}/m"],
        "ConfigError",
        "valid activations are",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--task", "regression", "--save", "{dir}/m"],
        "DataError",
        "holds text such as '",
    ),
    (
        ["train", "--data", "{blobs}", "--target", "color", "--save", "{dir}/no/such/dir/m"],
        "ConfigError",
        "does not exist",
    ),
    (
        ["predict", "--model", "{dir}/nope.glassnet", "--data", "{blobs}"],
        "ModelFileError",
        "no such model file",
    ),
    (
        ["predict", "--model", "{blobs}", "--data", "{blobs}"],
        "ModelFileError",
        "not a readable glassnet model",
    ),
    (
        ["evaluate", "--model", "{dir}/nope.glassnet", "--data", "{blobs}", "--target", "color"],
        "ModelFileError",
        "no such model file",
    ),
]


@pytest.mark.parametrize("argv, error, words", BAD, ids=[f"{b[0][0]}-{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_one_line_and_status_2(capsys, data, tmp_path, argv, error, words):
    bad = write(tmp_path / "bad.csv", ["a", "b", "y"], [[1, 2, 3], [4, "x", 5]])
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,y\n1,2,3\n4,5\n")
    argv = [a.format(dir=tmp_path, blobs=data["blobs"], bad=bad, ragged=ragged) for a in argv]
    rc, out, err = cli(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith(f"glassnet {argv[0]}: {error}: ") and words in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_subprocess_one_line_error_and_debug_traceback(data, tmp_path):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [
        sys.executable,
        "-m",
        "glassnet.cli.main",
        "train",
        "--data",
        str(tmp_path / "nope.csv"),
        "--target",
        "y",
        "--save",
        str(tmp_path / "m"),
    ]
    plain = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert plain.returncode == 2 and plain.stdout == ""
    assert (
        plain.stderr
        == f"glassnet train: DataError: cannot read {tmp_path / 'nope.csv'}: No such file or directory\n"
    )
    debug = subprocess.run(
        argv[:3] + ["--debug"] + argv[3:], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert debug.returncode != 0 and "Traceback (most recent call last)" in debug.stderr
    assert "glassnet.errors.DataError: cannot read" in debug.stderr


def test_predict_into_a_closed_pipe_is_quiet(tmp_path):
    """`glassnet predict ... | head -1` must not print a BrokenPipeError traceback."""
    import subprocess
    import sys

    rows = "\n".join(f"{i},{i % 2}" for i in range(2000))
    data = tmp_path / "d.csv"
    data.write_text("x,label\n" + rows + "\n")
    model = tmp_path / "m.glassnet"
    cmd = [sys.executable, "-m", "glassnet.cli.main"]
    subprocess.run([*cmd, "train", "--data", str(data), "--target", "label", "--epochs", "1", "--save", str(model)],
                   check=True, capture_output=True)
    pipe = subprocess.Popen([*cmd, "predict", "--model", str(model), "--data", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pipe.stdout.readline()
    pipe.stdout.close()
    err = pipe.stderr.read().decode()
    assert pipe.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_device_option_trains_and_predicts_as_on_the_cpu(capsys, data, tmp_path):
    # fakegpu (tests/fakegpu.py) stands in for CuPy inside this process: same numbers, device arrays
    import fakegpu

    fakegpu.install()
    args = ["--data", data["blobs"], "--target", "color", "--layers", "8", "--epochs", "3", "--lr", "0.01"]
    cpu = train_json(capsys, *args, "--save", str(tmp_path / "cpu.glassnet"))
    dev = train_json(capsys, *args, "--save", str(tmp_path / "dev.glassnet"), "--device", "fakegpu")
    assert (cpu["device"], dev["device"]) == ("cpu", "fakegpu")
    assert dev["history"] == cpu["history"] and dev["final"] == cpu["final"]
    rc, out, _ = cli(capsys, "train", *args, "--save", str(tmp_path / "t.glassnet"), "--device", "fakegpu")
    assert rc == 0 and "parameters; on device 'fakegpu'" in out

    predictions = set()
    for model in ("cpu", "dev"):
        for device in ([], ["--device", "fakegpu"], ["--device", "cpu"]):
            rc, out, err = cli(capsys, "predict", "--model", str(tmp_path / f"{model}.glassnet"), "--data",
                               data["blobs"], *device)
            assert rc == 0, err
            predictions.add(out)
    assert len(predictions) == 1  # every label and probability, digit for digit
    scores = [cli(capsys, "evaluate", "--model", str(tmp_path / "dev.glassnet"), "--data", data["blobs"],
                  "--target", "color", "--json", *device)[1] for device in ([], ["--device", "fakegpu"])]
    assert scores[0] == scores[1]


@pytest.mark.parametrize("command", ["train", "predict", "evaluate"])
def test_unknown_device_is_one_line_naming_the_valid_ones(capsys, data, tmp_path, blob_model, command):
    argv = {"train": ["--data", data["blobs"], "--target", "color", "--save", str(tmp_path / "m")],
            "predict": ["--model", blob_model, "--data", data["blobs"]],
            "evaluate": ["--model", blob_model, "--data", data["blobs"], "--target", "color"]}[command]
    rc, out, err = cli(capsys, command, *argv, "--device", "tpu")
    assert rc == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"glassnet {command}: ConfigError: Received an invalid value for `device`, expected one of ")
    assert "cpu" in err and "gpu" in err and "Received: device='tpu'" in err
    assert not (tmp_path / "m").exists()


def test_class_weight_balanced_and_by_label(capsys, data, tmp_path):
    # an imbalanced set: 60 red, 15 green, 15 blue
    codes = np.repeat([0, 1, 2], [60, 15, 15])
    X = np.random.default_rng(3).normal(size=(90, 2)) + codes[:, None]
    path = write(tmp_path / "imb.csv", ["x1", "x2", "color"], [[a, b, COLORS[k]] for (a, b), k in zip(X, codes)])
    common = ["--data", path, "--target", "color", "--epochs", "3", "--layers", "4"]
    weights = {}
    for name, extra in [("none", []), ("ones", ["--class-weight", "red:1,green:1,blue:1"]),
                        ("balanced", ["--class-weight", "balanced"]),
                        ("by-hand", ["--class-weight", "red:0.5,green:2,blue:2"])]:
        train_json(capsys, *common, *extra, "--save", str(tmp_path / f"{name}.glassnet"))
        weights[name] = gn.load(tmp_path / f"{name}.glassnet").get_weights()
    same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(weights[a], weights[b]))
    assert same("none", "ones")
    assert same("balanced", "by-hand")  # 90 / (3·60) = 0.5, 90 / (3·15) = 2
    assert not same("none", "balanced")
    for bad, message in [("purple:2", "not LABEL:WEIGHT with a label of the target"),
                         ("red:x", "is not a number"), ("red:-1", "positive number")]:
        rc, _, err = cli(capsys, "train", *common, "--class-weight", bad, "--save", str(tmp_path / "bad.glassnet"))
        assert rc == 2 and message in err
    rc, _, err = cli(capsys, "train", "--data", data["reg"], "--target", "price", "--class-weight", "balanced",
                     "--save", str(tmp_path / "r.glassnet"))
    assert rc == 2 and "needs a classification target" in err
