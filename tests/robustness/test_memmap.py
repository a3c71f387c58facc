"""Training from a memory-mapped .npy keeps memory bounded: the data stays on disk.

``check_array`` keeps a memmap of the model's dtype as it is (a view, no copy) and checks finiteness chunk by
chunk; the loop gathers each batch's rows and drops the file's pages every ~16 MB read. A child process
trains on the file and reports its peak resident memory (VmHWM, reset just before fit) above what it held
before fit; the slow test does it on 1 GB (``make fuzz`` runs it).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from fuzzing import measured

import glassnet as gn
from glassnet.data import check_array

MB = 1 << 20
SRC = os.path.dirname(os.path.dirname(gn.__file__))
# one BLAS thread: on a shared 2-core machine, spinning BLAS threads only slow the child down
ENV = dict(os.environ, PYTHONPATH=SRC, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import glassnet as gn

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

    X = np.load(sys.argv[1], mmap_mode="r")
    y = np.load(sys.argv[2])
    model = gn.Sequential([gn.layers.Dense(32, activation="relu"), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    model.build(X.shape[1])
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current resident size
    before = status("VmRSS")
    history = model.fit(X, y, epochs=1, batch_size=int(sys.argv[3]), validation_split=0.05, verbose=0)
    print(json.dumps({"before": before, "peak": status("VmHWM"), "after": status("VmRSS"),
                      "loss": history.history["loss"][0], "model_bytes": model.flat_params.nbytes * 3}))
    """
)


def _write_data(tmp_path, rows, features):
    """A float32 (rows, features) .npy written chunk by chunk (never whole in memory), and its target."""
    path = tmp_path / "X.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, features))
    rng = np.random.default_rng(0)
    w = rng.normal(size=features).astype(np.float32)
    y = np.empty(rows, np.float32)
    step = max(1, (32 * MB) // (features * 4))
    for start in range(0, rows, step):
        chunk = rng.standard_normal((min(step, rows - start), features), dtype=np.float32)
        X[start : start + len(chunk)] = chunk
        y[start : start + len(chunk)] = chunk @ w
    X.flush()
    del X
    np.save(tmp_path / "y.npy", y)
    return path, tmp_path / "y.npy", os.path.getsize(path)


def _train_in_child(tmp_path, rows, features, batch_size):
    x_path, y_path, size = _write_data(tmp_path, rows, features)
    result = subprocess.run([sys.executable, "-c", CHILD, str(x_path), str(y_path), str(batch_size)],
                            capture_output=True, text=True, env=ENV, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    report["data"] = size
    report["growth"] = report["peak"] - report["before"]
    assert np.isfinite(report["loss"])
    return report


def _describe(report):
    return (f"{report['data'] / MB:.0f} MB on disk: peak RSS {report['growth'] / MB:.1f} MB above the "
            f"{report['before'] / MB:.0f} MB before fit (targets, row order and batches included; model with "
            f"optimizer state {report['model_bytes'] / 1024:.0f} KB)")


def test_memmap_inputs_are_not_copied():
    mm = np.lib.format.open_memmap(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gn-mm-{os.getpid()}.npy"),
                                   mode="w+", dtype=np.float32, shape=(1000, 8))
    try:
        mm[:] = 1.0
        out = check_array(mm, dtype=np.float32, min_ndim=2)
        assert np.shares_memory(out, mm)  # a view onto the file, not a copy
        mm[500, 3] = np.nan
        with pytest.raises(gn.DataError, match=r"NaN at row 500, column 3"):
            check_array(mm, dtype=np.float32)  # found by the chunked check
        mm[500, 3] = 1.0
        assert not np.shares_memory(check_array(mm, dtype=np.float64), mm)  # another dtype: converted
    finally:
        os.unlink(mm.filename)


def test_training_from_a_memmap_gives_the_same_weights_as_from_memory(tmp_path):
    x_path, y_path, _ = _write_data(tmp_path, rows=5000, features=8)
    X, y = np.load(x_path, mmap_mode="r"), np.load(y_path)
    models = []
    for data in (X, np.array(X)):
        model = gn.Sequential([gn.layers.Dense(8, activation="relu"), gn.layers.Dropout(0.1), gn.layers.Dense(1)],
                              seed=0)
        model.compile(loss="mse", optimizer="adam")
        model.fit(data, y, epochs=2, batch_size=64, validation_split=0.1, verbose=0)
        models.append(model)
    np.testing.assert_array_equal(models[0].flat_params, models[1].flat_params)
    np.testing.assert_array_equal(models[0].predict(X, batch_size=1000), models[1].predict(np.array(X)))


def test_training_from_a_memmap_keeps_memory_well_under_the_data_size(tmp_path):
    report = _train_in_child(tmp_path, rows=320_000, features=64, batch_size=256)  # 78 MB
    measured("memmap RSS (normal suite)", _describe(report))
    assert report["growth"] < report["data"] / 2, _describe(report)


@pytest.mark.slow
def test_training_from_a_1gb_memmap_keeps_memory_bounded(tmp_path):
    report = _train_in_child(tmp_path, rows=4_194_304, features=64, batch_size=4096)  # 1 GiB
    measured("memmap RSS (1 GB, slow)", _describe(report))
    assert report["growth"] < 200 * MB, _describe(report)
