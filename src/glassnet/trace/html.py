"""A trace as one self-contained HTML page: every step, every quantity, every number.

The page lays each recorded quantity out like the tutorial's spreadsheet: the formula in symbols and in
words (and the article's name where it has one) above its matrix, inputs and starting parameters in one
colour, computed cells in another. Hovering a cell lights up the cells it was computed from; a selector
shows step k; an SVG chart shows the loss falling across steps.

Like every exporter, :func:`to_html` is a pure function of the records: the engine's numbers are embedded
as JSON (shortest round-trip decimals, so no digit is lost) and the page's script only draws them. Which
cells a cell came from is decided in the browser from each quantity's ``op``, ``inputs`` and shapes:

- matrix products (``op`` contains ``matmul``), ``Z = A·W + b``: cell (i, j) reads row i of the first
  factor, column j of the second and the other inputs by broadcasting (``b[j]``); a transposed factor
  (``matmul_at``: ``Aᵀ·B``, ``matmul_bt``: ``A·Bᵀ``, else ``ᵀ`` in the formula, else the shapes) gives a
  column instead of a row, or a row instead of a column;
- softmax: the whole row i;
- everything else by NumPy broadcasting, right-aligned: the same position for elementwise ops, ``b[j]``
  for a bias, the whole column for a sum over rows, the whole input for a scalar (the loss).

For the other ops (convolutions, pooling, batch normalization, recurrent steps, every optimizer) the
links are read off the workbook formula of each cell (:mod:`glassnet.trace.provenance`) and embedded as
``src``. Each quantity also says how it is drawn (``layout``): a convolution's kernel, its gradient and
optimizer state one heatmap per input channel and filter, any other (N, L, C) or (N, H, W, C) array one
heatmap per channel and sample, the rest as tables of numbers; per-step quantities of a recurrent layer
(``h2_t3``) carry their step ``t`` and go behind that layer's time slider; the network's layer
descriptions (kind, kernel size, strides, units...) label the layers' sections.

No network, no CDN, no fonts: the file opens offline and can be mailed as it is.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any

import numpy as np

from ..atomic import atomic_target
from ..errors import ExportError
from .html_page import PAGE, SCRIPT
from .provenance import provenance
from .quantity import Quantity

__all__ = ["COMPUTED_FILL", "INPUT_FILL", "to_html"]

#: Cell colours shared with the workbook: data and starting parameters, and computed cells.
INPUT_FILL = "#fff2cc"
COMPUTED_FILL = "#ddebf7"


def to_html(trace, path=None) -> str:
    """Render ``trace`` as one self-contained HTML document; write it to ``path`` when given.

    Parameters
    ----------
    trace : Trace
        Recorded steps (see :mod:`glassnet.trace.records`).
    path : str or os.PathLike, optional
        Where to write the page (UTF-8). Written to a temporary name first, then renamed, so a failed
        export never leaves a half-written file.

    Returns
    -------
    str
        The HTML document.
    """
    preset = _field(trace, "preset", None)
    network = _field(trace, "network", {}) or {}
    layers = _layers(network)
    kernels = _conv_kernels(layers)
    memo: dict = {}  # provenance of quantities with the same op and shapes, shared by every step
    steps = [_step_data(s, kernels, memo) for s in _field(trace, "steps", []) or []]
    name = preset or (network.get("summary") if isinstance(network, dict) else None)
    title = "glassnet trace" + (f": {name}" if name else "")
    doc = PAGE.format(
        title=html.escape(title),
        input_fill=INPUT_FILL,
        computed_fill=COMPUTED_FILL,
        summary=html.escape(_summary(steps, network)),
        network=html.escape(json.dumps(network, indent=1, default=_jsonable, allow_nan=True)),
        options="".join(f'<option value="{k}">step {s["step"]}</option>' for k, s in enumerate(steps)),
        chart=_loss_chart([s["loss"] for s in steps], [s["step"] for s in steps]),
        data=_script_json({"steps": steps, "layers": layers}),
        script=SCRIPT,
    )
    if path is not None:
        with atomic_target(path, ExportError) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(doc)
    return doc


# -- records -> plain data ---------------------------------------------------------------------------
def _field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` for records, ``obj[name]`` for dicts (a trace read back from JSON), else default."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


#: ops whose provenance the page works out itself (products, broadcasting, row-wise softmax): their links are
#: the same as the formula's, and the page can name them ("row 2", "column 1")
_PAGE_OPS = {"value", "matmul_add_bias", "matmul", "matmul_at", "matmul_bt", "sum_rows", "softmax",
             "softmax_backward", "sub", "neg", "scale", "mul", "half_sse", "mse", "bce_logits", "cce"}


def _layers(network) -> list:
    """The network's per-layer descriptions (kind, kernel size, strides, units...) as plain JSON data."""
    layers = network.get("layers") if isinstance(network, dict) else None
    if not isinstance(layers, list):
        return []
    try:  # through JSON, so NumPy scalars and arrays become numbers and lists, and NaN fails here, not in the page
        return json.loads(json.dumps(layers, default=_jsonable, allow_nan=False))
    except (TypeError, ValueError):
        return []


def _conv_kernels(layers: list) -> dict[str, list[int]]:
    """{layer id: kernel shape (*kernel_size, n_in, filters)} of every convolution of the network, nested
    ones too (a residual block's ``"1m2"``, its shortcut's ``"1s1"``)."""
    out = {}
    for k, info in enumerate(layers, 1):
        if not isinstance(info, dict):
            continue
        if {"kernel_size", "n_in", "filters"} <= info.keys():
            size = info["kernel_size"]
            size = size if isinstance(size, list) else [size]
            out[str(info.get("layer", k))] = [int(v) for v in size] + [int(info["n_in"]), int(info["filters"])]
        for inner in info.values():
            if isinstance(inner, list) and any(isinstance(v, dict) for v in inner):
                out.update(_conv_kernels(inner))
    return out


#: a per-step quantity of a recurrent layer: ``h1_t3``, ``dzi2_t4`` (the step after the last ``_t``)
_STEP = re.compile(r"_t(\d+)$")


def _layout(name: str, dims: list[int], kernels: dict[str, list[int]]) -> str:
    """How the page draws a quantity: ``"kernel"`` (a convolution's kernel, its gradient, its optimizer state:
    one heatmap per input channel and filter), ``"maps"`` (a batch of feature maps (N, L, C) or (N, H, W, C):
    one heatmap per sample and channel) or ``"matrix"`` (a table of numbers)."""
    for k, shape in kernels.items():
        if dims == shape and re.search(rf"(^|_|d)W{re.escape(k)}(?![0-9A-Za-z])", name):
            return "kernel"
    return "maps" if len(dims) in (3, 4) else "matrix"


def _step_data(step, kernels: dict[str, list[int]] | None = None, memo: dict | None = None) -> dict:
    records = _field(step, "quantities", []) or []
    quantities = [_quantity_data(q, kernels or {}) for q in records]
    values = {_field(q, "name", "?"): _field(q, "value", None) for q in records}
    memo = {} if memo is None else memo
    runs = memo.setdefault("runs", {})  # id of a memoized provenance -> its links as runs
    for q, data in zip(records, quantities):
        if isinstance(q, Quantity) and q.op not in _PAGE_OPS:
            src = provenance(q, values, memo)
            if src is not None:
                if id(src) not in runs:  # the memo keeps src alive, so its id stays its own
                    runs[id(src)] = [[[k, _runs(cells)] for k, cells in links] for links in src]
                data["src"] = runs[id(src)]
    names = {q["name"] for q in quantities}
    # Starting parameters and updates the recorder did not list as quantities are still shown.
    before = [_quantity_data({"name": k, "value": v, "kind": "param", "words": "parameter at the start of the step"})
              for k, v in (_field(step, "params_before", {}) or {}).items() if k not in names]
    after = [_quantity_data({"name": f"{k}_new", "value": v, "words": "parameter after the update"})
             for k, v in (_field(step, "params_after", {}) or {}).items() if f"{k}_new" not in names]
    loss = _field(step, "loss", None)
    return {"step": int(_field(step, "step", 0) or 0), "loss": None if loss is None else float(loss),
            "quantities": before + quantities + after}


def _runs(cells: list[int]) -> list:
    """Sorted flat indices as arithmetic runs: a lone index stays a number, a run is ``[start, count, step]``.

    A cell of a recurrent step reads whole rows and columns, so its list of sources shrinks from hundreds of
    numbers to a few runs (``[0, 1, 2, 3, 7]`` -> ``[[0, 4, 1], 7]``); the page expands them back.
    """
    out, i = [], 0
    while i < len(cells):
        j = i + 1
        if j < len(cells):
            step = cells[j] - cells[i]
            while j + 1 < len(cells) and cells[j + 1] - cells[j] == step:
                j += 1
            if j - i >= 2:  # three or more in a row
                out.append([cells[i], j - i + 1, step])
                i = j + 1
                continue
        out.append(cells[i])
        i += 1
    return out


def _quantity_data(q, kernels: dict[str, list[int]] | None = None) -> dict:
    value = np.asarray(_field(q, "value", np.nan), dtype=np.float64)
    dims = list(value.shape)
    if value.ndim > 2:  # rows of the last axis, for the page's own provenance rules ("dims" keeps the shape)
        value = value.reshape(-1, value.shape[-1])
    name, formula = str(_field(q, "name", "?")), str(_field(q, "formula", "") or "")
    if formula == name:  # a value (data, a parameter at the step's start): its words say where it comes from,
        formula = ""  # and "W1 = W1" would say nothing (the text and the workbook drop it too)
    layer = _field(q, "layer", None)
    layer = int(layer) if isinstance(layer, (int, np.integer)) else None
    t = _STEP.search(name) if layer is not None else None
    return {
        "dims": dims,
        "layout": _layout(name, dims, kernels or {}),
        "layer": layer,
        "t": int(t.group(1)) if t else None,
        "name": name,
        "formula": formula,
        "words": str(_field(q, "words", "") or ""),
        "article": str(_field(q, "article", "") or ""),
        "section": str(_field(q, "section", "") or ""),
        "kind": str(_field(q, "kind", "computed") or "computed"),
        "op": str(_field(q, "op", "") or ""),
        "inputs": [str(n) for n in (_field(q, "inputs", ()) or ())],
        "shape": list(value.shape),
        "value": _numbers(value.ravel()),
    }


def _numbers(flat: np.ndarray) -> list:
    """Floats as JSON numbers (round-trip exact); NaN and ±inf as strings the page turns back."""
    values = flat.tolist()
    if np.isfinite(flat).all():
        return values
    return [v if math.isfinite(v) else str(v).replace("inf", "Infinity").replace("nan", "NaN") for v in values]


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def _script_json(data) -> str:
    # Inside <script>, "</script>" or "<!--" would end the block: "<" is escaped (JSON.parse undoes it).
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _summary(steps: list[dict], network: dict) -> str:
    parts = [f"{len(steps)} step{'s' if len(steps) != 1 else ''}"]
    losses = [s["loss"] for s in steps if s["loss"] is not None]
    if losses:
        parts.append(f"loss {_fmt(losses[0])} → {_fmt(losses[-1])}")
    network = network if isinstance(network, dict) else {}
    optimizer = network.get("optimizer")
    optimizer = network.get("optimizer_summary") or (optimizer.get("class") if isinstance(optimizer, dict) else optimizer)
    parts += [f"{label} {value}" for label, value in (("loss", network.get("loss")), ("optimizer", optimizer))
              if isinstance(value, str)]
    return " · ".join(parts)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


# -- the loss chart ----------------------------------------------------------------------------------
def _loss_chart(losses: list, steps: list[int]) -> str:
    """An inline SVG line chart with one point (``circle.loss-point``) per step."""
    w, h, left, right, top, bottom = 640, 200, 70, 16, 14, 30
    finite = [v for v in losses if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    n = len(losses)
    r = 3 if n <= 100 else 2 if n <= 1000 else 1

    def x(k):
        return left + (w - left - right) * (k / (n - 1) if n > 1 else 0.5)

    def y(v):
        return top + (h - top - bottom) * ((hi - v) / (hi - lo) if hi > lo else 0.5)

    pts, circles = [], []
    for k, (s, v) in enumerate(zip(steps, losses)):
        if v is None or not math.isfinite(v):
            continue
        pts.append(f"{x(k):.2f},{y(v):.2f}")
        circles.append(f'<circle class="loss-point" data-index="{k}" data-step="{s}" cx="{x(k):.2f}" '
                       f'cy="{y(v):.2f}" r="{r}"><title>step {s}: loss {v!r}</title></circle>')
    axis = (f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}"/>'
            f'<line class="axis" x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}"/>'
            f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{_fmt(hi)}</text>'
            f'<text x="{left - 6}" y="{h - bottom}" text-anchor="end">{_fmt(lo)}</text>'
            f'<text x="{left}" y="{h - 8}">step {steps[0] if steps else ""}</text>'
            f'<text x="{w - right}" y="{h - 8}" text-anchor="end">step {steps[-1] if steps else ""}</text>')
    return (f'<svg id="loss-chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="loss per step">{axis}<polyline class="loss-line" points="{" ".join(pts)}"/>'
            f'{"".join(circles)}</svg>')
