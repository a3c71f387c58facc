"""The page around a trace: its HTML template with inline CSS, and the script that draws it.

Kept apart from :mod:`glassnet.trace.html` (which turns the records into data) because it is text for a
browser, not Python. ``PAGE`` is a ``str.format`` template (CSS braces doubled); ``SCRIPT`` reads the
JSON in ``<script id="trace-data">`` and draws the selected step, the hover links and the chart's
current point. Which cells a cell came from is decided here, from each quantity's ``op``, ``inputs``
and shapes (see html.py's docstring for the rules).
"""

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

SCRIPT = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("trace-data").textContent);
  var MAX_ROWS = 200;  // rows drawn per matrix; the rest are summarized
  var view = document.getElementById("step-view");
  var select = document.getElementById("step-select");
  var explain = document.getElementById("explain");
  var byName = {};  // name -> {q: quantity, cells: [td by flat index]}
  var lit = [];
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
  // [{name, cells: [flat index, ...]}] that cell idx of quantity q was computed from
  function sources(q, idx) {
    var o = unflat(q.shape, idx), ins = [], res = [], start = 0, plan = null;
    if (q.src) {  // the cells the workbook formula of this cell reads (worked out from the formula)
      (q.src[idx] || []).forEach(function (s) {
        var n = q.inputs[s[0]];
        if (byName[n] && n !== q.name) res.push({name: n, cells: s[1], what: s[1].length === 1 ? "[" +
          unflat(byName[n].q.shape, s[1][0]).join(", ") + "]" : "(" + s[1].length + " cells)"});
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
  function highlight(td) {
    clear();
    var entry = byName[td.dataset.q];
    if (!entry) return;
    var q = entry.q, idx = +td.dataset.k;
    td.classList.add("focus");
    lit.push(td);
    var srcs = sources(q, idx), said = [];
    srcs.forEach(function (s) {
      var cells = byName[s.name].cells;
      s.cells.forEach(function (f) { if (cells[f]) { cells[f].classList.add("source"); lit.push(cells[f]); } });
      said.push(s.name + (s.what.charAt(0) === "[" ? "" : " ") + s.what);
    });
    var where = q.shape.length ? "[" + unflat(q.shape, idx).join(", ") + "]" : "";
    explain.textContent = q.name + where + " = " + td.title + (q.formula ? "   =   " + q.formula : "") +
      (said.length ? "   \u2190 " + said.join(", ") : "");
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function block(q) {
    var box = el("section", "quantity");
    box.dataset.q = q.name;
    var head = el("div", "head");
    head.appendChild(el("span", "name", q.name));
    if (q.formula) head.appendChild(el("span", "formula", " = " + q.formula));
    if (q.article) head.appendChild(el("span", "article", "article: " + q.article));
    head.appendChild(el("span", "shape", q.shape.length ? q.shape.join("\u00d7") : "scalar"));
    box.appendChild(head);
    if (q.words) box.appendChild(el("div", "words", q.words));
    var rows = q.shape.length === 2 ? q.shape[0] : 1, cols = q.shape.length ? q.shape[q.shape.length - 1] : 1;
    var table = el("table", "matrix"), body = el("tbody"), cells = [];
    table.dataset.q = q.name;
    var kind = (q.kind === "input" || q.kind === "param") ? "given" : "computed";
    for (var i = 0; i < Math.min(rows, MAX_ROWS); i++) {
      var tr = el("tr");
      for (var j = 0; j < cols; j++) {
        var k = i * cols + j, v = q.value[k];
        if (typeof v === "string") v = Number(v);
        var td = el("td", "cell " + kind, fmt(v));
        td.title = String(v);
        td.dataset.q = q.name;
        td.dataset.k = k;
        cells[k] = td;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    table.appendChild(body);
    box.appendChild(table);
    if (rows > MAX_ROWS) box.appendChild(el("div", "note", "\u2026 " + (rows - MAX_ROWS) + " more rows not shown"));
    byName[q.name] = {q: q, cells: cells};
    return box;
  }
  function render(k) {
    if (!DATA.steps.length) { view.textContent = "This trace has no steps."; return; }
    current = Math.max(0, Math.min(DATA.steps.length - 1, k));
    clear();
    byName = {};
    var st = DATA.steps[current], section = null, frag = document.createDocumentFragment();
    frag.appendChild(el("h2", null, "Step " + st.step + (st.loss === null ? "" : "   \u00b7   loss = " + fmt(st.loss))));
    var group = null;
    st.quantities.forEach(function (q) {
      if (!group || (q.section && q.section !== section)) {
        if (q.section && q.section !== section) { section = q.section; frag.appendChild(el("h3", "section", section)); }
        group = frag.appendChild(el("div", "group"));
      }
      group.appendChild(block(q));
    });
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
