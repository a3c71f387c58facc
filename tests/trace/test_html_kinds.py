"""The HTML trace of every layer kind, opened in headless Chromium (Debian's package, driven by Playwright).

Each preset's page: no console error, no request leaving the file, every cell's title the engine's float64
exactly. Convolutions are drawn as heatmaps (one per channel and sample, one per input channel and filter for
a kernel) and hovering an output cell lights exactly its kernel window, the kernel and the bias, worked out
here by hand from the layer's geometry and checked against the workbook-formula provenance as well. A
recurrent layer is drawn once per time step behind a slider; BatchNormalization's batch statistics stand in a
table of their own with the moving statistics before and after. Screenshots of the cnn-tiny and lstm-tiny
pages are kept in test-artifacts/ (git-ignored); with GLASSNET_DOCS_IMG=1 the README's cropped copies in
docs/img/ are written too.
"""

import io
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_html import Page

import glassnet as gn
from glassnet.trace.html import _conv_kernels, _layout, _runs, to_html
from glassnet.trace.presets import PRESETS
from glassnet.trace.provenance import provenance

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GLASSNET_ARTIFACTS", ROOT / "test-artifacts"))
STEP_SUFFIX = re.compile(r"_t(\d+)$")


@pytest.fixture(scope="module")
def traces():
    """Two recorded steps of every preset, recorded once for the module."""
    out = {}
    for name in PRESETS:
        model, X, y = gn.trace.preset(name)
        out[name] = gn.trace.record(model, X, y, steps=2)
    return out


@pytest.fixture(scope="module")
def pages(browser, traces, tmp_path_factory):
    """Each preset's page, opened lazily and closed at the end of the module."""
    folder, opened = tmp_path_factory.mktemp("kinds"), {}

    def open_page(name):
        if name not in opened:
            path = folder / f"{name}.html"
            traces[name].to_html(path)
            opened[name] = Page(browser, path)
        return opened[name]

    yield open_page
    for page in opened.values():
        page.page.close()


def cells(page):
    """{(quantity, flat index): [(text, title, classes)]} of every cell drawn (a value may be drawn twice)."""
    out = {}
    for q, k, text, title, cls in page.cells():
        out.setdefault((q, k), []).append((text, title, cls))
    return out


def check_cells(drawn, step):
    """Every drawn cell's title is the engine's float64 exactly and its text that number to 6 digits."""
    assert drawn, "no cells on the page"
    for (name, k), shown in drawn.items():
        engine = float(np.ravel(step[name].value)[k])
        for text, title, _ in shown:
            assert float(title) == engine, f"step {step.step} {name}[{k}]: page {title}, engine {engine!r}"
            assert math.isclose(float(text), engine, rel_tol=5e-6, abs_tol=1e-300), (name, k, text, engine)


def sliders(page):
    return page.page.eval_on_selector_all("input.time-slider", "s => s.map(e => +e.max)")


def set_time(page, t, k=0):
    """Move the k-th time slider to t with the keyboard, as a reader would."""
    slider = page.page.locator("input.time-slider").nth(k)
    slider.focus()
    page.page.keyboard.press("Home")
    for _ in range(t - 1):
        page.page.keyboard.press("ArrowRight")


def lit(page, name, index, shape):
    """The cells lit when hovering ``name`` at multi-index ``index``, as {quantity: sorted flat indices}."""
    page.hover(name, int(np.ravel_multi_index(index, shape)))
    out = {}
    for q, k in page.classed("source"):
        out.setdefault(q, set()).add(k)
    return {q: sorted(v) for q, v in out.items()}


def from_provenance(step, name, index):
    q = step[name]
    values = {s.name: s.value for s in step.quantities}
    links = provenance(q, values)[int(np.ravel_multi_index(index, np.shape(q.value)))]
    return {q.inputs[i]: sorted(cells) for i, cells in links}


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_page_opens_offline_and_shows_the_engines_numbers(pages, traces, name):
    page, step = pages(name), traces[name].steps[0]
    assert page.errors == [], page.errors
    assert page.blocked == [] and all(u.startswith(("file:", "data:")) for u in page.requests), page.requests
    drawn = cells(page)
    layers = page.page.eval_on_selector_all("input.time-slider", "s => s.map(e => e.closest('.time-panel').dataset.layer)")
    for k, T in enumerate(sliders(page)):  # a recurrent layer's steps are drawn one at a time, all its panels at once
        for t in range(T, 1, -1) if layers[k] not in layers[:k] else ():
            set_time(page, t, k)
            for q, i, text, title, cls in page.page.eval_on_selector_all(
                    ".time-panel td.cell", "tds => tds.map(td => [td.dataset.q, +td.dataset.k, td.textContent, td.title, "
                    "td.className])"):
                drawn.setdefault((q, i), []).append((text, title, cls))
    check_cells(drawn, step)
    assert {q for q, _ in drawn} == set(step.names()), f"not shown: {set(step.names()) - {q for q, _ in drawn}}"
    assert {key for key in drawn} == {(q.name, k) for q in step.quantities for k in range(np.size(q.value))}
    assert page.errors == []


def test_conv2d_maps_and_kernels_are_heatmaps(pages, traces):
    page, step = pages("cnn-tiny"), traces["cnn-tiny"].steps[0]
    N, H, W, F = step["Z1"].value.shape
    # one heatmap per (filter, sample), each H×W in C order; the grid's rows are filters, its columns samples
    maps = page.page.eval_on_selector_all(
        "table.maps[data-q='Z1'] table.heat",
        "ts => ts.map(t => [...t.rows].map(r => [...r.cells].map(c => +c.dataset.k)))")
    assert len(maps) == F * N
    for m, grid in enumerate(maps):
        f, n = divmod(m, N)
        want = [[int(np.ravel_multi_index((n, i, j, f), (N, H, W, F))) for j in range(W)] for i in range(H)]
        assert grid == want, (f, n)
    kernel = page.page.eval_on_selector_all(
        "table.maps[data-q='W1'] table.heat",
        "ts => ts.map(t => [...t.rows].map(r => [...r.cells].map(c => +c.dataset.k)))")
    KH, KW, C, F = step["W1"].value.shape
    assert kernel == [[[int(np.ravel_multi_index((i, j, c, f), (KH, KW, C, F))) for j in range(KW)]
                       for i in range(KH)] for c in range(C) for f in range(F)]
    labels = page.page.inner_text("table.maps[data-q='Z1'] tr:first-child")
    assert "sample 0" in labels and "filter" in page.page.inner_text("table.maps[data-q='Z1']")
    # the colour scale is the quantity's: its largest |value| is the darkest cell, zero is white
    colours = dict(page.page.eval_on_selector_all(
        "table.maps[data-q='A1'] td.cell", "tds => tds.map(td => [+td.dataset.k, getComputedStyle(td).backgroundColor])"))
    a1 = step["A1"].value.ravel()
    assert colours[int(np.argmax(a1))] == "rgb(178, 24, 43)"
    assert colours[int(np.flatnonzero(a1 == 0)[0])] == "rgb(255, 255, 255)"
    info = page.page.inner_text(".layer-info")
    assert "Conv2D" in info and "kernel size 3×3" in info and "strides 1×1" in info


def test_hovering_a_conv2d_output_lights_exactly_its_window(pages, traces):
    page, step = pages("cnn-tiny"), traces["cnn-tiny"].steps[0]
    A0, W1 = step["A0"].value.shape, step["W1"].value.shape
    for n, i, j, f in [(0, 0, 0, 0), (2, 1, 3, 1), (5, 3, 2, 0)]:
        # valid 3×3 convolution, stride 1: Z1[n, i, j, f] reads A0[n, i:i+3, j:j+3, 0], W1[:, :, 0, f] and b1[f]
        window = sorted(int(np.ravel_multi_index((n, i + a, j + b, 0), A0)) for a in range(3) for b in range(3))
        kernel = sorted(int(np.ravel_multi_index((a, b, 0, f), W1)) for a in range(3) for b in range(3))
        want = {"A0": window, "W1": kernel, "b1": [f]}
        assert lit(page, "Z1", (n, i, j, f), step["Z1"].value.shape) == want
        assert from_provenance(step, "Z1", (n, i, j, f)) == want
        assert page.classed("focus") == [("Z1", int(np.ravel_multi_index((n, i, j, f), step["Z1"].value.shape)))]
    # 2×2 max pooling, stride 2: A2[n, i, j, c] reads the window A1[n, 2i:2i+2, 2j:2j+2, c]
    A1 = step["A1"].value.shape
    want = sorted(int(np.ravel_multi_index((4, 2 + a, 0 + b, 1), A1)) for a in range(2) for b in range(2))
    assert lit(page, "A2", (4, 1, 0, 1), step["A2"].value.shape) == {"A1": want}
    assert "Z1[" not in page.page.inner_text("#explain") and "A2[4, 1, 0, 1] = " in page.page.inner_text("#explain")
    assert page.errors == []


def test_hovering_a_conv1d_output_at_the_padded_edge(pages, traces):
    page, step = pages("fcn-tiny"), traces["fcn-tiny"].steps[0]
    N, L, F = step["Z1"].value.shape
    bias = {"b1": [2]} if "b1" in step.names() else {}  # no bias when a BatchNormalization follows
    # padding "same", kernel 3: Z1[n, 0, f] reads A0[n, -1..1, 0]; position -1 is padding, so only 0 and 1
    assert lit(page, "Z1", (3, 0, 2), (N, L, F)) == {"A0": [3 * L + 0, 3 * L + 1], "W1": [1 * F + 2, 2 * F + 2],
                                                     **bias}
    assert lit(page, "Z1", (3, 4, 2), (N, L, F)) == {"A0": [3 * L + 3, 3 * L + 4, 3 * L + 5],
                                                     "W1": [0 * F + 2, 1 * F + 2, 2 * F + 2], **bias}
    assert from_provenance(step, "Z1", (3, 4, 2)) == lit(page, "Z1", (3, 4, 2), (N, L, F))
    assert page.errors == []


def test_batchnorm_statistics_stand_out(pages, traces):
    page, step = pages("fcn-tiny"), traces["fcn-tiny"].steps[0]
    rows = page.page.eval_on_selector_all(".bn-stats tr[data-q]", "trs => trs.map(tr => tr.dataset.q)")
    assert rows == ["batch_mean2", "batch_var2", "istd2", "moving_mean2", "moving_mean2_new", "moving_var2",
                    "moving_var2_new"]
    titles = page.page.eval_on_selector_all(
        ".bn-stats td.cell", "tds => tds.map(td => [td.dataset.q, +td.dataset.k, td.title])")
    assert len(titles) == 7 * 4
    for name, k, title in titles:
        assert float(title) == float(step[name].value[k]), (name, k)
    assert "M = 48 values" in page.page.inner_text(".bn-stats h4")
    # the table comes before the normalized values, and the batch statistics are not drawn a second time
    order = page.page.eval_on_selector_all(".bn-stats, section.quantity[data-q='xhat2']", "es => es.map(e => e.className)")
    assert order == ["bn-stats", "quantity"]
    assert page.page.locator("section.quantity[data-q='batch_mean2']").count() == 0
    # moving_mean2_new[1] = 0.99 · moving_mean2[1] + 0.01 · batch_mean2[1]: hovering it lights both
    page.hover("moving_mean2_new", 1)
    assert ("batch_mean2", 1) in page.classed("source") and ("moving_mean2", 1) in page.classed("source")
    assert page.errors == []


def shown_steps(page, direction):
    """Names of the step-t quantities a time panel shows (not the neighbours' values carried in)."""
    return page.page.eval_on_selector_all(
        f".time-panel[data-dir='{direction}'] .step-t section.quantity", "ss => ss.map(s => s.dataset.q)")


def test_the_time_slider_switches_the_shown_step(pages, traces):
    page, step = pages("lstm-tiny"), traces["lstm-tiny"].steps[0]
    assert sliders(page) == [4, 4]  # forward and back through time
    per_step = {}
    for q in step.quantities:
        m = STEP_SUFFIX.search(q.name)
        if m and q.layer == 2:
            per_step.setdefault((q.section.startswith("Backward"), int(m.group(1))), []).append(q.name)
    for t in (3, 1, 4):
        set_time(page, t)
        assert shown_steps(page, "forward") == per_step[(False, t)]
        assert shown_steps(page, "backward") == per_step[(True, t)]  # one slider moves both panels
        assert page.page.eval_on_selector_all("input.time-slider", "s => s.map(e => +e.value)") == [t, t]
        assert page.page.inner_text(".time-panel[data-dir='forward'] .time-label") == f"t = {t} of 4"
        current = page.page.eval_on_selector_all("svg.unrolled g.time-col.current", "gs => gs.map(g => +g.dataset.t)")
        assert current == [t, t]
    assert per_step[(False, 3)] == ["zi2_t3", "zf2_t3", "zg2_t3", "zo2_t3", "i2_t3", "f2_t3", "g2_t3", "o2_t3",
                                    "c2_t3", "h2_t3"]
    # step 3 reads step 2's h and c: they are drawn in the panel too, so hovering c2_t3 lights all it read
    set_time(page, 3)
    carried = page.page.eval_on_selector_all(
        ".time-panel[data-dir='forward'] .carried section.quantity", "ss => ss.map(s => s.dataset.q)")
    assert carried == ["h2_t2", "c2_t2"]
    assert lit(page, "c2_t3", (2, 1), (6, 4)) == from_provenance(step, "c2_t3", (2, 1)) == {
        "f2_t3": [9], "c2_t2": [9], "i2_t3": [9], "g2_t3": [9]}
    # a click on the unrolled network's column shows that step
    page.page.click(".time-panel[data-dir='forward'] svg.unrolled g.time-col[data-t='2'] rect.cellbox")
    assert shown_steps(page, "forward") == per_step[(False, 2)]
    drawn = cells(page)
    check_cells(drawn, step)
    # another training step keeps the time step shown, with that step's numbers
    page.page.select_option("#step-select", "1")
    assert page.page.inner_text("#step-view h2").startswith("Step 2")
    assert shown_steps(page, "forward") == per_step[(False, 2)]
    check_cells(cells(page), traces["lstm-tiny"].steps[1])
    assert page.errors == []


def test_gru_gates_per_step(pages, traces):
    page = pages("gru-tiny")
    set_time(page, 5)
    heads = page.page.eval_on_selector_all(".time-panel[data-dir='forward'] h4", "hs => hs.map(h => h.textContent)")
    assert heads == ["from t = 4 (carried in)", "t = 5: pre-activations", "t = 5: gates", "t = 5: state"]
    gates = page.page.eval_on_selector_all(".time-panel[data-dir='forward'] .step-t", "gs => gs.map(g => "
                                           "[...g.querySelectorAll('section.quantity')].map(s => s.dataset.q))")
    assert gates == [["hn1_t5", "zz1_t5", "zr1_t5", "zn1_t5"], ["z1_t5", "r1_t5", "n1_t5"], ["h1_t5"]]
    assert page.errors == []


def test_the_page_is_a_pure_function_of_the_records(traces, tmp_path):
    for name in ("cnn-tiny", "lstm-tiny"):
        traces[name].to_json(tmp_path / "t.json")
        assert to_html(gn.trace.from_json(tmp_path / "t.json")) == to_html(traces[name])


def test_layouts():
    kernels = {"1": [3, 3, 1, 2], "12": [3, 4, 5], "1m2": [3, 2, 3]}
    for name in ("W1", "dW1", "m_W1", "v_hat_W1", "W1_new", "m_W1_new"):
        assert _layout(name, [3, 3, 1, 2], kernels) == "kernel", name
    assert _layout("W12", [3, 4, 5], kernels) == "kernel"
    assert _layout("W12", [3, 3, 1, 2], kernels) == "maps"  # W12 is not W1's kernel
    assert _layout("dW1m2", [3, 2, 3], kernels) == "kernel"  # a convolution inside a residual block
    assert _layout("Z1", [6, 4, 4, 2], kernels) == "maps"
    assert _layout("A1", [6, 8, 4], kernels) == "maps"
    assert _layout("W2", [3, 16], kernels) == "matrix" and _layout("loss", [], kernels) == "matrix"
    layers = [{"layer": 1, "kind": "Residual", "main": [{"layer": "1m2", "kind": "Conv1D", "n_in": 2, "filters": 3,
                                                         "kernel_size": [3]}]},
              {"layer": 2, "kind": "Conv2D", "n_in": 3, "filters": 4, "kernel_size": [2, 2]}]
    assert _conv_kernels(layers) == {"1m2": [3, 2, 3], "2": [2, 2, 3, 4]}


def test_sources_are_sent_as_runs():
    """A cell's sources travel as arithmetic runs ([start, count, step]); expanded, they are the same cells."""
    def expand(runs):
        return [c for r in runs for c in ([r] if isinstance(r, int) else range(r[0], r[0] + r[1] * r[2], r[2]))]

    assert _runs([0, 1, 2, 3, 7]) == [[0, 4, 1], 7] and _runs([1, 3]) == [1, 3] and _runs([]) == []
    assert _runs(list(range(5, 500, 128))) == [[5, 4, 128]]  # a column of a 128-wide matrix
    rng = np.random.default_rng(0)
    for _ in range(200):
        cells = sorted(set(rng.integers(0, 60, rng.integers(0, 40)).tolist()))
        assert expand(_runs(cells)) == cells


def point_at(page, name, k):
    """Light a cell's sources as a hover does, with the mouse parked outside the page's numbers (so that
    scrolling for a screenshot cannot hover another cell)."""
    page.page.mouse.move(0, 0)
    page.page.eval_on_selector(f'td.cell[data-q="{name}"][data-k="{k}"]',
                               "td => td.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))")


def stitch(page, rows, out):
    """Screenshots of page elements (each row a list of selectors) laid out on one white PNG."""
    shots = [[Image.open(io.BytesIO(page.page.locator(sel).first.screenshot())) for sel in row] for row in rows]
    gap = 12
    width = max(sum(im.width for im in row) + gap * (len(row) + 1) for row in shots)
    height = sum(max(im.height for im in row) for row in shots) + gap * (len(shots) + 1)
    canvas, y = Image.new("RGB", (width, height), "white"), gap
    for row in shots:
        x = gap
        for im in row:
            canvas.paste(im.convert("RGB"), (x, y))
            x += im.width + gap
        y += max(im.height for im in row) + gap
    canvas.quantize(colors=256).save(out, optimize=True)


def test_screenshots_of_the_conv_and_lstm_pages(pages):
    """Full pages kept as test artifacts; with GLASSNET_DOCS_IMG=1 also the README's cut-outs in docs/img/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    docs = os.environ.get("GLASSNET_DOCS_IMG") == "1"
    cnn, lstm = pages("cnn-tiny"), pages("lstm-tiny")
    for page in (cnn, lstm):  # the first training step, whatever an earlier test left shown
        page.page.select_option("#step-select", "0")
    point_at(cnn, "Z1", int(np.ravel_multi_index((2, 1, 2, 1), (6, 4, 4, 2))))
    assert len(cnn.classed("source")) == 9 + 9 + 1  # the window, the kernel, the bias
    set_time(lstm, 3)
    point_at(lstm, "c2_t3", 9)
    assert {q for q, _ in lstm.classed("source")} == {"f2_t3", "c2_t2", "i2_t3", "g2_t3"}
    cuts = {"cnn-tiny": (cnn, [["#explain"], ["section.quantity[data-q='A0']", "section.quantity[data-q='W1']",
                                               "section.quantity[data-q='b1']"],
                               ["section.quantity[data-q='Z1']"], ["section.quantity[data-q='A2']"]]),
            "lstm-tiny": (lstm, [["#explain"], [".time-panel[data-dir='forward'] .time-head"],
                                 [".time-panel[data-dir='forward'] .unrolled-wrap"],
                                 [".time-panel[data-dir='forward'] .carried"],
                                 [".time-panel[data-dir='forward'] .step-part >> nth=1"],
                                 [".time-panel[data-dir='forward'] .step-part >> nth=2"]])}
    for name, (page, rows) in cuts.items():
        path = ARTIFACTS / f"{name}-trace.png"
        page.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        print(f"screenshot of the {name} page: {path}")
        if docs:
            out = ROOT / "docs" / "img" / f"trace-{name}.png"
            stitch(page, rows, out)
            assert out.stat().st_size < 300_000
    assert cnn.errors == [] and lstm.errors == []
