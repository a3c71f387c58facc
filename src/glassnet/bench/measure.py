"""What the harness measures besides time: peak memory (host and GPU), BLAS threads, the environment, the device."""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import platform
import sys
import threading

import numpy as np

__all__ = ["PeakDeviceMemory", "PeakRSS", "blas_threads", "device_info", "environment"]


def _statm_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _vm_hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


class PeakRSS:
    """Peak growth of the resident set over a ``with`` block, in bytes (``.delta``; None off Linux)."""

    def __enter__(self):
        self.delta, self._max, self._stop = None, 0, threading.Event()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed heap back so reuse does not hide growth
        except (OSError, AttributeError):
            pass
        try:
            self.base = _statm_rss()
        except OSError:
            self.base = None
            return self
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            self.method = "VmHWM"
        except OSError:
            self.method = "statm sampling"
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.001):
            self._max = max(self._max, _statm_rss())

    def __exit__(self, *exc):
        if self.base is None:
            return
        if self.method == "VmHWM":
            peak = _vm_hwm()
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._max, _statm_rss())
        self.delta = max(peak - self.base, 0)


class PeakDeviceMemory:
    """Peak growth of a GPU allocator's pool over a ``with`` block, in bytes (``.delta``); ``.method`` says which.

    ``"cupy"``: CuPy's default memory pool. Its cached free blocks are released first
    (``free_all_blocks``), so an earlier contestant's cache is not reused unseen; the pool keeps every block
    it takes from the driver until then, so ``total_bytes()`` at the end is its high-water mark, in CuPy's
    rounded block sizes. ``"torch"``: torch's caching allocator, the same way: ``empty_cache()``,
    ``reset_peak_memory_stats()``, then ``max_memory_reserved()`` over ``memory_reserved()`` at the start.
    Neither counts the CUDA context or cuBLAS/cuDNN workspaces (set up by the warm-up before).
    """

    def __init__(self, kind: str, module=None):
        assert kind in ("cupy", "torch"), kind
        self.kind, self.module, self.delta = kind, module, None
        self.method = ("CuPy default memory pool, total_bytes()" if kind == "cupy"
                       else "torch.cuda.max_memory_reserved()")

    def __enter__(self):
        if self.kind == "cupy":
            self._pool = self.module.get_default_memory_pool()
            self._pool.free_all_blocks()
            self.base = self._pool.total_bytes()
        else:
            import torch

            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_reserved()
        return self

    def __exit__(self, *exc):
        if self.kind == "cupy":
            peak = self._pool.total_bytes()
        else:
            import torch

            peak = torch.cuda.max_memory_reserved()
        self.delta = max(peak - self.base, 0)


def device_info(device) -> dict:
    """The device a report ran on: glassnet's name, its array module and, for ``"gpu"``, the card (CuPy's view)."""
    module = device.module
    own = sys.modules.get(module.__name__) is module  # a stand-in module (the tests' fake) has no version
    info = {"name": device.name, "array_module": module.__name__,
            "array_module_version": getattr(module, "__version__", None) if own else None, "card": None}
    if device.name == "gpu":
        runtime = module.cuda.runtime
        props = runtime.getDeviceProperties(module.cuda.Device().id)
        card = props["name"]
        info |= {"card": card.decode() if isinstance(card, bytes) else str(card),
                 "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
                 "cuda_runtime": runtime.runtimeGetVersion(), "cuda_driver": runtime.driverGetVersion()}
    return info


def blas_threads() -> int:
    """Threads of NumPy's BLAS as threadpoolctl reports them (the CPU count without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    mine = [i for i in blas if _owner(i.get("filepath", "")) == "numpy"] or blas
    return int(mine[0]["num_threads"]) if mine else os.cpu_count() or 1


def _owner(filepath: str) -> str:
    """The package whose wheel ships a shared library: .../site-packages/numpy.libs/x.so -> numpy."""
    parts = filepath.replace(os.sep, "/").split("/")
    if "site-packages" in parts and parts.index("site-packages") + 1 < len(parts):
        return parts[parts.index("site-packages") + 1].removesuffix(".libs")
    return os.path.basename(filepath)


def environment() -> dict:
    """Versions, CPU and its load (1, 5, 15 min), BLAS libraries (threadpoolctl), the variables that steer them."""
    from .. import __version__

    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        libs = [{k: i.get(k) for k in ("user_api", "internal_api", "version", "architecture", "threading_layer",
                                        "num_threads")} | {"loaded_by": _owner(i.get("filepath", ""))}
                for i in threadpool_info()]
    except ImportError:
        libs = []
    torch = sys.modules.get("torch")  # only if a contestant loaded it
    torch_info = None if torch is None else {"threads": torch.get_num_threads(),
                                             "mkl": torch.backends.mkl.is_available(),
                                             "onednn": torch.backends.mkldnn.is_available()}
    torch_cuda = None  # only if a contestant ran torch on the GPU (asking otherwise would start CUDA)
    if torch is not None and torch.cuda.is_initialized():
        torch_cuda = {"card": torch.cuda.get_device_name(), "cuda": torch.version.cuda,
                      "cudnn": torch.backends.cudnn.version()}
    keys = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    try:  # other processes on the machine: they slow multi-threaded BLAS and OpenMP far more than Python
        load = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        load = None
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "load_average": load, "threads": blas_threads(), "numpy": np.__version__,
            "glassnet": __version__, "torch": version("torch"), "scikit-learn": version("scikit-learn"),
            "threadpools": libs, "torch_cpu": torch_info, "torch_cuda": torch_cuda, "env": {k: os.environ.get(k) for k in keys}}
