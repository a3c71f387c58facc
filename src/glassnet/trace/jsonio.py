"""A trace as JSON (design.md's schema) and back: writing, and reading to plain objects.

``{"format": "glassnet-trace", "version": 1, "preset": ..., "network": {...},
"steps": [{"step": 1, "loss": float, "lr": float, "t": int, "rows": [int],
"params_before": {"W1": [[...]], ...}, "params_after": {...}, "buffers_before": {"moving_mean2": [...]},
"buffers_after": {...},
"quantities": [{"name": "Z1", "formula": "A0·W1 + b1", "words": "...", "value": [[...]], "shape": [3, 3],
"inputs": [...], "kind": "computed", "op": "matmul_add_bias", "layer": 1, "article": "hidden_layer_input",
"section": "...", "attrs": {...}}, ...]}]}``

Numbers are written with Python's shortest round-trip repr, so reading the file back gives the very
same float64 values.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import atomic_target
from ..errors import ExportError
from ..jsonable import to_jsonable

if TYPE_CHECKING:  # annotations only: records imports this module (Trace.to_json)
    from .records import Trace

__all__ = ["FORMAT", "VERSION", "check_format", "read_json", "to_json", "trace_to_dict"]

FORMAT, VERSION = "glassnet-trace", 1


_plain = to_jsonable  # arrays to lists, NumPy scalars to numbers


def trace_to_dict(trace: Trace) -> dict:
    """The trace as plain JSON-able Python objects."""
    steps = []
    for s in trace.steps:
        steps.append({
            "step": s.step, "loss": float(s.loss), "lr": s.lr, "t": s.t, "rows": list(s.rows),
            "params_before": _plain(s.params_before), "params_after": _plain(s.params_after),
            "buffers_before": _plain(s.buffers_before), "buffers_after": _plain(s.buffers_after),
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


def check_format(data, source: str = "trace") -> None:
    """ExportError unless ``data`` (parsed JSON) says it is a trace in the format version this glassnet reads."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportError(f"{source} is not a glassnet trace (expected \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise ExportError(f"{source} is trace format version {data.get('version')!r}; this glassnet reads {VERSION}")


def read_json(path) -> dict:
    """The parsed contents of a trace file written by :func:`to_json` (format and version checked).

    :func:`glassnet.trace.from_json` turns them back into a :class:`~glassnet.trace.Trace`.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ExportError(f"Cannot read trace {path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ExportError(f"{path} is not JSON: {e}") from None
    check_format(data, path)
    return data
