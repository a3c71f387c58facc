"""`glassnet gradcheck`: every layer, loss and a model per loss against finite differences."""

import json

from glassnet.cli.gradcheck import TOLERANCE
from glassnet.cli.main import main
from glassnet.layers.activations import ACTIVATIONS, Tanh
from glassnet.losses import LOSSES


def test_gradcheck_json_covers_every_layer_and_loss_and_passes(capsys):
    assert main(["gradcheck", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["passed"] is True and d["tolerance"] == TOLERANCE == 1e-6
    subjects = {r["subject"] for r in d["checks"]}
    for key, cls in ACTIVATIONS.items():
        assert f"Dense(3, {key!r})" in subjects and cls.__name__ in subjects
    assert "Dropout(0.5)" in subjects
    for key in LOSSES:
        assert f"loss {key}" in subjects
        assert any(s.startswith("model ") and s.endswith(f", {key}") for s in subjects), key
    dense = {r["array"] for r in d["checks"] if r["subject"] == "Dense(3, 'relu')"}
    assert dense == {"W", "b", "x"}
    model = {r["array"] for r in d["checks"] if r["subject"] == "model 4→5 tanh→3 linear, mse"}
    assert model == {"W1", "b1", "W2", "b2"}
    masked = {r["array"] for r in d["checks"] if r["subject"].startswith("model Masking")}
    assert masked == {"W1", "U1", "b1"}
    for s in ("Bidirectional(LSTM(3, sequences))", "TimeDistributed(Dense(3))", "LSTM(3) from an initial state"):
        assert s in subjects
    assert all(r["max_rel_error"] < 1e-6 and r["passed"] for r in d["checks"])
    print("largest relative error:", max(r["max_rel_error"] for r in d["checks"]))


def test_gradcheck_table(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["subject", "array", "max", "rel", "error", "result"]
    rows = [line for line in out[2:] if line.endswith(("pass", "FAIL"))]
    assert len(rows) > 50 and all(line.endswith("pass") for line in rows)
    assert out[-1].startswith(f"{len(rows)} of {len(rows)} passed")


def test_a_wrong_gradient_fails_with_status_1(capsys, monkeypatch):
    monkeypatch.setattr(Tanh, "slope", lambda self, z, a: 1 - a * a + 0.01)  # off by 0.01
    assert main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.endswith("FAIL")]
    # the tanh rows, and SimpleRNN, whose default activation is a Tanh layer
    assert failed and all("tanh" in line.lower() or line.startswith("SimpleRNN") for line in failed)
    assert "FAILED" in out.splitlines()[-1]
    assert main(["gradcheck", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False


def test_gradcheck_covers_every_layer_kind_and_stays_fast(capsys):
    import time

    start = time.perf_counter()
    assert main(["gradcheck", "--json"]) == 0
    seconds = time.perf_counter() - start
    rows = json.loads(capsys.readouterr().out)["checks"]
    arrays = {}
    for r in rows:
        arrays.setdefault(r["subject"].split("(")[0], set()).add(r["array"])
    for kind in ("Conv1D", "Conv2D", "SimpleRNN", "LSTM", "GRU"):
        assert arrays[kind] >= {"W", "b", "x"}, kind
    assert arrays["LSTM"] >= {"U"} and arrays["BatchNormalization"] == {"gamma", "beta", "x"}
    for kind in ("MaxPool1D", "MaxPool2D", "AveragePool1D", "AveragePool2D", "GlobalAveragePooling1D",
                 "GlobalAveragePooling2D"):
        assert arrays[kind] == {"x"}, kind
    assert arrays["Embedding"] == {"E"}  # integer ids have no gradient
    print(f"glassnet gradcheck took {seconds:.2f} s")  # reported, not asserted (README: a few seconds)
