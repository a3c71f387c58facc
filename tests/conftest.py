"""Shared test settings.

Hypothesis profiles: the default one for `make test`; `HYPOTHESIS_PROFILE=fuzz` (`make fuzz`) for a long run.
Tests marked slow (1 GB on disk) run only when asked for: `make fuzz`, `GLASSNET_SLOW=1` or `-m slow`.
"""

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config, items):
    asked = bool(os.environ.get("GLASSNET_SLOW")) or "slow" in (config.getoption("markexpr") or "")
    skip = pytest.mark.skipif(not asked, reason="slow (1 GB on disk): runs in `make fuzz`, with GLASSNET_SLOW=1 "
                                                "or -m slow; a 78 MB version of the same check runs every time")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


#: Chromium without the background services that try to reach the network (this machine has none)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")  # Playwright's sync API keeps an event loop running in this thread while open
def browser():
    """Debian's headless Chromium driven by Playwright (the trace page and the explorer tests)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `pip install playwright` (the Python package only; never run "
                    "`playwright install`: the browser is Debian's chromium package)")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (Debian's package; `make test` "
                    "installs it when run as root)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
