"""The page around a trace: its HTML template with inline CSS, and the script that draws it.

Kept apart from :mod:`glassnet.trace.html` (which turns the records into data) because it is text for a
browser, not Python. ``PAGE`` is a ``str.format`` template (CSS braces doubled); ``SCRIPT`` reads the
JSON in ``<script id="trace-data">`` and draws the selected step, the hover links and the chart's
current point. Which cells a cell came from is decided here, from each quantity's ``op``, ``inputs``
and shapes (see html.py's docstring for the rules), or read from its ``src`` where html.py worked them out
from the workbook formula. How convolutions, BatchNormalization and recurrent layers are drawn lives in
:mod:`glassnet.trace.html_kinds`, a fragment of the same script.
"""

from .html_kinds import KINDS_SCRIPT

__all__ = ["PAGE", "SCRIPT"]

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.4em; margin: 0 0 .2em; }}
h2 {{ font-size: 1.15em; margin: 1.2em 0 .3em; border-bottom: 1px solid #ccc; }}
h3.section {{ font-size: 1.05em; margin: 1.2em 0 .2em; color: #444; }}
.controls {{ display: flex; gap: .5em; align-items: center; margin: .6em 0; flex-wrap: wrap; }}
.legend span {{ display: inline-block; padding: 0 .5em; margin-right: .4em; border: 1px solid #bbb; }}
.group {{ display: flex; flex-wrap: wrap; gap: .4em 2em; align-items: flex-start; }}
.quantity {{ margin: .6em 0 .6em; }}
.quantity .head {{ font-family: ui-monospace, Menlo, Consolas, monospace; }}
.quantity .name {{ font-weight: bold; }}
.quantity .article, .quantity .shape {{ color: #666; font-size: .85em; margin-left: .6em; }}
.quantity .words {{ color: #555; font-size: .9em; margin: .1em 0 .3em; }}
table.matrix {{ border-collapse: collapse; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85em; }}
table.matrix td {{ border: 1px solid #b4b4b4; padding: 2px 8px; text-align: right; min-width: 5.5em; }}
td.given {{ background: {input_fill}; }}
td.computed {{ background: {computed_fill}; }}
td.source {{ background: #f8cbad; outline: 2px solid #c55a11; outline-offset: -2px; }}
td.focus {{ background: #a9d08e; outline: 2px solid #375623; outline-offset: -2px; }}
.note {{ color: #777; font-size: .85em; }}
#explain {{ position: sticky; top: 0; background: #fafafa; border: 1px solid #ddd; padding: .3em .6em;
  min-height: 1.3em; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85em; z-index: 1; }}
#loss-chart text {{ font-size: 11px; fill: #555; }}
#loss-chart .axis {{ stroke: #999; }}
#loss-chart .loss-line {{ fill: none; stroke: #2f5597; stroke-width: 1.5; }}
#loss-chart .loss-point {{ fill: #2f5597; cursor: pointer; }}
#loss-chart .loss-point.current {{ fill: #c55a11; r: 5; }}
.layer-info {{ font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .82em; color: #444;
  background: #f3f3f3; border-left: 3px solid #2f5597; padding: .2em .6em; margin: .2em 0 .4em; }}
table.maps {{ border-collapse: separate; border-spacing: 6px 4px; font-size: .75em; }}
table.maps th {{ font-weight: normal; color: #666; text-align: left; padding: 0 .3em; white-space: nowrap; }}
table.maps td.map {{ padding: 0; vertical-align: top; }}
table.heat {{ border-collapse: collapse; outline: 1px solid #bbb; }}
table.heat td.cell {{ width: var(--px); height: var(--px); min-width: var(--px); padding: 0; font-size: 0;
  border: 1px solid #e6e6e6; text-align: center; font-family: ui-monospace, Menlo, Consolas, monospace; }}
.numbers table.heat td.cell {{ width: auto; height: auto; font-size: 10px; padding: 1px 3px; }}
table.heat td.source {{ outline: 2px solid #c55a11; outline-offset: -1px; }}
table.heat td.focus {{ outline: 3px solid #111; outline-offset: -1px; }}
.scale {{ font-size: .75em; color: #555; margin: .1em 0; display: flex; align-items: center; gap: .4em; }}
.scale .bar {{ display: inline-block; width: 120px; height: 10px; border: 1px solid #ccc;
  background: linear-gradient(to right, rgb(33,102,172), #fff, rgb(178,24,43)); }}
button.numbers-toggle {{ font-size: .75em; margin-left: .6em; padding: 0 .4em; }}
.time-panel {{ border: 1px solid #b4c7e7; background: #f7faff; padding: .4em .8em .6em; margin: .6em 0; }}
.time-head {{ display: flex; gap: .8em; align-items: center; flex-wrap: wrap; font-size: .95em; }}
.time-head input[type=range] {{ width: 16em; }}
.time-head .time-label {{ font-family: ui-monospace, Menlo, Consolas, monospace; font-weight: bold; }}
.unrolled-wrap {{ overflow-x: auto; }}
svg.unrolled {{ display: block; margin: .3em 0; }}
svg.unrolled text {{ pointer-events: none; font-size: 11px; fill: #333; font-family: ui-monospace, Menlo, Consolas, monospace; }}
svg.unrolled rect {{ fill: #fff; stroke: #7f7f7f; }}
svg.unrolled rect.cellbox {{ fill: #ddebf7; stroke: #2f5597; }}
svg.unrolled g.time-col {{ cursor: pointer; }}
svg.unrolled g.time-col.current rect {{ stroke: #c55a11; stroke-width: 2.5; }}
svg.unrolled g.time-col.current rect.cellbox {{ fill: #fbe5d6; }}
svg.unrolled .arrow {{ stroke: #555; fill: #555; }}
.time-panel h4 {{ font-size: .9em; margin: .6em 0 .1em; color: #2f5597; }}
.time-panel .carried {{ opacity: .85; }}
.bn-stats {{ border: 2px solid #548235; background: #f4f9f0; padding: .4em .8em .6em; margin: .6em 0; }}
.bn-stats h4 {{ margin: 0 0 .3em; font-size: 1em; color: #375623; }}
.bn-stats table {{ border-collapse: collapse; font-family: ui-monospace, Menlo, Consolas, monospace; }}
.bn-stats th {{ text-align: left; font-weight: normal; padding: 2px 10px 2px 0; white-space: nowrap; }}
.bn-stats th b {{ font-size: 1.05em; }}
.bn-stats th .formula {{ color: #666; font-size: .85em; }}
.bn-stats td.cell {{ border: 1px solid #b4b4b4; padding: 3px 10px; text-align: right; min-width: 6em; font-size: 1.05em; }}
.bn-stats tr.batch td.cell {{ font-weight: bold; }}
.bn-stats tr.sep th, .bn-stats tr.sep td {{ border-top: 2px solid #548235; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="note">{summary}</p>
<details><summary>Network</summary><pre>{network}</pre></details>
<div class="controls">
<button id="prev" type="button">&#9664; previous</button>
<select id="step-select" aria-label="step">{options}</select>
<button id="next" type="button">next &#9654;</button>
<span id="step-loss"></span>
</div>
<p class="legend"><span style="background:{input_fill}">input / starting value</span><span
 style="background:{computed_fill}">computed</span><span style="background:#a9d08e">hovered cell</span><span
 style="background:#f8cbad">cells it came from</span></p>
{chart}
<div id="explain">Hover over a cell to see the cells it was computed from.</div>
<noscript><p>This page draws its matrices with JavaScript; please enable it.</p></noscript>
<main id="step-view"></main>
<script type="application/json" id="trace-data">{data}</script>
<script>
{script}
</script>
</body>
</html>
"""

_SCRIPT_START = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("trace-data").textContent);
  var MAX_ROWS = 200;  // rows drawn per matrix; the rest are summarized
  var view = document.getElementById("step-view");
  var select = document.getElementById("step-select");
  var explain = document.getElementById("explain");
  var byName = {};  // name -> {q: quantity, cells: [[td, ...] by flat index]}
  var lit = [];
  var named = {};  // the shown step's quantities by name
  var panels = [];  // the shown step's time panels (recurrent layers)
  var tNow = {};  // layer -> the time step its panels show (kept when the step changes)
  var drawing = null;  // while a time panel draws: {name: true} of what it draws
  var current = 0;

  function fmt(v) {
    if (!isFinite(v)) return String(v);
    if (v === Math.trunc(v) && Math.abs(v) < 1e15) return String(v);
    var parts = v.toPrecision(6).split("e");
    if (parts[0].indexOf(".") >= 0) parts[0] = parts[0].replace(/0+$/, "").replace(/\.$/, "");
    return parts.length > 1 ? parts[0] + "e" + parts[1] : parts[0];
  }
  function range(n) { var r = []; for (var k = 0; k < n; k++) r.push(k); return r; }
  function unflat(shape, idx) {
    var out = new Array(shape.length);
    for (var a = shape.length - 1; a >= 0; a--) { out[a] = idx % shape[a]; idx = Math.floor(idx / shape[a]); }
    return out;
  }
  function flat(shape, ix) { var f = 0; for (var a = 0; a < shape.length; a++) f = f * shape[a] + ix[a]; return f; }
  // flat indices of every cell of `shape` whose index is fixed[a] on axis a (null: any)
  function cellsWhere(shape, fixed) {
    var out = [[]];
    for (var a = 0; a < shape.length; a++) {
      var next = [], choices = fixed[a] === null ? range(shape[a]) : [fixed[a]];
      out.forEach(function (p) { choices.forEach(function (c) { next.push(p.concat([c])); }); });
      out = next;
    }
    return out.map(function (ix) { return flat(shape, ix); });
  }
  // NumPy broadcasting, right-aligned: which input positions feed output position o
  function broadcast(outShape, o, inShape) {
    var fixed = [], off = outShape.length - inShape.length, ok = true;
    for (var a = 0; a < inShape.length; a++) {
      var b = a + off;
      if (b < 0) fixed.push(null);                        // axis reduced away
      else if (inShape[a] === outShape[b]) fixed.push(o[b]);
      else if (inShape[a] === 1) fixed.push(0);           // broadcast along this axis
      else if (outShape[b] === 1) fixed.push(null);       // reduced, dims kept
      else { fixed.push(null); ok = false; }
    }
    return {fixed: fixed, ok: ok};
  }
  function as2d(s) { return s.length === 2 ? s : s.length === 1 ? [1, s[0]] : [1, 1]; }
  function transposed(formula, name) {
    var n = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp("(^|[^A-Za-z0-9_])" + n + "(\u1d40|\\.T\\b|\\^T|')").test(formula) ||
      new RegExp("(transpose|\\bt)\\(\\s*" + n + "\\s*\\)").test(formula);
  }
  // op(P)·op(Q) = out: which of P, Q enter transposed (formula first, shapes as a fallback)
  function matmulPlan(q, P, Q) {
    var out = as2d(q.shape), sp = as2d(P.shape), sq = as2d(Q.shape);
    var op = q.op.toLowerCase(), tries = /_[ab]t$/.test(op) ? [[/_at$/.test(op), /_bt$/.test(op)]] : [];
    tries.push([transposed(q.formula, P.name), transposed(q.formula, Q.name)],
               [false, false], [true, false], [false, true], [true, true]);
    for (var t = 0; t < tries.length; t++) {
      var pe = tries[t][0] ? [sp[1], sp[0]] : sp, qe = tries[t][1] ? [sq[1], sq[0]] : sq;
      if (pe[0] === out[0] && qe[1] === out[1] && pe[1] === qe[0]) {
        return {tP: tries[t][0], tQ: tries[t][1], k: pe[1], sp: sp, sq: sq};
      }
    }
    return null;
  }
  function describe(fixed) {
    var free = fixed.filter(function (f) { return f === null; }).length;
    if (free === fixed.length) return fixed.length ? "(all)" : "";
    if (!free) return "[" + fixed.join(", ") + "]";
    if (fixed.length === 2) return fixed[0] === null ? "column " + fixed[1] : "row " + fixed[0];
    return "[" + fixed.map(function (f) { return f === null ? ":" : f; }).join(", ") + "]";
  }
  // html.py's runs back to flat indices: 7 is cell 7, [start, count, step] the cells start, start + step, ...
  function expand(runs) {
    var out = [];
    runs.forEach(function (r) {
      if (typeof r === "number") out.push(r);
      else for (var i = 0; i < r[1]; i++) out.push(r[0] + i * r[2]);
    });
    return out;
  }
  // [{name, cells: [flat index, ...]}] that cell idx of quantity q was computed from
  function sources(q, idx) {
    var o = unflat(q.shape, idx), ins = [], res = [], start = 0, plan = null;
    if (q.src) {  // the cells the workbook formula of this cell reads (worked out from the formula)
      (q.src[idx] || []).forEach(function (s) {
        var n = q.inputs[s[0]], cells = expand(s[1]);
        if (byName[n] && n !== q.name) res.push({name: n, cells: cells, what: cells.length === 1 ? "[" +
          unflat(byName[n].q.dims || byName[n].q.shape, cells[0]).join(", ") + "]" : "(" + cells.length + " cells)"});
      });
      return res;
    }
    q.inputs.forEach(function (n) { if (byName[n] && n !== q.name) ins.push(byName[n].q); });
    var op = q.op.toLowerCase();
    if (ins.length >= 2) {
      if (/matmul|mmult|gemm|(^|_)dot(_|$)/.test(op)) plan = matmulPlan(q, ins[0], ins[1]);
      else if (!op && /[\u00b7@]/.test(q.formula) && !broadcast(q.shape, o, ins[1].shape).ok) {
        plan = matmulPlan(q, ins[0], ins[1]);
      }
    }
    if (plan) {
      var o2 = q.shape.length === 2 ? o : q.shape.length === 1 ? [0, o[0]] : [0, 0];
      res.push({name: ins[0].name, what: plan.tP ? "column " + o2[0] : "row " + o2[0],
        cells: range(plan.k).map(function (k) { return plan.tP ? flat(plan.sp, [k, o2[0]]) : flat(plan.sp, [o2[0], k]); })});
      res.push({name: ins[1].name, what: plan.tQ ? "row " + o2[1] : "column " + o2[1],
        cells: range(plan.k).map(function (k) { return plan.tQ ? flat(plan.sq, [o2[1], k]) : flat(plan.sq, [k, o2[1]]); })});
      start = 2;
    }
    var rowwise = /softmax/.test(op);
    for (var n = start; n < ins.length; n++) {
      var s = ins[n].shape, b = broadcast(q.shape, o, s);
      var fixed = b.ok ? b.fixed : s.map(function () { return null; });
      if (rowwise && fixed.length) fixed[fixed.length - 1] = null;
      res.push({name: ins[n].name, cells: cellsWhere(s, fixed), what: describe(fixed)});
    }
    return res;
  }

  function clear() {
    lit.forEach(function (td) { td.classList.remove("source", "focus"); });
    lit = [];
  }
  // every element drawn for cell k of a quantity (a value can be drawn twice: a state carried into the
  // next time step, a moving statistic in the batch-statistics table)
  function tdsOf(name, k) { var e = byName[name]; return e && e.cells[k] ? e.cells[k] : []; }
  function highlight(td) {
    clear();
    var entry = byName[td.dataset.q];
    if (!entry) return;
    var q = entry.q, idx = +td.dataset.k;
    tdsOf(q.name, idx).forEach(function (c) { c.classList.add("focus"); lit.push(c); });
    var srcs = sources(q, idx), said = [];
    srcs.forEach(function (s) {
      s.cells.forEach(function (f) {
        tdsOf(s.name, f).forEach(function (c) { c.classList.add("source"); lit.push(c); });
      });
      said.push(s.name + (s.what.charAt(0) === "[" ? "" : " ") + s.what);
    });
    var dims = q.dims || q.shape;
    var where = dims.length ? "[" + unflat(dims, idx).join(", ") + "]" : "";
    explain.textContent = q.name + where + " = " + td.title + (q.formula ? "   =   " + q.formula : "") +
      (said.length ? "   \u2190 " + said.join(", ") : "");
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function num(v) { return typeof v === "string" ? Number(v) : v; }
  function entry(q) { return byName[q.name] || (byName[q.name] = {q: q, cells: []}); }
  function kindOf(q) { return (q.kind === "input" || q.kind === "param") ? "given" : "computed"; }
  // one number of q: its full value in the title, 6 digits shown, data-q/data-k for the hover links
  function cellTd(q, k, cls) {
    var v = num(q.value[k]);
    var td = el("td", "cell " + cls, fmt(v));
    td.title = String(v);
    td.dataset.q = q.name;
    td.dataset.k = k;
    var e = entry(q);
    (e.cells[k] || (e.cells[k] = [])).push(td);
    if (drawing) drawing[q.name] = true;
    return td;
  }
  var layerById = {};  // "2" -> layer 2's description; nested layers too ("1m2": a residual block's second)
  (function index(layers) {
    (layers || []).forEach(function (info, k) {
      if (!info || typeof info !== "object" || Array.isArray(info)) return;
      layerById[String(info.layer === undefined ? k + 1 : info.layer)] = info;
      Object.keys(info).forEach(function (key) { if (Array.isArray(info[key])) index(info[key]); });
    });
  })(DATA.layers);
  function layerInfo(k) { return k === null || k === undefined ? null : layerById[String(k)] || null; }
  function dimsText(a) { return Array.isArray(a) ? a.join("\u00d7") : String(a); }
  var SKIP = {layer: 1, name: 1, kind: 1, input_shape: 1, output_shape: 1};
  function describeLayer(info) {
    var parts = [info.kind || info.name || "layer"];
    Object.keys(info).forEach(function (key) {
      var v = info[key];
      if (SKIP[key] || v === null || v === undefined) return;
      if (Array.isArray(v) && v.some(function (x) { return x && typeof x === "object" && x.kind; })) {
        v = v.map(function (x) { return x.kind; }).join(" \u2192 ");  // a block's layers: their kinds
      } else if (Array.isArray(v)) {
        v = v.every(function (x) { return typeof x === "number"; }) ? v.join("\u00d7") : JSON.stringify(v);
      } else if (typeof v === "object") v = JSON.stringify(v);
      parts.push(key.replace(/_/g, " ") + " " + v);
    });
    if (info.input_shape) parts.push("input " + dimsText(info.input_shape) + " \u2192 output " + dimsText(info.output_shape));
    return "layer " + (info.layer || "?") + ": " + parts.join("  \u00b7  ");
  }

  function head(q, box) {
    var h = el("div", "head");
    h.appendChild(el("span", "name", q.name));
    if (q.formula) h.appendChild(el("span", "formula", " = " + q.formula));
    if (q.article) h.appendChild(el("span", "article", "article: " + q.article));
    var dims = q.dims || q.shape;
    h.appendChild(el("span", "shape", dims.length ? dims.join("\u00d7") : "scalar"));
    box.appendChild(h);
    if (q.words) box.appendChild(el("div", "words", q.words));
  }
  function block(q, copy, tint) {
    var box = el("section", "quantity");
    box.dataset.q = q.name;
    if (copy) box.dataset.copy = "1";
    head(q, box);
    entry(q);
    if (q.layout === "maps" || q.layout === "kernel") heat(q, box); else matrix(q, box, tint);
    return box;
  }
  // tint: colour each cell by its value on a fixed scale (a gate: 0 to 1, tanh: -1 to 1)
  function matrix(q, box, tint) {
    var rows = q.shape.length === 2 ? q.shape[0] : 1, cols = q.shape.length ? q.shape[q.shape.length - 1] : 1;
    var table = el("table", "matrix"), body = el("tbody"), kind = kindOf(q);
    table.dataset.q = q.name;
    for (var i = 0; i < Math.min(rows, MAX_ROWS); i++) {
      var tr = el("tr");
      for (var j = 0; j < cols; j++) {
        var td = tr.appendChild(cellTd(q, i * cols + j, kind));
        if (tint) td.style.background = colour(num(q.value[i * cols + j]), 1, 0.6);
      }
      body.appendChild(tr);
    }
    table.appendChild(body);
    box.appendChild(table);
    if (rows > MAX_ROWS) box.appendChild(el("div", "note", "\u2026 " + (rows - MAX_ROWS) + " more rows not shown"));
  }
"""

_SCRIPT_END = r"""
  function render(k) {
    if (!DATA.steps.length) { view.textContent = "This trace has no steps."; return; }
    current = Math.max(0, Math.min(DATA.steps.length - 1, k));
    clear();
    byName = {};
    named = {};
    panels = [];
    var st = DATA.steps[current], section = null, group = null, told = {}, skip = {}, byKey = {};
    var frag = document.createDocumentFragment();
    st.quantities.forEach(function (q) { named[q.name] = q; entry(q); });
    frag.appendChild(el("h2", null, "Step " + st.step + (st.loss === null ? "" : "   \u00b7   loss = " + fmt(st.loss))));
    function heading(text, layer) {
      section = text;
      frag.appendChild(el("h3", "section", text));
      var info = layerInfo(layer);
      if (info && !told[layer] && /^forward/i.test(text)) {
        told[layer] = true;
        frag.appendChild(el("div", "layer-info", describeLayer(info)));
      }
    }
    st.quantities.forEach(function (q) {
      if (skip[q.name]) return;
      if (q.t !== null && q.t !== undefined && q.layer) {  // a per-step quantity: into its layer's time panel
        var back = /^backward/i.test(q.section), key = q.layer + (back ? "b" : "f"), p = byKey[key];
        if (!p) {
          var base = q.section.replace(/,\s*t = \d+/, "");
          if (base !== section) heading(base, q.layer);
          p = byKey[key] = {layer: q.layer, back: back, qs: [], box: frag.appendChild(el("div", "time-panel"))};
          panels.push(p);
          group = null;
        }
        p.qs.push(q);
        return;
      }
      if (q.section && q.section !== section) { heading(q.section, q.layer); group = null; }
      if (q.op === "bn_mean" && q.layer) {
        frag.appendChild(bnStats(q, skip));
        group = null;
        return;
      }
      if (!group) group = frag.appendChild(el("div", "group"));
      group.appendChild(block(q));
    });
    panels.forEach(function (p) { frame(p); showT(p, tNow[p.layer] || 1); });
    view.textContent = "";
    view.appendChild(frag);
    view.dataset.step = st.step;
    select.value = String(current);
    document.getElementById("step-loss").textContent = st.loss === null ? "" : "loss " + fmt(st.loss);
    document.getElementById("prev").disabled = current === 0;
    document.getElementById("next").disabled = current === DATA.steps.length - 1;
    Array.prototype.forEach.call(document.querySelectorAll(".loss-point"), function (p) {
      p.classList.toggle("current", +p.dataset.index === current);
    });
  }

  view.addEventListener("mouseover", function (ev) {
    var td = ev.target.closest ? ev.target.closest("td.cell") : null;
    if (td) highlight(td);
  });
  view.addEventListener("mouseleave", clear);
  select.addEventListener("change", function () { render(+select.value); });
  document.getElementById("prev").addEventListener("click", function () { render(current - 1); });
  document.getElementById("next").addEventListener("click", function () { render(current + 1); });
  Array.prototype.forEach.call(document.querySelectorAll(".loss-point"), function (p) {
    p.addEventListener("click", function () { render(+p.dataset.index); });
  });
  render(0);
})();
"""

#: the whole script: the links and the matrices, each layer kind's drawing, the step view
SCRIPT = _SCRIPT_START + KINDS_SCRIPT + _SCRIPT_END
