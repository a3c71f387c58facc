"""Shared test settings.

Hypothesis profiles: the default one for `make test`; `HYPOTHESIS_PROFILE=fuzz` (`make fuzz`) for a long run.
Tests marked slow (1 GB on disk) run only when asked for: `make fuzz`, `GLASSNET_SLOW=1` or `-m slow`.
"""

import os

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
