"""Reproduce the recorded benchmark results: ``python benchmarks/run_bench.py [--quick] [--device gpu]``.

Runs :mod:`glassnet.bench` and writes ``benchmarks/results/<name>.json``, ``.md``, ``.png`` and
``-sweep.png``, where ``<name>`` is ``bench``, plus ``-gpu`` (``--device gpu``), ``-quick`` and/or
``-default-blas`` when asked. ``--update-readme`` fills the ``bench`` block of benchmarks/README.md, or
the ``bench-gpu`` block for a GPU run.

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
from glassnet.backend import get_device
from glassnet.errors import ConfigError


def markers(block: str = "bench") -> tuple[str, str]:
    """The README's comments around a results block: ``bench`` (CPU) or ``bench-gpu``."""
    return f"<!-- {block}:start -->", f"<!-- {block}:end -->"


def update_readme(readme: Path, name: str, table: str, block: str = "bench") -> None:
    """Replace what lies between the README's ``block`` markers with this run's table and plots."""
    start, end = markers(block)
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} block to fill")
    flags = "" if block == "bench" else f" --device {block.removeprefix('bench-')}"
    body = (f"{start}\n<!-- written by `python benchmarks/run_bench.py{flags} --update-readme`; do not edit -->\n\n"
            f"{table}\n![s/epoch](results/{name}.png)\n\n![sweep](results/{name}-sweep.png)\n{end}")
    head, rest = text.split(start, 1)
    readme.write_text(head + body + rest.split(end, 1)[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows, 3 repeats")
    parser.add_argument("--default-blas", action="store_true",
                        help=f"run with {' and '.join(BLAS_OVERRIDES)} unset (in a child process)")
    parser.add_argument("--workloads", default=",".join(bench.DEFAULT))
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--device", default="cpu",
                        help="cpu (default) or gpu: glassnet and the floor on CuPy, PyTorch on CUDA, no scikit-learn")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the results")
    parser.add_argument("--update-readme", action="store_true",
                        help="put the table between the bench markers of benchmarks/README.md")
    args = parser.parse_args(argv)

    if args.default_blas and any(k in os.environ for k in BLAS_OVERRIDES):
        env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
        child = list(sys.argv[1:] if argv is None else argv)
        return subprocess.call([sys.executable, __file__, *child], env=env)

    try:
        device = get_device(args.device).name  # 'gpu' without CuPy: say so before any work
    except ConfigError as e:
        print(f"run_bench.py: {e}", file=sys.stderr)
        return 2
    name = ("bench" + ("" if device == "cpu" else f"-{device}") + ("-quick" if args.quick else "")
            + ("-default-blas" if args.default_blas else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    report = bench.run([w for w in args.workloads.split(",") if w], quick=args.quick, repeats=args.repeats,
                       device=args.device, log=lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    table = bench.to_markdown(report)
    bench.write_json(report, args.out / f"{name}.json")
    (args.out / f"{name}.md").write_text(table + "\n")
    written = bench.plot(report, args.out / f"{name}.png")
    if args.update_readme:
        update_readme(HERE / "README.md", name, table, "bench" if device == "cpu" else f"bench-{device}")
    print(table)
    print("wrote", ", ".join(str(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p)
                             for p in [args.out / f"{name}.json", args.out / f"{name}.md", *written]),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
