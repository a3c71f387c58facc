"""A strict stand-in for CuPy, so the device code path is tested on machines without a GPU.

Arrays on the fake device are :class:`DeviceArray` (an ndarray subclass). Like CuPy, any ufunc or NumPy
function that mixes a device array with a host (plain NumPy) array raises TypeError, and the module's
allocators (``empty``, ``zeros``, ...) return device arrays. So a layer that allocates with ``np.empty``
instead of its inputs' module, or a batch that is not copied to the device, fails here as it would on a
GPU. The numbers are NumPy's, so results must equal the CPU run exactly.
"""

from __future__ import annotations

import types

import numpy as np

from glassnet.backend import Device, register_device

__all__ = ["DeviceArray", "fake", "install"]


class DeviceArray(np.ndarray):
    """An array "on the device": NumPy memory, CuPy's refusal to mix with host arrays."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _refuse_host(ufunc.__name__, inputs + (out or ()))
        inputs = tuple(_host(a) for a in inputs)
        if out is not None:
            kwargs["out"] = tuple(_host(o) for o in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        _refuse_host(func.__name__, _flatten(args) + _flatten(tuple(kwargs.values())))
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))


def _flatten(items) -> tuple:
    out = []
    for a in items:
        if isinstance(a, (list, tuple)):
            out.extend(_flatten(tuple(a)))
        else:
            out.append(a)
    return tuple(out)


def _refuse_host(what, items) -> None:
    for a in items:
        if isinstance(a, np.ndarray) and not isinstance(a, DeviceArray) and a.ndim > 0:
            raise TypeError(f"fake GPU: {what} got a host array of shape {a.shape} ({a.dtype}) beside device arrays")


def _host(a):
    return a.view(np.ndarray) if isinstance(a, DeviceArray) else a


def _unwrap(a):
    if isinstance(a, DeviceArray):
        return a.view(np.ndarray)
    if isinstance(a, (list, tuple)):
        return type(a)(_unwrap(x) for x in a)
    if isinstance(a, dict):
        return {k: _unwrap(v) for k, v in a.items()}
    return a


def _wrap(r):
    if isinstance(r, np.ndarray) and not isinstance(r, DeviceArray):
        return r.view(DeviceArray)
    if isinstance(r, tuple):
        return tuple(_wrap(x) for x in r)
    if isinstance(r, list):
        return [_wrap(x) for x in r]
    return r


def _device_function(f):
    def g(*args, **kwargs):
        return _wrap(f(*_unwrap(args), **_unwrap(kwargs)))

    g.__name__ = getattr(f, "__name__", "f")
    return g


class _Module(types.ModuleType):
    """``fake.<name>`` is NumPy's function returning device arrays; non-callables pass through."""

    def __init__(self, name, base):
        super().__init__(name)
        self._base = base

    def __getattr__(self, name):
        value = getattr(self._base, name)
        if isinstance(value, types.ModuleType):
            return _Module(f"{self.__name__}.{name}", value)
        if callable(value) and not isinstance(value, type) and not isinstance(value, np.ufunc):
            return _device_function(value)
        return value


fake = _Module("fakegpu", np)
transfers = {"to_device": 0, "to_host": 0}


def _asarray(a, dtype=None):
    if isinstance(a, DeviceArray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    transfers["to_device"] += 1
    return np.array(a, dtype=dtype).view(DeviceArray)  # a copy, as a host-to-device transfer is


def _to_numpy(a):
    if isinstance(a, DeviceArray):
        transfers["to_host"] += 1
        return a.view(np.ndarray).copy()
    return np.asarray(a)


fake.asarray = _asarray
fake.ascontiguousarray = lambda a, dtype=None: np.ascontiguousarray(_host(_asarray(a, dtype))).view(DeviceArray)


def _as_strided(a, shape, strides):
    return np.lib.stride_tricks.as_strided(_host(a), shape, strides, writeable=False).view(DeviceArray)


DEVICE = Device("fakegpu", fake, DeviceArray, _to_numpy, _as_strided)


def install() -> Device:
    """Register the fake as ``device="fakegpu"``."""
    register_device("fakegpu", DEVICE)
    return DEVICE
