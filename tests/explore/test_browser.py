"""The explorer in real headless Chromium (Debian's package, driven by Playwright), served on 127.0.0.1.

The server runs in a thread of the test process on a free port; every request that does not go to it is
blocked and recorded, and the tests assert there were none. Checked: the page loads with no console error
and nothing fetched from elsewhere; "Step once" shows the engine's numbers and the step's trace; Play makes
the test loss fall on XOR and the spiral; a malformed CSV upload shows a message and the server keeps
serving; two tabs train independently. Screenshots go to $GLASSNET_ARTIFACTS or test-artifacts/ (git-ignored).
"""

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest

from glassnet.explore import Config, ExplorerServer, Session

ARTIFACTS = Path(os.environ.get("GLASSNET_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def server():
    with ExplorerServer(host="127.0.0.1", port=0) as s:
        yield s


class Tab:
    """One page of the explorer, with every request, blocked request and console error it caused."""

    def __init__(self, browser, server):
        self.origin = server.url
        self.requests, self.errors, self.blocked = [], [], []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("websocket", lambda ws: self.blocked.append(ws.url))
        self.page.route(re.compile(r"^(https?|wss?|ftp)://"), self._only_local)
        self.page.goto(self.origin)
        self.page.wait_for_selector("body[data-ready='1']")

    def _only_local(self, route):
        if route.request.url.startswith(self.origin):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def value(self, id_):
        return self.page.get_attribute(f"#{id_}", "data-value")

    def session(self):
        return self.page.get_attribute("body", "data-session")

    def choose(self, **fields):
        """Set form fields (each change starts a new session) and wait for the new session."""
        for name, value in fields.items():
            old = self.session()
            sel = f"#config [name={name}]"
            if self.page.eval_on_selector(sel, "e => e.tagName") == "SELECT":
                self.page.select_option(sel, value)
            else:
                self.page.fill(sel, str(value))
                self.page.eval_on_selector(sel, "e => e.blur()")  # commits the edit: a change event
            self.page.wait_for_function(f"document.body.dataset.session !== {json.dumps(old)}")

    def play_until(self, condition: str):
        self.page.click("#play")
        self.page.wait_for_function(condition, timeout=TIMEOUT_MS)
        self.page.click("#play")  # pause

    def shot(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        print(f"explorer screenshot: {path}")
        return path

    def assert_offline_and_clean(self, allowed_errors=()):
        assert self.blocked == [], f"the page tried to reach the network: {self.blocked}"
        assert all(u.startswith((self.origin, "data:")) for u in self.requests), self.requests
        errors = [e for e in self.errors if not any(a in e for a in allowed_errors)]
        assert errors == [], errors


@pytest.fixture
def tab(browser, server):
    t = Tab(browser, server)
    yield t
    t.page.close()


def test_page_loads_offline_with_no_errors(tab):
    assert tab.page.title() == "glassnet explorer"
    assert tab.value("step-count") == "0" and tab.value("train-loss") != ""
    assert tab.page.locator("#network line").count() == 2 * 4 + 4 * 1  # xor default: 2 -> 4 -> 1
    tab.assert_offline_and_clean()


def test_step_shows_the_engines_numbers_and_the_trace(tab, server):
    # the page's default settings are Config's defaults; the same session built here is the engine's run
    sid = tab.session()
    assert json.loads(urllib.request.urlopen(f"{server.url}api/session/{sid}").read())["config"] == Config().public()
    engine = Session(Config())
    assert float(tab.value("train-loss")) == engine.history[0]["train_loss"]
    tab.page.click("#step")
    tab.page.wait_for_function("document.getElementById('step-count').dataset.value === '1'")
    expected = engine.step(1, trace=True)
    for id_, key in [("train-loss", "train_loss"), ("test-loss", "test_loss"), ("train-acc", "train_accuracy")]:
        assert float(tab.value(id_)) == expected[key], (id_, tab.value(id_), expected[key])
    # the trace view: the HTML trace page of that step, every cell titled with the engine's number
    frame = tab.page.frame_locator("#trace-frame")
    frame.locator("td.cell").first.wait_for()
    trace = engine.traced[1]
    z1 = frame.locator('td.cell[data-q="Z1"][data-k="0"]').get_attribute("title")
    assert float(z1) == float(trace.steps[0]["Z1"].value.ravel()[0])
    assert "Step 1" in tab.page.inner_text("#trace-status")
    for id_ in ("dl-xlsx", "dl-json", "dl-model"):
        assert tab.page.is_enabled(f"#{id_}")
    href = tab.page.get_attribute("#dl-json", "data-href")
    assert urllib.request.urlopen(server.url.rstrip("/") + href).read().decode() == trace.to_json()
    with tab.page.expect_download() as download:
        tab.page.click("#dl-xlsx")
    assert download.value.suggested_filename == "explorer-step1-trace.xlsx"
    tab.shot("explore-step-trace.png")
    tab.assert_offline_and_clean()


def test_regularized_networks_trace_too(tab):
    """An L2 penalty was once untraceable; now the step's trace and its downloads are there as for any network."""
    tab.choose(l2="0.01")
    assert "cannot be traced" not in tab.page.inner_text("#trace-status")
    tab.page.click("#step")
    tab.page.wait_for_function("document.getElementById('step-count').dataset.value === '1'")
    assert "cannot be traced" not in tab.page.inner_text("#trace-status")
    for id_ in ("dl-xlsx", "dl-json", "dl-model"):
        tab.page.wait_for_function(f"!document.getElementById('{id_}').disabled")
    tab.assert_offline_and_clean()


SPIRAL = {"optimizer": "adam", "learning_rate": "0.02", "hidden": "24, 24", "batch_size": "20"}


@pytest.mark.parametrize("dataset, settings, factor", [("xor", {}, 0.7), ("spiral", SPIRAL, 0.85)])
def test_play_makes_the_test_loss_fall(tab, dataset, settings, factor):
    tab.choose(dataset=dataset, **settings)
    first = float(tab.value("test-loss"))
    tab.page.fill("#speed", "50")
    # the spiral sits on a plateau (guessing the class shares) for ~800 steps before its arms are learned
    tab.play_until(f"+document.getElementById('test-loss').dataset.value < {first * factor}"
                   " && +document.getElementById('step-count').dataset.value >= 500")
    tab.page.wait_for_function("document.getElementById('play').textContent === 'Play'")
    assert float(tab.value("test-loss")) < first
    assert tab.page.locator("#loss-chart polyline.test_loss").count() == 1
    tab.shot(f"explore-{dataset}.png")
    tab.assert_offline_and_clean()


def test_malformed_csv_shows_a_message_and_the_server_keeps_serving(tab):
    tab.page.select_option("#config [name=dataset]", "csv")
    assert tab.page.is_visible("#upload")
    tab.page.set_input_files("#upload", files=[{"name": "bad.csv", "mimeType": "text/csv",
                                                "buffer": b"x1,x2,label\n1,2,a\n3,oops,b\n"}])
    # choosing "csv" already shows a hint in #message: wait for the upload's answer, not for any message
    tab.page.wait_for_function("document.getElementById('message').textContent.includes('oops')")
    assert "'oops' in column 'x2' at line 3 of bad.csv is not a number" in tab.page.inner_text("#message")
    tab.shot("explore-csv-error.png")
    good = "x1,x2,label\n" + "".join(f"{i % 7 / 7},{i % 5 / 5},{'ab'[i % 2]}\n" for i in range(40))
    tab.page.set_input_files("#upload", files=[{"name": "good.csv", "mimeType": "text/csv",
                                                "buffer": good.encode()}])
    tab.page.wait_for_selector("#message", state="hidden")
    tab.page.click("#step")
    tab.page.wait_for_function("document.getElementById('step-count').dataset.value === '1'")
    # the 400 answer is the only console error (Chromium logs a failed fetch as one)
    tab.assert_offline_and_clean(allowed_errors=("status of 400",))


def test_two_tabs_train_independently(browser, server):
    a, b = Tab(browser, server), Tab(browser, server)
    try:
        assert a.session() != b.session()
        b_loss = b.value("train-loss")
        a.play_until("+document.getElementById('step-count').dataset.value >= 50")
        assert b.value("step-count") == "0" and b.value("train-loss") == b_loss
        b.page.click("#step")
        b.page.wait_for_function("document.getElementById('step-count').dataset.value === '1'")
        assert float(b.value("train-loss")) == Session(Config()).step(1)["train_loss"]
        assert int(a.value("step-count")) >= 50
        a.assert_offline_and_clean()
        b.assert_offline_and_clean()
    finally:
        a.page.close()
        b.page.close()
