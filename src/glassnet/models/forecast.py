"""One-step forecasting: the previous ``window`` values of a series in, the next value out.

Every run of ``window + 1`` consecutive values of a series is one example (:func:`windows`); a small
recurrent network reads the first ``window`` values and predicts the last one (:class:`WindowForecaster`)::

    series s (T,)  ->  X (N, window, 1), y (N, 1),  N = T - window,  X[i] = s[i:i+window], y[i] = s[i+window]
    z = (x - mean_) / std_                       # scaled with the training values' mean and std
    LSTM(units): z_1 .. z_window -> h (N, units) # the state after the last step
    Dense(1):   h -> ẑ (N, 1)                    # a linear output, trained on the MSE with Adam
    ŷ = ẑ·std_ + mean_                           # back in the series' units

Any forecast is measured against the naive one, "tomorrow as today": ``ŷ_{t+1} = s_t``
(:func:`naive_forecast`), which is what a model that learned nothing about the dynamics converges to.

The same code runs on every series, synthetic or real: sines of known periods (:func:`sine_waves`) and
the yearly sunspot numbers 1700-2008 that statsmodels ships (:func:`sunspots`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..checks import check_number, check_positive_int
from ..data.validate import check_array
from ..errors import DataError, NotBuiltError, ShapeError
from ..layers import LSTM, Dense
from ..model import Sequential
from ..optimizers import Adam

__all__ = ["WindowForecaster", "naive_forecast", "sine_waves", "sunspots", "windows"]


def _series(series, name: str) -> np.ndarray:
    """One series as a finite float64 array (T,), or a ShapeError / DataError naming it."""
    s = check_array(series, name, dtype="float64", min_ndim=1, max_ndim=None)
    if s.ndim != 1:
        raise ShapeError(f"{name} must be one series of shape (T,); received shape {s.shape}. Windows "
                         f"(N, window, 1) go to predict(); several series go in a list")
    return s


def windows(series, window: int = 50, name: str = "series") -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into every run of ``window`` values and the value after it.

    ``X[i] = series[i : i+window]`` and ``y[i] = series[i+window]`` for ``i = 0 .. T-window-1``.

    Parameters
    ----------
    series : array_like, shape (T,)
        Finite numbers; NaN or inf raise a DataError naming the first one.
    window : int, default 50
        Values per input; the series needs at least ``window + 1``.
    name : str
        How messages call the series.

    Returns
    -------
    X : ndarray, shape (T - window, window, 1)
        Inputs, one channel, float64.
    y : ndarray, shape (T - window, 1)
        Targets, float64.

    Examples
    --------
    >>> X, y = windows([1, 2, 3, 4, 5], window=3)
    >>> X[:, :, 0].tolist(), y.tolist()
    ([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]], [[4.0], [5.0]])
    """
    window = check_positive_int("window", window)
    s = _series(series, name)
    if len(s) <= window:
        raise ShapeError(f"{name} has {len(s)} values; a window of {window} needs at least {window + 1} "
                         f"(the window and the value after it)")
    runs = np.lib.stride_tricks.sliding_window_view(s, window + 1)  # (N, window+1), a view
    return runs[:, :window, None].copy(), runs[:, window:].copy()


def _check_windows(X, window: int | None = None, name: str = "X") -> np.ndarray:
    """Windows (N, window, 1) as float64, or a ShapeError that says how to get them."""
    X = check_array(X, name, dtype="float64", min_ndim=1, max_ndim=None)
    want = f"(N, {window}, 1)" if window is not None else "(N, window, 1)"
    if X.ndim != 3 or X.shape[2] != 1 or (window is not None and X.shape[1] != window):
        hint = f"; add the channel axis: {name}[..., None]" if X.ndim == 2 else ""
        raise ShapeError(f"{name} must hold windows of shape {want}: N windows of {window or 'window'} "
                         f"values, one channel; received shape {X.shape}{hint}")
    return X


def naive_forecast(X) -> np.ndarray:
    """The persistence forecast ``ŷ = x_window``: each window's last value, shape (N, 1).

    Parameters
    ----------
    X : array_like, shape (N, window, 1)
    """
    return _check_windows(X)[:, -1, :].copy()  # (N, 1)


def sine_waves(periods: Sequence[float], length: int = 150, n_per_period: int = 1,
               amplitude: tuple[float, float] = (0.5, 1.5), noise: float = 0.0,
               rng: np.random.Generator | int | None = 0) -> list[np.ndarray]:
    """Sine waves ``a·sin(2πt/P + φ) + noise``, ``n_per_period`` of each period P, t = 0 .. length-1.

    Each wave draws its amplitude ``a`` uniformly from ``amplitude`` and its phase φ from [0, 2π).

    Parameters
    ----------
    periods : sequence of float > 0
        Periods in steps.
    length : int, default 150
        Values per wave.
    n_per_period : int, default 1
    amplitude : (low, high), default (0.5, 1.5)
    noise : float ≥ 0, default 0
        Standard deviation of Gaussian noise added to each value.
    rng : numpy.random.Generator or int seed

    Returns
    -------
    list of ndarray (length,)
        Period by period: ``n_per_period`` waves of ``periods[0]``, then of ``periods[1]``, ...
    """
    length, n = check_positive_int("length", length), check_positive_int("n_per_period", n_per_period)
    noise = check_number("noise", noise)
    low, high = (check_number("amplitude", a) for a in amplitude)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    t = np.arange(length)
    waves = []
    for period in periods:
        period = check_number("periods", period, low_open=True, expected="positive numbers")
        for _ in range(n):
            a, phase = rng.uniform(low, high), rng.uniform(0, 2 * np.pi)
            waves.append(a * np.sin(2 * np.pi * t / period + phase) + noise * rng.standard_normal(length))
    return waves


def sunspots() -> tuple[np.ndarray, np.ndarray]:
    """The yearly mean sunspot numbers 1700-2008 (309 values) that ship with statsmodels; no download.

    Returns
    -------
    years : ndarray (309,) of int
    values : ndarray (309,) of float64

    Raises
    ------
    DataError
        statsmodels is not installed (``pip install glassnet[forecast]``).
    """
    try:
        from statsmodels.datasets import sunspots as data
    except ImportError:
        raise DataError("the sunspot numbers ship with statsmodels, which is not installed: "
                        "pip install 'glassnet[forecast]' (or statsmodels)") from None
    frame = data.load_pandas().data  # columns YEAR, SUNACTIVITY, read from the package's CSV
    return frame["YEAR"].to_numpy().astype(int), frame["SUNACTIVITY"].to_numpy(dtype=np.float64)


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """The mean and standard deviation of finite ``values`` (T,), computed on values divided by their largest
    magnitude so that no square overflows (values near 1e300); a std of 0 (a constant series) becomes 1."""
    top = float(np.max(np.abs(values)))
    if top == 0.0:
        return 0.0, 1.0
    unit = values / top  # (T,) in [-1, 1]
    mean, std = float(unit.mean()) * top, float(unit.std()) * top
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise DataError(f"the series' values (up to {top:.3g} in magnitude) have a mean or spread that float64 "
                        "cannot hold; rescale the series")
    return mean, std or 1.0


class WindowForecaster:
    """An LSTM that forecasts the next value of a series from its previous ``window`` values.

    ``fit`` scales every value by the training values' mean and std, cuts each series into windows
    (:func:`windows`), and trains ``LSTM(units) → Dense(1)`` on the mean squared error with Adam;
    ``predict`` and ``evaluate`` answer in the series' own units.

    Parameters
    ----------
    window : int, default 50
        Values the model sees before each forecast.
    units : int, default 32
        Size of the LSTM's state.
    epochs : int, default 20
    batch_size : int, default 32
    learning_rate : float, default 0.01
        Adam's step size.
    clipnorm : float or None, default 1.0
        Each gradient's norm is clipped to this (recurrent networks' occasional large steps).
    seed : int, optional
        Seeds initialization and shuffling.
    dtype : "float32" (default) or "float64"
    verbose : int, default 0
        As in ``Sequential.fit``.

    Attributes
    ----------
    model_ : Sequential
        The trained network (scaled units in and out).
    mean_, std_ : float
        The training values' mean and standard deviation (1 for a constant series).
    history_ : dict
        Per epoch ``loss`` (scaled units).
    n_windows_ : int
        Training windows.

    Examples
    --------
    >>> f = WindowForecaster(window=10, units=4, epochs=1).fit(np.sin(np.arange(40) / 3))
    >>> f.predict(windows(np.sin(np.arange(15) / 3), window=10)[0]).shape
    (5, 1)
    """

    def __init__(self, window: int = 50, units: int = 32, epochs: int = 20, batch_size: int = 32,
                 learning_rate: float = 0.01, clipnorm: float | None = 1.0, seed: int | None = 0,
                 dtype="float32", verbose: int = 0) -> None:
        self.window, self.units, self.epochs, self.batch_size = window, units, epochs, batch_size
        self.learning_rate, self.clipnorm, self.seed, self.dtype, self.verbose = (
            learning_rate, clipnorm, seed, dtype, verbose)

    def _windows(self, series, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Windows of one series or of each in a list, stacked: (N, window, 1), (N, 1); and every value."""
        if isinstance(series, np.ndarray) and series.ndim == 2:
            raise ShapeError(f"{name} must be one series (T,) or a list of series; received an array of "
                             f"shape {series.shape}. For several series of equal length pass list({name}); "
                             "for windows (N, window, 1) use predict()")
        many = isinstance(series, (list, tuple)) and len(series) > 0 and np.ndim(series[0]) == 1
        named = [(s, f"{name}[{i}]") for i, s in enumerate(series)] if many else [(series, name)]
        parts = [windows(s, self.window, label) for s, label in named]
        values = np.concatenate([_series(s, label) for s, label in named])  # (ΣT,)
        return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts]), values

    def fit(self, series) -> WindowForecaster:
        """Train on every window of ``series``: one array (T,), or a list of arrays (windows never cross two).

        Returns ``self``.
        """
        check_positive_int("window", self.window)
        units = check_positive_int("units", self.units)
        epochs = check_positive_int("epochs", self.epochs)
        batch_size = check_positive_int("batch_size", self.batch_size)
        lr = check_number("learning_rate", self.learning_rate, low_open=True, expected="a positive number")
        clipnorm = check_number("clipnorm", self.clipnorm, low_open=True, allow_none=True,
                                expected="a positive number or None")
        X, y, values = self._windows(series, "series")
        self.mean_, self.std_ = _mean_std(values)  # every value once
        self.model_ = Sequential([LSTM(units), Dense(1)], seed=self.seed, dtype=self.dtype, name="forecast")
        self.model_.compile(loss="mse", optimizer=Adam(lr, clipnorm=clipnorm))
        history = self.model_.fit(self._scale(X), self._scale(y), epochs=epochs, batch_size=batch_size,
                                  shuffle=True, verbose=self.verbose)
        self.history_ = {"loss": list(history.history["loss"])}
        self.n_windows_ = len(X)
        return self

    def _scale(self, a: np.ndarray) -> np.ndarray:
        return (a - self.mean_) / self.std_

    def predict(self, X) -> np.ndarray:
        """Forecasts ``ŷ (N, 1)`` for windows ``X (N, window, 1)``, in the series' units (float64)."""
        if not hasattr(self, "model_"):
            raise NotBuiltError("this WindowForecaster is not fitted yet; call fit(series) first")
        X = _check_windows(X, self.window)
        z = self.model_.predict(self._scale(X), batch_size=1024)  # (N, 1), scaled units
        return z.astype(np.float64) * self.std_ + self.mean_

    def evaluate(self, series) -> dict:
        """The mean squared error of one-step forecasts over every window of ``series``, and the naive one's.

        Returns
        -------
        dict
            ``windows`` (N), ``mse`` (the model's), ``naive_mse`` (repeating the last value), in the series'
            units squared, and ``ratio`` (``mse / naive_mse``; 1 when both are 0, as on a constant series, and
            inf when only the naive one is).
        """
        X, y, _ = self._windows(series, "series")
        e, e_naive = self.predict(X) - y, naive_forecast(X) - y  # (N, 1) each
        with np.errstate(over="ignore"):  # errors near 1e160 and above: the MSE is inf, as it is
            mse, naive = float(np.mean(e**2)), float(np.mean(e_naive**2))
        if naive and np.isfinite(mse) and np.isfinite(naive):
            ratio = mse / naive
        elif naive:  # an MSE overflowed: the ratio from the errors divided by the largest one
            top = max(float(np.max(np.abs(e))), float(np.max(np.abs(e_naive))))
            ratio = float(np.mean((e / top) ** 2) / np.mean((e_naive / top) ** 2))
        else:
            ratio = 1.0 if mse == 0 else float("inf")  # 0/0: as good as the naive forecast
        return {"windows": len(X), "mse": mse, "naive_mse": naive, "ratio": ratio}

    def __repr__(self) -> str:
        return (f"WindowForecaster(window={self.window}, units={self.units}, epochs={self.epochs}, "
                f"batch_size={self.batch_size}, learning_rate={self.learning_rate})")
