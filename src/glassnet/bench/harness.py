"""Workloads and the runs: warm-up (memory measured), timed epochs taken in turns, the report dict.

``device`` (``"cpu"`` or ``"gpu"``, any name :func:`glassnet.backend.get_device` knows) says where glassnet
and the floor compute; PyTorch follows to ``"cuda"`` on ``"gpu"`` and is skipped on other devices,
scikit-learn is skipped off the CPU. Each timed epoch ends with the contestant's ``sync()`` (a device
synchronize) before the clock is read, since GPU kernels run asynchronously.
"""

from __future__ import annotations

import contextlib
import datetime
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from ..backend import CPU, Device, get_device
from ..checks import check_positive_int
from ..errors import ConfigError
from .contestants import (
    BUILDERS,
    CONTESTANTS,
    EPS,
    LR,
    SEED,
    Runner,
    applies,
    evaluate,
    glassnet_model,
    label,
    make_data,
    trainable_weights,
)
from .measure import PeakDeviceMemory, PeakRSS, blas_threads, device_info, environment
from .nets import ConvNet, GRUNet, LSTMNet, RecurrentNet, describe

__all__ = ["DEFAULT", "SWEEP", "WORKLOADS", "Sweep", "Workload", "run", "run_sweep", "run_workload"]

_PEER_MODULES = {"torch": "torch", "sklearn": "sklearn"}


@dataclass(frozen=True)
class Workload:
    """A classification problem: ``rows`` samples through ``layers``.

    ``layers`` is an MLP's widths ``(n_in, hidden..., n_classes)``, a :class:`~glassnet.bench.ConvNet`,
    a :class:`~glassnet.bench.LSTMNet` or a :class:`~glassnet.bench.GRUNet`.
    """

    name: str
    rows: int
    layers: tuple[int, ...] | ConvNet | RecurrentNet
    batch_size: int
    quick_rows: int | None = None  # rows with --quick (None: the same)


@dataclass(frozen=True)
class Sweep:
    """Epoch time against width (two hidden layers of ``width``) and against batch size."""

    rows: int = 10000
    n_in: int = 256
    n_out: int = 10
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    width_batch: int = 128
    batch_sizes: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
    batch_width: int = 256
    quick_rows: int = 2048


WORKLOADS = {
    "wide": Workload("wide", 60000, (784, 256, 128, 10), 128, quick_rows=8192),
    "small": Workload("small", 1797, (64, 32, 10), 32),
    "deep": Workload("deep", 20000, (64,) + (64,) * 10 + (10,), 64, quick_rows=4096),
    # GunPoint's shape (50 training series of 150 steps, 2 classes) at the paper's batch min(N/10, 16) = 5
    "fcn": Workload("fcn", 50, ConvNet("fcn", (150, 1), 2), 5),
    "cnn": Workload("cnn", 1797, ConvNet("cnn", (8, 8, 1), 10), 32),
    # 50 steps of 32 features, LSTM(128): backpropagation through time, about a second per epoch
    "lstm": Workload("lstm", 2048, LSTMNet((50, 32), 128, 10), 64, quick_rows=512),
    # the same with GRU(128) (Keras' reset_after=True, torch's nn.GRU): three gates instead of four
    "gru": Workload("gru", 2048, GRUNet((50, 32), 128, 10), 64, quick_rows=512),
}
SWEEP = Sweep()
DEFAULT = ("wide", "small", "deep", "fcn", "cnn", "lstm", "gru", "sweep")


def _median_times(runners: dict[str, Runner], repeats: int, cpu: dict | None = None) -> dict[str, list[float]]:
    """Time ``repeats`` epochs of each, taking turns so that load changes hit every contestant alike.

    The clock is read after ``sync()``: on a GPU an epoch returns while its last kernels are still queued.
    ``cpu``, if given, receives each epoch's CPU time of the process (``time.process_time``, every thread),
    which other processes on a shared machine disturb less than the wall clock.
    """
    times = {k: [] for k in runners}
    for _ in range(repeats):
        for name, runner in runners.items():
            t0, c0 = time.perf_counter(), time.process_time()
            runner.epoch()
            runner.sync()
            times[name].append(time.perf_counter() - t0)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - c0)
    return times


def _prime(name: str, threads: int, device: Device = CPU) -> None:
    """One tiny epoch first, so one-time set-up (lazy imports, thread pools, CUDA context) is not measured."""
    layers = (4, 3, 2)
    if name == "glassnet":
        from .. import accel

        accel.warm_up()  # numba's import and compilation, if it is installed
    runner = BUILDERS[name](layers, 4, make_data(8, 4, 2), trainable_weights(glassnet_model(layers)), threads, device)
    runner.epoch()
    runner.sync()


def _skipped(name: str, device: Device) -> str | None:
    """Why contestant ``name`` cannot run on ``device`` here (None: it can)."""
    if name == "sklearn" and device.name != "cpu":
        return f"scikit-learn has no GPU version; runs on device 'cpu' only (this run: {device.name!r})"
    if name == "torch" and device.name not in ("cpu", "gpu"):
        return f"PyTorch runs on 'cpu' or on 'gpu' (as 'cuda'), not on glassnet's device {device.name!r}"
    if name in _PEER_MODULES:
        try:
            __import__(_PEER_MODULES[name])
        except ImportError as e:
            return f"not installed ({e})"
    if name == "torch" and device.name == "gpu":
        import torch

        if not torch.cuda.is_available():
            return (f"torch.cuda.is_available() is False (torch {torch.__version__}: a CPU-only build, "
                    "or no CUDA driver or device it can use)")
    return None


def _device_memory(name: str, device: Device):
    """A meter of GPU memory for this contestant on ``device``, or a no-op context (RSS only) off a GPU."""
    if device.name != "gpu":
        return contextlib.nullcontext()
    return PeakDeviceMemory("torch") if name == "torch" else PeakDeviceMemory("cupy", device.module)


def _shape(w: Workload) -> tuple[tuple[int, ...], int]:
    """(one sample's shape, number of classes)."""
    if isinstance(w.layers, (ConvNet, RecurrentNet)):
        return w.layers.input_shape, w.layers.n_classes
    return (w.layers[0],), w.layers[-1]


def _mib(n: int | None) -> float | None:
    return None if n is None else n / 2**20


def run_workload(w: Workload, *, quick=False, repeats=3, contestants=tuple(CONTESTANTS), log=None,
                 device="cpu") -> dict:
    """Benchmark one workload on ``device``; returns its JSON-ready record."""
    log = log or (lambda msg: None)
    device = get_device(device)
    rows = (w.quick_rows or w.rows) if quick else w.rows
    sample, n_classes = _shape(w)
    data = make_data(rows, sample, n_classes)
    init = trainable_weights(glassnet_model(w.layers))
    threads = blas_threads()
    contestants = [c for c in contestants if applies(c, w.layers)]
    runners, results = {}, {}
    for name in contestants:
        if why := _skipped(name, device):
            results[name] = {"name": name, "label": label(name, device), "skipped": why}
            continue
        numpy_based = name != "torch"  # tracemalloc sees NumPy's buffers (on a GPU: the host's only)
        log(f"{w.name}: {name} warm-up")
        _prime(name, threads, device)
        if numpy_based:
            tracemalloc.start()
        # the model's construction and its first (untimed) epoch
        with PeakRSS() as mem, _device_memory(name, device) as gpu_mem:
            runner = BUILDERS[name](w.layers, w.batch_size, data, init, threads, device)
            runner.epoch()
            runner.sync()
        traced = tracemalloc.get_traced_memory()[1] if numpy_based else None
        tracemalloc.stop()
        runners[name] = runner
        results[name] = {"name": name, "label": label(name, device), "same_init": runner.same_init,
                         "note": runner.note, "memory_method": getattr(mem, "method", None),
                         "peak_rss_mib": _mib(mem.delta), "peak_traced_mib": _mib(traced),
                         "device_memory_method": getattr(gpu_mem, "method", None),
                         "peak_device_mib": _mib(getattr(gpu_mem, "delta", None))}
    log(f"{w.name}: timing {repeats} epochs of {', '.join(runners)}")
    cpu = {}
    times = _median_times(runners, repeats, cpu)
    steps = -(-rows // w.batch_size)
    for name, runner in runners.items():
        loss, acc = evaluate(runner.weights(), data, w.layers) if runner.weights else (None, None)
        seconds = statistics.median(times[name])
        results[name] |= {"seconds_per_epoch": seconds, "seconds_per_step": seconds / steps, "times": times[name],
                          "cpu_seconds_per_epoch": statistics.median(cpu[name]), "cpu_times": cpu[name],
                          "epochs_trained": repeats + 1, "final_loss": loss, "final_accuracy": acc}
    ours = results.get("glassnet", {}).get("seconds_per_epoch")
    ratios = {k: ours / r["seconds_per_epoch"] for k, r in results.items()
              if k != "glassnet" and ours and r.get("seconds_per_epoch")}
    ours_cpu = results.get("glassnet", {}).get("cpu_seconds_per_epoch")
    cpu_ratios = {k: ours_cpu / r["cpu_seconds_per_epoch"] for k, r in results.items()
                  if k != "glassnet" and ours_cpu and r.get("cpu_seconds_per_epoch")}
    net = ({"arch": w.layers.arch, "input_shape": list(sample), "n_classes": n_classes}
           if isinstance(w.layers, (ConvNet, RecurrentNet)) else {"layers": list(w.layers)})
    if isinstance(w.layers, RecurrentNet):
        net["units"] = w.layers.units
    return {"name": w.name, "rows": rows, **net, "net": describe(w.layers), "batch_size": w.batch_size,
            "params": sum(a.size for a in init), "batches_per_epoch": steps,
            "results": [results[k] for k in contestants if k in results], "ratios": ratios,
            "cpu_ratios": cpu_ratios}


def run_sweep(s: Sweep = SWEEP, *, quick=False, repeats=3, log=None, device="cpu") -> dict:
    """Epoch time of glassnet and of the floor on ``device`` against width, then against batch size."""
    log = log or (lambda msg: None)
    device = get_device(device)
    rows = s.quick_rows if quick else s.rows
    data, threads = make_data(rows, s.n_in, s.n_out), blas_threads()
    out = {"rows": rows, "n_in": s.n_in, "n_out": s.n_out, "width_batch": s.width_batch,
           "batch_width": s.batch_width, "labels": {k: label(k, device) for k in ("glassnet", "floor")},
           "width": [], "batch": []}
    points = [("width", w, s.width_batch) for w in s.widths] + [("batch", b, s.batch_width) for b in s.batch_sizes]
    for axis, value, batch in points:
        width = value if axis == "width" else s.batch_width
        layers = (s.n_in, width, width, s.n_out)
        log(f"sweep: {axis} {value}")
        init = trainable_weights(glassnet_model(layers))
        runners = {k: BUILDERS[k](layers, batch, data, init, threads, device) for k in ("glassnet", "floor")}
        for r in runners.values():
            r.epoch()  # warm-up
            r.sync()
        times = _median_times(runners, repeats)
        med = {k: statistics.median(t) for k, t in times.items()}
        out[axis].append({axis: value, "glassnet": med["glassnet"], "floor": med["floor"],
                          "ratio": med["glassnet"] / med["floor"]})
    return out


def run(workloads=DEFAULT, *, quick=False, repeats=None, sweep: Sweep | None = None,
        log: Callable[[str], None] | None = None, device="cpu") -> dict:
    """Run the named workloads (or :class:`Workload` objects; ``"sweep"`` for the sweep) into one report.

    ``repeats`` defaults to 3 with ``quick`` and 5 without; ``quick`` uses each workload's ``quick_rows``.
    ``device``: where glassnet and the floor compute (``"cpu"``, ``"gpu"``); an unknown or unusable one
    (``"gpu"`` without CuPy) is a ConfigError before anything runs. The report's ``device`` records it,
    with the card's name on a GPU.
    """
    device = get_device(device)
    repeats = (3 if quick else 5) if repeats is None else repeats
    repeats = check_positive_int("repeats", repeats)
    report = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "quick": bool(quick), "repeats": int(repeats), "device": device_info(device), "environment": None,
              "settings": {"optimizer": f"Adam(lr={LR}, eps={EPS})", "dtype": "float32", "seed": SEED},
              "workloads": [], "sweep": None}
    for w in workloads:
        if w == "sweep":
            report["sweep"] = run_sweep(sweep or SWEEP, quick=quick, repeats=repeats, log=log, device=device)
            continue
        if not isinstance(w, Workload):
            if w not in WORKLOADS:
                raise ConfigError(f"Unknown workload {w!r}; valid workloads are: {', '.join(DEFAULT)}")
            w = WORKLOADS[w]
        report["workloads"].append(run_workload(w, quick=quick, repeats=repeats, log=log, device=device))
    report["environment"] = environment()  # now that the peers are loaded, threadpoolctl sees their pools
    return report
