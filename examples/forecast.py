"""One-step forecasting with an LSTM: sines, sines of periods it never saw, and the yearly sunspot numbers.

    python examples/forecast.py [--epochs 20] [--seed 0] [--out docs/img] [--json]

One model class, :class:`glassnet.models.forecast.WindowForecaster` (LSTM 32 → Dense 1 over the previous
50 values, scaled by the training values' mean and std, Adam lr 0.01, batch 32, 20 epochs), with the same
settings on every problem:

1. **Sines.** 8 waves of each period 10, 12, ..., 40 steps (random amplitude in [0.5, 1.5] and phase),
   150 values each: 12,800 training windows. Held out: 4 new waves of each of those periods.
2. **Unseen periods.** 4 waves of each odd period 11, 13, ..., 39: inside the trained range, never
   trained on. And, to show where it stops, periods outside the range (5-8 and 45-60 steps).
3. **Sunspots.** The yearly mean sunspot numbers 1700-2008 that ship with statsmodels: trained on
   1700-1919, tested on one-year-ahead forecasts for 1920-2008 (each from the 50 years before it).

Each is compared with the naive forecast (repeat the last value) and, as a stronger classical reference,
a linear autoregression on the same 50 values fitted by least squares. Writes ``forecast.png`` (prediction
against truth for the three problems) to ``--out``. One to two minutes on two shared CPU cores.
Needs statsmodels for the sunspots (``pip install 'glassnet[forecast]'``) and matplotlib for the figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from glassnet.models.forecast import WindowForecaster, naive_forecast, sine_waves, sunspots, windows

WINDOW = 50
TRAIN_PERIODS = np.arange(10, 41, 2)  # 10, 12, ..., 40
UNSEEN_PERIODS = np.arange(11, 40, 2)  # 11, 13, ..., 39: inside the range, never trained on
OUTSIDE_PERIODS = np.array([5, 6, 7, 8, 45, 50, 55, 60])  # outside the trained range
SPLIT_YEAR = 1920  # sunspots: train on the years before, forecast the years from it on


def stack(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The windows of every series, stacked: X (N, WINDOW, 1), y (N, 1)."""
    parts = [windows(s, WINDOW) for s in series]
    return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])


def linear_reference(train: list[np.ndarray], test: list[np.ndarray]) -> float:
    """MSE of a linear autoregression ŷ = X·w + c on the same 50 values, fitted by least squares."""
    X, y = stack(train)
    A = np.c_[X[:, :, 0], np.ones(len(X))]  # (N, WINDOW + 1)
    w = np.linalg.lstsq(A, y[:, 0], rcond=None)[0]
    Xt, yt = stack(test)
    return float(np.mean((np.c_[Xt[:, :, 0], np.ones(len(Xt))] @ w - yt[:, 0]) ** 2))


def row(name: str, model: WindowForecaster, train: list[np.ndarray], test: list[np.ndarray]) -> dict:
    return {"problem": name, **model.evaluate(test), "linear_mse": linear_reference(train, test)}


def main(epochs: int = 20, seed: int = 0, out: str | Path | None = "docs/img", verbose: int = 1,
         waves_per_period: int = 8) -> dict:
    """Run the three problems; return their MSEs (and write the figure to ``out`` unless it is None)."""
    rng = np.random.default_rng(seed)
    train = sine_waves(TRAIN_PERIODS, 150, waves_per_period, rng=rng)
    held_out = sine_waves(TRAIN_PERIODS, 150, max(1, waves_per_period // 2), rng=rng)
    unseen = sine_waves(UNSEEN_PERIODS, 150, max(1, waves_per_period // 2), rng=rng)
    outside = sine_waves(OUTSIDE_PERIODS, 150, max(1, waves_per_period // 2), rng=rng)
    start = time.perf_counter()
    sine_model = WindowForecaster(epochs=epochs, seed=seed).fit(train)
    sine_seconds = time.perf_counter() - start
    rows = [row("sines, trained periods (held-out waves)", sine_model, train, held_out),
            row("sines, unseen periods inside the range", sine_model, train, unseen),
            row("sines, periods outside the range", sine_model, train, outside)]

    years, spots = sunspots()
    cut = int(np.searchsorted(years, SPLIT_YEAR))
    spots_train, spots_test = spots[:cut], spots[cut - WINDOW:]  # test windows start 50 years before 1920
    start = time.perf_counter()
    spot_model = WindowForecaster(epochs=epochs, seed=seed).fit(spots_train)  # the same class, same settings
    spot_seconds = time.perf_counter() - start
    rows.append(row(f"sunspots {SPLIT_YEAR}-{years[-1]}", spot_model, [spots_train], [spots_test]))

    result = {"rows": rows, "epochs": epochs, "seed": seed, "training_windows": {
        "sines": sine_model.n_windows_, "sunspots": spot_model.n_windows_},
        "seconds": {"sines": sine_seconds, "sunspots": spot_seconds}}
    if out is not None:
        result["figure"] = str(plot(Path(out), sine_model, held_out, unseen, spot_model, spots_test,
                                    years[cut:], rows))
    if verbose:
        print(f"{'problem':42s} {'windows':>7s} {'LSTM MSE':>10s} {'naive MSE':>10s} {'ratio':>8s} "
              f"{'linear AR(50)':>13s}")
        for r in rows:
            print(f"{r['problem']:42s} {r['windows']:7d} {r['mse']:10.3g} {r['naive_mse']:10.3g} "
                  f"{r['ratio']:8.2g} {r['linear_mse']:13.3g}")
        print(f"training: sines {sine_seconds:.1f} s ({sine_model.n_windows_} windows), sunspots "
              f"{spot_seconds:.1f} s ({spot_model.n_windows_} windows), {epochs} epochs each")
    return result


def plot(out: Path, sine_model, held_out, unseen, spot_model, spots_test, test_years, rows) -> Path:
    """Prediction against truth: one held-out sine, one of an unseen period, the sunspots' test years."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(11, 8.4))
    k_held, k_unseen = list(TRAIN_PERIODS).index(24), list(UNSEEN_PERIODS).index(25)  # waves in the middle
    cases = [(axes[0], sine_model, held_out[k_held * len(held_out) // len(TRAIN_PERIODS)], None, rows[0],
              ": a new wave of period 24"),
             (axes[1], sine_model, unseen[k_unseen * len(unseen) // len(UNSEEN_PERIODS)], None, rows[1],
              ": a wave of period 25"),
             (axes[2], spot_model, spots_test, test_years, rows[3], ", one year ahead")]
    for ax, model, series, x_axis, r, which in cases:
        X, y = windows(series, WINDOW)
        x = np.arange(len(y)) + WINDOW if x_axis is None else x_axis
        ax.plot(x, y[:, 0], "k.", ms=4, label="truth")
        ax.plot(x, model.predict(X)[:, 0], label=f"LSTM (MSE {r['mse']:.3g} over the whole set)")
        ax.plot(x, naive_forecast(X)[:, 0], alpha=0.6,
                label=f"repeat the last value (MSE {r['naive_mse']:.3g})")
        ax.set_title(r["problem"] + which, fontsize=10)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the curves
    axes[0].set_xlabel("step")
    axes[1].set_xlabel("step")
    axes[2].set(xlabel="year", ylabel="sunspot number")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "forecast.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/img", help="folder for forecast.png (default: docs/img)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = p.parse_args()
    result = main(args.epochs, args.seed, args.out, verbose=0 if args.json else 1)
    if args.json:
        print(json.dumps(result, indent=1))
