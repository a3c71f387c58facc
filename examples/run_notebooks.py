"""Execute the notebooks of examples/ with nbclient, each in a fresh temporary folder; print each one's time.

    python examples/run_notebooks.py [--quick] [--inplace] [NOTEBOOK ...]

Without --quick the notebooks use their full epoch counts (what `make notebooks` runs); --quick sets
GLASSNET_NOTEBOOK_QUICK=1 as CI does. --inplace writes the executed notebooks (outputs included) back;
otherwise the files are left untouched. Exits 1 if any notebook fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path, quick: bool, timeout: int = 1800) -> nbformat.NotebookNode:
    """Run every cell of ``path`` in a python3 kernel whose working folder is a new temporary one."""
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    if quick:
        env["GLASSNET_NOTEBOOK_QUICK"] = "1"
    else:
        env.pop("GLASSNET_NOTEBOOK_QUICK", None)
    with tempfile.TemporaryDirectory(prefix="glassnet-nb-") as cwd:
        client = NotebookClient(nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": cwd}})
        old = os.environ.copy()
        os.environ.clear()
        os.environ.update(env)  # the kernel inherits this process's environment
        try:
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(old)
    return nb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*", type=Path)
    p.add_argument("--quick", action="store_true", help="small epoch counts (GLASSNET_NOTEBOOK_QUICK=1)")
    p.add_argument("--inplace", action="store_true", help="save the executed notebooks with their outputs")
    args = p.parse_args(argv)
    paths = args.notebooks or sorted(HERE.glob("*.ipynb"))
    failed = []
    total = time.perf_counter()
    for path in paths:
        start = time.perf_counter()
        try:
            nb = execute(path, args.quick)
        except Exception as exc:  # noqa: BLE001 - report every notebook, then fail
            failed.append(path.name)
            print(f"FAILED {path.name} after {time.perf_counter() - start:.1f} s: {type(exc).__name__}: "
                  f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}", flush=True)
            continue
        print(f"ok     {path.name}: {time.perf_counter() - start:.1f} s", flush=True)
        if args.inplace:
            nbformat.write(nb, path)
    print(f"{len(paths) - len(failed)} of {len(paths)} notebooks ran in {time.perf_counter() - total:.1f} s"
          f" ({'quick' if args.quick else 'full'} epoch counts)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
