"""Reproduce Wang et al. (2017) on the univariate UCR sets that ship inside the aeon wheel.

    python benchmarks/tsc/run.py GunPoint fcn --epochs 2000      # one run -> results/GunPoint-fcn.json
    python benchmarks/tsc/run.py --table                          # results/*.json -> results.md

Each run is the paper's protocol (glassnet.models.tsc.train): inputs z-normalised with the training set's
mean and std, the paper's optimizer, schedule and batch size, and the test error at the epoch of lowest
training loss. Only the number of epochs may be fewer than the paper's, to fit a 2-core CPU.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import glassnet as gn
from glassnet.models import tsc

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: univariate UCR classification sets in aeon's wheel: name -> file stem (PickupGestureWiimoteZ has
#: series of unequal length; aeon also ships its equal-length version, which is what glassnet can read)
DATASETS = {
    "GunPoint": "GunPoint",
    "ItalyPowerDemand": "ItalyPowerDemand",
    "ArrowHead": "ArrowHead",
    "OSULeaf": "OSULeaf",
    "PickupGestureWiimoteZ": "PickupGestureWiimoteZ_eq",
    "ACSF1": "ACSF1",
}

#: Wang et al. 2017, test error (README table of their repository; see /work/shared/references.md)
WANG = {
    "GunPoint": {"mlp": 0.067, "fcn": 0.0, "resnet": 0.007},
    "ItalyPowerDemand": {"mlp": 0.034, "fcn": 0.03, "resnet": 0.040},
    "OSULeaf": {"mlp": 0.43, "fcn": 0.012, "resnet": 0.021},
    "ArrowHead": {"mlp": 0.177, "fcn": 0.120, "resnet": 0.183},
}
#: Fawaz et al. 2019, mean (std) accuracy % over 10 runs, UCR 2015 archive (README of hfawaz/dl-4-tsc)
FAWAZ = {
    "GunPoint": {"mlp": "92.7 (1.1)", "fcn": "100.0 (0.0)", "resnet": "99.1 (0.7)"},
    "ItalyPowerDemand": {"mlp": "95.4 (0.2)", "fcn": "96.1 (0.3)", "resnet": "96.3 (0.4)"},
    "OSULeaf": {"mlp": "55.7 (1.0)", "fcn": "97.7 (0.9)", "resnet": "97.9 (0.8)"},
    "ArrowHead": {"mlp": "77.8 (1.2)", "fcn": "84.3 (1.5)", "resnet": "84.5 (1.2)"},
    # not in the 2015 archive: single runs from results/results-ucr-128.csv (UCR 2018 archive, itr 0, 1)
    "PickupGestureWiimoteZ": {"fcn": "74, 78 (2 runs, 2018 archive)", "resnet": "72 (1 run, 2018 archive)"},
    "ACSF1": {"fcn": "90 (1 run, 2018 archive)", "resnet": "93, 92 (2 runs, 2018 archive)"},
}


def aeon_files(name: str) -> tuple[str, str]:
    stem = DATASETS.get(name, name)
    train = Path(gn.data.aeon_ucr_path("GunPoint")).parents[1] / name / f"{stem}_TRAIN.ts"
    return str(train), str(train).replace("_TRAIN.ts", "_TEST.ts")


class EveryN(gn.callbacks.Callback):
    """One log line every ``n`` epochs (a progress bar would fill the log of a background run)."""

    def __init__(self, n: int) -> None:
        self.n, self.start = n, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.n == 0:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in (logs or {}).items())
            print(f"  epoch {epoch + 1}: {shown}  ({time.perf_counter() - self.start:.0f} s)", flush=True)


def run(name: str, arch: str, epochs: int, seed: int, test_every: int, out: Path) -> dict:
    train_file, test_file = aeon_files(name)
    train = gn.data.load_ucr(train_file, znorm="train")
    test = gn.data.load_ucr(test_file, znorm="train", stats=train.stats)
    print(f"{name} {arch}: {train.X.shape} train, {test.X.shape} test, {epochs} epochs", flush=True)
    result = tsc.train(arch, train.X, train.y, test.X, test.y, epochs=epochs, seed=seed, test_every=test_every,
                       callbacks=[EveryN(100)])
    model = result.pop("model")
    result |= {
        "dataset": name,
        "paper_epochs": tsc.PAPER_SETTINGS[arch]["epochs"],
        "parameters": model.count_params(),
        "znorm": "train",
        "wang_error": WANG.get(name, {}).get(arch),
        "fawaz_accuracy": FAWAZ.get(name, {}).get(arch),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                    "processor": platform.processor() or platform.machine(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{name} {arch}: test error {result['test_error']:.4f} (epoch {result['best_epoch']}), final "
          f"{result['test_error_final']:.4f}, {result['seconds']:.0f} s -> {out}", flush=True)
    return result


def _err(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def table(results_dir: Path) -> str:
    rows = [json.loads(Path(f).read_text()) for f in sorted(glob.glob(str(results_dir / "*.json")))]
    order = {name: i for i, name in enumerate(DATASETS)}
    archs = {"mlp": 0, "fcn": 1, "resnet": 2}
    rows.sort(key=lambda r: (order.get(r["dataset"], 99), r["dataset"], archs.get(r["arch"], 9)))
    lines = [
        ("| Dataset | Arch | glassnet error (lowest train loss) | glassnet error (last epoch) | Wang et al. error"
        " | Fawaz et al. accuracy % | epochs (paper) | seconds (s/epoch) |"),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['arch']} | {r['test_error']:.3f} (epoch {r['best_epoch']}) "
            f"| {r['test_error_final']:.3f} | {_err(r.get('wang_error'))} | {r.get('fawaz_accuracy') or '—'} "
            f"| {r['epochs']} ({r['paper_epochs']}) | {r['seconds']:.0f} ({r['seconds_per_epoch']:.2f}) |"
        )
    return "\n".join(lines) + "\n"


def update_results_md(text: str) -> None:
    """Put the table between the ``<!-- table -->`` markers of results.md (the prose around it stays)."""
    md = HERE / "results.md"
    start, end = "<!-- table -->\n", "<!-- /table -->"
    doc = md.read_text() if md.exists() else f"# Wang et al. (2017) reproduced with glassnet\n\n{start}{end}\n"
    head, _, rest = doc.partition(start)
    _, _, tail = rest.partition(end)
    md.write_text(f"{head}{start}{text}{end}{tail}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", nargs="?", help=f"one of {', '.join(DATASETS)}")
    p.add_argument("arch", nargs="?", choices=sorted(tsc.ARCHS))
    p.add_argument("--epochs", type=int, default=None, help="default: the paper's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-every", type=int, default=10, help="test error every N epochs for the curve")
    p.add_argument("--out", default=None, help="default: results/DATASET-ARCH.json")
    p.add_argument("--table", action="store_true", help="write results.md's table from results/*.json")
    args = p.parse_args(argv)
    if args.table:
        text = table(RESULTS)
        update_results_md(text)
        print(text)
        return 0
    if not args.dataset or not args.arch:
        p.error("give DATASET and ARCH, or --table")
    epochs = args.epochs or tsc.PAPER_SETTINGS[args.arch]["epochs"]
    out = Path(args.out) if args.out else RESULTS / f"{args.dataset}-{args.arch}.json"
    run(args.dataset, args.arch, epochs, args.seed, args.test_every, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
