"""What every plot shares: matplotlib on the Agg backend, the image format from the path, saving."""

from __future__ import annotations

import os

from ..errors import ExportError

__all__ = ["FORMATS", "check_path", "pyplot", "save"]

#: the image formats a plot is written in, chosen by the path's extension
FORMATS = (".png", ".svg", ".pdf")


def pyplot():
    """matplotlib.pyplot on the Agg backend, or an ExportError that says how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ExportError(
            "plotting needs matplotlib, which is not installed: pip install glassnet[plot]"
        ) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def check_path(path) -> str:
    """``path`` as a string, or an ExportError when its extension names no format we write."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise ExportError(f"the plot's path must be a str or path-like; received {type(path).__name__}") from None
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ExportError(f"cannot write the plot to {path}: the extension picks the format, one of "
                          f"{', '.join(FORMATS)}; received {ext or 'no extension'!r}")
    return path


def save(fig, plt, path: str):
    """Write ``fig`` to ``path`` and close it (it stays readable: its axes and artists); return it."""
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot write the plot to {path}: {e}") from None
    finally:
        plt.close(fig)
    return fig
