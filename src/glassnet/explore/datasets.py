"""The explorer's data sets: two features and class labels, generated from a seed or read from a CSV upload.

Generated sets come from :mod:`glassnet.data.toy` where it has them (spiral, moons, blobs; the tutorial's
three samples; XOR's four corners, here as noisy clouds around them); ``circle`` is made here. Every set
returns ``X`` float64 ``(N, F)`` and ``codes`` int64 ``(N,)`` with classes ``0 .. K-1``.
"""

from __future__ import annotations

import csv as csv_module
import os
import tempfile
from pathlib import Path

import numpy as np

from ..backend import make_rng
from ..data import encode_labels, read_csv, toy
from ..errors import ConfigError, DataError

__all__ = ["DATASETS", "MAX_CSV_BYTES", "MAX_CSV_ROWS", "make_dataset", "parse_csv"]

#: name -> what the page shows about it
DATASETS = {
    "circle": "a disc of one class inside a ring of the other",
    "xor": "noisy clouds around XOR's four corners (toy.xor): opposite corners share a class",
    "blobs": "three Gaussian clusters (toy.blobs), one class each",
    "spiral": "three interleaved spiral arms (toy.spiral), one class each",
    "moons": "two interleaving half circles (toy.moons)",
    "article": "the tutorial's three samples of four binary features (toy.article); no boundary to draw",
    "csv": "an uploaded CSV file: a header row, two numeric feature columns, then the label column",
}
MAX_CSV_BYTES = 1_000_000
MAX_CSV_ROWS = 5_000


def circle(n: int, noise: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 inside radius 0.5, class 1 on a ring of radius 0.7..1; ``noise`` moves points N(0, noise²)."""
    rng = make_rng(rng)
    n_in = n // 2
    r = np.r_[rng.uniform(0.0, 0.5, n_in), rng.uniform(0.7, 1.0, n - n_in)]  # (n,)
    t = rng.uniform(0.0, 2 * np.pi, n)
    X = np.c_[r * np.cos(t), r * np.sin(t)] + noise * rng.standard_normal((n, 2))  # (n, 2)
    codes = np.r_[np.zeros(n_in, np.int64), np.ones(n - n_in, np.int64)]
    order = rng.permutation(n)
    return X[order], codes[order]


def xor_clouds(n: int, noise: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points spread over XOR's four corners (centred on 0: ±0.5), each moved by N(0, noise²)."""
    rng = make_rng(rng)
    corners, y = toy.xor()
    corner = rng.integers(0, 4, n)  # which corner each point belongs to
    X = (corners[corner] - 0.5) + noise * rng.standard_normal((n, 2))
    return X, y.ravel()[corner].astype(np.int64)


def make_dataset(name: str, n_samples: int, noise: float, seed: int, csv: str | None = None,
                 filename: str = "upload.csv"):
    """``(X, codes, classes)`` of data set ``name`` (see ``DATASETS``); ConfigError for an unknown name."""
    rng = np.random.default_rng(seed)
    if name == "circle":
        X, codes = circle(n_samples, noise, rng)
    elif name == "xor":
        X, codes = xor_clouds(n_samples, noise, rng)
    elif name == "blobs":
        centres = [[-0.6, -0.6], [0.6, 0.6], [-0.6, 0.6]]
        X, codes = toy.blobs(n_samples, centers=centres, std=max(noise, 1e-3), rng=rng)
    elif name == "spiral":
        X, codes = toy.spiral(n_per_class=max(n_samples // 3, 1), n_classes=3, noise=noise, rng=rng)
        order = rng.permutation(len(X))  # toy.spiral groups rows by class; a test split needs them mixed
        X, codes = X[order], codes[order]
    elif name == "moons":
        X, codes = toy.moons(n_samples, noise=noise, rng=rng)
        X = X - [0.5, 0.25]  # centred on 0, like the other sets
    elif name == "article":
        X, y = toy.article()
        codes = y.ravel().astype(np.int64)
    elif name == "csv":
        if not isinstance(csv, str) or not csv.strip():
            raise ConfigError("Received no CSV text for dataset='csv': upload a file with a header row, two "
                              "feature columns and a label column (`csv` holds the file's text)")
        return parse_csv(csv, filename)
    else:
        raise ConfigError(f"Received an invalid value for `dataset`, expected one of {', '.join(DATASETS)}. "
                          f"Received: dataset={name!r}")
    return X, codes, np.arange(int(codes.max()) + 1)


def parse_csv(text: str, filename: str = "upload.csv"):
    """``(X, codes, classes)`` from a CSV upload: header row, two numeric feature columns, label column last.

    Raises DataError (naming the line and column, as :func:`glassnet.data.read_csv` does) for a file that is
    malformed, larger than ``MAX_CSV_BYTES``, longer than ``MAX_CSV_ROWS`` rows, with other than two
    feature columns, or with fewer than two classes.
    """
    data = text.encode("utf-8")
    if len(data) > MAX_CSV_BYTES:
        raise DataError(f"The uploaded CSV is {len(data):,} bytes; the explorer takes files up to "
                        f"{MAX_CSV_BYTES:,} bytes and {MAX_CSV_ROWS:,} rows")
    name = Path(str(filename)).name[:80] or "upload.csv"  # only for messages
    first = next((line for line in text.lstrip("\ufeff").splitlines() if line.strip()), "")
    header = [c.strip() for c in next(csv_module.reader([first]), [])]
    if len(header) != 3:
        raise DataError(f"{name}: expected a header row and 3 columns (two features, then the label); the "
                        f"first line has {len(header)}: {first[:80]!r}")
    with tempfile.TemporaryDirectory(prefix="glassnet-explore-") as tmp:
        path = os.path.join(tmp, "upload.csv")  # never the client's name: it names nothing on this disk
        Path(path).write_bytes(data)
        try:
            table = read_csv(path, target=header[-1], dtype="float64")
        except DataError as e:
            raise DataError(str(e).replace(path, name)) from None
    if len(table.X) > MAX_CSV_ROWS:
        raise DataError(f"{name} has {len(table.X):,} rows; the explorer takes up to {MAX_CSV_ROWS:,}")
    codes, classes = encode_labels(table.y, name=f"{name}'s label column {header[-1]!r}")
    if len(classes) < 2:
        raise DataError(f"{name}: the label column {header[-1]!r} holds one class ({classes[0]!r}); "
                        "a classifier needs at least two")
    if len(classes) > 10:
        raise DataError(f"{name}: the label column {header[-1]!r} holds {len(classes)} classes; the explorer "
                        "draws up to 10")
    return table.X, codes, classes

