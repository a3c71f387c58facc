"""The part of the trace page's script that draws each layer kind its own way.

- convolutions: a batch of feature maps ``(N, L, C)`` or ``(N, H, W, C)`` as one heatmap per channel and
  sample, a kernel ``(K, C_in, F)`` or ``(KH, KW, C_in, F)`` as one per input channel and filter, each
  quantity on its own diverging colour scale (the numbers stay in the cells' titles, and a button shows
  them in the cells); hovering an output cell outlines its window in the input and the kernel, through the
  same provenance as every other cell;
- BatchNormalization: a table of the batch mean, variance and ``1/σ`` per channel, with the moving
  statistics before and after the step;
- recurrent layers: a panel per direction of the pass (forward, back through time) with the unrolled
  network, a slider over t, and step t's quantities grouped as pre-activations, gates and state, plus the
  values of other steps that step t reads (``h2_t2`` and ``c2_t2`` for step 3), so that hovering lights
  them too.

``KINDS_SCRIPT`` is a fragment of the function body in :data:`glassnet.trace.html_page.SCRIPT`: it uses
that script's helpers (``el``, ``cellTd``, ``block``, ``fmt``...) and state (``named``, ``panels``,
``tNow``, ``byName``).
"""

__all__ = ["KINDS_SCRIPT"]

KINDS_SCRIPT = r"""
  var MAX_HEAT = 20000;  // cells drawn per heatmap quantity; the remaining samples are summarized
  // diverging colour: blue below zero, white at zero, red above, full at the largest |value| of the quantity
  function colour(v, max, strength) {
    if (isNaN(v)) return "#bdbdbd";
    var a = (!isFinite(v) ? 1 : max > 0 ? Math.min(1, Math.abs(v) / max) : 0) * (strength || 1);
    var end = v < 0 ? [33, 102, 172] : [178, 24, 43];
    return "rgb(" + end.map(function (e) { return Math.round(255 + (e - 255) * a); }).join(",") + ")";
  }
  // a batch of feature maps (N, L, C) / (N, H, W, C): one heatmap per sample and channel; a convolution
  // kernel (K, C_in, F) / (KH, KW, C_in, F): one per input channel and filter
  function heat(q, box) {
    var d = q.dims, kernel = q.layout === "kernel", kind = kindOf(q) + " heat";
    var sp = kernel ? d.slice(0, d.length - 2) : d.slice(1, d.length - 1);
    var mh = sp.length === 2 ? sp[0] : 1, mw = sp.length === 2 ? sp[1] : sp[0];
    var nRows = kernel ? d[d.length - 2] : d[0], nCols = d[d.length - 1];
    var shown = Math.max(1, Math.min(nRows, Math.floor(MAX_HEAT / Math.max(1, mh * mw * nCols))));
    var max = 0;
    q.value.forEach(function (v) { v = Math.abs(num(v)); if (isFinite(v) && v > max) max = v; });
    var px = Math.max(6, Math.min(18, Math.floor(150 / Math.max(mh, mw))));
    var info = layerInfo(q.layer);
    var filters = kernel || (info && info.filters === nCols &&
      new RegExp("^(d?[ZA]|slope)" + q.layer + "$").test(q.name));
    var scale = el("div", "scale");
    scale.appendChild(el("span", null, fmt(-max)));
    scale.appendChild(el("span", "bar"));
    scale.appendChild(el("span", null, fmt(max)));
    scale.appendChild(el("span", null, kernel ? "one " + dimsText(sp) + " kernel per input channel and filter"
      : "one " + (sp.length === 2 ? dimsText(sp) : sp[0] + "-step") + " map per channel and sample"));
    var button = el("button", "numbers-toggle", "show numbers");
    button.type = "button";
    button.addEventListener("click", function () {
      button.textContent = box.classList.toggle("numbers") ? "hide numbers" : "show numbers";
    });
    scale.appendChild(button);
    box.appendChild(scale);
    // kernels: a row per input channel, a column per filter; feature maps: a row per channel, a column per sample
    var grid = el("table", "maps"), body = el("tbody"), top = el("tr");
    var gRows = kernel ? shown : nCols, gCols = kernel ? nCols : shown;
    var rowName = kernel ? "in " : filters ? "filter " : "channel ", colName = kernel ? "filter " : "sample ";
    grid.dataset.q = q.name;
    top.appendChild(el("th"));
    for (var c = 0; c < gCols; c++) top.appendChild(el("th", null, colName + c));
    body.appendChild(top);
    for (var r = 0; r < gRows; r++) {
      var tr = el("tr");
      tr.appendChild(el("th", null, rowName + r));
      for (c = 0; c < gCols; c++) {
        var holder = el("td", "map"), map = el("table", "heat");
        map.style.setProperty("--px", px + "px");
        for (var i = 0; i < mh; i++) {
          var row = el("tr");
          for (var j = 0; j < mw; j++) {
            var pos = sp.length === 2 ? [i, j] : [j];
            var k = flat(d, kernel ? pos.concat([r, c]) : [c].concat(pos, [r]));
            var td = cellTd(q, k, kind);
            var v = num(q.value[k]);
            td.style.background = colour(v, max);
            if (max > 0 && Math.abs(v) > 0.6 * max) td.style.color = "#fff";  // numbers readable on dark cells
            row.appendChild(td);
          }
          map.appendChild(row);
        }
        holder.appendChild(map);
        tr.appendChild(holder);
      }
      body.appendChild(tr);
    }
    grid.appendChild(body);
    box.appendChild(grid);
    if (shown < nRows) {
      box.appendChild(el("div", "note", "\u2026 " + (nRows - shown) + " more " + (kernel ? "input channels" : "samples") +
        " not shown"));
    }
  }

  // BatchNormalization: the batch's statistics per channel, and the moving statistics before and after
  function bnStats(q, skip) {
    var k = q.name.replace(/^batch_mean/, ""), info = layerInfo(k) || {}, box = el("div", "bn-stats");
    var C = q.value.length;  // k: the layer's id, "2" or a nested "1m3"
    box.dataset.layer = k;
    var x = named[q.inputs[0]], M = x ? x.value.length / C : null;
    box.appendChild(el("h4", null, "Batch statistics of layer " + k + " (" + (info.kind || "BatchNormalization") + ")" +
      (M ? ": each channel's mean and variance over its M = " + M + " values in this batch" : "") +
      (info.momentum !== undefined ? "; moving statistics with momentum " + info.momentum : "")));
    var table = el("table"), body = el("tbody"), top = el("tr");
    top.appendChild(el("th"));
    for (var c = 0; c < C; c++) top.appendChild(el("th", null, "channel " + c));
    body.appendChild(top);
    [["batch_mean" + k, "batch mean", "batch"], ["batch_var" + k, "batch variance", "batch"],
     ["istd" + k, "1 / \u221a(variance + \u03b5)", ""],
     ["moving_mean" + k, "moving mean, before", "sep"], ["moving_mean" + k + "_new", "moving mean, after", ""],
     ["moving_var" + k, "moving variance, before", "sep"], ["moving_var" + k + "_new", "moving variance, after", ""]
    ].forEach(function (r) {
      var s = named[r[0]];
      if (!s || s.value.length !== C) return;
      if (kindOf(s) === "computed") skip[s.name] = true;  // drawn here instead of in the section's flow
      var tr = el("tr", r[2] || null), th = el("th");
      tr.dataset.q = s.name;
      th.appendChild(el("b", null, r[1]));
      th.appendChild(el("div", "formula", s.name + (s.formula ? " = " + s.formula : "")));
      tr.appendChild(th);
      for (var c2 = 0; c2 < C; c2++) tr.appendChild(cellTd(s, c2, kindOf(s)));
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.appendChild(table);
    return box;
  }

  // recurrent layers: the unrolled network, a slider over t, and step t's quantities
  var SVGNS = "http://www.w3.org/2000/svg";
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (a) { e.setAttribute(a, attrs[a]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function arrow(g, x1, y1, x2, y2) {
    g.appendChild(sv("line", {x1: x1, y1: y1, x2: x2, y2: y2, "class": "arrow", "stroke-width": 1.3}));
    var a = Math.atan2(y2 - y1, x2 - x1), s = 6, pts = [[x2, y2]];
    [-0.45, 0.45].forEach(function (o) { pts.push([x2 - s * Math.cos(a + o), y2 - s * Math.sin(a + o)]); });
    g.appendChild(sv("polygon", {points: pts.map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" "),
      "class": "arrow"}));
  }
  function labelled(g, x, y, w, h, label, cls) {
    g.appendChild(sv("rect", {x: x, y: y, width: w, height: h, rx: 4, "class": cls || ""}));
    g.appendChild(sv("text", {x: x + w / 2, y: y + h / 2 + 4, "text-anchor": "middle"}, label));
  }
  function unrolled(p, info) {
    var T = p.T, colW = Math.max(48, Math.min(120, Math.floor(960 / T))), left = 84, right = 78;
    var bw = Math.round(colW * 0.62), pad = (colW - bw) / 2, gap = colW - bw;
    var w = left + T * colW + right, h = 150, bh = 24, yTop = 8, yCell = 62, yBot = 116, y = yCell + bh / 2;
    var kind = info.kind || "cell", b = p.back;
    var lstm = p.qs.some(function (q) { return stemOf(q.name) === "c"; });  // a cell state travels with h
    var svg = sv("svg", {"class": "unrolled", width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img",
      "aria-label": kind + " unrolled over " + T + " time steps" + (b ? ", gradients flowing back" : "")});
    var carry = b ? (lstm ? "dh, dc" : "dh") : (lstm ? "h, c" : "h"), g0 = sv("g", {});
    if (!b) {
      labelled(g0, 4, yCell, left - 30, bh, lstm ? "h\u2080 c\u2080" : "h\u2080");
      arrow(g0, left - 26, y, left + pad, y);
    }
    svg.appendChild(g0);
    for (var t = 1; t <= T; t++) {
      var x = left + (t - 1) * colW, bx = x + pad, cx = x + colW / 2, g = sv("g", {"class": "time-col", "data-t": t});
      g.appendChild(sv("title", {}, "t = " + t + " (click to show this step)"));
      labelled(g, bx, yTop, bw, bh, (b ? "dh" : "h") + t);
      var name = kind + " " + t;  // 11px monospace: about 6.7px a character
      labelled(g, bx, yCell, bw, bh, name.length * 6.7 + 8 <= bw ? name : String(t), "cellbox");
      labelled(g, bx, yBot, bw, bh, (b ? "dx" : "x") + t);
      if (b) { arrow(g, cx, yTop + bh, cx, yCell); arrow(g, cx, yCell + bh, cx, yBot); }
      else { arrow(g, cx, yBot, cx, yCell + bh); arrow(g, cx, yCell, cx, yTop + bh); }
      if (t < T) {  // the state passed between steps t and t+1
        if (b) arrow(g, bx + colW, y, bx + bw, y); else arrow(g, bx + bw, y, bx + colW, y);
        if (gap >= 34) g.appendChild(sv("text", {x: x + colW, y: y - 6, "text-anchor": "middle"}, carry));
      }
      svg.appendChild(g);
    }
    var xe = left + T * colW, ge = sv("g", {}), out = "A" + p.layer;
    labelled(ge, xe + 10, yTop, right - 16, bh, b ? "d" + out : out);
    if (b) arrow(ge, xe + 10, yTop + bh / 2, xe - pad, yTop + bh / 2);
    else arrow(ge, xe - pad, yTop + bh / 2, xe + 10, yTop + bh / 2);
    ge.appendChild(sv("text", {x: xe + 10 + (right - 16) / 2, y: yTop + bh + 14, "text-anchor": "middle"},
      info.return_sequences ? "every h" : "h" + T + " only"));
    svg.appendChild(ge);
    Array.prototype.forEach.call(svg.querySelectorAll("g.time-col"), function (g) {
      g.addEventListener("click", function () { setT(p.layer, +g.dataset.t); });
    });
    return svg;
  }
  var ROLES = ["pre-activations", "gates", "state"];
  // a per-step name without its layer number, direction and step: zi2_t3 -> zi, h1b_t2 -> h
  function stemOf(name) {
    var m = name.replace(/_t\d+$/, "").match(/^([A-Za-z_]+?)\d/);
    return m ? m[1] : name;
  }
  function role(q) {
    if (/^(rnn_pre|gru_hn|gru_zn)$/.test(q.op)) return 0;
    var stem = stemOf(q.name);
    return stem === "h" || stem === "c" ? 2 : 1;
  }
  function frame(p) {
    var info = layerInfo(p.layer) || {};
    p.T = 0;
    p.qs.forEach(function (q) { if (q.t > p.T) p.T = q.t; });
    p.box.dataset.layer = p.layer;
    p.box.dataset.dir = p.back ? "backward" : "forward";
    var top = el("div", "time-head");
    top.appendChild(el("b", null, (info.kind || "recurrent layer") + " (layer " + p.layer + ")" +
      (p.back ? ": back through time, t = " + p.T + " down to 1" : ": unrolled over " + p.T + " time steps")));
    var slider = el("input", "time-slider");
    slider.type = "range";
    slider.min = "1";
    slider.max = String(p.T);
    slider.step = "1";
    slider.setAttribute("aria-label", "time step of layer " + p.layer);
    slider.addEventListener("input", function () { setT(p.layer, +slider.value); });
    top.appendChild(slider);
    p.label = top.appendChild(el("span", "time-label"));
    p.slider = slider;
    p.box.appendChild(top);
    var wrap = el("div", "unrolled-wrap");
    p.svg = wrap.appendChild(unrolled(p, info));
    p.box.appendChild(wrap);
    p.body = p.box.appendChild(el("div", "time-body"));
    p.names = {};
  }
  function showT(p, t) {
    t = Math.max(1, Math.min(p.T, t));
    p.slider.value = String(t);
    p.label.textContent = "t = " + t + " of " + p.T;
    p.box.dataset.t = t;
    Array.prototype.forEach.call(p.svg.querySelectorAll("g.time-col"), function (g) {
      g.classList.toggle("current", +g.dataset.t === t);
    });
    p.body.textContent = "";
    Object.keys(p.names).forEach(function (n) {  // forget the cells just removed
      var e = byName[n];
      if (e) e.cells = e.cells.map(function (l) { return l && l.filter(function (td) { return td.isConnected; }); });
    });
    drawing = p.names = {};
    var here = p.qs.filter(function (q) { return q.t === t; }), carried = {}, seen = {};
    here.forEach(function (q) {
      q.inputs.forEach(function (n) {  // per-step values of other steps that step t reads: shown here as well
        var s = named[n];
        if (s && s.t !== null && s.t !== undefined && s.t !== t && !seen[n]) {
          seen[n] = true;
          (carried[s.t] = carried[s.t] || []).push(s);
        }
      });
    });
    Object.keys(carried).map(Number).sort(function (a, b) { return a - b; }).forEach(function (tt) {
      var wrap = p.body.appendChild(el("div", "carried"));
      wrap.dataset.t = tt;
      wrap.appendChild(el("h4", null, "from t = " + tt + " (" + (!p.back ? "carried in" : tt > t ? "carried back" :
        "forward pass") + ")"));
      var g = wrap.appendChild(el("div", "group"));
      carried[tt].forEach(function (q) { g.appendChild(block(q, true)); });
    });
    var groups = [[], [], []];
    here.forEach(function (q) { groups[p.back ? 0 : role(q)].push(q); });
    groups.forEach(function (qs, r) {
      if (!qs.length) return;
      var part = p.body.appendChild(el("div", "step-part"));
      part.appendChild(el("h4", null, "t = " + t + (p.back ? ": gradients" : ": " + ROLES[r])));
      var g = part.appendChild(el("div", "group step-t"));
      qs.forEach(function (q) { g.appendChild(block(q, false, !p.back && r === 1)); });
    });
    drawing = null;
  }
  function setT(layer, t) {
    tNow[layer] = t;
    clear();
    panels.forEach(function (p) { if (p.layer === layer) showT(p, t); });
  }

"""
