"""A padded batch whose sequence output reaches the loss: padded steps leave the loss in the trace as in the engine.

Embedding(mask_zero=True) → LSTM(return_sequences=True) → Dense, for every loss the tracer lays out; the
workbook (recalculated by LibreOffice) must equal the engine to 1e-9 at every name, the loss included.
"""

import numpy as np
import pytest
from test_xlsx import max_rel_diff, named_values, recalculate

import glassnet as gn
from glassnet.trace import record
from glassnet.trace.xlsx import to_xlsx

LOSSES = {"sparse_categorical_crossentropy": "softmax", "mse": None, "mae": None, "binary_crossentropy": "sigmoid",
          "half_sse": "sigmoid"}


def _case(loss, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 6, (4, 5))
    ids[0, 3:] = 0  # post-padding
    ids[1, :2] = 0  # pre-padding
    units = 6 if loss.startswith("sparse") else 3
    model = gn.Sequential([gn.layers.Embedding(6, 3, mask_zero=True), gn.layers.LSTM(4, return_sequences=True),
                           gn.layers.Dense(units, activation=LOSSES[loss])], seed=seed, dtype="float64")
    model.compile(loss=loss, optimizer="adam")
    y = rng.integers(0, 6, (4, 5)) if loss.startswith("sparse") else rng.uniform(0, 1, (4, 5, 3))
    return model, ids, y


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    root = tmp_path_factory.mktemp("masked_loss")
    traces, paths = {}, []
    for loss in LOSSES:
        traces[loss] = record(*_case(loss), steps=2)
        paths.append(root / f"{loss}.xlsx")
        to_xlsx(traces[loss], paths[-1], cached_values=False)
    return traces, dict(zip(LOSSES, recalculate(paths, root / "out", str(root / "profile"))))


@pytest.mark.parametrize("loss", list(LOSSES))
def test_the_workbook_leaves_padded_steps_out_of_the_loss_as_the_engine_does(recalculated, loss):
    traces, out = recalculated
    worst, where = max_rel_diff(named_values(out[loss]), traces[loss])
    print(f"{loss}, masked: LibreOffice vs engine, max relative difference {worst:.2e} at {where}")


@pytest.mark.parametrize("loss", list(LOSSES))
def test_the_trace_loss_is_the_engines_masked_loss(loss):
    model, ids, y = _case(loss)
    step = record(model, ids, y, steps=1).steps[0]
    mask = step["mask_loss"]
    np.testing.assert_array_equal(mask.value, (ids != 0).astype(float))
    assert mask.inputs == ("mask2",)  # read from the LSTM's mask, so an edited id re-masks the workbook
    fresh, ids, y = _case(loss)
    expected = fresh.evaluate(ids, y, batch_size=None, verbose=0, return_dict=True)["loss"]
    assert float(step["loss"].value) == pytest.approx(expected, rel=1e-12)
    # the padded steps' deltas at the output are 0
    d = step["dZ3" if LOSSES[loss] in ("softmax", "sigmoid") and loss != "half_sse" else "dA3"].value
    assert np.all(d[ids == 0] == 0) and np.any(d[ids != 0] != 0)
