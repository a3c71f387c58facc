"""The array module, default dtype and random generators.

glassnet computes with NumPy, or with any array module that mirrors it — `CuPy <https://cupy.dev>`_ on a
GPU: ``gn.Sequential(..., device="gpu")`` or ``GLASSNET_DEVICE=gpu`` in the environment. The model keeps
its flat parameter and gradient buffers (and the optimizer its state) on the device; each batch is copied
there as it is trained on, and what comes back to the user (``predict``, ``get_weights``, files, traces)
is a NumPy array. Layer code finds the module of the arrays it is given with :func:`array_module`
(``xp``, CuPy's ``get_array_module`` idiom) and allocates with it; ufuncs such as ``np.exp`` already
dispatch to CuPy for CuPy arrays.

Everything random takes a ``numpy.random.Generator`` on the host (masks are drawn there and copied), so
the same seed gives the same run on every device; there is no global seed anywhere in the library.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .checks import is_int
from .errors import ConfigError, invalid_value

__all__ = ["CPU", "DEFAULT_DTYPE", "Device", "array_module", "as_dtype", "as_strided", "default_device", "get_device",
           "make_rng", "register_device", "synchronize", "to_numpy", "xp"]

xp = np  # the host module; per-array code uses array_module(...)
DEFAULT_DTYPE = np.float32
_ALLOWED = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class Device:
    """Where a model's arrays live: a NumPy-like ``module``, its array type and the copy back to NumPy."""

    name: str
    module: ModuleType
    array_type: type
    to_numpy: Callable[[object], np.ndarray]
    as_strided: Callable

    def __deepcopy__(self, memo):  # a device is a place, not data: copies of a model share it
        return self

    def __copy__(self):
        return self

    def __reduce__(self):  # pickled by name (a model sent to another process finds its device there)
        return get_device, (self.name,)


CPU = _CPU = Device("cpu", np, np.ndarray, np.asarray, np.lib.stride_tricks.as_strided)
_DEVICES: dict[str, Device | Callable[[], Device]] = {"cpu": _CPU}
_BY_TYPE: dict[type, Device] = {}


def _cupy() -> Device:
    try:
        import cupy
    except Exception as e:  # noqa: BLE001 - ImportError, or CUDA libraries missing at import time: any is 'no GPU'
        raise ConfigError(f"device='gpu' needs CuPy and a CUDA GPU (pip install cupy-cuda12x); importing cupy failed: "
                          f"{type(e).__name__}: {e}") from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError (no driver, no device) and kin
        raise ConfigError(f"device='gpu': CuPy is installed but finds no usable CUDA device ({type(e).__name__}: {e})"
                          ) from None
    if n < 1:
        raise ConfigError("device='gpu': CuPy is installed but this machine has no CUDA device")
    return Device("gpu", cupy, cupy.ndarray, cupy.asnumpy, cupy.lib.stride_tricks.as_strided)


_DEVICES["gpu"] = _DEVICES["cuda"] = _cupy


def register_device(name: str, device: Device | Callable[[], Device]) -> None:
    """Make ``name`` usable as ``Sequential(device=name)`` (a :class:`Device`, or a function returning one).

    ``"cpu"`` (NumPy) and ``"gpu"``/``"cuda"`` (CuPy) are built in; tests register a strict stand-in.
    """
    _DEVICES[str(name).lower()] = device


def default_device() -> str:
    """``GLASSNET_DEVICE`` from the environment, else ``"cpu"``."""
    return os.environ.get("GLASSNET_DEVICE", "").strip().lower() or "cpu"


def get_device(name=None) -> Device:
    """The :class:`Device` called ``name`` (None: :func:`default_device`); ConfigError if unknown or unusable."""
    if isinstance(name, Device):
        return name
    key = default_device() if name is None else str(name).strip().lower()
    entry = _DEVICES.get(key)
    if entry is None:
        received = f"device={name!r}" if name is not None else f"GLASSNET_DEVICE={key!r} (from the environment)"
        raise ConfigError(f"Received an invalid value for `device`, expected one of {', '.join(sorted(_DEVICES))}. "
                          f"Received: {received}")
    device = entry if isinstance(entry, Device) else entry()
    _DEVICES[key] = device
    _BY_TYPE[device.array_type] = device
    return device


def _device_of(a) -> Device:
    if type(a) is np.ndarray or not _BY_TYPE:
        return _CPU
    for t, device in _BY_TYPE.items():
        if t is not np.ndarray and isinstance(a, t):
            return device
    return _CPU


def array_module(*arrays) -> ModuleType:
    """The array module (``numpy``, ``cupy``, ...) of the first device array among ``arrays``."""
    for a in arrays:
        device = _device_of(a)
        if device is not _CPU:
            return device.module
    return np


def to_numpy(a) -> np.ndarray:
    """``a`` as a NumPy array (a copy from the device; NumPy input comes back as it is)."""
    return _device_of(a).to_numpy(a)


def synchronize(device=None) -> None:
    """Wait until ``device`` has finished the work queued on it; returns at once on the CPU.

    CuPy launches kernels asynchronously and returns before they finish, so a clock read after a
    training step measures the launches, not the step, unless the device is synchronized first
    (``cupy.cuda.Device().synchronize()``, CUDA's ``cudaDeviceSynchronize``). Devices whose module has
    no ``cuda`` attribute (NumPy, the tests' fake) compute eagerly: nothing to wait for.
    """
    cuda = getattr(get_device(device).module, "cuda", None)
    if cuda is not None:
        cuda.Device().synchronize()


def as_strided(a, shape, strides):
    """A read-only strided view of ``a`` (``numpy.lib.stride_tricks.as_strided``) on ``a``'s device."""
    device = _device_of(a)
    if device is _CPU:
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)
    return device.as_strided(a, shape, strides)


def as_dtype(dtype) -> np.dtype:
    """Return ``float32`` or ``float64`` for a name or NumPy dtype; anything else is a ConfigError."""
    if dtype is None:
        return np.dtype(DEFAULT_DTYPE)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _ALLOWED:
        raise ConfigError(
            f"Received an invalid value for `dtype`, expected 'float32' or 'float64'. Received: dtype={dtype!r}"
        )
    return dt


def make_rng(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, None (fresh entropy) or an existing Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not is_int(seed) or seed < 0):
        raise invalid_value("seed", seed, "a non-negative integer or None")
    return np.random.default_rng(seed)
