"""Passes over memory-mapped data that keep the file's pages from piling up in the process.

A page of a file mapping that has been read counts in the process's resident memory (``RssFile``) until it is
unmapped, so one pass over a 10 GB ``np.load(path, mmap_mode="r")`` array would end with 10 GB resident.
:class:`PageBudget` unmaps the file's pages (``madvise(MADV_DONTNEED)``) every ~16 MB of the file a pass
reads, and at the end of the pass; they stay in the kernel's page cache, so reading them again costs no disk
access while memory is plentiful.

How much one read maps is the kernel's choice, not ours: a fault maps the pages around the one asked for
("fault-around", 64 KB by default) and, where the page cache holds a large folio (up to 2 MB, made by
readahead), the whole folio. Reading scattered rows one 16 MB stretch of the file at a time bounds what is
mapped by the stretch, whatever the kernel maps per fault: at most 16 MB plus one folio at each end.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["PageBudget", "memory_map"]


def memory_map(a: Any) -> np.memmap | None:
    """The ``numpy.memmap`` whose file mapping `a` views, or None (also for copy-on-write ``mode="c"``).

    A slice of a memmap is a memmap too, and its ``_mmap`` is the mapping of the whole file, so dropping its
    pages drops those of every view of the file. A private (``mode="c"``) mapping is never dropped: that
    would discard the rows written to it.
    """
    while isinstance(a, np.ndarray):
        if isinstance(a, np.memmap) and getattr(a, "_mmap", None) is not None:
            return a if a.mode != "c" and hasattr(a._mmap, "madvise") else None
        a = a.base
    return None


class PageBudget:
    """Keep the resident memory of a memory-mapped X bounded while a pass reads it.

    For an X that is not memory-mapped every method is a plain read (or does nothing).

    Parameters
    ----------
    X : numpy.ndarray, shape (N, ...)
        C-contiguous (as :func:`~glassnet.data.check_array` returns it); possibly a view of a memmap.

    Examples
    --------
    A pass in order, ``size`` rows at a time (pages are dropped after every ~16 MB and at the end):

    >>> X = np.arange(10.0).reshape(5, 2)
    >>> [float(X[s].sum()) for s in PageBudget(X).slices(2)]
    [6.0, 22.0, 17.0]
    """

    BUDGET = 16 << 20  # bytes of the file read between two drops

    def __init__(self, X: np.ndarray) -> None:
        self.X, self.mapping, self.spent = X, memory_map(X), 0
        self.row_bytes = max(1, X.strides[0])  # C-contiguous: one row of X is this many bytes of the file

    def drop(self) -> None:
        """Unmap every page of the file now (they stay in the page cache)."""
        if self.mapping is not None:
            self.mapping._mmap.madvise(mmap.MADV_DONTNEED)
        self.spent = 0

    def _spend(self, nbytes: int) -> None:
        self.spent += nbytes
        if self.spent >= self.BUDGET:
            self.drop()

    def rows(self, idx: slice | np.ndarray) -> np.ndarray:
        """``X[idx]``: a view for a slice (count it with :meth:`done`), a copy for row indices.

        Indexed rows are read in file order, one 16 MB stretch of the file at a time, dropping the pages after
        each stretch, and land in `idx` order: the result is exactly ``X[idx]``.
        """
        X = self.X
        if self.mapping is None or isinstance(idx, slice):
            return X[idx]
        idx = np.asarray(idx)
        order = np.argsort(idx, kind="stable")  # (B,) positions of the rows in file order
        stretch = idx[order] // max(1, self.BUDGET // self.row_bytes)  # (B,) which 16 MB of X each row is in
        out = np.empty((len(idx),) + X.shape[1:], X.dtype)  # (B, ...)
        for part in np.split(order, np.flatnonzero(np.diff(stretch)) + 1):
            out[part] = X[idx[part]]
            self.drop()
        return out

    def done(self, idx: slice | np.ndarray) -> None:
        """After a batch read through a slice view: count the rows it read."""
        if self.mapping is not None and isinstance(idx, slice):
            start, stop, _ = idx.indices(len(self.X))
            self._spend((stop - start) * self.row_bytes)

    def slices(self, size: int | None) -> Iterator[slice]:
        """Slices of ``size`` rows covering X in order (None: one slice of all rows); a bounded pass.

        Each slice is counted once the loop body is done with it, and the pages are dropped when the pass
        ends (also when the loop is left early).
        """
        n = len(self.X)
        size = n if size is None else max(1, int(size))
        try:
            for start in range(0, max(n, 1), size):  # an empty X still gets its one (empty) slice
                s = slice(start, min(start + size, n))
                yield s
                self.done(s)
        finally:
            self.drop()
