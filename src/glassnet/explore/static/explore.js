// The explorer's page: it asks the server (the glassnet engine) for every number and only draws them.
// No arithmetic on the model happens here: losses, predictions, weights and traces come from the JSON API.
"use strict";

const COLORS = ["#f59322", "#0877bd", "#3da35d", "#9c27b0", "#e53935", "#00897b", "#6d4c41", "#546e7a",
  "#c0ca33", "#5c6bc0"];
const GRID = 40;
const $ = (id) => document.getElementById(id);
const state = { id: null, info: null, data: null, history: [], playing: false, busy: false, csv: null,
  filename: "upload.csv", traced: null, run: 0 };

// -- talking to the server ----------------------------------------------------------------------------
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(path, opts);
  let out = null;
  try { out = await r.json(); } catch (e) { out = { error: `${r.status} ${r.statusText}` }; }
  if (!r.ok) { const err = new Error(out.error || r.statusText); err.status = r.status; throw err; }
  return out;
}
const sessionPath = (p) => `/api/session/${state.id}${p}`;

function showMessage(text) {
  const m = $("message");
  m.textContent = text || "";
  m.hidden = !text;
}

function readConfig() {
  const f = $("config").elements;
  const num = (name) => (f[name].value.trim() === "" ? null : Number(f[name].value));
  const hidden = f.hidden.value.split(",").map((s) => s.trim()).filter((s) => s !== "")
    .map((s) => (/^-?\d+$/.test(s) ? Number(s) : s));
  const config = { dataset: f.dataset.value, noise: num("noise"), n_samples: num("n_samples"),
    test_fraction: num("test_fraction"), seed: num("seed"), hidden, activation: f.activation.value,
    optimizer: f.optimizer.value, learning_rate: num("learning_rate"), batch_size: num("batch_size"),
    l2: num("l2"), dropout: num("dropout") };
  if (config.dataset === "csv") { config.csv = state.csv || ""; config.filename = state.filename; }
  return config;
}

// -- sessions -------------------------------------------------------------------------------------------
async function newSession() {
  const wasPlaying = state.playing;
  pause();
  const old = state.id;
  let info;
  try {
    info = await api("POST", "/api/session", readConfig());
  } catch (e) {
    showMessage(e.message);
    return false;
  }
  showMessage("");
  if (old) api("DELETE", `/api/session/${old}`).catch(() => {});
  state.id = info.id; state.info = info; state.traced = null;
  const [data, history] = await Promise.all([api("GET", sessionPath("/data")), api("GET", sessionPath("/history"))]);
  state.data = data; state.history = history;
  resetTracePanel();
  showReadout(history[history.length - 1]);
  await refreshViews();
  document.body.dataset.session = info.id;  // set last: the page shows this session everywhere now
  if (wasPlaying) play();
  return true;
}

async function step(n, trace) {
  const out = await api("POST", sessionPath("/step"), { steps: n, trace: !!trace });
  state.history.push(out);
  showReadout(out);
  await refreshViews();
  return out;
}

async function refreshViews() {
  const [boundary, weights] = await Promise.all([api("GET", sessionPath(`/boundary?n=${GRID}`)),
    api("GET", sessionPath("/weights"))]);
  drawBoundary(boundary);
  drawLoss();
  drawNetwork(weights);
}

// -- play, pause, step ----------------------------------------------------------------------------------
function pause() {
  state.playing = false;
  $("play").textContent = "Play";
}

async function play() {
  if (state.playing) { pause(); return; }
  state.playing = true;
  const run = ++state.run;  // a loop of an earlier Play stops at its next turn
  $("play").textContent = "Pause";
  while (state.playing && state.id && run === state.run) {
    const n = Math.max(1, Math.min(1000, Number($("speed").value) || 1));
    try {
      await step(n, false);
    } catch (e) {
      showMessage(e.message);
      pause();
    }
  }
}

async function stepOnce() {
  pause();
  let out;
  try {
    out = await step(1, true);
  } catch (e) {
    showMessage(e.message);
    return;
  }
  if (out.trace_error) { traceUnavailable(out.trace_error); return; }
  state.traced = out.traced_step;
  const s = out.traced_step;
  $("trace-status").className = "";
  $("trace-status").textContent = `Step ${s}: every number of it, as the engine computed it (the trace names ` +
    `it step 1: it is recorded from the model as step ${s} began). Hover a cell to see where it came from.`;
  const frame = $("trace-frame");
  frame.hidden = false;
  frame.src = sessionPath(`/trace.html?step=${s}`);
  for (const [id, file] of [["dl-xlsx", "trace.xlsx"], ["dl-json", "trace.json"], ["dl-model", "model.glassnet"]]) {
    const b = $(id);
    b.disabled = false;
    b.title = id === "dl-model" ? `the model as step ${s} began` : `step ${s}`;
    b.dataset.href = sessionPath(`/${file}?step=${s}`);
  }
}

function resetTracePanel() {
  $("trace-frame").hidden = true;
  $("trace-frame").removeAttribute("src");
  for (const id of ["dl-xlsx", "dl-json", "dl-model"]) { $(id).disabled = true; delete $(id).dataset.href; }
  if (state.info && state.info.trace_error) { traceUnavailable(state.info.trace_error); return; }
  $("trace-status").className = "";
  $("trace-status").textContent = "Press “Step once” to take one training step and see every number of it.";
  for (const id of ["dl-xlsx", "dl-json", "dl-model"]) $(id).title = "take a step with “Step once” first";
}

function traceUnavailable(reason) {
  $("trace-status").className = "unavailable";
  $("trace-status").textContent = `This network cannot be traced: ${reason}`;
  $("trace-frame").hidden = true;
  for (const id of ["dl-xlsx", "dl-json", "dl-model"]) { $(id).disabled = true; $(id).title = reason; }
}

// -- drawing what the server returned -------------------------------------------------------------------
function setNumber(id, value, digits) {
  const el = $(id);
  el.dataset.value = value === null || value === undefined ? "" : String(value);
  el.textContent = value === null || value === undefined ? "–" :
    (digits ? Number(value).toPrecision(digits) : String(value));
  el.title = el.dataset.value;
}

function showReadout(h) {
  setNumber("step-count", h.step);
  setNumber("epoch", h.epoch);
  setNumber("train-loss", h.train_loss, 6);
  setNumber("test-loss", h.test_loss, 6);
  setNumber("train-acc", h.train_accuracy, 4);
  setNumber("test-acc", h.test_accuracy, 4);
}

function mix(hex, t) {  // the class colour faded towards white; t in [0, 1] is how sure the model is
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `rgb(${c.map((v) => Math.round(255 + (v - 255) * t)).join(",")})`;
}

function drawBoundary(b) {
  const canvas = $("boundary");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!b.available) {
    ctx.fillStyle = "#666";
    ctx.font = "13px sans-serif";
    ctx.fillText(`No boundary: ${b.reason}`.slice(0, 60), 10, 24);
    return;
  }
  const k = state.data.classes.length;
  const cw = canvas.width / b.n, ch = canvas.height / b.n;
  for (let i = 0; i < b.n; i++) {
    for (let j = 0; j < b.n; j++) {
      const sure = (b.probability[i][j] - 1 / k) / (1 - 1 / k);  // 0 on the boundary, 1 when certain
      ctx.fillStyle = mix(COLORS[b.predicted[i][j] % COLORS.length], 0.15 + 0.55 * sure);
      ctx.fillRect(j * cw, i * ch, cw + 1, ch + 1);
    }
  }
  const [[x0, x1], [y0, y1]] = state.data.extent;
  const px = (x) => ((x - x0) / (x1 - x0)) * canvas.width;
  const py = (y) => canvas.height - ((y - y0) / (y1 - y0)) * canvas.height;
  for (const [part, ring] of [["train", "#fff"], ["test", "#000"]]) {
    const { X, y } = state.data[part];
    for (let r = 0; r < X.length; r++) {
      ctx.beginPath();
      ctx.arc(px(X[r][0]), py(X[r][1]), 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = COLORS[y[r] % COLORS.length];
      ctx.fill();
      ctx.strokeStyle = ring;
      ctx.lineWidth = 1;
      ctx.stroke();
    }
  }
}

const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [a, v] of Object.entries(attrs)) e.setAttribute(a, v);
  if (parent) parent.appendChild(e);
  return e;
}

function drawLoss() {
  const svg = $("loss-chart");
  svg.replaceChildren();
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), L = 44, B = 22, T = 8, R = 8;
  const h = state.history;
  const values = h.flatMap((e) => [e.train_loss, e.test_loss]).filter((v) => v !== null && isFinite(v));
  if (!values.length) return;
  const top = Math.max(...values) * 1.05 || 1, last = h[h.length - 1].step || 1;
  const sx = (s) => L + (s / last) * (W - L - R), sy = (v) => T + (1 - v / top) * (H - T - B);
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }, svg);
  el("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }, svg);
  el("text", { x: 4, y: T + 10, "font-size": 10 }, svg).textContent = top.toPrecision(3);
  el("text", { x: 4, y: H - B, "font-size": 10 }, svg).textContent = "0";
  el("text", { x: W - R - 60, y: H - 6, "font-size": 10 }, svg).textContent = `step ${last}`;
  for (const [key, color] of [["train_loss", "#333"], ["test_loss", "#c2185b"]]) {
    const pts = h.filter((e) => e[key] !== null).map((e) => `${sx(e.step)},${sy(e[key])}`).join(" ");
    if (pts) el("polyline", { points: pts, fill: "none", stroke: color, "stroke-width": 1.5, class: key }, svg);
  }
}

function drawNetwork(w) {
  const svg = $("network");
  svg.replaceChildren();
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const cols = w.sizes.length;
  const x = (c) => 30 + (c * (W - 60)) / Math.max(cols - 1, 1);
  const y = (c, i) => (H * (i + 1)) / (w.sizes[c] + 1);
  const all = w.layers.flatMap((l) => l.W.flat().map(Math.abs));
  const big = Math.max(...all, 1e-12);
  w.layers.forEach((layer, c) => {
    layer.W.forEach((row, i) => row.forEach((v, j) => {
      const line = el("line", { x1: x(c), y1: y(c, i), x2: x(c + 1), y2: y(c + 1, j),
        stroke: v >= 0 ? "#0877bd" : "#f59322", "stroke-width": (0.3 + 4 * Math.abs(v) / big).toFixed(2),
        "data-w": `W${c + 1}[${i},${j}]`, "data-value": String(v) }, svg);
      el("title", {}, line).textContent = `W${c + 1}[${i},${j}] = ${v}`;
    }));
  });
  w.sizes.forEach((n, c) => {
    for (let i = 0; i < n; i++) {
      const node = el("circle", { cx: x(c), cy: y(c, i), r: 7, fill: "#fff", stroke: "#333" }, svg);
      const label = c === 0 ? `input ${i + 1}` : `layer ${c}, unit ${i + 1} (${w.layers[c - 1].activation}); ` +
        `b${c}[${i}] = ${w.layers[c - 1].b[i]}`;
      el("title", {}, node).textContent = label;
    }
  });
}

// -- wiring ---------------------------------------------------------------------------------------------
function download(id) {
  const href = $(id).dataset.href;
  if (!href) return;
  const a = document.createElement("a");
  a.href = href;
  a.download = "";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

let pending = null;
function configChanged() {  // a new setting makes a new session (debounced while typing)
  clearTimeout(pending);
  pending = setTimeout(newSession, 300);
}

$("config").addEventListener("change", (e) => {
  if (e.target.id === "upload") return;
  $("upload-label").hidden = $("config").elements.dataset.value !== "csv";
  if ($("config").elements.dataset.value === "csv" && state.csv === null) {
    showMessage("Choose a CSV file: a header row, two numeric feature columns, then the label column.");
    return;
  }
  configChanged();
});
$("upload").addEventListener("change", async () => {
  const file = $("upload").files[0];
  if (!file) return;
  if (file.size > 1000000) {  // the server refuses it too (413); saying so here saves sending it
    showMessage(`${file.name} is ${file.size.toLocaleString()} bytes; the explorer takes CSV files up to ` +
      "1,000,000 bytes and 5,000 rows.");
    return;
  }
  state.csv = await file.text();
  state.filename = file.name;
  await newSession();
});
$("reset").addEventListener("click", newSession);
$("play").addEventListener("click", play);
$("step").addEventListener("click", stepOnce);
for (const id of ["dl-xlsx", "dl-json", "dl-model"]) $(id).addEventListener("click", () => download(id));

newSession().then(() => { document.body.dataset.ready = "1"; });
