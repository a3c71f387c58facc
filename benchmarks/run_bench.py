"""Reproduce the recorded benchmark results: ``python benchmarks/run_bench.py [--quick] [--default-blas]``.

Runs :mod:`glassnet.bench` and writes ``benchmarks/results/<name>.json``, ``.md``, ``.png`` and
``-sweep.png``, where ``<name>`` is ``bench``, plus ``-quick`` and/or ``-default-blas`` when asked.

``--default-blas`` reruns this script in a child process without ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``: OpenBLAS reads them once when it loads, so they cannot be unset in-process. Some
environments force an older kernel through them; a user's own machine usually sets neither.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

try:
    from glassnet import bench
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))
    from glassnet import bench


START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(readme: Path, name: str, table: str) -> None:
    """Replace what lies between the README's bench markers with this run's table and plots."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} block to fill")
    block = (f"{START}\n<!-- written by `python benchmarks/run_bench.py --update-readme`; do not edit -->\n\n"
             f"{table}\n![s/epoch](results/{name}.png)\n\n![sweep](results/{name}-sweep.png)\n{END}")
    head, rest = text.split(START, 1)
    readme.write_text(head + block + rest.split(END, 1)[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows, 3 repeats")
    parser.add_argument("--default-blas", action="store_true",
                        help=f"run with {' and '.join(BLAS_OVERRIDES)} unset (in a child process)")
    parser.add_argument("--workloads", default=",".join(bench.DEFAULT))
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the results")
    parser.add_argument("--update-readme", action="store_true",
                        help="put the table between the bench markers of benchmarks/README.md")
    args = parser.parse_args(argv)

    if args.default_blas and any(k in os.environ for k in BLAS_OVERRIDES):
        env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
        child = list(sys.argv[1:] if argv is None else argv)
        return subprocess.call([sys.executable, __file__, *child], env=env)

    name = "bench" + ("-quick" if args.quick else "") + ("-default-blas" if args.default_blas else "")
    args.out.mkdir(parents=True, exist_ok=True)
    report = bench.run([w for w in args.workloads.split(",") if w], quick=args.quick, repeats=args.repeats,
                       log=lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    table = bench.to_markdown(report)
    bench.write_json(report, args.out / f"{name}.json")
    (args.out / f"{name}.md").write_text(table + "\n")
    written = bench.plot(report, args.out / f"{name}.png")
    if args.update_readme:
        update_readme(HERE / "README.md", name, table)
    print(table)
    print("wrote", ", ".join(str(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p)
                             for p in [args.out / f"{name}.json", args.out / f"{name}.md", *written]),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
