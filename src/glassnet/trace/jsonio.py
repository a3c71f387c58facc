"""A trace as JSON (design.md's schema) and back.

``{"format": "glassnet-trace", "version": 1, "preset": ..., "network": {...},
"steps": [{"step": 1, "loss": float, "lr": float, "t": int, "rows": [int],
"params_before": {"W1": [[...]], ...}, "params_after": {...},
"quantities": [{"name": "Z1", "formula": "A0·W1 + b1", "words": "...", "value": [[...]], "shape": [3, 3],
"inputs": [...], "kind": "computed", "op": "matmul_add_bias", "layer": 1, "article": "hidden_layer_input",
"section": "...", "attrs": {...}}, ...]}]}``

Numbers are written with Python's shortest round-trip repr, so reading the file back gives the very
same float64 values.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..atomic import atomic_target
from ..errors import ExportError
from .records import Quantity, Step, Trace

__all__ = ["FORMAT", "VERSION", "from_json", "to_json", "trace_from_dict", "trace_to_dict"]

FORMAT, VERSION = "glassnet-trace", 1


def _plain(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def trace_to_dict(trace: Trace) -> dict:
    """The trace as plain JSON-able Python objects."""
    steps = []
    for s in trace.steps:
        steps.append({
            "step": s.step, "loss": float(s.loss), "lr": s.lr, "t": s.t, "rows": list(s.rows),
            "params_before": _plain(s.params_before), "params_after": _plain(s.params_after),
            "quantities": [
                {"name": q.name, "formula": q.formula, "words": q.words, "value": _plain(np.asarray(q.value)),
                 "shape": list(np.shape(q.value)), "inputs": list(q.inputs), "kind": q.kind, "op": q.op,
                 "layer": q.layer, "article": q.article, "section": q.section, "attrs": _plain(q.attrs)}
                for q in s.quantities
            ],
        })
    return {"format": FORMAT, "version": VERSION, "preset": trace.preset, "network": _plain(trace.network),
            "steps": steps}


def to_json(trace: Trace, path=None) -> str:
    """JSON text of ``trace``; also written atomically to ``path`` when given."""
    text = json.dumps(trace_to_dict(trace), ensure_ascii=False, allow_nan=False)
    if path is not None:
        with atomic_target(path, ExportError) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def _array(value, shape, where) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if shape is not None and list(a.shape) != list(shape):
        if a.size == 0 and int(np.prod(shape)) == 0:
            return a.reshape(shape)
        raise ExportError(f"{where}: value of shape {list(a.shape)} does not match its shape {shape}")
    return a


def trace_from_dict(data: dict, source: str = "trace") -> Trace:
    """Rebuild a :class:`Trace` from :func:`trace_to_dict`'s objects; values come back as float64 arrays."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportError(f"{source} is not a glassnet trace (expected \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise ExportError(f"{source} is trace format version {data.get('version')!r}; this glassnet reads {VERSION}")
    try:
        steps = []
        for s in data["steps"]:
            qs = [Quantity(name=q["name"], formula=q["formula"], words=q.get("words", ""),
                           value=_array(q["value"], q.get("shape"), f"{source}, step {s['step']}, {q['name']}"),
                           inputs=tuple(q.get("inputs", ())), kind=q.get("kind", "computed"), op=q.get("op", ""),
                           layer=q.get("layer"), article=q.get("article"), section=q.get("section", ""),
                           attrs=dict(q.get("attrs") or {}))
                  for q in s["quantities"]]
            steps.append(Step(step=int(s["step"]), loss=float(s["loss"]),
                              params_before={k: np.asarray(v, dtype=np.float64) for k, v in s["params_before"].items()},
                              params_after={k: np.asarray(v, dtype=np.float64) for k, v in s["params_after"].items()},
                              quantities=qs, rows=[int(r) for r in s.get("rows", [])], lr=s.get("lr"), t=s.get("t")))
    except (KeyError, TypeError, ValueError) as e:
        raise ExportError(f"{source} is not a readable glassnet trace: {type(e).__name__}: {e}") from None
    return Trace(network=dict(data.get("network") or {}), steps=steps, preset=data.get("preset"))


def from_json(path) -> Trace:
    """Read a trace written by :func:`to_json` (used by the HTML and R tools)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ExportError(f"Cannot read trace {path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ExportError(f"{path} is not JSON: {e}") from None
    return trace_from_dict(data, path)
