"""r/article.R, the tutorial's network in base R, against the Python engine: every number to 1e-12.

The script reads its starting weights, data, targets and learning rate from a trace JSON written by
glassnet, runs N steps and writes its own JSON (per step: loss, output, E, parameters after the
update, 17 significant digits). Rscript comes from Debian's r-base-core; without it these tests fail.
"""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn

SCRIPT = Path(__file__).resolve().parents[2] / "r" / "article.R"
TOL = 1e-12
PARAMS = ("W1", "b1", "W2", "b2")


def run_r(*args, check=True):
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.fail("Rscript is not installed: `apt-get install -y r-base-core` (Debian's R; r/article.R needs "
                    "base R only). `make test` installs it when run as root.")
    result = subprocess.run([rscript, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300,
                            check=False)
    if check:
        assert result.returncode == 0, f"Rscript failed ({result.returncode}):\n{result.stderr}"
    return result


def r_steps(tmp_path, trace, n):
    trace.to_json(tmp_path / "trace.json")
    run_r(tmp_path / "trace.json", n, tmp_path / "r.json")
    steps = json.loads((tmp_path / "r.json").read_text())["steps"]
    assert [s["step"] for s in steps] == list(range(1, n + 1))
    return steps


def max_diff(ours, theirs, what):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{what}: glassnet shape {ours.shape}, R shape {theirs.shape}"
    return float(np.max(np.abs(ours - theirs)))


def test_r_reproduces_every_number_of_a_recorded_trace(tmp_path):
    model, X, y = gn.trace.preset("article")
    trace = gn.trace.record(model, X, y, steps=4)
    diffs = {}
    for ours, theirs in zip(trace.steps, r_steps(tmp_path, trace, 4)):
        s = ours.step
        diffs[f"step {s} loss"] = abs(ours.loss - theirs["loss"])
        diffs[f"step {s} output"] = max_diff(ours["A2"].value, theirs["output"], "output")
        diffs[f"step {s} E"] = max_diff(ours["E"].value, theirs["E"], "E")
        for p in PARAMS:
            diffs[f"step {s} {p}_new"] = max_diff(ours.params_after[p], theirs["params_after"][p], p)
    worst = max(diffs, key=diffs.get)
    print(f"largest |glassnet - R| over {len(diffs)} arrays: {diffs[worst]:.3e} ({worst})")
    assert diffs[worst] <= TOL, {k: v for k, v in diffs.items() if v > TOL}


def test_r_5000_steps_match_glassnet_fit(tmp_path):
    epochs = 5000
    model, X, y = gn.trace.preset("article")
    trace = gn.trace.record(model, X, y, steps=1)  # only the starting point travels to R
    theirs = r_steps(tmp_path, trace, epochs)

    # fit: the loss of every epoch and the final weights
    model, X, y = gn.trace.preset("article")
    start = dict(zip(PARAMS, model.get_weights()))
    for p in PARAMS:
        np.testing.assert_array_equal(start[p], trace.steps[0].params_before[p])
    history = model.fit(X, y, epochs=epochs, batch_size=None, verbose=0)
    loss_diff = max_diff(history.history["loss"], [s["loss"] for s in theirs], "loss per epoch")
    final = dict(zip(PARAMS, model.get_weights()))
    weight_diff = max(max_diff(final[p], theirs[-1]["params_after"][p], p) for p in PARAMS)

    # train_step, the body of fit's loop: every output, error and parameter of every step
    model, X, y = gn.trace.preset("article")
    step_diff = 0.0
    for s in theirs:
        loss, output = model.train_step(X, y)
        assert abs(loss - s["loss"]) <= TOL, (s["step"], loss, s["loss"])
        step_diff = max(step_diff, max_diff(output, s["output"], "output"), max_diff(y - output, s["E"], "E"),
                        *(max_diff(w, s["params_after"][p], p) for p, w in zip(PARAMS, model.get_weights())))
    print(f"after {epochs} steps: max |fit - R| loss {loss_diff:.3e}, weights {weight_diff:.3e}; "
          f"every step's output, E and weights {step_diff:.3e}")
    assert max(loss_diff, weight_diff, step_diff) <= TOL
    pred = model.predict(X).ravel()
    assert pred[0] > 0.9 and pred[1] > 0.9 and pred[2] < 0.1  # the tutorial's result, in R too


def test_r_refuses_what_it_cannot_run(tmp_path):
    model, X, y = gn.trace.preset("xor")
    gn.trace.record(model, X, y, steps=1).to_json(tmp_path / "xor.json")
    cases = {
        (tmp_path / "xor.json", 3, tmp_path / "o.json"): "the loss is binary_crossentropy",
        (tmp_path / "missing.json", 3, tmp_path / "o.json"): "no such file",
        (tmp_path / "xor.json", 0, tmp_path / "o.json"): "N must be a positive integer",
        (tmp_path / "xor.json",): "usage: Rscript r/article.R trace.json N out.json",
    }
    for args, message in cases.items():
        result = run_r(*args, check=False)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)
    assert not (tmp_path / "o.json").exists()
