"""``glassnet trace``: presets and saved models to text, JSON, xlsx and HTML; bad input is one line, status 2."""

import numpy as np
import openpyxl
import pytest

import glassnet as gn
from glassnet.cli.main import main
from glassnet.data import write_csv
from glassnet.trace import PRESETS, from_json, preset, record


def test_done_when_article_three_steps_to_every_format(tmp_path, capsys):
    x, h, j = tmp_path / "t.xlsx", tmp_path / "t.html", tmp_path / "t.json"
    rc = main(["trace", "--preset", "article", "--steps", "3", "--xlsx", str(x), "--html", str(h), "--json", str(j)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "glassnet trace (article): 4 → 3 sigmoid → 1 sigmoid" in out
    assert "step 3 of 3" in out and "Step 11: Update biases at both output and hidden layer" in out
    assert f"wrote {x}" in out and f"wrote {h}" in out and f"wrote {j}" in out
    expected = record(*preset("article"), steps=3)
    back = from_json(j)
    assert back.preset == "article"
    for a, b in zip(expected.steps, back.steps):
        assert a.loss == b.loss
        for qa, qb in zip(a.quantities, b.quantities):
            np.testing.assert_array_equal(qa.value, qb.value)
    wb = openpyxl.load_workbook(x)
    assert "s3_W1_new" in wb.defined_names and wb.sheetnames == ["Inputs", "Step 1", "Step 2", "Step 3"]
    assert h.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")


def test_seed_draws_other_starting_weights(tmp_path, capsys):
    j = tmp_path / "t.json"
    assert main(["trace", "--preset", "spiral", "--seed", "5", "--json", str(j)]) == 0
    w = from_json(j).steps[0]["W1"].value
    np.testing.assert_array_equal(w, record(*preset("spiral", seed=5)).steps[0]["W1"].value)
    assert not np.array_equal(w, record(*preset("spiral")).steps[0]["W1"].value)


def test_a_saved_model_on_csv_rows_in_mini_batches(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 3))
    y = (X[:, 0] > 0).astype(float)
    model = gn.Sequential([gn.layers.Dense(3, activation="tanh"), gn.layers.Dense(1, activation="sigmoid")],
                          seed=2, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(learning_rate=0.01))
    model.build(3)
    model.save(tmp_path / "m.glassnet")
    write_csv(tmp_path / "d.csv", ["a", "b", "c", "label"], np.column_stack([X, y]))
    j = tmp_path / "t.json"
    rc = main(["trace", "--model", str(tmp_path / "m.glassnet"), "--data", str(tmp_path / "d.csv"),
               "--target", "label", "--steps", "3", "--batch-size", "2", "--json", str(j)])
    captured = capsys.readouterr()
    assert rc == 0 and captured.err == ""  # float64: no warning
    assert "rows 0–1" in captured.out and "rows 2–3" in captured.out and "row 4" in captured.out
    expected = record(gn.load(tmp_path / "m.glassnet"), X, y, steps=3, batch_size=2)
    for a, b in zip(expected.steps, from_json(j).steps):
        assert a.rows == b.rows
        for qa, qb in zip(a.quantities, b.quantities):
            np.testing.assert_array_equal(qa.value, qb.value, err_msg=qa.name)


def test_a_model_from_glassnet_train_with_text_labels(tmp_path, capsys):
    rows = [[0.1, 0.2, "yes"], [0.5, 0.1, "no"], [0.9, 0.3, "yes"], [0.3, 0.8, "no"], [0.7, 0.6, "yes"]]
    write_csv(tmp_path / "d.csv", ["a", "b", "label"], rows)
    m = str(tmp_path / "m.glassnet")
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--target", "label", "--layers", "3", "--epochs", "1",
                 "--save", m]) == 0
    capsys.readouterr()
    assert main(["trace", "--model", m, "--data", str(tmp_path / "d.csv"), "--target", "label"]) == 0
    captured = capsys.readouterr()
    assert "3 relu → 2 softmax" in captured.out and "dZ2 = (A2 − Y) / 5" in captured.out
    assert captured.err.startswith("glassnet trace: warning: Tracing a float32 model")


@pytest.fixture
def files(tmp_path):
    model = gn.Sequential([gn.layers.Dense(2), gn.layers.Dropout(0.5), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="sgd")
    model.build(2)
    model.save(tmp_path / "dropout.glassnet")
    mae = gn.Sequential([gn.layers.Dense(1)], seed=0, dtype="float64")
    mae.compile(loss="mae", optimizer="sgd")
    mae.build(2)
    mae.save(tmp_path / "mae.glassnet")
    write_csv(tmp_path / "d.csv", ["a", "b", "y"], [[1, 2, 3], [4, 5, 6]])
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["trace"], "ConfigError: nothing to trace: pass --preset " + "|".join(PRESETS) + ", or --model FILE"),
    (["trace", "--preset", "nope"], "Unknown trace preset 'nope'; valid presets are: " + ", ".join(PRESETS)),
    (["trace", "--preset", "article", "--model", "{d}/m"], "pass either --preset NAME or --model FILE, not both"),
    (["trace", "--model", "{d}/m"], "--model needs --data and --target"),
    (["trace", "--preset", "xor", "--data", "{d}/d.csv"], "--data go with --model FILE, not with --preset"),
    (["trace", "--preset", "article", "--steps", "0"], "Received an invalid value for `--steps`"),
    (["trace", "--preset", "article", "--batch-size", "0"], "Received an invalid value for `--batch-size`"),
    (["trace", "--model", "{d}/dropout.glassnet", "--data", "{d}/d.csv", "--target", "y", "--seed", "1"],
     "--seed picks a preset's starting weights"),
    (["trace", "--preset", "article", "--xlsx", "{d}/nowhere/t.xlsx"], "the directory"),
    (["trace", "--model", "{d}/mae.glassnet", "--data", "{d}/d.csv", "--target", "y", "--xlsx", "{d}/t.xlsx",
      "--max-cells", "10"], "ExportError: The workbook would hold"),
    (["trace", "--model", "{d}/missing.glassnet", "--data", "{d}/d.csv", "--target", "y"], "no such model file"),
    (["trace", "--model", "{d}/dropout.glassnet", "--data", "{d}/missing.csv", "--target", "y"], "cannot read"),
    (["trace", "--model", "{d}/dropout.glassnet", "--data", "{d}/d.csv", "--target", "z"], "has no column 'z'"),
])
def test_bad_input_is_one_line_and_status_2(files, capsys, argv, message):
    argv = [a.format(d=files) for a in argv]
    before = sorted(p.name for p in files.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassnet trace: ") and err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in files.iterdir()) == before


def test_a_workbook_too_big_is_refused_before_anything_is_written(tmp_path, capsys):
    rng = np.random.default_rng(0)
    model = gn.Sequential([gn.layers.Dense(16, activation="tanh"), gn.layers.Dense(1)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    model.build(10)
    model.save(tmp_path / "m.glassnet")
    write_csv(tmp_path / "d.csv", [f"x{i}" for i in range(10)] + ["y"], rng.normal(size=(2000, 11)))
    x = tmp_path / "t.xlsx"
    assert main(["trace", "--model", str(tmp_path / "m.glassnet"), "--data", str(tmp_path / "d.csv"),
                 "--target", "y", "--xlsx", str(x)]) == 2
    err = capsys.readouterr().err
    assert "more than max_cells=200,000" in err and "batch_size=" in err and not x.exists()
