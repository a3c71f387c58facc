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
from .jsonable import to_jsonable
from .layers import LAYERS
from .layers.activations import ACTIVATIONS
from .losses import LOSSES
from .optimizers import get_optimizer
from .state import TrainingState

__all__ = ["FORMAT", "VERSION", "model_config", "model_from_file", "read_model_file", "save_model"]

FORMAT, VERSION = "glassnet-model", 1


def _layer_config(layer) -> dict:
    return {"class": type(layer).__name__, "config": layer.get_config()}


def _is_layer_entry(value) -> bool:
    return isinstance(value, dict) and set(value) == {"class", "config"} and isinstance(value["config"], dict)


def layer_from_config(entry: dict):
    """Rebuild a layer from ``{"class": ..., "config": ...}`` (as :func:`_layer_config` writes it).

    Nested entries are rebuilt first: an ``activation`` dict, lists of layer entries such as a
    Residual block's ``main`` and ``shortcut``, and single layer entries such as a wrapper's ``layer``.
    """
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
        elif _is_layer_entry(value):  # a wrapper's layer (Bidirectional, TimeDistributed)
            cfg[key] = layer_from_config(value)
    return cls(**cfg)


def model_config(model) -> dict:
    """The JSON-able description of a model: layers, dtype, loss, optimizer, metrics."""
    return _plain({
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
        "training": None,
        "callbacks": [],
    })


_plain = to_jsonable  # NumPy scalars (np.int64(0), np.float32(1e-3)) as Python numbers, for JSON


def _metadata(model) -> dict:
    metadata = getattr(model, "metadata", None) or {}
    try:
        json.dumps(_plain(metadata))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model.metadata must be a JSON-able dict to be saved; {e}") from None
    return metadata


# -- the state dict as members -----------------------------------------------------------------------------
# params/{i}/{name}.npy, state/{i}/{name}.npy (buffers), optimizer/{name}.npy, training/order.npy and
# callbacks/{j}/{path}.npy for arrays inside a callback's state (EarlyStopping's best weights); everything
# else of the state dict lives in config.json.

_ARRAY = "__array__"  # a JSON stand-in for an array stored as a member: {"__array__": "callbacks/0/..."}


def _split(value, prefix: str, arrays: dict):
    """``value`` (nested dicts/lists) with every array moved into ``arrays`` under a member name."""
    if isinstance(value, np.ndarray):
        arrays[prefix] = value
        return {_ARRAY: prefix}
    if isinstance(value, dict):
        return {str(k): _split(v, f"{prefix}/{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, f"{prefix}/{j}", arrays) for j, v in enumerate(value)]
    return _plain(value)


def _join(value, arrays: dict, used: set):
    """The inverse of :func:`_split`; KeyError for a stand-in whose member is missing."""
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            name = value[_ARRAY]
            used.add(name)
            return np.array(arrays[name])
        return {k: _join(v, arrays, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, arrays, used) for v in value]
    return value


def _to_members(model) -> tuple[dict, dict[str, np.ndarray]]:
    """``(config, arrays)``: the model's config and its whole state dict, split into JSON and members."""
    config = model_config(model)
    sd = model.state_dict()
    arrays = {f"params/{k}": v for k, v in sd["params"].items()}
    arrays |= {f"state/{k}": v for k, v in sd["buffers"].items()}
    if sd["optimizer"] is not None:
        arrays |= {f"optimizer/{k}": v for k, v in sd["optimizer"]["state"].items()}
        config["optimizer_iterations"] = sd["optimizer"]["iterations"]
    training = sd["training"]
    if training is not None:
        config["training"] = training.to_config()
        if training.batch and training.order is not None:
            arrays["training/order"] = training.order  # the row order of the epoch in progress
    config["callbacks"] = _split(sd["callbacks"], "callbacks", arrays)
    return config, arrays


def save_model(model, path) -> None:
    """Write ``model`` (config and whole state dict) to ``path`` atomically."""
    with atomic_open(path, "wb", error_cls=ModelFileError) as f, zipfile.ZipFile(f, "w") as zf:
        config, arrays = _to_members(model)
        zf.writestr("config.json", json.dumps(config, indent=1))
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(to_numpy(arr)), allow_pickle=False)
            zf.writestr(f"{name}.npy", buf.getvalue())


def _bad(path, why) -> ModelFileError:
    return ModelFileError(f"{path} is not a readable glassnet model file: {why}")


def read_model_file(path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(config, arrays)`` of a file written by :func:`save_model`; ModelFileError for anything else.

    Every member is checked before it is read (see :func:`_read_member`); nothing is unpickled.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFileError(f"{path} is a directory, not a model file (glassnet model files are single .glassnet "
                             "files written by model.save)")
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
    return config, arrays


def _expect(arrays: dict, name: str, like, path, used: set) -> np.ndarray:
    """Member ``name``, which must have the shape and dtype of ``like`` exactly (no silent cast)."""
    arr = arrays.get(name)
    if arr is None:
        raise _bad(path, f"array {name} is missing")
    if arr.shape != like.shape:
        raise _bad(path, f"array {name} has shape {arr.shape}, expected {like.shape}")
    if arr.dtype != like.dtype:
        raise _bad(path, f"array {name} has dtype {arr.dtype}, expected {np.dtype(like.dtype)} (the model's dtype)")
    used.add(name)
    return arr


def model_from_file(cls, config: dict, arrays: dict, path, device=None):
    """A model of class ``cls`` (Sequential) rebuilt from :func:`read_model_file`'s output.

    Every array the model expects must be there with its exact shape and dtype, and no other may be:
    an extra member, or a float64 ``W`` in a float32 model, is refused with ModelFileError.
    """
    path = os.fspath(path)
    device = get_device(device)  # a bad or unusable device is the caller's error, not the file's
    try:
        layers = [layer_from_config(entry) for entry in config["layers"]]
        model = cls(layers, seed=config.get("seed"), dtype=config["dtype"], name=config.get("name"), device=device)
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
        used: set[str] = set()
        sd = model.state_dict(("params", "buffers", "optimizer"))  # what the model expects, names and shapes
        loaded = {
            "params": {k: _expect(arrays, f"params/{k}", v, path, used) for k, v in sd["params"].items()},
            "buffers": {k: _expect(arrays, f"state/{k}", v, path, used) for k, v in sd["buffers"].items()},
        }
        if sd["optimizer"] is not None:
            opt_sd = sd["optimizer"]
            opt_sd["iterations"] = int(config.get("optimizer_iterations", 0))
            opt_sd["state"] = {k: _expect(arrays, f"optimizer/{k}", v, path, used) if model.built else v
                               for k, v in opt_sd["state"].items()}
            loaded["optimizer"] = opt_sd
        if config.get("rng_state"):  # after build: initializers draw from the generator
            loaded["rng"] = config["rng_state"]
        order = arrays.get("training/order")
        if order is not None:
            used.add("training/order")
        loaded["training"] = _training_from_config(config.get("training"), order, path)
        callbacks = _join(config.get("callbacks") or [], arrays, used)
        if not isinstance(callbacks, list) or not all(
                isinstance(c, dict) and isinstance(c.get("class"), str) and isinstance(c.get("state"), dict)
                for c in callbacks):
            raise _bad(path, "the callbacks section is not a list of {class, state} objects")
        extra = sorted(set(arrays) - used)
        if extra:
            raise _bad(path, f"unexpected member{'s' if len(extra) > 1 else ''} {', '.join(n + '.npy' for n in extra)}")
        model.load_state_dict(loaded)
        if loaded["training"] is not None:
            loaded["training"].callbacks = callbacks
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


def _training_from_config(section, order, path):
    """The TrainingState a file's ``"training"`` section describes (None in files written before fit)."""
    if section is None:
        return None
    try:
        return TrainingState.from_config(section, order)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(path, f"invalid training section ({type(e).__name__}: {e})") from None
