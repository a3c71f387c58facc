"""The HTML trace, opened in real headless Chromium (Debian's package) driven by Playwright.

Checked: the page loads offline with no request leaving the file and no console error; every number on
it is the engine's (full precision in the cell's title, 6 significant digits shown); hovering a cell
highlights the cells it came from; the step selector switches steps; the loss chart has one point per
step. Chromium and Playwright are required: without them these tests fail, they do not skip.
"""

import math
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import glassnet as gn
from glassnet.trace import Quantity, Step, Trace
from glassnet.trace.html import to_html

STEPS = 4

@pytest.fixture(scope="module")
def article():
    model, X, y = gn.trace.preset("article")
    return gn.trace.record(model, X, y, steps=STEPS)


class Page:
    """A page opened from a file, with every request and console error it caused."""

    def __init__(self, browser, path):
        self.requests, self.errors, self.blocked = [], [], []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("websocket", lambda ws: self.blocked.append(ws.url))
        self.page.route(re.compile(r"^(https?|wss?|ftp)://"), self._block)
        self.page.goto(path.as_uri())

    def _block(self, route):
        self.blocked.append(route.request.url)
        route.abort()

    def cells(self):
        """[(quantity, flat index, shown text, title, classes)] of every matrix cell on the page."""
        return self.page.eval_on_selector_all(
            "td.cell", "tds => tds.map(td => [td.dataset.q, +td.dataset.k, td.textContent, td.title, td.className])")

    def classed(self, cls):
        return sorted((q, int(k)) for q, k in self.page.eval_on_selector_all(
            f"td.{cls}", "tds => tds.map(td => [td.dataset.q, td.dataset.k])"))

    def hover(self, name, k):
        self.page.hover(f'td.cell[data-q="{name}"][data-k="{k}"]')
        return self.classed("source")


@pytest.fixture(scope="module")
def page(browser, article, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "article-trace.html"
    article.to_html(path)
    opened = Page(browser, path)
    yield opened
    # kept as a test artifact (CI can collect test-artifacts/; it is git-ignored)
    artifacts = Path(os.environ.get("GLASSNET_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "article-trace.png"
    opened.page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot of the HTML trace: {shot}")
    opened.page.close()


def assert_cells_are_the_engines(cells, step):
    """Every cell's title is the engine's float64 exactly; its text is that number to 6 digits."""
    assert cells, "no cells on the page"
    shown = set()
    for name, k, text, title, _ in cells:
        engine = float(np.ravel(step[name].value)[k])
        assert float(title) == engine, f"step {step.step} {name}[{k}]: page {title}, engine {engine!r}"
        assert math.isclose(float(text), engine, rel_tol=5e-6, abs_tol=1e-300), (name, k, text, engine)
        shown.add(name)
    assert shown == set(step.names()), f"not shown: {set(step.names()) - shown}"
    assert len(cells) == sum(np.size(q.value) for q in step.quantities)


def test_page_is_one_offline_file(page, article):
    html = article.to_html()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//|@import|url\(\s*["']?https?:""", html)
    assert "<script src" not in html and "<link rel=\"stylesheet\"" not in html
    assert page.blocked == [], f"the page tried to reach the network: {page.blocked}"
    assert all(u.startswith(("file:", "data:")) for u in page.requests), page.requests
    assert page.errors == []


def test_every_number_on_the_page_is_the_engines(page, article):
    assert page.page.inner_text("#step-view h2").startswith("Step 1")
    assert_cells_are_the_engines(page.cells(), article.steps[0])


def test_inputs_and_computed_cells_have_their_own_colours(page, article):
    kinds = {name: classes.split()[1] for name, _, _, _, classes in page.cells()}
    assert {kinds[n] for n in ("A0", "Y", "W1", "b1", "W2", "b2")} == {"given"}
    assert {kinds[n] for n in ("Z1", "A1", "A2", "E", "loss", "dW1", "W1_new")} == {"computed"}
    colour = page.page.eval_on_selector_all(
        "td.cell[data-k='0']", "tds => tds.map(td => [td.dataset.q, getComputedStyle(td).backgroundColor])")
    colour = dict(colour)
    assert colour["A0"] == colour["W1"] != colour["Z1"] == colour["dW1"]


def test_hovering_a_cell_highlights_the_cells_it_came_from(page):
    # Z1 = A0·W1 + b1 (3×4 · 4×3): Z1[1, 2] reads row 1 of A0, column 2 of W1 and b1[2]
    sources = page.hover("Z1", 1 * 3 + 2)
    assert sources == sorted([("A0", 4), ("A0", 5), ("A0", 6), ("A0", 7),
                              ("W1", 2), ("W1", 5), ("W1", 8), ("W1", 11), ("b1", 2)])
    assert page.classed("focus") == [("Z1", 5)]
    assert "A0 row 1" in page.page.inner_text("#explain") and "W1 column 2" in page.page.inner_text("#explain")
    # dW1 = A0ᵀ·dZ1: dW1[3, 1] reads column 3 of A0 and column 1 of dZ1
    assert page.hover("dW1", 3 * 3 + 1) == sorted([("A0", 3), ("A0", 7), ("A0", 11), ("dZ1", 1), ("dZ1", 4), ("dZ1", 7)])
    # dA1 = dZ2·W2ᵀ (3×1 · 1×3): dA1[2, 0] reads row 2 of dZ2 and row 0 of W2
    assert page.hover("dA1", 2 * 3 + 0) == [("W2", 0), ("dZ2", 2)]
    # elementwise: the same position; a sum over rows: the column; the loss: all of E
    assert page.hover("A1", 4) == [("Z1", 4)]
    assert page.hover("W1_new", 7) == [("W1", 7), ("dW1", 7)]
    assert page.hover("db1", 1) == [("dZ1", 1), ("dZ1", 4), ("dZ1", 7)]
    assert page.hover("loss", 0) == [("E", 0), ("E", 1), ("E", 2)]
    assert page.errors == []


def test_step_selector_and_loss_chart(page, article):
    points = page.page.eval_on_selector_all(
        "#loss-chart circle.loss-point", "cs => cs.map(c => [+c.dataset.step, +c.getAttribute('cy'), "
        "c.querySelector('title').textContent])")
    assert [p[0] for p in points] == [s.step for s in article.steps] == list(range(1, STEPS + 1))
    for (_, _, title), s in zip(points, article.steps):
        assert float(title.rsplit(" ", 1)[1]) == s.loss
    cy = [p[1] for p in points]
    assert cy == sorted(cy) and cy[0] < cy[-1], "the loss falls, so the points go down the chart"

    page.page.select_option("#step-select", "2")
    assert page.page.inner_text("#step-view h2").startswith("Step 3")
    assert_cells_are_the_engines(page.cells(), article.steps[2])
    assert page.page.get_attribute("#loss-chart circle.current", "data-step") == "3"
    page.page.click("#next")
    assert page.page.inner_text("#step-view h2").startswith(f"Step {STEPS}")
    assert page.page.is_disabled("#next")
    page.page.click("#loss-chart circle.loss-point[data-step='1']")
    assert page.page.input_value("#step-select") == "0" and page.page.is_disabled("#prev")
    assert page.hover("Z1", 0) == sorted([("A0", 0), ("A0", 1), ("A0", 2), ("A0", 3),
                                          ("W1", 0), ("W1", 3), ("W1", 6), ("W1", 9), ("b1", 0)])
    assert page.errors == []


def test_softmax_and_adam_in_the_browser(browser, tmp_path):
    model, X, y = gn.trace.preset("spiral")
    trace = gn.trace.record(model, X, y, steps=2)
    path = tmp_path / "spiral.html"
    trace.to_html(path)
    page = Page(browser, path)
    assert_cells_are_the_engines(page.cells(), trace.steps[0])
    assert page.hover("A2", 1 * 3 + 1) == [("Z2", 3), ("Z2", 4), ("Z2", 5)]  # softmax: the whole row
    assert page.hover("W1_new", 5) == [("W1", 5), ("m_hat_W1", 5), ("v_hat_W1", 5)]
    assert page.errors == [] and page.blocked == []
    page.page.close()


def hand_trace():
    """Records built by hand: odd values, a formula that would end a <script>, a record with no optional field."""
    q = [SimpleNamespace(name="A0", formula="X", value=np.array([[1.0, -2.5e-7]]), kind="input"),
         Quantity("W1", "W1", np.array([[np.inf], [0.1]]), kind="param"),
         Quantity("Z1", "A0·W1 </script><b>", np.array([[np.nan]]), "words & <tags>", ("A0", "W1"), op="matmul"),
         Quantity("loss", "Σ Z1", np.array(1e300), inputs=("Z1",), op="sum")]
    step = Step(1, 1e300, {"W1": np.array([[np.inf], [0.1]])}, {"W1": np.array([[0.0], [0.1]])}, q)
    return Trace({"summary": "hand-made"}, [step])


def test_a_hand_built_trace_renders_odd_values_safely(browser, tmp_path):
    trace = hand_trace()
    html = to_html(trace, tmp_path / "hand.html")
    assert html == (tmp_path / "hand.html").read_text(encoding="utf-8")
    assert "</script><b>" not in html.split('id="trace-data">')[1].split("</script>")[0]
    page = Page(browser, tmp_path / "hand.html")
    cells = {(q, k): (text, title) for q, k, text, title, _ in page.cells()}
    assert cells[("W1", 0)] == ("Infinity", "Infinity") and cells[("Z1", 0)] == ("NaN", "NaN")
    assert float(cells[("A0", 1)][1]) == -2.5e-7 and float(cells[("loss", 0)][1]) == 1e300
    assert ("W1_new", 0) in cells  # a parameter update the records did not list is still shown
    assert page.page.inner_text("[data-q='Z1'] .head").endswith("1×1")
    assert "A0·W1 </script><b>" in page.page.inner_text("[data-q='Z1'] .head")
    assert page.hover("Z1", 0) == [("A0", 0), ("A0", 1), ("W1", 0), ("W1", 1)]
    assert page.errors == [] and page.blocked == []
    page.page.close()


def test_html_is_a_pure_function_of_the_records(article, tmp_path):
    article.to_json(tmp_path / "t.json")
    assert to_html(gn.trace.from_json(tmp_path / "t.json")) == to_html(article)
