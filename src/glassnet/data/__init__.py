"""Data in and out of glassnet: validation, labels, batches, CSV and UCR files, generated toy sets."""

from .csv import Table, read_csv, write_csv
from .labels import check_labels, decode_labels, encode_labels, one_hot
from .toy import article, blobs, moons, sine, spiral, xor
from .ucr import UCRData, aeon_ucr_path, load_ucr
from .validate import batches, check_array, check_lengths, check_positive_int, train_val_split

__all__ = [
    "Table",
    "UCRData",
    "aeon_ucr_path",
    "article",
    "batches",
    "blobs",
    "check_array",
    "check_labels",
    "check_lengths",
    "check_positive_int",
    "decode_labels",
    "encode_labels",
    "load_ucr",
    "moons",
    "one_hot",
    "read_csv",
    "sine",
    "spiral",
    "train_val_split",
    "write_csv",
    "xor",
]
