"""Report the fuzzers' input counts and the memory measurements after the run.

They are also written as JSON to the file named by $GLASSNET_ROBUSTNESS_REPORT, when it is set.
"""

import json
import os

from fuzzing import MEASURED, TRIED


def pytest_terminal_summary(terminalreporter):
    if TRIED:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items()))
        terminalreporter.write_line(f"fuzz inputs tried: {sum(TRIED.values())} ({parts})")
    for name, value in MEASURED.items():
        terminalreporter.write_line(f"{name}: {value}")
    out = os.environ.get("GLASSNET_ROBUSTNESS_REPORT")
    if out and (TRIED or MEASURED):
        with open(out, "w") as f:
            json.dump({"fuzz_inputs_tried": dict(TRIED), "measured": MEASURED}, f, indent=1)
