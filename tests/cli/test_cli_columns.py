"""The scaling inside the model (Normalization layers), --ignore/--id, predict --json and --quiet."""

import csv
import json

import numpy as np
import pytest
from test_cli_train import cli, write  # the CSV and command helpers of the train tests

import glassnet as gn
from glassnet.cli.main import main
from glassnet.layers import Dense, Normalization


def read_text(text):
    rows = list(csv.reader(text.splitlines()))
    return rows[0], rows[1:]




@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Classification with a text id column and a numeric id; regression with large offsets."""
    d = tmp_path_factory.mktemp("cols")
    X, codes = gn.data.blobs(120, centers=[[0, 0], [6, 0], [0, 6]], std=0.8, rng=3)
    X = X * [1.0, 1000.0] + [50.0, -3000.0]  # raw features far from standardized
    labels = np.array(["a", "b", "c"])[codes]
    cls = write(d / "cls.csv", ["name", "x1", "row", "x2", "label"],
                [[f"p{i}", a, 1000 + i, b, lab] for i, ((a, b), lab) in enumerate(zip(X, labels))])
    rng = np.random.default_rng(4)
    Z = rng.uniform(-1, 1, (150, 3)) * [1.0, 100.0, 0.01]
    t = 2000 + 300 * Z[:, 0] - 2 * Z[:, 1] + 5000 * Z[:, 2]
    reg = write(d / "reg.csv", ["a", "b", "c", "id", "y"], [[*z, i, v] for i, (z, v) in enumerate(zip(Z, t))])
    return {"dir": d, "cls": cls, "X": X, "labels": labels, "reg": reg, "Z": Z, "t": t}


@pytest.fixture(scope="module")
def cls_model(files):
    path = str(files["dir"] / "cls.glassnet")
    argv = ["train", "--data", files["cls"], "--target", "label", "--id", "name", "--ignore", "row",
            "--layers", "16", "--epochs", "30", "--lr", "0.01", "--save", path, "--json"]
    assert main(argv) == 0
    return path


@pytest.fixture(scope="module")
def reg_model(files):
    path = str(files["dir"] / "reg.glassnet")
    argv = ["train", "--data", files["reg"], "--target", "y", "--ignore", "id", "--layers", "",
            "--optimizer", "sgd", "--lr", "0.1", "--epochs", "80", "--batch-size", "16", "--save", path, "--json"]
    assert main(argv) == 0
    return path


def test_loaded_classifier_predicts_raw_rows_as_glassnet_predict(capsys, files, cls_model):
    model = gn.load(cls_model)
    assert isinstance(model.layers[0], Normalization) and model.metadata["features"] == ["x1", "x2"]
    assert "feature_mean" not in model.metadata  # the scaling is the model's first layer now
    mine = model.predict(files["X"])  # raw rows, in Python
    classes = np.array(model.metadata["classes"])
    assert np.mean(classes[mine.argmax(axis=1)] == files["labels"]) == 1.0  # was 0.37 with scaling outside
    rc, out, _ = cli(capsys, "predict", "--model", cls_model, "--data", files["cls"])
    header, rows = read_text(out)
    assert rc == 0 and header == ["prediction", "prob_a", "prob_b", "prob_c"]
    np.testing.assert_array_equal(np.array([[float(v) for v in r[1:]] for r in rows], np.float32), mine)
    assert [r[0] for r in rows] == classes[mine.argmax(axis=1)].tolist()


def test_loaded_regressor_predicts_in_target_units_as_glassnet_predict(capsys, files, reg_model):
    model = gn.load(reg_model)
    first, last = model.layers[0], model.layers[-1]
    assert isinstance(first, Normalization) and isinstance(last, Normalization) and last.invert
    assert "target_mean" not in model.metadata and model.metadata["features"] == ["a", "b", "c"]
    mine = model.predict(files["Z"])[:, 0]  # raw rows in, the target's units out
    np.testing.assert_allclose(mine, files["t"], atol=0.5)
    rc, out, _ = cli(capsys, "predict", "--model", reg_model, "--data", files["reg"])
    header, rows = read_text(out)
    assert rc == 0 and header == ["prediction"]
    np.testing.assert_array_equal(np.array([float(r[0]) for r in rows], np.float32), mine)
    rc, out, _ = cli(capsys, "evaluate", "--model", reg_model, "--data", files["reg"], "--target", "y",
                     "--ignore", "id", "--json")
    e = json.loads(out)
    # float32 predictions near 2000 are resolved to ~1e-4
    assert rc == 0 and e["mae"] == pytest.approx(np.mean(np.abs(mine - files["t"])), abs=3e-4)


def test_train_ignore_and_id_are_no_features(capsys, files, cls_model):
    assert gn.load(cls_model).metadata["features"] == ["x1", "x2"]  # 'row' ignored, 'name' the id
    save = str(files["dir"] / "x.glassnet")
    rc, _, err = cli(capsys, "train", "--data", files["cls"], "--target", "label", "--save", save, "--epochs", "1")
    assert rc == 2 and "'p0' in column 'name'" in err and "is not a number" in err  # without --id: a feature
    rc, _, err = cli(capsys, "train", "--data", files["cls"], "--target", "label", "--id", "label", "--save", save)
    assert rc == 2 and "ConfigError: --id label: that is the target column" in err
    rc, _, err = cli(capsys, "train", "--data", files["cls"], "--target", "label", "--ignore", "nope", "--save",
                     save)
    assert rc == 2 and "has no column 'nope' to ignore" in err


def test_predict_reads_the_models_columns_by_name_and_carries_the_id(capsys, files, cls_model, tmp_path):
    X = files["X"]
    # other order, a text column, no target, a numeric column the model never saw
    other = write(tmp_path / "o.csv", ["note", "x2", "key", "x1"],
                  [[f"n{i} text", b, f"k{i}", a] for i, (a, b) in enumerate(X)])
    rc, out, _ = cli(capsys, "predict", "--model", cls_model, "--data", other, "--id", "key")
    header, rows = read_text(out)
    assert rc == 0 and header == ["key", "prediction", "prob_a", "prob_b", "prob_c"]
    assert [r[0] for r in rows] == [f"k{i}" for i in range(len(X))]
    assert [r[1] for r in rows] == files["labels"].tolist()
    lacking = write(tmp_path / "l.csv", ["x2", "name"], [[1, "p1"]])
    rc, _, err = cli(capsys, "predict", "--model", cls_model, "--data", lacking)
    assert rc == 2 and "DataError" in err and "lacks column(s) the model was trained on: x1" in err
    assert lacking in err
    rc, _, err = cli(capsys, "predict", "--model", cls_model, "--data", other, "--ignore", "x1")
    assert rc == 2 and "ConfigError: the model reads column 'x1'" in err


def test_predict_json_to_stdout_and_to_a_file(capsys, files, cls_model, tmp_path):
    rc, out, err = cli(capsys, "predict", "--model", cls_model, "--data", files["cls"], "--id", "name", "--json")
    d = json.loads(out)
    assert rc == 0 and err == ""
    assert d["rows"] == 120 and d["columns"] == ["name", "prediction", "prob_a", "prob_b", "prob_c"]
    assert d["classes"] == ["a", "b", "c"] and d["task"] == "classification" and d["id"] == "name"
    first = d["predictions"][0]
    assert first["name"] == "p0" and first["prediction"] == files["labels"][0]
    assert sum(first[f"prob_{k}"] for k in "abc") == pytest.approx(1, abs=1e-5)
    target = tmp_path / "p.json"
    rc, out, err = cli(capsys, "predict", "--model", cls_model, "--data", files["cls"], "--json", "--out",
                       str(target))
    assert rc == 0 and out == "" and f"wrote 120 predictions to {target}" in err
    assert json.loads(target.read_text())["predictions"][5]["prediction"] == files["labels"][5]
    rc, out, err = cli(capsys, "predict", "--model", cls_model, "--data", files["cls"], "--json", "--out",
                       str(target), "--quiet")
    assert rc == 0 and out == "" and err == ""


def test_old_model_files_keep_their_metadata_scaling(capsys, tmp_path):
    # a file written before the scaling moved into the model: Dense layers, scaling in the metadata
    model = gn.Sequential([Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.build(2)
    model.set_weights([np.array([[2.0], [3.0]]), np.array([0.5])])
    model.metadata = {"task": "regression", "target": "y", "features": ["u", "v"], "feature_mean": [1.0, 10.0],
                      "feature_std": [2.0, 5.0], "target_mean": 100.0, "target_std": 4.0}
    path = str(tmp_path / "old.glassnet")
    model.save(path)
    data = write(tmp_path / "d.csv", ["v", "u", "y"], [[20.0, 5.0, 0.0]])
    rc, out, _ = cli(capsys, "predict", "--model", path, "--data", data)
    # u: (5 - 1)/2 = 2, v: (20 - 10)/5 = 2; z = 2·2 + 3·2 + 0.5 = 10.5; y = 10.5·4 + 100 = 142
    assert rc == 0 and read_text(out)[1] == [["142.0"]]
    rc, out, _ = cli(capsys, "evaluate", "--model", path, "--data", data, "--target", "y", "--json")
    assert json.loads(out)["loss"] == pytest.approx(142.0**2)  # mse in the target's units


def test_quiet_train_prints_results_only(capsys, files, tmp_path):
    save = str(tmp_path / "q.glassnet")
    rc, out, err = cli(capsys, "train", "--data", files["reg"], "--target", "y", "--ignore", "id", "--epochs", "3",
                       "--save", save, "--quiet")
    assert rc == 0 and err == ""
    assert out.startswith("final, after 3 epochs") and "task:" not in out and f"saved model to {save}" in out


def test_every_command_has_quiet(capsys):
    from glassnet.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        assert any("--quiet" in a.option_strings for a in command._actions), name
