"""Data in and out of glassnet: validation, labels, batches, CSV files and generated toy sets."""

from .csv import Table, read_csv, write_csv
from .toy import article, blobs, moons, sine, spiral, xor
from .validate import (
    batches,
    check_array,
    check_labels,
    check_lengths,
    check_positive_int,
    decode_labels,
    encode_labels,
    one_hot,
    train_val_split,
)

__all__ = [
    "check_array",
    "check_lengths",
    "check_positive_int",
    "encode_labels",
    "decode_labels",
    "check_labels",
    "one_hot",
    "train_val_split",
    "batches",
    "Table",
    "read_csv",
    "write_csv",
    "article",
    "xor",
    "spiral",
    "blobs",
    "moons",
    "sine",
]
