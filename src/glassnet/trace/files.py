"""Atomic file writes for the exporters: a failed export never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import secrets

from ..errors import ExportError

__all__ = ["atomic_target"]


@contextlib.contextmanager
def atomic_target(path):
    """Yield a fresh temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    The temporary file is created with O_EXCL (never someone else's file) and mode 0o666, so the umask
    sets the final file's permissions as for any new file.
    """
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ExportError(f"Cannot write {path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise ExportError(f"Cannot write {path}: it is a directory; expected a file name")
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise ExportError(f"Cannot write {path}: {e.strerror or e}") from None
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
