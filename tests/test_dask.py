"""glassnet.dask: a model mapped over the partitions of a Dask array or DataFrame.

Every result is compared with one in-memory ``model.predict`` of all rows: equal exactly, in the same
dtype. Partitions hold multiples of 16 rows: OpenBLAS rounds a row of a matrix product by its place in
the kernel's block of rows, so a row in a partition that starts elsewhere may differ in the last bit
(module docstring of glassnet.dask). The cluster is a LocalCluster of two worker processes on 127.0.0.1; the model must be one key of
the graph (shipped once), never a copy inside each partition's task.
"""

import socket
import time

import cloudpickle
import dask  # the dask extra is in dev: a missing package fails loudly, never skips
import dask.array as da
import dask.dataframe as dd  # needs pandas and pyarrow
import distributed
import numpy as np
import pandas as pd
import pytest

import glassnet as gn
import glassnet.dask as gdask

# The scheduler's dashboard moves to a free port when 8787 is taken (another cluster on this machine).
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use")

MARKER = "model-marker-3f9c"  # the model's name: found in the pickled bytes of every task that holds it
FEATURES = ["x1", "x2", "x3", "x4"]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X, codes = gn.data.blobs(600, centers=[[0, 0, 0, 0], [3, 0, 1, 0], [0, 3, 0, 1]], std=1.0, rng=0)
    return X.astype(np.float32), codes


@pytest.fixture(scope="module")
def classifier(data):
    """A float32 classifier with the metadata `glassnet train` leaves: its classes and feature names."""
    X, codes = data
    model = gn.Sequential([gn.layers.Dense(8, activation="relu"), gn.layers.Dense(3, activation="softmax")],
                          seed=0, name=MARKER)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(X, codes, epochs=2, batch_size=64, verbose=0)
    model.metadata.update(classes=["red", "green", "blue"], features=FEATURES)
    return model


def holders(collection) -> list:
    """The keys of the collection's graph whose task (or data) holds the model."""
    graph = dict(collection.__dask_graph__())
    return [key for key, task in graph.items() if MARKER.encode() in cloudpickle.dumps(task)]


def frame_of(X: np.ndarray, **partitions):
    """X as a DataFrame with the features in another order, plus a text id and an unused numeric column."""
    pdf = pd.DataFrame({"name": [f"p{i}" for i in range(len(X))], "x3": X[:, 2], "other": 7.0,
                        "x1": X[:, 0], "x4": X[:, 3], "x2": X[:, 1]}, index=np.arange(len(X)) + 1000)
    return dd.from_pandas(pdf, **partitions)


def test_array_on_a_local_cluster_equals_one_in_memory_predict(client, classifier, data):
    X = data[0]
    lazy = gdask.predict(classifier, da.from_array(X, chunks=(160, 2)))  # columns rechunked into one
    assert lazy.chunks == ((160, 160, 160, 120), (3,)) and lazy.dtype == np.float32
    (got,) = dask.compute(lazy, scheduler=client)
    want = classifier.predict(X)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_dataframe_on_a_local_cluster_gives_predict_columns(client, classifier, data):
    X = data[0]
    lazy = gdask.predict(classifier, frame_of(X, chunksize=160), batch_size=80)
    assert list(lazy.columns) == ["prediction", "prob_red", "prob_green", "prob_blue"]
    (got,) = dask.compute(lazy, scheduler=client)
    want = classifier.predict(X)  # the feature columns put back in the model's order
    np.testing.assert_array_equal(got[["prob_red", "prob_green", "prob_blue"]].to_numpy(), want)
    assert got["prob_red"].dtype == np.float32
    assert got["prediction"].tolist() == np.array(["red", "green", "blue"])[want.argmax(axis=1)].tolist()
    assert got.index.tolist() == list(range(1000, 1000 + len(X)))  # the input's index, to join on


@pytest.mark.parametrize("kind", ["array", "dataframe"])
def test_model_is_one_key_of_the_graph(classifier, data, kind):
    X = data[0]
    collection = da.from_array(X, chunks=100) if kind == "array" else frame_of(X, npartitions=6)
    lazy = gdask.predict(classifier, collection)
    graph = dict(lazy.__dask_graph__())
    assert len(graph) > 6  # six partitions' tasks and their inputs
    assert len(holders(lazy)) == 1, holders(lazy)
    assert len(holders(gdask.predict(classifier, collection, batch_size=7))) == 1


def test_same_model_gives_the_same_key(classifier):
    assert gdask.delayed_model(classifier).key == gdask.delayed_model(classifier).key


def test_threads_share_the_model_safely(classifier, data):
    # Dask's threaded scheduler: partitions run at once on one model object, which runs one forward at a time
    X = data[0]
    got = gdask.predict(classifier, da.from_array(X, chunks=16)).compute(scheduler="threads", num_workers=4)
    np.testing.assert_array_equal(got, classifier.predict(X))


def test_path_is_read_on_the_client_at_once(tmp_path, classifier, data):
    path = tmp_path / "m.glassnet"
    classifier.save(path)
    X = da.from_array(data[0], chunks=250)
    np.testing.assert_array_equal(gdask.predict(str(path), X).compute(), classifier.predict(data[0]))
    with pytest.raises(gn.errors.ModelFileError):
        gdask.predict(tmp_path / "nope.glassnet", X)  # now, not when computed


def test_dataframe_without_feature_names_reads_numeric_columns_or_columns(data):
    X = data[0][:, :2]
    reg = gn.Sequential([gn.layers.Dense(1)], seed=1).build(2)  # saved from Python: no metadata
    pdf = pd.DataFrame({"id": [f"r{i}" for i in range(len(X))], "a": X[:, 0], "b": X[:, 1]})
    got = gdask.predict(reg, dd.from_pandas(pdf, chunksize=160)).compute()
    assert list(got.columns) == ["prediction"]
    np.testing.assert_array_equal(got["prediction"].to_numpy(), reg.predict(X)[:, 0])
    pdf["c"] = 1.0
    got = gdask.predict(reg, dd.from_pandas(pdf, chunksize=160), columns=["b", "a"]).compute()
    np.testing.assert_array_equal(got["prediction"].to_numpy(), reg.predict(X[:, ::-1])[:, 0])
    two = gn.Sequential([gn.layers.Dense(2)], seed=1).build(2)
    got = gdask.predict(two, dd.from_pandas(pdf, npartitions=3), columns=["a", "b"]).compute()
    assert list(got.columns) == ["output_0", "output_1"]


def test_rows_of_any_shape_and_empty_partitions():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5, 3)).astype(np.float32)  # (N, T, C)
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], seed=0).build((5, 3))
    lazy = gdask.predict(model, da.from_array(X, chunks=(15, 2, 1)))
    assert lazy.shape == (40, 2) and lazy.chunks == ((15, 15, 10), (2,))
    np.testing.assert_array_equal(lazy.compute(), model.predict(X))
    with_empty = da.concatenate([da.from_array(X[:0], chunks=1), da.from_array(X, chunks=(20, 5, 3))])
    np.testing.assert_array_equal(gdask.predict(model, with_empty).compute(), model.predict(X))


def test_bad_input_is_named(classifier, data):
    X = data[0]
    with pytest.raises(gn.errors.DataError, match="dask.array.Array or a dask.dataframe.DataFrame; received "
                                                  "numpy.ndarray"):
        gdask.predict(classifier, X)
    with pytest.raises(gn.errors.ShapeError, match=r"data has shape \(600, 3\); the model takes rows of shape \(4,\)"):
        gdask.predict(classifier, da.from_array(X[:, :3]))
    with pytest.raises(gn.errors.ConfigError, match="batch_size"):
        gdask.predict(classifier, da.from_array(X), batch_size=0)
    with pytest.raises(gn.errors.ConfigError, match="model_or_path"):
        gdask.predict(42, da.from_array(X))
    with pytest.raises(gn.errors.NotBuiltError, match="built model"):
        gdask.predict(gn.Sequential([gn.layers.Dense(1)]), da.from_array(X))
    with pytest.raises(gn.errors.DataError, match="columns= names DataFrame columns"):
        gdask.predict(classifier, da.from_array(X), columns=["x1"])
    frame = frame_of(X, npartitions=2)
    with pytest.raises(gn.errors.DataError, match=r"lacks column\(s\) x4 \(the model's feature columns\)"):
        gdask.predict(classifier, frame.drop(columns="x4"))
    with pytest.raises(gn.errors.DataError, match="column 'name' of the DataFrame holds"):
        gdask.predict(classifier, frame, columns=["x1", "x2", "x3", "name"])
    with pytest.raises(gn.errors.ShapeError, match="2 feature column"):
        gdask.predict(classifier, frame, columns=["x1", "x2"])


def test_connect_to_nothing_fails_within_the_timeout():
    silent = socket.socket()  # accepts connections and never answers: the case that must not hang
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        start = time.perf_counter()
        with pytest.raises(gn.errors.ConfigError, match="no Dask scheduler answered at tcp://127.0.0.1:.* within 1 s"):
            gdask.connect(f"tcp://127.0.0.1:{silent.getsockname()[1]}", timeout=1)
        assert time.perf_counter() - start < 30  # not a hang (a generous bound)
    finally:
        silent.close()
    with pytest.raises(gn.errors.ConfigError, match="'nonsense://x' is no Dask scheduler address"):
        gdask.connect("nonsense://x")


def test_connect_to_a_scheduler(client):
    with gdask.connect(client.scheduler.address, timeout=5) as other:
        assert other.scheduler_info()["workers"]


def test_connect_works_where_an_event_loop_already_runs():
    # Jupyter, or Playwright's sync API, keep a loop running in the main thread: asyncio.run is refused there
    import asyncio

    async def inside():
        with pytest.raises(gn.errors.ConfigError, match="no Dask scheduler answered"):
            gdask.connect("tcp://127.0.0.1:1", timeout=1)

    asyncio.run(inside())
