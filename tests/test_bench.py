"""The benchmark harness at a tiny size: the structure of its report, Markdown and plots — never its timings."""

import json
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest

from glassnet import bench
from glassnet.cli.main import main
from glassnet.errors import ConfigError

TINY = bench.Workload("tiny", rows=96, layers=(8, 6, 3), batch_size=32)
TINY_FCN = bench.Workload("tiny-fcn", rows=8, layers=bench.ConvNet("fcn", (16, 1), 2), batch_size=4)
TINY_CNN = bench.Workload("tiny-cnn", rows=24, layers=bench.ConvNet("cnn", (8, 8, 1), 3), batch_size=16)
TINY_LSTM = bench.Workload("tiny-lstm", rows=48, layers=bench.LSTMNet((6, 3), 8, 3), batch_size=16)
TINY_GRU = bench.Workload("tiny-gru", rows=48, layers=bench.GRUNet((6, 3), 8, 3), batch_size=16)
TINY_SWEEP = bench.Sweep(rows=64, n_in=8, n_out=3, widths=(4, 8), width_batch=16, batch_sizes=(16, 32),
                         batch_width=4)


@pytest.fixture(scope="module")
def report():
    return bench.run([TINY, "sweep"], repeats=1, sweep=TINY_SWEEP)


@pytest.fixture(scope="module")
def conv_report():
    return bench.run([TINY_FCN, TINY_CNN], repeats=1)


def test_report_has_every_contestant_with_time_memory_and_final_loss(report):
    (w,) = report["workloads"]
    assert (w["name"], w["rows"], w["layers"], w["batch_size"]) == ("tiny", 96, [8, 6, 3], 32)
    assert w["params"] == 8 * 6 + 6 + 6 * 3 + 3 and w["batches_per_epoch"] == 3
    by_name = {r["name"]: r for r in w["results"]}
    assert list(by_name) == ["glassnet", "floor", "torch", "sklearn"]
    for r in by_name.values():
        assert r["seconds_per_epoch"] > 0 and len(r["times"]) == 1 and r["epochs_trained"] == 2
        assert r["cpu_seconds_per_epoch"] == r["cpu_times"][0] > 0  # the process's CPU time besides the wall clock
        assert r["peak_rss_mib"] is None or r["peak_rss_mib"] >= 0
    assert w["cpu_ratios"]["torch"] == pytest.approx(
        by_name["glassnet"]["cpu_seconds_per_epoch"] / by_name["torch"]["cpu_seconds_per_epoch"])
    assert by_name["torch"]["peak_traced_mib"] is None  # tracemalloc cannot see torch's allocator
    assert by_name["glassnet"]["peak_traced_mib"] > 0
    assert by_name["floor"]["final_loss"] is None
    for name in ("glassnet", "torch", "sklearn"):  # same start, same data, same optimizer: near-equal losses
        assert by_name[name]["same_init"]
        assert 0 < by_name[name]["final_loss"] < 2 * np.log(3)
        assert 0 <= by_name[name]["final_accuracy"] <= 1
    assert abs(by_name["torch"]["final_loss"] - by_name["glassnet"]["final_loss"]) < 0.05
    assert set(w["ratios"]) == {"floor", "torch", "sklearn"}
    assert w["ratios"]["torch"] == pytest.approx(
        by_name["glassnet"]["seconds_per_epoch"] / by_name["torch"]["seconds_per_epoch"])
    assert by_name["glassnet"]["seconds_per_step"] == pytest.approx(by_name["glassnet"]["seconds_per_epoch"] / 3)


def test_conv_workloads_run_glassnet_floor_and_torch_on_equal_work(conv_report):
    fcn, cnn = conv_report["workloads"]
    assert (fcn["arch"], fcn["input_shape"], fcn["n_classes"], fcn["batches_per_epoch"]) == ("fcn", [16, 1], 2, 2)
    assert (cnn["arch"], cnn["input_shape"], cnn["n_classes"], cnn["batches_per_epoch"]) == ("cnn", [8, 8, 1], 3, 2)
    # FCN: conv 8·1·128+128, BN 2·128, conv 5·128·256+256, BN 2·256, conv 3·256·128+128, BN 2·128, dense 128·2+2
    assert fcn["params"] == 1152 + 256 + 164096 + 512 + 98432 + 256 + 258
    assert cnn["params"] == (9 * 16 + 16) + (9 * 16 * 32 + 32) + (32 * 3 + 3)
    for w, net in ((fcn, TINY_FCN.layers), (cnn, TINY_CNN.layers)):
        by_name = {r["name"]: r for r in w["results"]}
        assert list(by_name) == ["glassnet", "floor", "torch"]  # scikit-learn has no convolutions
        assert set(w["ratios"]) == {"floor", "torch"}
        for r in by_name.values():
            assert r["seconds_per_step"] == pytest.approx(r["seconds_per_epoch"] / 2)
        # same start, data and optimizer, so both learn about as much; the shuffles differ (and with them
        # the batch statistics of FCN's BN, on 8 series it overfits within 4 steps), so not exactly as much
        init = bench.contestants.trainable_weights(bench.contestants.glassnet_model(net))
        start, _ = bench.evaluate(init, bench.make_data(w["rows"], net.input_shape, net.n_classes), net)
        ours, theirs = by_name["glassnet"]["final_loss"], by_name["torch"]["final_loss"]
        assert ours < start and theirs < start and abs(ours - theirs) < 0.25 * start, (start, ours, theirs)


@pytest.fixture(scope="module")
def lstm_report():
    return bench.run([TINY_LSTM], repeats=1)


def test_lstm_workload_runs_glassnet_floor_and_torch_on_equal_work(lstm_report):
    (w,) = lstm_report["workloads"]
    assert (w["arch"], w["input_shape"], w["units"], w["n_classes"]) == ("lstm", [6, 3], 8, 3)
    assert w["batches_per_epoch"] == 3 and w["net"] == "LSTM 8 (last step) → 3"
    assert w["params"] == (3 * 32 + 8 * 32 + 32) + (8 * 3 + 3)  # W, U, b of the LSTM (one bias), Dense
    by_name = {r["name"]: r for r in w["results"]}
    assert list(by_name) == ["glassnet", "floor", "torch"]  # scikit-learn has no LSTM
    assert set(w["ratios"]) == {"floor", "torch"}
    for r in by_name.values():
        assert r["seconds_per_epoch"] > 0 and r["seconds_per_step"] == pytest.approx(r["seconds_per_epoch"] / 3)
    # same start, data and optimizer, no batch statistics: only the shuffles differ
    init = bench.contestants.trainable_weights(bench.contestants.glassnet_model(TINY_LSTM.layers))
    start, _ = bench.evaluate(init, bench.make_data(48, (6, 3), 3), TINY_LSTM.layers)
    ours, theirs = by_name["glassnet"]["final_loss"], by_name["torch"]["final_loss"]
    assert ours < start and theirs < start and abs(ours - theirs) < 0.1 * (start - min(ours, theirs)) + 1e-3, (
        start, ours, theirs)
    md = bench.to_markdown(lstm_report)
    assert "**tiny-lstm**: 48×6×3, LSTM 8 (last step) → 3, batch 16 (3 batches/epoch, 411 parameters)" in md
    assert [r.split("|")[1].strip() for r in _table_rows(md, "**tiny-lstm**")] == [
        "glassnet", "GEMM floor (NumPy)", "PyTorch CPU"]


def test_lstm_is_a_default_workload():
    assert "lstm" in bench.DEFAULT and bench.WORKLOADS["lstm"].layers == bench.LSTMNet((50, 32), 128, 10)
    assert (bench.WORKLOADS["lstm"].batch_size, bench.WORKLOADS["lstm"].quick_rows) == (64, 512)


@pytest.fixture(scope="module")
def gru_report():
    return bench.run([TINY_GRU], repeats=1)


def test_gru_workload_runs_glassnet_floor_and_torch_on_equal_work(gru_report):
    (w,) = gru_report["workloads"]
    assert (w["arch"], w["input_shape"], w["units"], w["n_classes"]) == ("gru", [6, 3], 8, 3)
    assert w["batches_per_epoch"] == 3 and w["net"] == "GRU 8 (last step) → 3"
    assert w["params"] == (3 * 24 + 8 * 24 + 2 * 24) + (8 * 3 + 3)  # W, U, b (input and recurrent rows), Dense
    by_name = {r["name"]: r for r in w["results"]}
    assert list(by_name) == ["glassnet", "floor", "torch"] and set(w["ratios"]) == {"floor", "torch"}
    # same start, data and optimizer (torch's two GRU biases are glassnet's b[0] and b[1]): only the shuffles
    # differ, which over 6 steps moves the loss by up to a fifth of what it fell
    init = bench.contestants.trainable_weights(bench.contestants.glassnet_model(TINY_GRU.layers))
    start, _ = bench.evaluate(init, bench.make_data(48, (6, 3), 3), TINY_GRU.layers)
    ours, theirs = by_name["glassnet"]["final_loss"], by_name["torch"]["final_loss"]
    assert ours < start and theirs < start and abs(ours - theirs) < 0.3 * (start - min(ours, theirs)) + 1e-3, (
        start, ours, theirs)
    assert "**tiny-gru**: 48×6×3, GRU 8 (last step) → 3, batch 16" in bench.to_markdown(gru_report)


def test_gru_is_a_default_workload():
    assert bench.DEFAULT.index("gru") == bench.DEFAULT.index("lstm") + 1
    assert bench.WORKLOADS["gru"].layers == bench.GRUNet((50, 32), 128, 10) != bench.LSTMNet((50, 32), 128, 10)
    assert (bench.WORKLOADS["gru"].batch_size, bench.WORKLOADS["gru"].quick_rows) == (64, 512)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("net", [bench.ConvNet("fcn", (16, 1), 3), bench.ConvNet("cnn", (8, 8, 1), 10), (8, 6, 3),
                                 bench.LSTMNet((7, 4), 5, 3), bench.GRUNet((7, 4), 5, 3)])
def test_torch_twin_computes_what_the_glassnet_model_computes(net):
    from glassnet.bench.nets import build_glassnet, glassnet_weights, torch_input, torch_twin, trainable

    model = build_glassnet(net, seed=0)
    data = bench.make_data(6, net[0] if isinstance(net, tuple) else net.input_shape, 3)
    weights = bench.contestants.trainable_weights(model)
    weights = [w + np.random.default_rng(i).normal(0, 0.3, w.shape).astype(w.dtype)  # no zero bias: every
               for i, w in enumerate(weights)]                                        # column block counts
    bench.contestants.set_trainable_weights(model, weights)
    twin = torch_twin(net, weights)
    model.forward(data.X, training=True)  # batch statistics in both
    ours = model.layers[-1].z  # logits
    theirs = twin(torch_input(net, data.X)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg="glassnet vs torch logits")
    back = glassnet_weights(net, [p.detach().numpy() for p in trainable(twin)])
    for w, b in zip(weights, back, strict=True):  # the layouts convert both ways exactly
        np.testing.assert_array_equal(w, b)


def test_report_records_environment_and_sweep(report):
    env = report["environment"]
    assert env["threads"] >= 1 and env["numpy"] == np.__version__
    assert any(t["user_api"] == "blas" for t in env["threadpools"])
    assert "OPENBLAS_CORETYPE" in env["env"]
    assert env["load_average"] is None or len(env["load_average"]) == 3
    s = report["sweep"]
    assert [p["width"] for p in s["width"]] == [4, 8] and [p["batch"] for p in s["batch"]] == [16, 32]
    for p in s["width"] + s["batch"]:
        assert p["glassnet"] > 0 and p["floor"] > 0 and p["ratio"] == pytest.approx(p["glassnet"] / p["floor"])
    json.dumps(report)  # JSON-ready as it is


HEADER = "| contestant | s/epoch | s/step | glassnet ÷ it | peak RSS Δ (MiB) | final loss | final accuracy |"


def _table_rows(md: str, title: str) -> list[str]:
    return md.split(title)[1].split(HEADER)[1].split("\n\n")[0].strip().splitlines()[1:]


def test_markdown_has_a_table_per_workload_and_the_sweep(report):
    md = bench.to_markdown(report)
    assert "**tiny**: 96×8→6→3, batch 32" in md and "**sweep**" in md
    rows = _table_rows(md, "**tiny**")
    assert [r.split("|")[1].strip() for r in rows] == list(bench.CONTESTANTS.values())
    assert all(len(r.split("|")) == 9 for r in rows)
    assert rows[0].split("|")[4].strip() == "1.00"  # glassnet against itself


def test_markdown_of_conv_workloads(conv_report, tmp_path):
    md = bench.to_markdown(conv_report)
    assert ("**tiny-fcn**: 8×16×1, Conv1D 128 k8 → 256 k5 → 128 k3 (each BN, ReLU) → GAP → 2, batch 4 "
            "(2 batches/epoch, 264,962 parameters)") in md
    assert "**tiny-cnn**: 24×8×8×1, Conv2D 16 3×3 → MaxPool 2 → Conv2D 32 3×3 → GAP → 3, batch 16" in md
    assert "training mode" in md  # how the conv nets' final loss is computed
    for title in ("**tiny-fcn**", "**tiny-cnn**"):
        rows = _table_rows(md, title)
        assert [r.split("|")[1].strip() for r in rows] == ["glassnet", "GEMM floor (NumPy)", "PyTorch CPU"]
    assert bench.plot(conv_report, tmp_path / "conv.png") == [tmp_path / "conv.png"]


def test_plot_writes_bar_chart_and_sweep(report, tmp_path):
    written = bench.plot(report, tmp_path / "bench.png")
    assert written == [tmp_path / "bench.png", tmp_path / "bench-sweep.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def floor_products(monkeypatch, net, rows, sample, batch):
    """(shape of a, shape of b, written into out=) of every np.matmul of one floor epoch of ``net``."""
    data = bench.make_data(rows, sample, 3)
    init = bench.contestants.trainable_weights(bench.contestants.glassnet_model(net))
    runner = bench.contestants.BUILDERS["floor"](net, batch, data, init, 1)
    calls, real = [], np.matmul

    def counting(a, b, out=None):
        calls.append((a.shape, b.shape, out is not None))
        return real(a, b, out=out)

    monkeypatch.setattr(np, "matmul", counting)
    runner.epoch()
    return calls


def test_floor_does_only_the_products_of_an_epoch(monkeypatch):
    # 3 batches × (2 forward + 2 dW + 1 dX) products, each into a preallocated output; nothing else
    calls = floor_products(monkeypatch, (8, 6, 3), 96, 8, 32)
    assert len(calls) == 3 * 5 and all(out for *_, out in calls)
    assert {((32, 8), (8, 6), True), ((6, 32), (32, 3), True), ((32, 3), (3, 6), True)} <= set(calls)


def test_conv_floor_does_the_im2col_products_only(monkeypatch):
    # digits CNN, 2 batches of 16: per batch 3 forward + 3 dW + 2 dA products (the first layer's dA is not needed)
    net = bench.ConvNet("cnn", (8, 8, 1), 3)
    calls = floor_products(monkeypatch, net, 32, net.input_shape, 16)
    assert len(calls) == 2 * 8 and all(out for *_, out in calls)
    # conv 1: 16·64 positions × 3·3·1 taps; conv 2: 16·16 positions (after the pool) × 3·3·16 taps; dense
    assert {((16 * 64, 9), (9, 16), True), ((16 * 16, 144), (144, 32), True), ((16, 32), (32, 3), True),
            ((16 * 16, 32), (32, 144), True)} <= set(calls)


def test_lstm_floor_does_the_products_of_backpropagation_through_time(monkeypatch):
    # 2 batches of 16 sequences of 6 steps: 1 big X·W, 6 h·U, 3 for the Dense, 6 dG·Uᵀ, dW and dU per batch
    net = bench.LSTMNet((6, 3), 8, 3)
    calls = floor_products(monkeypatch, net, 32, net.input_shape, 16)
    assert len(calls) == 2 * (1 + 6 + 3 + 6 + 2) and all(out for *_, out in calls)
    assert {((16 * 6, 3), (3, 32), True), ((16, 8), (8, 32), True), ((16, 32), (32, 8), True),
            ((3, 16 * 6), (16 * 6, 32), True), ((8, 16 * 6), (16 * 6, 32), True)} <= set(calls)


def test_gru_floor_does_the_same_products_with_three_gates(monkeypatch):
    net = bench.GRUNet((6, 3), 8, 3)
    calls = floor_products(monkeypatch, net, 32, net.input_shape, 16)
    assert len(calls) == 2 * (1 + 6 + 3 + 6 + 2) and all(out for *_, out in calls)
    assert {((16 * 6, 3), (3, 24), True), ((16, 8), (8, 24), True), ((16, 24), (24, 8), True),
            ((3, 16 * 6), (16 * 6, 24), True), ((8, 16 * 6), (16 * 6, 24), True)} <= set(calls)


def test_bad_workload_is_a_config_error():
    with pytest.raises(ConfigError, match="Unknown workload 'huge'"):
        bench.run(["huge"])
    with pytest.raises(ConfigError, match="repeats"):
        bench.run([TINY], repeats=0)


def test_cli_rejects_unknown_workload(capsys):
    assert main(["bench", "--workloads", "small,huge"]) == 2
    err = capsys.readouterr().err
    assert "Unknown workload 'huge'" in err and "fcn, cnn, lstm" in err


def test_cli_writes_json_markdown_and_plot(tmp_path, capsys):
    out = {ext: tmp_path / f"b.{ext}" for ext in ("json", "md", "png")}
    assert main(["bench", "--quick", "--workloads", "small", "--repeats", "1", "--json", str(out["json"]),
                 "--md", str(out["md"]), "--plot", str(out["png"])]) == 0
    printed = capsys.readouterr().out
    assert json.loads(out["json"].read_text())["workloads"][0]["name"] == "small"
    assert out["md"].read_text().strip() == printed.strip()
    assert out["png"].exists() and not (tmp_path / "b-sweep.png").exists()


# -- devices -------------------------------------------------------------------------------------------
# fakegpu (tests/fakegpu.py) stands in for CuPy: its arrays refuse to mix with host arrays, so a contestant
# that left an array on the host fails here as on a GPU; its numbers are NumPy's, so glassnet's run must
# equal the CPU's.
@pytest.fixture(scope="module")
def fake_report():
    import fakegpu

    fakegpu.install()
    return bench.run([TINY, TINY_CNN, TINY_LSTM, "sweep"], quick=True, repeats=1, sweep=TINY_SWEEP,
                     device="fakegpu")


def test_on_a_device_glassnet_and_the_floor_run_and_the_peers_are_skipped(fake_report):
    assert fake_report["device"] == {"name": "fakegpu", "array_module": "fakegpu", "array_module_version": None,
                                     "card": None}
    for w in fake_report["workloads"]:
        by_name = {r["name"]: r for r in w["results"]}
        assert by_name["glassnet"]["seconds_per_epoch"] > 0 and by_name["floor"]["seconds_per_epoch"] > 0
        assert by_name["floor"]["label"] == "GEMM floor (fakegpu)"
        assert "not on glassnet's device 'fakegpu'" in by_name["torch"]["skipped"]
        assert set(w["ratios"]) == {"floor"}
    sk = {r["name"]: r for r in fake_report["workloads"][0]["results"]}["sklearn"]
    assert "scikit-learn has no GPU" in sk["skipped"]
    assert fake_report["sweep"]["labels"]["floor"] == "GEMM floor (fakegpu)"
    md = bench.to_markdown(fake_report)
    assert md.startswith("Device: 'fakegpu' (array module fakegpu). CPU: ")
    assert "| PyTorch | skipped: PyTorch runs on 'cpu' or on 'gpu'" in md


def test_glassnet_on_a_device_ends_where_it_ends_on_the_cpu(fake_report, report, conv_report, lstm_report):
    # same data, initial weights, seed (so the same shuffles) and epochs: the same final loss
    cpu = {w["name"]: w for r in (report, conv_report, lstm_report) for w in r["workloads"]}
    for w in fake_report["workloads"]:
        ours, theirs = (next(r for r in x["results"] if r["name"] == "glassnet") for x in (w, cpu[w["name"]]))
        assert ours["final_loss"] == pytest.approx(theirs["final_loss"], rel=1e-6), w["name"]
        assert ours["final_accuracy"] == theirs["final_accuracy"]


def test_floor_on_a_device_multiplies_device_arrays_only(monkeypatch):
    import fakegpu

    data = bench.make_data(96, 8, 3)
    init = bench.contestants.trainable_weights(bench.contestants.glassnet_model((8, 6, 3)))
    runner = bench.contestants.BUILDERS["floor"]((8, 6, 3), 32, data, init, 1, fakegpu.install())
    calls, real = [], np.matmul

    def counting(a, b, out=None):
        calls.append(all(type(x) is fakegpu.DeviceArray for x in (a, b, out)))
        return real(a, b, out=out)

    monkeypatch.setattr(fakegpu.fake, "matmul", counting, raising=False)  # the module's, looked up at each call
    runner.epoch()
    assert len(calls) == 3 * 5 and all(calls)


class _FakeCuPy(types.ModuleType):
    """fakegpu's module plus the few CuPy calls the harness makes on a GPU, counting synchronizations."""

    def __init__(self):
        import fakegpu

        super().__init__("cupy")
        self._fake, self.syncs, self.pool_bytes = fakegpu.fake, 0, 0

        def synchronize():
            self.syncs += 1

        def total_bytes():
            self.pool_bytes += 2**20  # grows by 1 MiB per look, so the meter sees growth
            return self.pool_bytes

        self.cuda = SimpleNamespace(
            Device=lambda: SimpleNamespace(id=0, synchronize=synchronize),
            runtime=SimpleNamespace(getDeviceProperties=lambda i: {"name": b"Fake H100", "totalGlobalMem": 80 * 2**30},
                                    runtimeGetVersion=lambda: 12040, driverGetVersion=lambda: 12080))
        self._pool = SimpleNamespace(free_all_blocks=lambda: None, total_bytes=total_bytes)

    def get_default_memory_pool(self):
        return self._pool

    def __getattr__(self, name):
        return getattr(self._fake, name)


def test_on_a_gpu_every_timed_epoch_is_synchronized_and_the_report_names_the_card(monkeypatch):
    # The calls a CuPy GPU gets (synchronize, memory pool, device properties) on a stand-in; torch.cuda
    # reports no GPU, as on a machine without one. What CuPy itself returns is not checked here.
    import fakegpu
    import torch

    from glassnet import backend

    cupy = _FakeCuPy()
    gpu = backend.Device("gpu", cupy, fakegpu.DeviceArray, fakegpu.DEVICE.to_numpy, fakegpu.DEVICE.as_strided)
    monkeypatch.setitem(backend._DEVICES, "gpu", gpu)
    monkeypatch.setitem(backend._BY_TYPE, fakegpu.DeviceArray, fakegpu.install())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    backend.synchronize("cpu")  # nothing to wait for on the CPU or on the fake, whose module has no cuda
    backend.synchronize("fakegpu")
    backend.synchronize("gpu")
    assert cupy.syncs == 1

    r = bench.run([TINY], quick=True, repeats=2, device="gpu")
    assert cupy.syncs == 1 + 2 * (1 + 1 + 2)  # glassnet and the floor: after the primer, the warm-up, each timed epoch
    assert r["device"] | {"array_module_version": None} == {
        "name": "gpu", "array_module": "cupy", "array_module_version": None, "card": "Fake H100", "memory_gib": 80.0,
        "cuda_runtime": 12040, "cuda_driver": 12080}
    by_name = {x["name"]: x for x in r["workloads"][0]["results"]}
    assert [x["label"] for x in by_name.values()] == ["glassnet", "GEMM floor (CuPy)", "PyTorch CUDA",
                                                      "scikit-learn MLPClassifier"]
    assert "torch.cuda.is_available() is False" in by_name["torch"]["skipped"]
    assert "scikit-learn has no GPU" in by_name["sklearn"]["skipped"]
    for name in ("glassnet", "floor"):
        assert by_name[name]["peak_device_mib"] == 1.0
        assert by_name[name]["device_memory_method"] == "CuPy default memory pool, total_bytes()"
    md = bench.to_markdown(r)
    assert md.startswith("GPU: Fake H100 (device 'gpu': cupy, CUDA runtime 12040, driver 12080). CPU: ")
    assert "each ended by a device synchronize" in md and "Peak GPU memory Δ" in md
    assert "| contestant | s/epoch | s/step | glassnet ÷ it | peak GPU memory Δ (MiB) |" in md
    assert "| GEMM floor (CuPy) |" in md


def test_cli_gpu_without_cupy_is_one_line_and_status_2(monkeypatch, capsys):
    from glassnet import backend

    monkeypatch.setitem(sys.modules, "cupy", None)  # as on a machine without CuPy
    monkeypatch.setitem(backend._DEVICES, "gpu", backend._cupy)
    assert main(["bench", "--quick", "--workloads", "small", "--device", "gpu"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("glassnet bench: ConfigError: device='gpu' needs CuPy and a CUDA GPU")
    assert main(["bench", "--device", "tpu"]) == 2
    assert "expected one of cpu, cuda" in capsys.readouterr().err
