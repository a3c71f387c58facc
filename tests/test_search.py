"""glassnet.search: scikit-learn's search classes, locally (loky) and on a real Dask LocalCluster.

The cluster is two worker processes of one thread each on 127.0.0.1 (started once for the module). Checked:
the cluster's scores equal the local ones bit for bit; the data is scattered once, not shipped per fit;
a worker killed with SIGKILL mid-search leaves the search to finish with every result (the same results);
a scheduler that does not answer is a ConfigError within the timeout; a bad grid is refused before any fit.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import threading
import time

import distributed  # sklearn and dask are in the dev extra: missing, they fail loudly
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from glassnet.errors import ConfigError
from glassnet.search import _halving_schedule, check_params, search
from glassnet.sklearn import GlassClassifier, _GlassEstimator

GRID = {"hidden_layer_sizes": [(16,), (32, 16)], "learning_rate": [1e-3, 1e-2]}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y  # (1797, 64), 10 classes


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield cluster, client


def _estimator(epochs=15):
    return GlassClassifier(epochs=epochs, batch_size=64)


@pytest.fixture(scope="module")
def reference(digits):
    """The search of GRID run locally, one process per core."""
    return search(_estimator(), GRID, *digits, cv=3, random_state=0, progress=False)


def _scores(result):
    return [(r["params"], [r[f"split{k}_test_score"] for k in range(result.n_splits)]) for r in result.results]


def test_cluster_gives_the_local_scores_bit_for_bit(digits, cluster, reference):
    _, client = cluster
    on_cluster = search(_estimator(), GRID, *digits, cv=3, random_state=0, scheduler=client, progress=False)
    assert _scores(on_cluster) == _scores(reference)  # exact equality of every fold's score
    assert on_cluster.best_params == reference.best_params
    assert "2 workers, 2 threads" in on_cluster.where and reference.where.startswith("local")
    X, _ = digits
    np.testing.assert_array_equal(on_cluster.best_estimator.predict_proba(X), reference.best_estimator.predict_proba(X))


def test_the_address_runs_the_same_search(digits, cluster, reference):
    cl, _ = cluster  # a scheduler address: search opens its own Client and closes it
    by_address = search(_estimator(), GRID, *digits, cv=3, random_state=0, scheduler=cl.scheduler_address,
                        progress=False)
    assert _scores(by_address) == _scores(reference)


class _Dependencies(distributed.diagnostics.plugin.SchedulerPlugin):
    """Records, for each task the scheduler sends to a worker, the keys (and sizes) of the data it reads."""

    name = "glassnet-test-dependencies"

    def __init__(self, scheduler):
        self.scheduler, self.seen = scheduler, []

    def transition(self, key, start, finish, *args, **kwargs):
        ts = self.scheduler.tasks.get(key)
        if finish == "processing" and ts is not None and str(key).startswith("batch_of_"):
            self.seen.append((str(key), {str(d.key): d.nbytes for d in ts.dependencies}))


def test_the_data_is_scattered_once_not_per_fit(digits, cluster, capsys):
    cl, client = cluster
    X, y = digits
    plugin = _Dependencies(cl.scheduler)
    cl.scheduler.add_plugin(plugin)
    try:  # with progress: several parallel calls (chunks), each of several tasks
        result = search(_estimator(epochs=2), GRID, X, y, cv=3, random_state=0, scheduler=client)
    finally:
        cl.scheduler.remove_plugin(name=plugin.name)
    assert len(result.results) == 4 and capsys.readouterr().err.count("search: ") >= 2
    big = {k for _, deps in plugin.seen for k, n in deps.items() if n >= X.nbytes}
    assert len(big) == 1, f"X went to the workers under several keys: {big}"
    (x_key,) = big
    assert len(plugin.seen) >= 2 and all(x_key in deps for _, deps in plugin.seen)
    assert x_key.startswith("ndarray-")  # client.scatter's key, not a per-call copy
    # X, y and each fold's train and test rows: one key each, whatever the number of tasks and calls
    assert len({k for _, deps in plugin.seen for k in deps}) == 2 + 2 * 3


def test_a_worker_killed_mid_search_leaves_every_result(digits, cluster, reference):
    cl, client = cluster
    client.wait_for_workers(2, timeout=30)
    pids = client.run(os.getpid)  # worker address -> process id
    done = threading.Event()
    killed = []

    class FirstDone(distributed.diagnostics.plugin.SchedulerPlugin):
        name = "glassnet-test-first-done"

        def transition(self, key, start, finish, *args, **kwargs):
            if finish == "memory" and str(key).startswith("batch_of_"):
                done.set()

    def kill_one():
        if not done.wait(60):
            return
        for _ in range(200):  # a worker that is fitting right now
            busy = [ws.address for ws in list(cl.scheduler.workers.values()) if ws.processing]
            if busy and busy[0] in pids:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.01)

    cl.scheduler.add_plugin(FirstDone())
    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    try:
        result = search(_estimator(), GRID, *digits, cv=3, random_state=0, scheduler=client, progress=False)
    finally:
        killer.join(5)
        cl.scheduler.remove_plugin(name=FirstDone.name)
    assert killed, "no worker was killed: the search ended before one was busy"
    assert _scores(result) == _scores(reference)  # every fit, rerun where it was lost, with the same score
    client.wait_for_workers(2, timeout=30)  # the nanny restarts the worker for the tests after


def test_an_unreachable_scheduler_is_a_config_error_within_the_timeout(digits):
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"no Dask scheduler answered at tcp://127\.0\.0\.1:1 within 1 s"):
        search(_estimator(), GRID, *digits, scheduler="tcp://127.0.0.1:1", connect_timeout=1, progress=False)
    assert time.perf_counter() - start < 30  # not a hang (a generous bound: no speed is measured here)
    with pytest.raises(ConfigError, match="is not a Dask scheduler address"):
        search(_estimator(), GRID, *digits, scheduler="host:port", progress=False)


def test_a_listener_that_never_replies_is_a_config_error_not_a_hang(digits):
    # distributed's Client alone waits forever here: the port accepts, nothing answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        start = time.perf_counter()
        with pytest.raises(ConfigError, match="no Dask scheduler answered"):
            search(_estimator(), GRID, *digits, scheduler=address, connect_timeout=1, progress=False)
        assert time.perf_counter() - start < 30


@pytest.mark.parametrize("params, message", [
    ({"learning_rat": [1e-3]}, "GlassClassifier has no parameter 'learning_rat'; its parameters are activation"),
    ({"learning_rate": []}, "the list of values of 'learning_rate' is empty"),
    ({"learning_rate": 0.01}, "the values of 'learning_rate' must be a list"),
    ({"learning_rate": "0.01"}, "the values of 'learning_rate' must be a list"),
    ({"learning_rate": [1e-3, "fast"]}, r"candidate learning_rate='fast' is refused: .*Received: learning_rate='fast'"),
    ({"hidden_layer_sizes": [(16, 0)]}, r"candidate hidden_layer_sizes=\(16, 0\) is refused"),
    ({"activation": ["relux"]}, "candidate activation='relux' is refused: Unknown activation 'relux'"),
    ({"early_stopping": [True], "validation_fraction": [0.1, 1.5]}, "validation_fraction"),
    ({}, "Received an invalid value for `params`"),
])
def test_a_bad_grid_is_refused_before_any_work(digits, monkeypatch, params, message):
    def no_fit(self, *args, **kwargs):
        raise AssertionError("a fit ran before the grid was checked")

    monkeypatch.setattr(_GlassEstimator, "fit", no_fit)
    start = time.perf_counter()  # the unreachable scheduler is never tried: the grid comes first
    with pytest.raises(ConfigError, match=message):
        search(_estimator(), params, *digits, scheduler="tcp://127.0.0.1:1", progress=False)
    assert time.perf_counter() - start < 1


def test_other_bad_settings_are_refused(digits):
    for kwargs, message in [({"method": "bayes"}, "`method`"), ({"cv": 1}, "`cv`"), ({"n_iter": 0}, "`n_iter`"),
                            ({"scoring": "accuracyy"}, "scoring='accuracyy'"),
                            ({"random_state": -1}, "`random_state`")]:
        with pytest.raises(ConfigError, match=message):
            search(_estimator(), GRID, *digits, progress=False, **kwargs)
    with pytest.raises(ConfigError, match="method='halving' uses 'epochs' as its resource"):
        check_params(_estimator(), {"epochs": [5, 10]}, "halving")


def test_a_pipeline_is_searched_by_its_step_names(digits):
    pipe = make_pipeline(StandardScaler(), _estimator(epochs=2))
    with pytest.raises(ConfigError, match="candidate glassclassifier__learning_rate=0 is refused"):
        check_params(pipe, {"glassclassifier__learning_rate": [0]})
    X, y = digits
    result = search(pipe, {"glassclassifier__learning_rate": [1e-2]}, X[:300], y[:300], cv=2, progress=False)
    assert result.best_estimator[-1].model_ is not None


def test_halving_gives_the_survivors_more_epochs(digits):
    X, y = digits
    grid = {"hidden_layer_sizes": [(8,), (16,), (32,)], "learning_rate": [1e-3, 3e-3, 1e-2]}
    result = search(_estimator(epochs=9), grid, X[:600], y[:600], cv=3, method="halving", random_state=0,
                    progress=False)
    assert _halving_schedule(9, 9) == (1, [9, 3, 1])
    epochs = [r["n_resources"] for r in result.results]
    assert epochs == [9] + [3] * 3 + [1] * 9  # best first: the last iteration's candidate, then earlier ones
    assert result.n_fits == 13 * 3 and result.best_params["epochs"] == 9
    assert result.best_estimator.n_iter_ == 9 and result.results[0]["params"] == result.best_params


def test_random_draws_n_iter_candidates_the_same_for_a_seed(digits):
    X, y = digits
    grid = {"hidden_layer_sizes": [(8,), (16,)], "learning_rate": [1e-3, 3e-3, 1e-2], "batch_size": [32, 64]}
    runs = [search(_estimator(epochs=2), grid, X[:300], y[:300], cv=2, method="random", n_iter=3, random_state=7,
                   progress=False) for _ in range(2)]
    assert len(runs[0].results) == 3 and _scores(runs[0]) == _scores(runs[1])


def test_the_table_is_best_first_with_sklearns_names(reference, tmp_path, capsys):
    ranks = [r["rank_test_score"] for r in reference.results]
    assert ranks == sorted(ranks) and ranks[0] == 1
    first = reference.results[0]
    assert first["params"] == reference.best_params and first["mean_test_score"] == reference.best_score
    assert {"params", "mean_test_score", "std_test_score", "rank_test_score", "mean_fit_time"} <= set(first)
    assert math.isclose(first["mean_test_score"], np.mean([first[f"split{k}_test_score"] for k in range(3)]))
    reference.to_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["results"][0]["params"]["hidden_layer_sizes"] == list(first["params"]["hidden_layer_sizes"])
    assert data["method"] == "grid" and data["cv"] == 3 and data["n_fits"] == 12
    reference.to_csv(tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].startswith("mean_test_score,std_test_score,rank_test_score,mean_fit_time")
    assert lines[0].endswith("param_hidden_layer_sizes,param_learning_rate") and len(lines) == 5
    assert repr(first["params"]["hidden_layer_sizes"]) in lines[1]


def test_progress_goes_to_stderr_unless_quiet(digits, capsys):
    X, y = digits
    search(_estimator(epochs=1), GRID, X[:200], y[:200], cv=2, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("search: 8/8 fits, best mean_test_score") and len(err) >= 2
    search(_estimator(epochs=1), GRID, X[:200], y[:200], cv=2, progress=False)
    assert capsys.readouterr().err == ""
