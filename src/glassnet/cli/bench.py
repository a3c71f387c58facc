"""``glassnet bench``: seconds per epoch of glassnet against the GEMM floor, PyTorch and scikit-learn.

Workloads: three MLPs (wide, small, deep), Wang et al.'s FCN (fcn) and the digits CNN (cnn), an LSTM
(lstm), a GRU (gru) and the width/batch sweep; see :mod:`glassnet.bench`. ``--device gpu`` runs glassnet and the floor
with CuPy, PyTorch on CUDA, and skips scikit-learn.
"""

from __future__ import annotations

import argparse
import sys

from ..backend import get_device
from ..bench.harness import DEFAULT
from ..errors import ConfigError, invalid_value

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bench",
        help="time training epochs against the matrix-multiply floor, PyTorch and scikit-learn",
        description="Time one training epoch of glassnet, of the matrix products it needs (the floor), of "
                    "PyTorch and of scikit-learn on the same data, weights and threads, on the CPU or "
                    "(--device gpu) a CUDA GPU. Prints a Markdown table; see benchmarks/README.md.",
    )
    p.add_argument("--quick", action="store_true", help="fewer rows (a few seconds per workload), 3 repeats")
    p.add_argument("--json", metavar="F", help="write the full report as JSON to F")
    p.add_argument("--md", metavar="F", help="write the Markdown table to F")
    p.add_argument("--plot", metavar="F", help="bar chart PNG to F (and the sweep to F's stem + '-sweep.png')")
    p.add_argument("--workloads", default=",".join(DEFAULT), metavar="LIST",
                   help=f"comma-separated, from {','.join(DEFAULT)} (default: all)")
    p.add_argument("--repeats", type=int, metavar="N", help="timed epochs per contestant (default 5; 3 with --quick)")
    p.add_argument("--device", default="cpu", metavar="NAME",
                   help="cpu (default) or gpu: glassnet and the floor on CuPy, PyTorch on CUDA, no scikit-learn")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .. import bench

    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in DEFAULT]
    if unknown or not names:
        raise ConfigError(f"Unknown workload {unknown[0]!r}; valid workloads are: {', '.join(DEFAULT)}" if unknown
                          else "--workloads is empty; valid workloads are: " + ", ".join(DEFAULT))
    if args.repeats is not None and args.repeats < 1:
        raise invalid_value("repeats", args.repeats, "a positive integer")
    get_device(args.device)  # an unknown device, or 'gpu' without CuPy: fail before any work
    if args.plot:  # fail before minutes of timing, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError as e:
            raise ConfigError("--plot needs matplotlib: pip install 'glassnet[plot]'") from e
    report = bench.run(names, quick=args.quick, repeats=args.repeats, device=args.device,
                       log=(lambda msg: None) if args.quiet else
                       lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    table = bench.to_markdown(report)
    print(table)
    if args.json:
        bench.write_json(report, args.json)
    if args.md:
        with open(args.md, "w") as f:
            f.write(table + "\n")
    if args.plot:
        bench.plot(report, args.plot)
    return 0
