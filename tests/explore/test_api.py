"""The explorer's JSON API through Flask's test client: sessions, steps, traces, uploads and errors.

The numbers the API returns are compared with the engine run directly (a model built with the public API,
the same seed, the rows the session reports): losses, the trace, the boundary grid and the weights.
"""

import io
import json
import time

import numpy as np
import pytest

import glassnet as gn
from glassnet.explore import MAX_CSV_BYTES, Config, SessionRegistry, create_app
from glassnet.explore.server import MAX_REQUEST_BYTES

FULL_BATCH_XOR = {"dataset": "xor", "seed": 3, "hidden": [4], "activation": "tanh", "optimizer": "sgd",
                  "learning_rate": 0.5, "batch_size": None}


@pytest.fixture
def client():
    return create_app().test_client()


def new(client, **config):
    r = client.post("/api/session", json=config)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def step(client, sid, steps=1, **kw):
    r = client.post(f"/api/session/{sid}/step", json={"steps": steps, **kw})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def engine_model(hidden=(4,), activation="tanh", out=1, optimizer=None, seed=3):
    """The session's network built by hand with the public API (design.md's interface)."""
    layers = [gn.layers.Dense(u, activation=activation) for u in hidden]
    layers.append(gn.layers.Dense(out, activation="sigmoid" if out == 1 else "softmax"))
    model = gn.Sequential(layers, seed=seed, dtype="float64")
    model.compile(loss="binary_crossentropy" if out == 1 else "categorical_crossentropy",
                  optimizer=optimizer or gn.optimizers.SGD(learning_rate=0.5), metrics=["accuracy"])
    return model.build(2)


def rows(client, sid):
    """The session's training and test rows, as the server reports them, with 0/1 targets (N, 1)."""
    d = client.get(f"/api/session/{sid}/data").get_json()
    X, Xt = np.array(d["train"]["X"]), np.array(d["test"]["X"])
    return X, np.array(d["train"]["y"], float)[:, None], Xt, np.array(d["test"]["y"], float)[:, None]


# -- sessions and steps ----------------------------------------------------------------------------------
def test_sessions_are_independent(client):
    a, b = new(client, dataset="xor", seed=1), new(client, dataset="xor", seed=1)
    assert a != b
    before_b = client.get(f"/api/session/{b}/history").get_json()
    after_a = [step(client, a, 7) for _ in range(3)]
    assert client.get(f"/api/session/{b}").get_json()["step"] == 0
    assert client.get(f"/api/session/{b}/history").get_json() == before_b
    after_b = [step(client, b, 7) for _ in range(3)]
    assert after_b == after_a  # same settings and seed: the same numbers, each session on its own
    assert client.get(f"/api/session/{a}").get_json()["step"] == 21


def test_loss_falls_on_xor(client):
    sid = new(client, dataset="xor", seed=0)
    first = client.get(f"/api/session/{sid}/history").get_json()[0]
    out = [step(client, sid, 100) for _ in range(5)]
    assert [o["step"] for o in out] == [100, 200, 300, 400, 500]
    assert out[-1]["train_loss"] < 0.5 * first["train_loss"] and out[-1]["test_loss"] < 0.5 * first["test_loss"]
    assert out[-1]["test_accuracy"] > 0.9
    assert len(client.get(f"/api/session/{sid}/history").get_json()) == 6


def test_losses_are_the_engines(client):
    sid = new(client, **FULL_BATCH_XOR)
    X, Y, Xt, Yt = rows(client, sid)
    model = engine_model()
    history = client.get(f"/api/session/{sid}/history").get_json()
    assert history[0]["train_loss"] == model.evaluate(X, Y)["loss"]
    for _ in range(3):
        out = step(client, sid, 1)
        batch_loss, _ = model.train_step(X, Y)
        assert out["batch_loss"] == batch_loss
        assert out["train_loss"] == model.evaluate(X, Y)["loss"]
        assert out["test_loss"] == model.evaluate(Xt, Yt)["loss"]
        assert out["test_accuracy"] == model.evaluate(Xt, Yt)["accuracy"]


def test_trace_json_is_gn_trace_record_on_an_equal_model(client):
    sid = new(client, **FULL_BATCH_XOR)
    X, Y, _, _ = rows(client, sid)
    r = client.get(f"/api/session/{sid}/trace.json")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    expected = gn.trace.record(engine_model(), X, Y, steps=1).to_json()
    assert r.get_data(as_text=True) == expected
    # recorded on a copy: the session has not advanced, and asking again gives the same step
    assert client.get(f"/api/session/{sid}").get_json()["step"] == 0
    assert client.get(f"/api/session/{sid}/trace.json").get_data(as_text=True) == expected
    out = step(client, sid, 1)
    assert out["batch_loss"] == json.loads(expected)["steps"][0]["loss"]


def test_traced_step_is_kept_with_its_files(client):
    sid = new(client, dataset="spiral", seed=2, hidden=[5], optimizer="adam", learning_rate=0.05, batch_size=16)
    step(client, sid, 4)
    before = client.get(f"/api/session/{sid}/model.glassnet").data
    out = step(client, sid, 1, trace=True)
    assert out["traced_step"] == 5 and out["step"] == 5
    trace = json.loads(client.get(f"/api/session/{sid}/trace.json?step=5").data)
    assert trace["steps"][0]["loss"] == out["batch_loss"]  # the mini-batch step the session took
    # the kept model file is the one the step started from: recording it again gives the same trace
    assert client.get(f"/api/session/{sid}/model.glassnet?step=5").data == before
    xlsx = client.get(f"/api/session/{sid}/trace.xlsx?step=5")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    html = client.get(f"/api/session/{sid}/trace.html?step=5")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert html.get_data(as_text=True) == gn.trace.Trace.from_dict(trace).to_html()
    missing = client.get(f"/api/session/{sid}/trace.json?step=4")
    assert missing.status_code == 404 and "step 5" in missing.get_json()["error"]


def test_model_file_boundary_and_weights_are_the_models(client, tmp_path):
    sid = new(client, dataset="moons", seed=4, hidden=[6, 3])
    step(client, sid, 30)
    path = tmp_path / "m.glassnet"
    path.write_bytes(client.get(f"/api/session/{sid}/model.glassnet").data)
    model = gn.load(path)
    w = client.get(f"/api/session/{sid}/weights").get_json()
    assert w["sizes"] == [2, 6, 3, 1]
    dense = [layer for layer in model.layers if isinstance(layer, gn.layers.Dense)]
    for layer, got in zip(dense, w["layers"]):
        assert np.array_equal(np.array(got["W"]), layer.params["W"]) and np.array_equal(got["b"], layer.params["b"])
    b = client.get(f"/api/session/{sid}/boundary?n=7").get_json()
    gx, gy = np.meshgrid(b["xs"], b["ys"])
    p = model.predict(np.c_[gx.ravel(), gy.ravel()]).ravel()
    assert np.array_equal(np.array(b["predicted"]).ravel(), (p > 0.5).astype(int))
    assert np.array_equal(np.array(b["probability"]).ravel(), np.maximum(p, 1 - p))


def test_every_network_the_explorer_builds_traces(client):
    """L2, dropout and RMSProp networks were refused by the tracer once; now it lays out every one."""
    for settings, name in (({"dataset": "xor", "l2": 0.01}, "penalty_W1"), ({"dropout": 0.2}, "mask2"),
                           ({"optimizer": "rmsprop"}, "v_W1_new")):
        sid = new(client, **settings)
        assert client.get(f"/api/session/{sid}").get_json()["trace_error"] is None
        out = step(client, sid, 1, trace=True)
        assert "trace_error" not in out
        r = client.get(f"/api/session/{sid}/trace.json")
        assert r.status_code == 200 and name in [q["name"] for q in r.get_json()["steps"][0]["quantities"]], name


def test_tutorial_data_has_no_boundary(client):
    sid = new(client, dataset="article", hidden=[3], activation="sigmoid")
    out = step(client, sid, 10)
    assert out["test_loss"] is None and out["epoch"] == 10
    assert client.get(f"/api/session/{sid}/boundary").get_json()["available"] is False


# -- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value", [
    ("dataset", "mnist"), ("noise", -1), ("n_samples", 10**6), ("seed", -1), ("hidden", [0]),
    ("hidden", "4"), ("activation", "nope"), ("optimizer", "lbfgs"), ("learning_rate", -0.1),
    ("batch_size", 0), ("l2", -1), ("dropout", 1.0), ("test_fraction", 0.95), ("colour", "red"),
])
def test_bad_config_is_400_naming_the_field(client, field, value):
    r = client.post("/api/session", json={field: value})
    assert r.status_code == 400
    body = r.get_json()
    assert body["field"] == field and field in body["error"], body


def test_bad_requests_are_400(client):
    assert client.post("/api/session", data="{not json", content_type="application/json").status_code == 400
    assert client.post("/api/session", json=[1, 2]).status_code == 400
    sid = new(client)
    for body in ({"steps": 0}, {"steps": 5000}, {"steps": "3"}, {"trace": "yes"}):
        r = client.post(f"/api/session/{sid}/step", json=body)
        assert r.status_code == 400 and "error" in r.get_json(), body
    assert client.get(f"/api/session/{sid}/boundary?n=1000").status_code == 400


@pytest.mark.parametrize("path", ["", "/history", "/boundary", "/weights", "/data", "/trace.json", "/trace.xlsx",
                                  "/trace.html", "/model.glassnet"])
def test_unknown_session_is_404(client, path):
    r = client.get(f"/api/session/no-such-id{path}")
    assert r.status_code == 404 and "no-such-id" in r.get_json()["error"]


def test_unknown_session_step_and_delete_are_404(client):
    assert client.post("/api/session/nope/step", json={"steps": 1}).status_code == 404
    assert client.delete("/api/session/nope").status_code == 404
    sid = new(client)
    assert client.delete(f"/api/session/{sid}").status_code == 200
    assert client.get(f"/api/session/{sid}").status_code == 404


# -- uploads -----------------------------------------------------------------------------------------------
GOOD_CSV = "x1,x2,label\n" + "".join(f"{i % 7 / 7},{i % 5 / 5},{'ab'[i % 2]}\n" for i in range(40))


@pytest.mark.parametrize("text, words", [
    ("x1,x2,label\n1,2,a\n3,oops,b\n", "'oops' in column 'x2' at line 3 of bad.csv is not a number"),
    ("x1,x2,label\n1,2,a\n3,4\n", "line 3"),
    ("x1,label\n1,a\n2,b\n", "expected a header row and 3 columns"),
    ("x1,x2,label\n1,2,a\n3,4,a\n", "holds one class"),
    ("", "no CSV text"),
])
def test_malformed_csv_is_400_and_the_server_keeps_serving(client, text, words):
    sid = new(client)
    r = client.post("/api/session", json={"dataset": "csv", "csv": text, "filename": "bad.csv"})
    assert r.status_code == 400 and words in r.get_json()["error"], r.get_json()
    assert step(client, sid, 2)["step"] == 2
    assert new(client, dataset="csv", csv=GOOD_CSV)


def test_csv_upload_trains(client):
    sid = new(client, dataset="csv", csv=GOOD_CSV, filename="mine.csv")
    info = client.get(f"/api/session/{sid}").get_json()
    assert info["classes"] == ["a", "b"] and info["n_train"] + info["n_test"] == 40
    assert "csv" not in info["config"] and info["config"]["filename"] == "mine.csv"
    assert step(client, sid, 5)["step"] == 5


def test_too_big_upload_is_refused_and_the_server_keeps_serving(client):
    big = "x1,x2,label\n" + "0.5,0.25,a\n" * (MAX_CSV_BYTES // 11 + 10)
    r = client.post("/api/session", json={"dataset": "csv", "csv": big})
    assert r.status_code == 400 and r.get_json()["field"] == "csv" and "1,000,000" in r.get_json()["error"]
    huge = b'{"dataset": "csv", "csv": "' + b"1" * MAX_REQUEST_BYTES + b'"}'
    r = client.post("/api/session", data=io.BytesIO(huge), content_type="application/json")
    assert r.status_code == 413 and "1,000,000" in r.get_json()["error"]
    rows = "x1,x2,label\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(5001))
    r = client.post("/api/session", json={"dataset": "csv", "csv": rows})
    assert r.status_code == 400 and "5,000" in r.get_json()["error"]
    assert step(client, new(client), 1)["step"] == 1


# -- idle sessions -----------------------------------------------------------------------------------------
def test_idle_sessions_are_dropped():
    client = create_app(idle_timeout=0.2).test_client()
    old = new(client)
    time.sleep(0.3)
    fresh = new(client)  # any request sweeps
    assert client.get(f"/api/session/{old}").status_code == 404
    assert client.get(f"/api/session/{fresh}").status_code == 200


def test_registry_sweeps_by_last_use_and_refuses_when_full():
    now = [0.0]
    registry = SessionRegistry(idle_timeout=10, max_sessions=2, clock=lambda: now[0])
    a = registry.create(Config())
    now[0] = 8
    b = registry.create(Config())
    now[0] = 15
    registry.get(b.id)  # b used at 15, a last at 0: a goes
    assert len(registry) == 1 and registry.get(b.id) is b
    with pytest.raises(KeyError):
        registry.get(a.id)
    registry.create(Config())
    with pytest.raises(RuntimeError, match="2 sessions"):
        registry.create(Config())
    now[0] = 100
    assert len(registry.sweep()) == 2 and len(registry) == 0


def test_full_server_is_503():
    client = create_app(max_sessions=1).test_client()
    new(client)
    r = client.post("/api/session", json={})
    assert r.status_code == 503 and "1 sessions" in r.get_json()["error"]


# -- the page ----------------------------------------------------------------------------------------------
def test_page_and_its_files_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and b"/static/explore.js" in page.data
    for name in ("explore.js", "explore.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200
        assert b"http://" not in r.data.replace(b"http://www.w3.org/2000/svg", b"") and b"https://" not in r.data
