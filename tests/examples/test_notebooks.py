"""examples/*.ipynb: every notebook runs top to bottom (quick epoch counts, GLASSNET_NOTEBOOK_QUICK=1).

Each is executed with nbclient in the python3 kernel, in a new temporary working folder, with a time
limit per cell; a cell that raises fails the test with the cell's error. `make notebooks` runs them with
their full epoch counts.
"""

from __future__ import annotations

from pathlib import Path

import ipykernel  # noqa: F401 -- the notebooks extra (nbformat, nbclient, ipykernel) is in dev: missing, it fails loudly
import matplotlib  # noqa: F401
import nbclient
import nbformat
import pytest
import sklearn  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
CELL_TIMEOUT = 120  # seconds; the slowest quick cell takes a few


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name} is committed with outputs; clear them (Kernel > Restart & Clear Output)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSNET_NOTEBOOK_QUICK", "1")  # the kernel inherits the environment
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    figures = sum(1 for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
                  if out.output_type == "display_data" and "image/png" in out.get("data", {}))
    assert figures >= 1, f"{path.name} drew no figure"
