"""Tests of glassnet.data.toy: shapes, dtypes, formulas and reproducibility of the generated sets."""

import numpy as np
import pytest

from glassnet.data import article, blobs, moons, sine, spiral, xor
from glassnet.errors import ConfigError


def test_article_is_the_seed_articles_data():
    X, y = article()
    np.testing.assert_array_equal(X, [[1, 0, 1, 0], [1, 0, 1, 1], [0, 1, 0, 1]])
    np.testing.assert_array_equal(y, [[1], [1], [0]])
    assert X.dtype == y.dtype == np.float64


def test_xor():
    X, y = xor()
    assert X.shape == (4, 2) and y.shape == (4, 1) and X.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(y[:, 0], np.logical_xor(X[:, 0], X[:, 1]))


def test_spiral_follows_the_nnfs_formula():
    n, k, noise = 50, 3, 0.2
    X, y = spiral(n, k, noise, rng=np.random.default_rng(7))
    assert X.shape == (n * k, 2) and X.dtype == np.float64
    assert y.dtype == np.int64 and y.tolist() == [c for c in range(k) for _ in range(n)]
    # Rebuild from the same stream of normals: one draw of n per class, in class order.
    rng = np.random.default_rng(7)
    r = np.linspace(0, 1, n)
    for c in range(k):
        t = np.linspace(c * 4, (c + 1) * 4, n) + rng.standard_normal(n) * noise
        np.testing.assert_allclose(X[y == c], np.c_[r * np.sin(t * 2.5), r * np.cos(t * 2.5)])


def test_spiral_without_noise_is_exact():
    X, _ = spiral(3, 1, noise=0)
    t = np.linspace(0, 4, 3)
    np.testing.assert_allclose(X, np.c_[[0, 0.5, 1] * np.sin(2.5 * t), [0, 0.5, 1] * np.cos(2.5 * t)])


@pytest.mark.parametrize("make", [spiral, blobs, moons, sine])
def test_seeded_sets_are_reproducible(make):
    a, b = make(rng=3), make(rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], make(rng=4)[0])


def test_blobs():
    X, y = blobs(n=301, centers=3, n_features=4, std=0.5, rng=0)
    assert X.shape == (301, 4) and y.shape == (301,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [101, 100, 100]
    centres = np.array([[0.0, 0.0], [100.0, 100.0]])
    X, y = blobs(n=10, centers=centres, std=0.0, rng=0)
    np.testing.assert_array_equal(X, centres[y])
    assert len(set(y[:5].tolist())) > 1  # shuffled, not grouped by class


def test_moons_lie_on_two_half_circles_without_noise():
    X, y = moons(n=101, noise=0.0, rng=0)
    assert X.shape == (101, 2) and y.dtype == np.int64 and np.bincount(y).tolist() == [50, 51]
    np.testing.assert_allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1.0, X[y == 1, 1] - 0.5), 1.0)


def test_sine():
    X, y = sine(n=500, rng=0)
    assert X.shape == y.shape == (500, 1) and X.dtype == y.dtype == np.float64
    assert X.min() >= -np.pi and X.max() <= np.pi
    assert (y - np.sin(X)).std() == pytest.approx(0.1, rel=0.15)
    X, y = sine(n=5, noise=0, rng=0)
    np.testing.assert_allclose(y, np.sin(X))


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: spiral(n_per_class=0),
            r"`n_per_class`, expected a positive integer. Received: n_per_class=0",
        ),
        (lambda: spiral(n_classes=2.5), r"`n_classes`"),
        (lambda: spiral(noise=-1), r"`noise`, expected a finite number >= 0"),
        (lambda: blobs(n=0), r"`n`"),
        (lambda: blobs(centers=0), r"`centers`"),
        (lambda: blobs(centers=[[np.nan, 0.0]]), r"`centers`"),
        (lambda: moons(noise=float("inf")), r"`noise`"),
        (lambda: sine(n=True), r"`n`"),
        (lambda: spiral(rng=-1), r"`seed`"),
    ],
)
def test_bad_arguments_are_config_errors(call, match):
    with pytest.raises(ConfigError, match=match):
        call()
