"""`glassnet demo` and glassnet.plots: the seed tutorial's network from the command line."""

import json
import sys
import types

import numpy as np
import pytest

import glassnet
from glassnet import plots
from glassnet.cli.main import main
from glassnet.errors import ExportError, ShapeError

X = np.array([[1, 0, 1, 0], [1, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float64)
y = np.array([[1], [1], [0]], dtype=np.float64)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def tutorial(wh, bh, wout, bout, epochs, rows_at_a_time=False, lr=0.1):
    """The tutorial's loop body with its own names (see tests/test_article.py); returns the final weights."""
    wh, bh, wout, bout = (np.array(a, dtype=np.float64) for a in (wh, bh, wout, bout))
    batches = [slice(i, i + 1) for i in range(len(X))] if rows_at_a_time else [slice(None)]
    for _ in range(epochs):
        for s in batches:
            hiddenlayer_activations = sigmoid(X[s] @ wh + bh)
            output = sigmoid(hiddenlayer_activations @ wout + bout)
            d_output = (y[s] - output) * output * (1 - output)
            d_hiddenlayer = d_output @ wout.T * hiddenlayer_activations * (1 - hiddenlayer_activations)
            wout += hiddenlayer_activations.T @ d_output * lr
            bout += d_output.sum(axis=0, keepdims=True) * lr
            wh += X[s].T @ d_hiddenlayer * lr
            bh += d_hiddenlayer.sum(axis=0, keepdims=True) * lr
    return {"W1": wh, "b1": bh, "W2": wout, "b2": bout}


def run_json(capsys, *argv):
    """The JSON object `demo --json` prints (the whole of stdout), and what went to stderr."""
    assert main(["demo", "--json", *argv]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


@pytest.fixture
def no_trace(monkeypatch):
    """glassnet.trace without `record`, as in a build that lacks the trace package."""
    fake = types.ModuleType("glassnet.trace")
    monkeypatch.setitem(sys.modules, "glassnet.trace", fake)
    monkeypatch.setattr(glassnet, "trace", fake, raising=False)


def test_demo_json_is_the_tutorials_run_and_lands_near_the_published_predictions(capsys, tmp_path, no_trace):
    d, _ = run_json(capsys, "--out", str(tmp_path))
    s = d["settings"]
    assert (s["epochs"], s["learning_rate"], s["batch_size"], s["loss"]) == (5000, 0.1, None, "half_sse")
    W0 = {k: np.array(v) for k, v in d["initial_weights"].items()}
    assert {k: v.shape for k, v in W0.items()} == {"W1": (4, 3), "b1": (3,), "W2": (3, 1), "b2": (1,)}
    assert all(((0 <= v) & (v < 1)).all() for v in W0.values())  # uniform [0, 1)

    # the tutorial's own loop from the same initial weights ends on the same weights
    theirs = tutorial(W0["W1"], W0["b1"][None], W0["W2"], W0["b2"][None], 5000)
    for k, v in d["final_weights"].items():
        np.testing.assert_allclose(np.array(v).reshape(theirs[k].shape), theirs[k], rtol=0, atol=1e-12)

    pred = np.array(d["predictions"])  # published: [[0.980], [0.968], [0.045]]
    assert pred.shape == (3, 1) and pred[0, 0] > 0.95 and pred[1, 0] > 0.95 and pred[2, 0] < 0.07
    err = d["error"]
    assert err["epoch"][0] == 0 and err["epoch"][-1] == 5000 and len(err["loss"]) == 5001
    E = y - pred
    assert err["loss"][-1] == pytest.approx(0.5 * float(np.sum(E**2)), rel=1e-12)
    assert err["mean_abs"][-1] == pytest.approx(float(np.mean(np.abs(E))), rel=1e-12)
    assert err["loss"][-1] < err["loss"][0]
    assert d["files"] == {"loss_png": str(tmp_path / "loss.png"), "network_png": str(tmp_path / "network.png")}
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "network.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_sgd_runs_one_sample_at_a_time_in_order(capsys, tmp_path, no_trace):
    d, _ = run_json(capsys, "--sgd", "--epochs", "40", "--seed", "3", "--out", str(tmp_path))
    assert d["settings"]["batch_size"] == 1 and d["settings"]["seed"] == 3
    W0 = {k: np.array(v) for k, v in d["initial_weights"].items()}
    theirs = tutorial(W0["W1"], W0["b1"][None], W0["W2"], W0["b2"][None], 40, rows_at_a_time=True)
    np.testing.assert_allclose(np.array(d["final_weights"]["W1"]), theirs["W1"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.array(d["final_weights"]["b2"]), theirs["b2"][0], rtol=0, atol=1e-13)


def test_demo_text_logs_every_100_epochs_then_weights_and_predictions(capsys, tmp_path, no_trace, monkeypatch):
    from glassnet.callbacks import ProgressBar

    monkeypatch.setattr(ProgressBar, "is_terminal", staticmethod(lambda stream: True))  # as on a terminal
    assert main(["demo", "--epochs", "250", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    logs = [line for line in out.splitlines() if line.startswith("epoch")]
    assert [line.split()[1] for line in logs] == ["100", "200"]
    assert "½·ΣE²" in logs[0] and "mean|E|" in logs[0]
    for heading in ("initial weights:", "final weights:", "predictions", "W1 (wh)", "b2 (bout)"):
        assert heading in out
    assert f"wrote {tmp_path / 'loss.png'}" in out and f"wrote {tmp_path / 'network.png'}" in out
    assert "250/250" in err and "error=" in err  # the tqdm bar, on stderr
    assert "glassnet.trace is not available" in err


def test_demo_records_the_trace_from_the_same_initial_weights(capsys, tmp_path, monkeypatch):
    calls = []

    class FakeTrace:
        def to_xlsx(self, path):
            open(path, "wb").close()

        def to_html(self, path):
            open(path, "w").close()

    def record(model, X_, y_, steps, batch_size=None):
        calls.append((model.get_weights(), X_.copy(), steps, batch_size))
        return FakeTrace()

    fake = types.ModuleType("glassnet.trace")
    fake.record = record
    monkeypatch.setitem(sys.modules, "glassnet.trace", fake)
    monkeypatch.setattr(glassnet, "trace", fake, raising=False)
    d, _ = run_json(capsys, "--epochs", "20", "--sgd", "--out", str(tmp_path))
    ((weights, X_seen, steps, batch_size),) = calls
    assert steps == 3 and batch_size == 1  # the run's own first steps: one sample each
    np.testing.assert_array_equal(X_seen, X)
    for w, (k, v) in zip(weights, d["initial_weights"].items()):
        np.testing.assert_array_equal(w, np.array(v), err_msg=k)
    assert set(d["files"]) == {"loss_png", "network_png", "trace_xlsx", "trace_html"}
    assert (tmp_path / "article-trace.xlsx").exists() and (tmp_path / "article-trace.html").exists()


def test_demo_writes_the_real_trace_files(capsys, tmp_path):
    d, err = run_json(capsys, "--epochs", "5", "--out", str(tmp_path))
    assert "not written" not in err
    assert d["files"]["trace_xlsx"] == str(tmp_path / "article-trace.xlsx")
    assert (tmp_path / "article-trace.xlsx").read_bytes()[:2] == b"PK"  # a zip archive, as xlsx files are
    assert "<html" in (tmp_path / "article-trace.html").read_text(encoding="utf-8").lower()


def test_demo_without_matplotlib_still_trains_and_says_why_no_plot(capsys, tmp_path, monkeypatch, no_trace):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    d, err = run_json(capsys, "--epochs", "5", "--out", str(tmp_path))
    assert d["files"] == {}
    assert "loss.png not written" in err and "network.png not written" in err
    assert "pip install glassnet[plot]" in err


def test_demo_bad_arguments_are_one_line_errors(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for argv, words in (
        (["--epochs", "0"], "`--epochs`"),
        (["--seed", "-1"], "`--seed`"),
        (["--epochs", "1", "--out", str(blocker / "sub")], "--out"),
    ):
        assert main(["demo", *argv]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- glassnet.plots -----------------------------------------------------------------------------------
def test_plot_loss_accepts_history_dict_and_sequence(tmp_path):
    model = glassnet.Sequential([glassnet.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(X, y, epochs=3, verbose=0, validation_data=(X, y))
    for i, source in enumerate((history, {"loss": [3, 2, 1], "epoch": [0, 1, 2]}, [1.0, 0.5, -0.1])):
        path = tmp_path / f"p{i}.png"
        plots.plot_loss(source, path, title="t")
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_plot_loss_errors(tmp_path, monkeypatch):
    with pytest.raises(ShapeError, match="'loss' has 2 values but there are 3 epochs"):
        plots.plot_loss({"loss": [1, 2], "epoch": [1, 2, 3]}, tmp_path / "x.png")
    with pytest.raises(ExportError, match="cannot write the plot"):
        plots.plot_loss([1, 2], tmp_path / "missing-dir" / "x.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ExportError, match=r"pip install glassnet\[plot\]"):
        plots.plot_loss([1, 2], tmp_path / "x.png")


@pytest.mark.parametrize("outputs", [1, 3])
def test_plot_decision_boundary(tmp_path, outputs):
    Xs, codes = glassnet.data.blobs(30, 3 if outputs == 3 else 2, rng=0)
    act = "softmax" if outputs == 3 else "sigmoid"
    model = glassnet.Sequential(
        [glassnet.layers.Dense(8, activation="tanh"), glassnet.layers.Dense(outputs, activation=act)], seed=0
    ).build(2)
    plots.plot_decision_boundary(model, Xs, codes, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ShapeError, match="2 input features"):
        plots.plot_decision_boundary(model, np.zeros((4, 3)), [0, 1, 0, 1], tmp_path / "c.png")


def test_demo_redirected_log_has_no_bar_and_one_line_per_logged_epoch(tmp_path):
    # `glassnet demo --out DIR > log 2>&1`: stdout and stderr are a file, not a terminal
    import os
    import subprocess
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = tmp_path / "log"
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, "-m", "glassnet.cli.main", "demo", "--out", str(tmp_path / "out"),
                             "--epochs", "300"], stdout=f, stderr=subprocess.STDOUT, env=env, timeout=300,
                            check=False).returncode
    text = log.read_text()
    assert rc == 0, text
    assert "\r" not in text and "%|" not in text  # no tqdm bar, finished or not
    epochs = [line.split()[1] for line in text.splitlines() if line.startswith("epoch ")]
    assert epochs == ["100", "200", "300"]  # one line per logged epoch, each once
    assert "predictions (output after training)" in text


def test_demo_quiet_prints_results_only(capsys, tmp_path, no_trace):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "200", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "epoch " not in out and "The seed tutorial's network" not in out and "%|" not in err
    assert "final weights:" in out and "predictions (output after training)" in out
