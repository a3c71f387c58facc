"""Training from a memory-mapped .npy keeps memory bounded: the data stays on disk.

``check_array`` keeps a memmap of the model's dtype as it is (a view, no copy) and checks finiteness chunk by
chunk; every pass over the file (that check, each epoch, validation, predict) drops the file's pages every
~16 MB of the file it reads and when it ends (``glassnet.data.pages.PageBudget``).

What a read maps is the kernel's choice (fault-around, and whole large folios when readahead made them), so
the process's resident memory during a pass depends on the machine's page cache. The child process that
trains on the file therefore reports what the library holds: the peak of its own (anonymous) memory above
what it held before fit, plus the file's pages still mapped after fit; ``test_a_pass_maps_at_most_...``
checks the bound on the file's mapped pages within a pass. The slow test does it on 1 GB (``make fuzz``).
"""

import json
import mmap
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from fuzzing import measured

import glassnet as gn
from glassnet.data import check_array
from glassnet.data.pages import PageBudget

MB = 1 << 20
SRC = os.path.dirname(os.path.dirname(gn.__file__))
# one BLAS thread: on a shared 2-core machine, spinning BLAS threads only slow the child down
ENV = dict(os.environ, PYTHONPATH=SRC, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

CHILD = textwrap.dedent(
    """
    import json, os, sys, threading, time
    import numpy as np
    import glassnet as gn

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

    def mapped(path):  # resident bytes of the file's mappings (/proc/self/smaps)
        total, inside = 0, False
        with open("/proc/self/smaps") as f:
            for line in f:
                head = line.split()
                if not head[0].endswith(":"):  # a mapping's first line: address range ... path
                    inside = head[-1] == path
                elif inside and head[0] == "Rss:":
                    total += int(head[1]) * 1024
        return total

    peak_anon, running = 0, True

    def sample():  # the peak of anonymous memory: /proc has a high-water mark only for the total
        global peak_anon
        while running:
            peak_anon = max(peak_anon, status("RssAnon"))
            time.sleep(0.001)

    path = os.path.abspath(sys.argv[1])
    X = np.load(path, mmap_mode="r")
    y = np.load(sys.argv[2])
    model = gn.Sequential([gn.layers.Dense(32, activation="relu"), gn.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    model.build(X.shape[1])
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current resident size
    before, before_anon = status("VmRSS"), status("RssAnon")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    history = model.fit(X, y, epochs=1, batch_size=int(sys.argv[3]), validation_split=0.05, verbose=0)
    running = False
    sampler.join()
    print(json.dumps({"before": before, "peak": status("VmHWM"), "after": status("VmRSS"),
                      "anon_growth": max(peak_anon, status("RssAnon")) - before_anon, "mapped": mapped(path),
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
    report["growth"] = report["anon_growth"] + report["mapped"]
    assert np.isfinite(report["loss"])
    return report


def _describe(report):
    return (f"{report['data'] / MB:.0f} MB on disk: {report['growth'] / MB:.1f} MB above the "
            f"{report['before'] / MB:.0f} MB before fit: peak anonymous memory +{report['anon_growth'] / MB:.1f} MB "
            f"(targets, row order and batches included; model with optimizer state "
            f"{report['model_bytes'] / 1024:.0f} KB), file pages still mapped after fit {report['mapped'] / MB:.1f} "
            f"MB; peak RSS +{(report['peak'] - report['before']) / MB:.1f} MB (file pages mapped during a pass "
            f"included)")


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


def _largest_folio():
    """The most one fault may map: a whole large folio of the page cache (a PMD, 2 MB on x86-64)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size") as f:
            return int(f.read())
    except OSError:
        return 2 * MB


def test_a_pass_maps_at_most_one_stretch_of_the_file(tmp_path, monkeypatch):
    x_path, _, size = _write_data(tmp_path, rows=131_072, features=64)  # 32 MB
    X, in_memory = np.load(x_path, mmap_mode="r"), np.load(x_path)  # the second one read, not mapped
    path = os.path.realpath(x_path)

    def mapped():
        total, inside = 0, False
        with open("/proc/self/smaps") as f:
            for line in f:
                head = line.split()
                if not head[0].endswith(":"):
                    inside = head[-1] == path
                elif inside and head[0] == "Rss:":
                    total += int(head[1]) * 1024
        return total

    seen = []  # what the file had mapped each time a pass dropped its pages
    drop = PageBudget.drop
    monkeypatch.setattr(PageBudget, "drop", lambda self: (seen.append(mapped()), drop(self)))
    bound = PageBudget.BUDGET + 2 * max(_largest_folio(), 16 * mmap.PAGESIZE)  # a stretch + a fault at each end

    check_array(X, dtype=np.float32, min_ndim=2)  # the finiteness check reads the whole file
    assert mapped() == 0
    pages = PageBudget(X)
    order = np.random.default_rng(0).permutation(len(X))
    for lo in range(0, len(X), 8192):  # shuffled batches: rows gathered from all over the file
        idx = order[lo : lo + 8192]
        np.testing.assert_array_equal(pages.rows(idx), in_memory[idx])
    pages.drop()
    assert mapped() == 0
    total = sum(float(X[s].sum(dtype=np.float64)) for s in PageBudget(X).slices(1000))  # in order
    assert mapped() == 0 and np.isfinite(total)
    assert len(seen) > size // PageBudget.BUDGET and max(seen) <= bound, (
        f"{size / MB:.0f} MB file: up to {max(seen) / MB:.1f} MB mapped between drops (bound {bound / MB:.0f} MB)")


def test_training_from_a_memmap_keeps_memory_well_under_the_data_size(tmp_path):
    report = _train_in_child(tmp_path, rows=320_000, features=64, batch_size=256)  # 78 MB
    measured("memmap RSS (normal suite)", _describe(report))
    assert report["growth"] < report["data"] / 2, _describe(report)


@pytest.mark.slow
def test_training_from_a_1gb_memmap_keeps_memory_bounded(tmp_path):
    report = _train_in_child(tmp_path, rows=4_194_304, features=64, batch_size=4096)  # 1 GiB
    measured("memmap RSS (1 GB, slow)", _describe(report))
    assert report["growth"] < 200 * MB, _describe(report)
