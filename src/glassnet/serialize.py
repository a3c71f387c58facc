"""The model file: one zip archive holding ``config.json`` and ``.npy`` arrays; no pickle anywhere.

Saving writes a temporary file beside the target, flushes and fsyncs it, then renames it over the
target, so a crash leaves either the old file or the new one. Loading reads arrays with
``allow_pickle=False`` and checks every name, shape and dtype against the config.

A model saved during or after ``fit`` also holds a ``"training"`` section (epoch, batch, history; see
``training.TrainingState``) and, when stopped mid-epoch, ``training/order.npy``: what
``fit(..., resume_from=path)`` needs to continue bit for bit. Files without it load as before.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import warnings
import zipfile
import zlib

import numpy as np

from .atomic import atomic_open
from .backend import get_device, to_numpy
from .errors import ConfigError, GlassnetError, ModelFileError

__all__ = ["FORMAT", "VERSION", "load_model", "model_config", "save_model"]

FORMAT, VERSION = "glassnet-model", 1


def _layer_config(layer) -> dict:
    return {"class": type(layer).__name__, "config": layer.get_config()}


def _is_layer_entry(value) -> bool:
    return isinstance(value, dict) and set(value) == {"class", "config"} and isinstance(value["config"], dict)


def layer_from_config(entry: dict):
    """Rebuild a layer from ``{"class": ..., "config": ...}`` (as :func:`_layer_config` writes it).

    Nested entries are rebuilt first: an ``activation`` dict, and lists of layer entries such as a
    Residual block's ``main`` and ``shortcut``.
    """
    from .layers import LAYERS
    from .layers.activations import ACTIVATIONS

    cls = LAYERS.get(entry["class"])
    if cls is None:
        raise ConfigError(f"unknown layer class {entry['class']!r}")
    cfg = dict(entry["config"])
    act = cfg.get("activation")
    if isinstance(act, dict):
        act = dict(act)
        act_cls = {c.__name__: c for c in ACTIVATIONS.values()}.get(act.pop("class", None))
        if act_cls is None:
            raise ConfigError(f"unknown activation in {entry!r}")
        cfg["activation"] = act_cls(**act)
    for key, value in cfg.items():
        if isinstance(value, list) and value and all(_is_layer_entry(v) for v in value):
            cfg[key] = [layer_from_config(v) for v in value]
    return cls(**cfg)


def model_config(model) -> dict:
    """The JSON-able description of a model: layers, dtype, loss, optimizer, metrics."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": model.name,
        "dtype": model.dtype.name,
        "seed": model.seed,
        "input_shape": list(model.input_shape) if model.built else None,
        "layers": [_layer_config(la) for la in model.layers],
        "loss": model.loss.get_config() if model.loss else None,
        "optimizer": model.optimizer.get_config() if model.optimizer else None,
        "optimizer_iterations": model.optimizer.iterations if model.optimizer else 0,
        "metrics": [name for name, _ in model.metrics],
        "rng_state": model.rng.bit_generator.state,
        "metadata": _metadata(model),
        "training": _training_config(model),
    }


def _metadata(model) -> dict:
    metadata = getattr(model, "metadata", None) or {}
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model.metadata must be a JSON-able dict to be saved; {e}") from None
    return metadata


def _arrays(model) -> dict[str, np.ndarray]:
    arrays = {}
    if model.built:
        for i, layer in enumerate(model.layers):
            for k, v in layer.params.items():
                arrays[f"params/{i}/{k}"] = v
            for k, v in layer.state.items():
                arrays[f"state/{i}/{k}"] = v
    if model.optimizer is not None:
        for k, v in model.optimizer.state.items():
            arrays[f"optimizer/{k}"] = v
    training = getattr(model, "_training", None)
    if training is not None and training.batch and training.order is not None:
        arrays["training/order"] = training.order  # the row order of the epoch in progress
    return arrays


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` atomically."""
    with atomic_open(path, "wb", error_cls=ModelFileError) as f, zipfile.ZipFile(f, "w") as zf:
        zf.writestr("config.json", json.dumps(model_config(model), indent=1))
        for name, arr in _arrays(model).items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(to_numpy(arr)), allow_pickle=False)
            zf.writestr(f"{name}.npy", buf.getvalue())


def _bad(path, why) -> ModelFileError:
    return ModelFileError(f"{path} is not a readable glassnet model file: {why}")


def load_model(path, device=None):
    """Read a model written by :func:`save_model`; raises ModelFileError for anything else.

    ``device`` places the loaded model (``"cpu"``, ``"gpu"``; None: ``GLASSNET_DEVICE`` or the CPU).
    """
    from .losses import LOSSES
    from .model import Sequential
    from .optimizers import get_optimizer

    path = os.fspath(path)
    device = get_device(device)  # a bad or unusable device is the caller's error, not the file's
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file")
    try:
        zf = zipfile.ZipFile(path)
    except _ARCHIVE_ERRORS as e:
        raise _bad(path, f"not a zip archive ({type(e).__name__}: {e})") from None
    with zf:
        try:
            names = set(zf.namelist())
            if "config.json" not in names:
                raise _bad(path, "config.json is missing")
            config = json.loads(zf.read("config.json").decode("utf-8"))
            if not isinstance(config, dict) or config.get("format") != FORMAT:
                raise _bad(path, "config.json does not describe a glassnet model")
            if config.get("version") != VERSION:
                raise _bad(path, f"format version {config.get('version')!r}; this glassnet reads version {VERSION}")
            arrays = {}
            for name in names - {"config.json"}:
                arrays[name[:-4]] = _read_member(zf, name, path)
        except GlassnetError:
            raise
        except _ARCHIVE_ERRORS as e:
            raise _bad(path, f"{type(e).__name__}: {e}") from None
    try:
        layers = [layer_from_config(entry) for entry in config["layers"]]
        model = Sequential(layers, seed=config.get("seed"), dtype=config["dtype"], name=config.get("name"),
                           device=device)
        metadata = config.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise _bad(path, "metadata is not a JSON object")
        model.metadata = dict(metadata)
        if config.get("loss"):
            loss_cls = {c.__name__: c for c in LOSSES.values()}.get(config["loss"]["class"])
            if loss_cls is None:
                raise _bad(path, f"unknown loss {config['loss']['class']!r}")
            opt = get_optimizer(config["optimizer"]) if config.get("optimizer") else "sgd"
            model.compile(loss=loss_cls(), optimizer=opt, metrics=config.get("metrics") or None)
        if config.get("input_shape") is not None:
            model.build(tuple(config["input_shape"]))
            for i, layer in enumerate(model.layers):
                for group, target in (("params", layer.params), ("state", layer.state)):
                    for k in target:
                        arr = arrays.get(f"{group}/{i}/{k}")
                        if arr is None:
                            raise _bad(path, f"array {group}/{i}/{k} is missing")
                        if arr.shape != target[k].shape:
                            raise _bad(path, f"array {group}/{i}/{k} has shape {arr.shape}, expected {target[k].shape}")
                        target[k][...] = arr
            np.copyto(model._backup, model.flat_params)
        if config.get("rng_state"):  # after build: initializers draw from the generator
            model.rng.bit_generator.state = config["rng_state"]
        if model.optimizer is not None:
            model.optimizer.iterations = int(config.get("optimizer_iterations", 0))
            for k in model.optimizer.state:
                arr = arrays.get(f"optimizer/{k}")
                if arr is not None:
                    if arr.shape != model.optimizer.state[k].shape:
                        raise _bad(path, f"optimizer state {k} has shape {arr.shape}")
                    model.optimizer.state[k][...] = arr
        model._training = _training_from_config(config.get("training"), arrays.get("training/order"), path)
    except GlassnetError as e:
        if isinstance(e, ModelFileError):
            raise
        raise _bad(path, str(e)) from None
    except _CONFIG_ERRORS as e:
        raise _bad(path, f"invalid config ({type(e).__name__}: {e})") from None
    return model


# -- safe reading of archive members ----------------------------------------------------------------------

#: what zipfile, json and the npy header parser raise on a damaged archive (a flipped bit can turn a stored
#: member into an "encrypted" or "compressed with method 99" one; deeply nested JSON is a RecursionError)
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError, TypeError,
                   NotImplementedError, RuntimeError, OverflowError, MemoryError, zlib.error, struct.error)
#: what rebuilding a model from a well-formed but wrong config raises (an absurd shape is a MemoryError)
_CONFIG_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, MemoryError,
                  RecursionError, ZeroDivisionError)


def _read_member(zf: zipfile.ZipFile, name: str, path) -> np.ndarray:
    """One ``.npy`` member as an array of numbers, checked before anything is allocated.

    Only uncompressed members are read (save_model writes no other kind), so a member's size is bounded
    by the file's; the npy header must be version 1 or 2, describe numbers (never objects: nothing is
    ever unpickled) and announce exactly the bytes that follow it.
    """
    if not name.endswith(".npy") or ".." in name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise _bad(path, f"unexpected member {name!r}")
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        raise _bad(path, f"member {name!r} is compressed (method {info.compress_type}); "
                         "glassnet model files hold uncompressed members")
    data = zf.read(name)
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        with warnings.catch_warnings():  # a damaged header can be Python text that warns ("invalid escape")
            warnings.simplefilter("ignore")
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise _bad(path, f"array {name!r} has npy format version {version}")
    except GlassnetError:
        raise
    except Exception as e:  # noqa: BLE001 -- the header is Python literal text; its parser refuses garbage many ways
        raise _bad(path, f"array {name!r} has an unreadable npy header ({type(e).__name__}: {e})") from None
    if dtype.hasobject or dtype.kind not in "fiub" or dtype.fields is not None or dtype.subdtype is not None:
        raise _bad(path, f"array {name!r} has dtype {dtype}; expected numbers")
    if any(d < 0 for d in shape):
        raise _bad(path, f"array {name!r} has shape {shape}")
    count = math.prod(shape)
    if len(data) - f.tell() != count * dtype.itemsize:
        raise _bad(path, f"array {name!r} of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} "
                         f"bytes; the member holds {len(data) - f.tell()}")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=f.tell())
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)


# -- where training stands (checkpoints) ------------------------------------------------------------------


def _training_config(model) -> dict | None:
    training = getattr(model, "_training", None)
    return None if training is None else training.to_config()


def _training_from_config(section, order, path):
    """The TrainingState a file's ``"training"`` section describes (None in files written before fit)."""
    if section is None:
        return None
    from .training import TrainingState

    try:
        return TrainingState.from_config(section, order)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(path, f"invalid training section ({type(e).__name__}: {e})") from None
