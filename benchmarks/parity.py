"""Parity with scikit-learn's MLP (issue 14): ``python benchmarks/parity.py [--quick] [--json F] [--md F]``.

GlassClassifier/GlassRegressor against MLPClassifier/MLPRegressor on the data sets that ship with
scikit-learn (iris, wine, breast_cancer, digits: accuracy; diabetes: R²), trained alike:

- the same network (hidden layers, ReLU), Adam with the same learning rate and batch size, and the same
  number of epochs: scikit-learn's stopping rule is switched off (``tol=0``, ``n_iter_no_change=epochs``,
  no early stopping), so both make every epoch, each shuffling the rows every epoch;
- the same L2 penalty: scikit-learn's ``alpha`` becomes glassnet's ``l2`` by :func:`glassnet_l2`;
- inputs standardized by a ``StandardScaler`` in the pipeline, and for diabetes the target too
  (``TransformedTargetRegressor``), fitted on each training fold;
- the same splits: stratified (classification) or plain k-fold cross-validation, shuffled, per seed;
- float64 on both sides (scikit-learn's dtype for float64 data), plus glassnet at its default float32;
- one BLAS thread for everyone (threadpoolctl), so fit times compare like with like on a shared machine.

Each fold fits the contestants one after the other, so a busy spell of the machine falls on all of them.
The fit time is the wall-clock time of ``pipeline.fit`` (scaling included, scoring not), after one warm-up
fit per contestant (imports, the fused kernels' cache). Writes ``benchmarks/results/parity[-quick].json``
and ``.md``; the Markdown is what README.md's "Parity with scikit-learn's MLP" section shows.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import sklearn
from sklearn import datasets
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

HERE = Path(__file__).resolve().parent
try:
    import glassnet
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))
    import glassnet
from glassnet.layers import Dense
from glassnet.sklearn import GlassClassifier, GlassRegressor

#: name -> (task, loader); scikit-learn ships all five, nothing is downloaded
DATASETS = {
    "iris": ("classification", datasets.load_iris),
    "wine": ("classification", datasets.load_wine),
    "breast_cancer": ("classification", datasets.load_breast_cancer),
    "digits": ("classification", datasets.load_digits),
    "diabetes": ("regression", datasets.load_diabetes),
}
#: contestant -> (glassnet dtype, scikit-learn's bias initialization?), or None for scikit-learn itself
CONTESTANTS = {
    "glassnet float64": ("float64", False),
    "glassnet float32": ("float32", False),
    "scikit-learn": None,
    "glassnet float64 + MLP bias init": ("float64", True),  # not run by default: the ablation of the README
}
DEFAULT_CONTESTANTS = ("glassnet float64", "glassnet float32", "scikit-learn")


@dataclass(frozen=True)
class Settings:
    """What both sides train with; the defaults are the recorded run's (MLPClassifier's own defaults
    for the network, learning rate and alpha, and its default ``max_iter`` as the number of epochs)."""

    hidden_layer_sizes: tuple[int, ...] = (100,)
    activation: str = "relu"
    learning_rate: float = 1e-3
    batch_size: int = 32
    alpha: float = 1e-4
    epochs: int = 200
    folds: int = 5
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)


QUICK = Settings(epochs=20, folds=3, seeds=(0,))


def glassnet_l2(alpha: float, batch_size: int, task: str) -> float:
    """glassnet's ``l2`` that penalizes the weights as scikit-learn's ``alpha`` does.

    scikit-learn minimizes, per batch of B rows, ``data loss + alpha · ΣW² / (2B)``; glassnet minimizes
    ``data loss + l2 · ΣW²``. For classification both data losses are the mean cross-entropy, so
    ``l2 = alpha / (2B)``. For regression scikit-learn's data loss is ``mean(e²) / 2`` and glassnet's
    ``mean(e²)``: glassnet's objective is twice scikit-learn's when ``l2 = alpha / B``, which gives the
    same gradient direction (Adam ignores the factor 2, but for its epsilon).
    """
    return alpha / (2 * batch_size) if task == "classification" else alpha / batch_size


def _mlp_bias_init(layer: Dense):
    """scikit-learn's bias initialization for ``layer``: U(±sqrt(6 / (fan_in + fan_out))), as its kernel."""
    def init(shape, rng, dtype):
        fan_in, fan_out = layer.params["W"].shape  # Dense.build draws the kernel first
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)
    return init


class _MLPBiasInit:
    """glassnet's estimator with one change: biases start as MLPClassifier's do (relu), not at zero."""

    def _network(self, s, units, activation):
        model = super()._network(s, units, activation)
        for layer in model.layers:
            if isinstance(layer, Dense):
                layer.bias_initializer = _mlp_bias_init(layer)
        return model


class GlassClassifierMLPInit(_MLPBiasInit, GlassClassifier):
    """GlassClassifier whose biases start uniform, as MLPClassifier's (the README's ablation)."""


class GlassRegressorMLPInit(_MLPBiasInit, GlassRegressor):
    """GlassRegressor whose biases start uniform, as MLPRegressor's (the README's ablation)."""


def estimator(contestant: str, task: str, s: Settings, seed: int):
    """The pipeline ``contestant`` fits: StandardScaler, then the network (target scaled for regression)."""
    glass = CONTESTANTS[contestant]
    if glass is None:
        kind = MLPClassifier if task == "classification" else MLPRegressor
        net = kind(hidden_layer_sizes=s.hidden_layer_sizes, activation=s.activation, solver="adam",
                   learning_rate_init=s.learning_rate, batch_size=s.batch_size, alpha=s.alpha,
                   max_iter=s.epochs, tol=0.0, n_iter_no_change=s.epochs, early_stopping=False,
                   shuffle=True, random_state=seed)
    else:
        dtype, mlp_init = glass
        kinds = [[GlassClassifier, GlassRegressor], [GlassClassifierMLPInit, GlassRegressorMLPInit]][mlp_init]
        kind = kinds[task != "classification"]
        net = kind(hidden_layer_sizes=s.hidden_layer_sizes, activation=s.activation, optimizer="adam",
                   learning_rate=s.learning_rate, batch_size=s.batch_size,
                   l2=glassnet_l2(s.alpha, s.batch_size, task), epochs=s.epochs, early_stopping=False,
                   dtype=dtype, random_state=seed)
    if task == "regression":
        net = TransformedTargetRegressor(regressor=net, transformer=StandardScaler())
    return make_pipeline(StandardScaler(), net)


def epochs_run(pipe) -> int:
    """Epochs the fitted pipeline's network trained (``n_iter_`` on both sides)."""
    net = pipe[-1]
    return getattr(net, "regressor_", net).n_iter_


def splits(task: str, folds: int, seed: int):
    """Shuffled k-fold splits, stratified for classification."""
    kind = StratifiedKFold if task == "classification" else KFold
    return kind(n_splits=folds, shuffle=True, random_state=seed)


def run_dataset(name: str, s: Settings, contestants=DEFAULT_CONTESTANTS, log=print) -> dict:
    """Cross-validate every contestant on data set ``name``: scores (×100) and fit seconds per fold."""
    task, loader = DATASETS[name]
    X, y = loader(return_X_y=True)
    out = {c: {"scores": [], "fit_s": [], "epochs": []} for c in contestants}
    for seed in s.seeds:
        for train, test in splits(task, s.folds, seed).split(X, y):
            for c in contestants:
                pipe = estimator(c, task, s, seed)
                start = time.perf_counter()
                pipe.fit(X[train], y[train])
                out[c]["fit_s"].append(time.perf_counter() - start)
                out[c]["scores"].append(100 * float(pipe.score(X[test], y[test])))
                out[c]["epochs"].append(epochs_run(pipe))
        shown = "  ".join(f"{c} {np.mean(v['scores']):.2f} ({np.mean(v['fit_s']):.2f} s)" for c, v in out.items())
        log(f"  {name} seed {seed}: {shown}")
    for v in out.values():
        v |= {"mean": float(np.mean(v["scores"])), "std": float(np.std(v["scores"])),
              "fit_s_mean": float(np.mean(v["fit_s"]))}
    return {"dataset": name, "task": task, "metric": "accuracy" if task == "classification" else "R²",
            "rows": int(X.shape[0]), "features": int(X.shape[1]),
            "classes": len(np.unique(y)) if task == "classification" else None,
            "train_rows": round(X.shape[0] * (s.folds - 1) / s.folds), "contestants": out}


def machine() -> dict:
    """Where the run happened: CPU, load, BLAS, versions."""
    blas = sorted({f"{i['internal_api']} {i['version']}" for i in threadpool_info() if i["user_api"] == "blas"})
    return {"cpu": _cpu_name(), "logical_cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
            "blas": blas, "python": platform.python_version(), "numpy": np.__version__,
            "scikit_learn": sklearn.__version__, "glassnet": getattr(glassnet, "__version__", "?")}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(s: Settings, names=tuple(DATASETS), contestants=DEFAULT_CONTESTANTS, log=print) -> dict:
    """Every data set in ``names``, one BLAS thread; the results as a JSON-ready dict."""
    start = time.perf_counter()
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: by design
        X, y = datasets.load_iris(return_X_y=True)
        for c in contestants:  # warm-up, untimed
            estimator(c, "classification", replace(s, epochs=2), 0).fit(X, y)
        rows = [run_dataset(name, s, contestants, log) for name in names]
    settings = asdict(s) | {"l2": {t: glassnet_l2(s.alpha, s.batch_size, t) for t in ("classification", "regression")},
                            "blas_threads": 1}
    return {"date": datetime.date.today().isoformat(), "settings": settings, "machine": machine(),
            "runtime_s": time.perf_counter() - start, "results": rows}


def _shape(r: dict) -> str:
    classes = f", {r['classes']} classes" if r["classes"] else ""
    return f"{r['rows']}×{r['features']}{classes}"


def _difference(ours: list[float], theirs: list[float]) -> str:
    """Mean per-fold difference ± its standard error (folds are paired: same split, same seed)."""
    d = np.subtract(ours, theirs)  # (folds,)
    se = d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return f"{d.mean():+.2f} ± {se:.2f}"


def _table(head: list[str], rows: list[list[str]], left: int) -> list[str]:
    """A Markdown table whose first ``left`` columns are text (left-aligned), the rest numbers."""
    rule = "|" + "---|" * left + "---:|" * (len(head) - left)
    return ["| " + " | ".join(head) + " |", rule] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(res: dict) -> str:
    """Two tables (scores; fit seconds per fold) and the lines that say how they were made."""
    s, m, rows = res["settings"], res["machine"], res["results"]
    names = list(rows[0]["contestants"])
    ref = "scikit-learn"
    glass = [c for c in names if c != ref] if ref in names else []
    seeds = ", ".join(map(str, s["seeds"]))
    intro = (f"{s['folds']}-fold cross-validation × {len(s['seeds'])} seeds ({seeds}) = "
             f"{s['folds'] * len(s['seeds'])} fits per contestant and data set. Score: accuracy in %, or R² × 100 "
             "(diabetes), on the held-out fold; mean ± standard deviation over the folds. Differences in points: the "
             "mean of the per-fold differences (same split, same seed) ± its standard error.")
    scores = _table(
        ["data set", "rows×features", "metric"] + [f"{c}" for c in names] + [f"{c} − scikit-learn" for c in glass],
        [[r["dataset"], _shape(r), r["metric"]]
         + [f"{r['contestants'][n]['mean']:.2f} ± {r['contestants'][n]['std']:.2f}" for n in names]
         + [_difference(r["contestants"][n]["scores"], r["contestants"][ref]["scores"]) for n in glass] for r in rows],
        left=3)
    timing = (f"Mean fit time per fold in seconds ({s['epochs']} epochs of ⌈training rows / {s['batch_size']}⌉ "
              "batches; one BLAS thread each):")
    times = _table(
        ["data set", "training rows"] + [f"{c}" for c in names] + [f"{c} ÷ scikit-learn" for c in glass],
        [[r["dataset"], str(r["train_rows"])] + [f"{r['contestants'][n]['fit_s_mean']:.3f}" for n in names]
         + [f"{r['contestants'][n]['fit_s_mean'] / r['contestants'][ref]['fit_s_mean']:.2f}" for n in glass]
         for r in rows],
        left=1)
    hidden = ", ".join(map(str, s["hidden_layer_sizes"]))
    ran = {e for r in rows for c in r["contestants"].values() for e in c["epochs"]}
    ran = f"every fit made all {s['epochs']} epochs" if ran == {s["epochs"]} else f"fits made {sorted(ran)} epochs"
    settings = (f"Settings: hidden layers ({hidden}), {s['activation']}; Adam, learning rate {s['learning_rate']:g}, "
                f"batch {s['batch_size']}, {s['epochs']} epochs, shuffled every epoch (scikit-learn: "
                f"max_iter={s['epochs']}, tol=0, n_iter_no_change={s['epochs']}; {ran}, by n_iter_); "
                f"scikit-learn alpha={s['alpha']:g}, glassnet l2={s['l2']['classification']:.4g} (classification) "
                f"and {s['l2']['regression']:.4g} (regression); StandardScaler on the inputs (and on diabetes' "
                "target); float64 unless named.")
    load = ", ".join(f"{x:.2f}" for x in m["load_average"])
    where = (f"Run {res['date']} on {m['cpu']} ({m['logical_cpus']} logical CPUs, load average {load} at the end), "
             f"1 BLAS thread ({', '.join(m['blas'])}); NumPy {m['numpy']}, scikit-learn {m['scikit_learn']}, "
             f"Python {m['python']}; the whole run took {res['runtime_s']:.0f} s.")
    return "\n".join([intro, "", *scores, "", timing, "", *times, "", settings, "", where]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.epochs} epochs, {QUICK.folds} folds, one seed (a smoke run)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset of the data sets")
    parser.add_argument("--contestants", default=",".join(DEFAULT_CONTESTANTS),
                        help=f"comma-separated, from: {', '.join(CONTESTANTS)}")
    parser.add_argument("--json", type=Path, help="results file (default benchmarks/results/parity[-quick].json)")
    parser.add_argument("--md", type=Path, help="Markdown tables (default benchmarks/results/parity[-quick].md)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    contestants = tuple(c.strip() for c in args.contestants.split(",") if c.strip())
    unknown = [c for c in contestants if c not in CONTESTANTS]
    if unknown:
        parser.error(f"unknown contestant(s) {', '.join(unknown)}; choose from {', '.join(CONTESTANTS)}")
    s = QUICK if args.quick else Settings()
    stem = HERE / "results" / ("parity-quick" if args.quick else "parity")
    res = run(s, names, contestants, log=lambda line: print(line, flush=True))
    table = markdown(res)
    json_path, md_path = args.json or stem.with_suffix(".json"), args.md or stem.with_suffix(".md")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(table)
    print(table)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
