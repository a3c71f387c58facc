"""What the robustness tests measured: inputs the fuzzers tried, by target, and other numbers worth a
report (memory). Printed at the end of the run (see conftest.py)."""

from collections import Counter

from hypothesis import HealthCheck, settings

TRIED: Counter = Counter()
MEASURED: dict = {}


def tried(target: str, n: int = 1) -> None:
    TRIED[target] += n


def measured(name: str, value) -> None:
    MEASURED[name] = value


def count(name: str) -> None:
    MEASURED[name] = MEASURED.get(name, 0) + 1


def fuzz_settings(**kw) -> settings:
    """Hypothesis settings for a fuzzer: at least 300 examples, more under the `fuzz` profile (make fuzz).

    Hypothesis reuses one tmp_path for all examples of a test; each example overwrites its file.
    """
    return settings(max_examples=max(300, settings.default.max_examples), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], **kw)
