"""A small convolutional network on scikit-learn's 8×8 handwritten digits.

    python examples/digits_cnn.py [--epochs 100] [--seed 0]

Conv2D 16 3×3 (ReLU) → MaxPool 2×2 → Conv2D 32 3×3 (ReLU) → global average pooling → Dense 10 softmax,
trained with Adam (lr 0.01, halved when the training loss stalls for 5 epochs) in batches of 32 on a
fixed, stratified 75/25 split (random_state=0): 1347 training and 450 test digits. Prints the test
accuracy (0.9867 with seed 0; 0.984 to 0.996 over seeds 0-3), about 10 s on two CPU cores.
Needs scikit-learn (``pip install 'glassnet[sklearn]'``) for the data set, which ships inside its wheel.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import glassnet as gn
from glassnet.layers import Conv2D, Dense, GlobalAveragePooling2D, MaxPool2D


def load_digits_split(seed: int = 0):
    """Images (N, 8, 8, 1) scaled to [0, 1] and labels 0..9, split 75/25 with stratification."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1), pixel values 0..16
    return train_test_split(X, digits.target, test_size=0.25, random_state=seed, stratify=digits.target)


def digits_cnn(seed: int = 0) -> gn.Sequential:
    return gn.Sequential(
        [
            Conv2D(16, 3, padding="same", activation="relu"),  # (8, 8, 16)
            MaxPool2D(2),  # (4, 4, 16)
            Conv2D(32, 3, padding="same", activation="relu"),  # (4, 4, 32)
            GlobalAveragePooling2D(),  # (32,)
            Dense(10, activation="softmax"),  # (10,)
        ],
        seed=seed,
    )


def main(epochs: int = 100, seed: int = 0, verbose: int = 1) -> float:
    X_train, X_test, y_train, y_test = load_digits_split()
    model = digits_cnn(seed)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gn.optimizers.Adam(1e-2),
                  metrics=["accuracy"])
    schedule = gn.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=5, min_lr=1e-4)
    start = time.perf_counter()
    model.fit(X_train, y_train, epochs=epochs, batch_size=32, callbacks=[schedule], verbose=verbose)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    if verbose:
        model.summary()
        print(f"test accuracy {accuracy:.4f} on {len(X_test)} digits after {epochs} epochs ({seconds:.1f} s)")
    return accuracy


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    main(args.epochs, args.seed)
