"""gn.models.forecast: windows, the naive baseline, the LSTM window forecaster, sunspots, and bad input."""

import importlib.util
import socket
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigError, DataError, NotBuiltError, ShapeError
from glassnet.models.forecast import WindowForecaster, naive_forecast, sine_waves, sunspots, windows

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "forecast.py"


# -- windows and the naive forecast ------------------------------------------------------------------------
def test_windows_by_hand():
    # series 10, 11, ..., 15 with window 3: inputs (10 11 12) (11 12 13) (12 13 14), targets 13, 14, 15
    X, y = windows(np.arange(10, 16), window=3)
    assert X.shape == (3, 3, 1) and y.shape == (3, 1) and X.dtype == y.dtype == np.float64
    assert X[:, :, 0].tolist() == [[10, 11, 12], [11, 12, 13], [12, 13, 14]]
    assert y[:, 0].tolist() == [13, 14, 15]
    assert naive_forecast(X)[:, 0].tolist() == [12, 13, 14]  # each window's last value


def test_windows_of_fifty():
    s = np.random.default_rng(0).normal(size=120)
    X, y = windows(s)  # the default window is 50
    assert X.shape == (70, 50, 1) and y.shape == (70, 1)
    for i in (0, 33, 69):
        np.testing.assert_array_equal(X[i, :, 0], s[i:i + 50])
        assert y[i, 0] == s[i + 50]
    X[0, 0, 0] = 99.0  # a copy, not a view of the series
    assert s[0] != 99.0
    assert windows(s[:51])[0].shape == (1, 50, 1)  # the shortest series: one window


def test_sine_waves():
    waves = sine_waves([10, 20], length=40, n_per_period=3, amplitude=(2, 2), rng=0)
    assert len(waves) == 6 and all(w.shape == (40,) for w in waves)
    # amplitude 2, period 10: the wave repeats every 10 steps and peaks at 2
    np.testing.assert_allclose(waves[0][10:], waves[0][:-10], atol=1e-12)
    assert 1.9 < np.abs(waves[0]).max() <= 2.0
    np.testing.assert_allclose(waves[3][20:], waves[3][:-20], atol=1e-12)
    again = sine_waves([10, 20], length=40, n_per_period=3, amplitude=(2, 2), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(np.stack(waves), np.stack(again))  # a seed or a Generator, the same draw


# -- the forecaster ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sine_model():
    """A tiny forecaster on 2 waves of each of 7 periods (10, 15, ..., 40): 700 windows, 6 epochs, ~1 s.

    Seeds 0-5 (of data and model) gave MSE ratios to the naive forecast of 0.01-0.09; seed 0: 0.012 (held
    out) and 0.014 (unseen periods).
    """
    train = sine_waves(np.arange(10, 41, 5), length=100, n_per_period=2, rng=0)
    return WindowForecaster(units=16, epochs=6, batch_size=16, seed=0).fit(train)


def test_tiny_sine_model_beats_the_naive_forecast(sine_model):
    held_out = sine_waves(np.arange(10, 41, 5), length=100, n_per_period=2, rng=1)  # new phases, amplitudes
    unseen = sine_waves(np.arange(12, 40, 5), length=100, n_per_period=2, rng=2)  # 12, 17, ...: never trained
    for test in (held_out, unseen):
        r = sine_model.evaluate(test)
        assert r["windows"] == len(test) * 50
        # the naive MSE of a·sin(2πt/P): a²(1 - cos 2π/P) on average, 0.02-0.2 for these periods
        assert 0.01 < r["naive_mse"] < 0.3, r
        assert r["mse"] < 0.2 * r["naive_mse"], f"LSTM MSE {r['mse']:.4g} vs naive {r['naive_mse']:.4g}"
        assert r["ratio"] == r["mse"] / r["naive_mse"]
    assert sine_model.n_windows_ == 14 * 50 and len(sine_model.history_["loss"]) == 6
    assert sine_model.history_["loss"][-1] < 0.1 * sine_model.history_["loss"][0]


def test_evaluate_is_the_mse_of_predict(sine_model):
    s = sine_waves([17], length=80, rng=3)[0]
    X, y = windows(s)
    pred = sine_model.predict(X)
    assert pred.shape == (30, 1) and pred.dtype == np.float64
    r = sine_model.evaluate(s)
    assert r["mse"] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-12)
    assert r["naive_mse"] == pytest.approx(np.mean((s[49:-1] - s[50:]) ** 2), rel=1e-12)


def test_scaling_makes_the_units_irrelevant():
    # a·s + b standardizes to the same numbers as s, so the network sees the same data and answers in a·, + b
    s = sine_waves([12, 20], length=90, n_per_period=1, rng=4)
    plain = WindowForecaster(units=4, epochs=1, seed=0, dtype="float64").fit(s)
    moved = WindowForecaster(units=4, epochs=1, seed=0, dtype="float64").fit([1000 * w + 5000 for w in s])
    assert moved.mean_ == pytest.approx(1000 * plain.mean_ + 5000)
    assert moved.std_ == pytest.approx(1000 * plain.std_)
    X, _ = windows(s[0])
    np.testing.assert_allclose(moved.predict(1000 * X + 5000), 1000 * plain.predict(X) + 5000, rtol=1e-9)


def test_a_constant_series_is_not_divided_by_zero():
    f = WindowForecaster(window=5, units=2, epochs=1).fit(np.full(30, 7.0))
    assert f.std_ == 1.0 and f.mean_ == 7.0
    assert np.isfinite(f.predict(windows(np.full(8, 7.0), 5)[0])).all()


# -- sunspots: shipped with statsmodels, read offline --------------------------------------------------------
def test_sunspots_load_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("sunspots() tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    years, values = sunspots()
    assert years.shape == values.shape == (309,)
    assert (years[0], years[-1]) == (1700, 2008) and np.all(np.diff(years) == 1)
    assert values[:3].tolist() == [5.0, 11.0, 16.0] and values[-1] == 2.9  # the first and last years
    assert np.isfinite(values).all() and values.min() >= 0 and 150 < values.max() < 200


# -- bad input -----------------------------------------------------------------------------------------------
def test_a_series_shorter_than_the_window():
    with pytest.raises(ShapeError, match=r"series has 50 values; a window of 50 needs at least 51"):
        windows(np.arange(50.0))
    with pytest.raises(ShapeError, match=r"series\[1\] has 20 values; a window of 50 needs at least 51"):
        WindowForecaster().fit([np.arange(60.0), np.arange(20.0)])


def test_nan_and_inf_are_named():
    with pytest.raises(DataError, match="series contains NaN at row 2"):
        windows([1.0, 2.0, np.nan, 4.0], window=2)
    s = np.arange(80.0)
    s[70] = np.inf
    with pytest.raises(DataError, match=r"series\[0\] contains inf at row 70"):
        WindowForecaster().fit([s])


def test_two_dimensional_input_is_refused(sine_model):
    with pytest.raises(ShapeError, match=r"one series of shape \(T,\); received shape \(3, 60\)"):
        windows(np.zeros((3, 60)))
    with pytest.raises(ShapeError, match=r"list of series; received an array of shape \(3, 60\).*list\(series"):
        WindowForecaster().fit(np.zeros((3, 60)))
    X, _ = windows(np.sin(np.arange(60.0)))
    with pytest.raises(ShapeError, match=r"windows of shape \(N, 50, 1\).*received shape \(10, 50\); add the "
                                         r"channel axis: X\[\.\.\., None\]"):
        sine_model.predict(X[:, :, 0])
    with pytest.raises(ShapeError, match=r"\(N, 50, 1\).*received shape \(10, 40, 1\)"):
        sine_model.predict(X[:, :40])  # windows of another length
    with pytest.raises(ShapeError, match=r"\(N, window, 1\).*received shape \(10, 50\)"):
        naive_forecast(X[:, :, 0])


def test_settings_are_checked_and_fit_comes_first():
    with pytest.raises(NotBuiltError, match="not fitted yet"):
        WindowForecaster().predict(np.zeros((1, 50, 1)))
    with pytest.raises(ConfigError, match="window=0"):
        windows(np.arange(10.0), window=0)
    for kw, name in (({"units": 0}, "units"), ({"epochs": 1.5}, "epochs"),
                     ({"learning_rate": 0}, "learning_rate"), ({"clipnorm": -1.0}, "clipnorm")):
        with pytest.raises(ConfigError, match=f"`{name}`"):
            WindowForecaster(window=5, **kw).fit(np.arange(20.0))


# -- the example ---------------------------------------------------------------------------------------------
def test_example_runs_and_draws(tmp_path):
    spec = importlib.util.spec_from_file_location("forecast_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(epochs=1, seed=0, out=tmp_path, verbose=0, waves_per_period=1)
    assert [r["problem"].split(",")[0].split(" ")[0] for r in result["rows"]] == ["sines"] * 3 + ["sunspots"]
    assert result["training_windows"] == {"sines": 16 * 100, "sunspots": 170}  # 1700-1919: 220 years - 50
    spots = result["rows"][3]
    assert spots["windows"] == 89  # 1920-2008
    assert (tmp_path / "forecast.png").stat().st_size > 10_000
    assert gn.models.forecast.WindowForecaster is WindowForecaster
