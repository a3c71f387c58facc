"""The recurrent workloads several times over: ``python benchmarks/rnn_runs.py [--runs 5] [--repeats 5]``.

One ``glassnet bench`` run of the ``lstm`` and ``gru`` workloads moves by ±10% on a shared machine, so
this runs them ``--runs`` times (each run: a warm-up epoch, then ``--repeats`` timed epochs per
contestant, taken in turns) and reports every run's ratios and their medians, by the wall clock (what the
tables show) and by the process's CPU time (``cpu_ratios``: less disturbed by other processes). Writes
``benchmarks/results/bench-rnn.json`` (every run's report) and ``bench-rnn.md`` (the summary, then the
last run's tables). Set ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1`` as for the README's tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

try:
    from glassnet import bench
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))
    from glassnet import bench


def summary(reports: list[dict]) -> str:
    """A Markdown table: per workload and run, glassnet ÷ PyTorch and ÷ floor (wall and CPU) and peak memory."""
    rows = [("| workload | run | glassnet s/epoch | ÷ PyTorch | ÷ floor | CPU ÷ PyTorch | CPU ÷ floor "
             "| peak RSS Δ glassnet / PyTorch (MiB) | load (1 min) at the end |"),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    medians = []
    for name in [w["name"] for w in reports[0]["workloads"]]:
        runs = [next(w for w in r["workloads"] if w["name"] == name) for r in reports]
        for i, (w, report) in enumerate(zip(runs, reports, strict=True), 1):
            res = {r["name"]: r for r in w["results"]}
            load = (report["environment"].get("load_average") or ["–"])[0]
            rows.append(f"| {name} | {i} | {res['glassnet']['seconds_per_epoch']:.3f} | {w['ratios']['torch']:.2f} "
                        f"| {w['ratios']['floor']:.2f} | {w['cpu_ratios']['torch']:.2f} | {w['cpu_ratios']['floor']:.2f} "
                        f"| {res['glassnet']['peak_rss_mib']:.1f} / {res['torch']['peak_rss_mib']:.1f} | {load} |")

        def med(key, peer, runs=runs):
            return statistics.median(w[key][peer] for w in runs)

        mem = [statistics.median(next(r for r in w["results"] if r["name"] == k)["peak_rss_mib"] for w in runs)
               for k in ("glassnet", "torch")]
        medians.append(f"| {name} | median of {len(runs)} | | **{med('ratios', 'torch'):.2f}** "
                       f"| **{med('ratios', 'floor'):.2f}** | {med('cpu_ratios', 'torch'):.2f} "
                       f"| {med('cpu_ratios', 'floor'):.2f} | {mem[0]:.1f} / {mem[1]:.1f} | |")
    head = (f"{len(reports)} runs from {reports[0]['created']} to {reports[-1]['created']}, "
            f"{reports[0]['repeats']} timed epochs per contestant in each (their median), "
            f"GLASSNET_ACCEL={os.environ.get('GLASSNET_ACCEL', 'auto')}. Ratios are glassnet's time over the "
            "other's (below 1: glassnet is faster); CPU: the process's CPU time (time.process_time) instead of "
            "the wall clock.\n\n")
    return head + "\n".join(rows + medians)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workloads", default="lstm,gru")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the results")
    args = parser.parse_args(argv)
    reports = []
    for i in range(args.runs):
        print(f"[rnn_runs] run {i + 1} of {args.runs}", file=sys.stderr, flush=True)
        reports.append(bench.run(args.workloads.split(","), repeats=args.repeats))
    table = summary(reports)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-rnn.json").write_text(json.dumps(reports, indent=1) + "\n")
    (args.out / "bench-rnn.md").write_text(f"{table}\n\nThe last run's tables:\n\n{bench.to_markdown(reports[-1])}\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
