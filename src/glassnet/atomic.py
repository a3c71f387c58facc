"""Atomic file writes: readers see the old file or the whole new one, never half of it.

The new content goes to a temporary file beside the target, created with ``O_EXCL`` (never someone
else's file) and mode 0o666 so the umask sets its permissions as for any new file; it is flushed and
fsynced, then renamed over the target. On any error the temporary file is removed and the target is
untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets

__all__ = ["atomic_open", "atomic_target"]


def _reserve(path: str, error_cls) -> tuple[str, int]:
    directory, base = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise error_cls(f"Cannot write {path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise error_cls(f"Cannot write {path}: it is a directory; expected a file name")
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise error_cls(f"Cannot write {path}: {e.strerror or e}") from None


@contextlib.contextmanager
def atomic_target(path, error_cls=OSError):
    """Yield a temporary path beside ``path`` for a writer that wants a file name; rename on success."""
    path = os.fspath(path)
    tmp, fd = _reserve(path, error_cls)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", error_cls=OSError, **kwargs):
    """Yield an open file (``"wb"`` or ``"w"``) whose content replaces ``path`` when the block succeeds."""
    path = os.fspath(path)
    tmp, fd = _reserve(path, error_cls)
    try:
        with open(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
