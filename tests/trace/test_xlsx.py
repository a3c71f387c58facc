"""The workbook: recalculated by LibreOffice headless, every defined name equals the engine's number.

The workbooks under test are written with ``cached_values=False`` — every formula cell stores 0 — so a
number can only be right if LibreOffice really recomputed it. LibreOffice does not recalculate xlsx files
on load by default (it shows the stored values); the tests run it with a private profile whose
``OOXMLRecalcMode`` is 0 ("always recalculate"), then read the values it saved with openpyxl.
"""

import os
import re
import shutil
import subprocess

import numpy as np
import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula

import glassnet as gn
from glassnet.trace import preset, record
from glassnet.trace.records import Quantity
from glassnet.trace.xlsx import count_cells, to_xlsx

RTOL = 1e-9  # float64 engine vs LibreOffice's double arithmetic (LibreOffice saves 15 significant digits)

RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        pytest.fail("LibreOffice is not installed (no `soffice` on PATH): the workbook tests recalculate with it. "
                    "Install it with `apt-get install -y libreoffice-calc-nogui` (`make test` does so as root).")
    return exe


def recalculate(paths, outdir, profile):
    """Open each workbook in LibreOffice headless, recalculate every formula, save it as xlsx into outdir."""
    os.makedirs(os.path.join(profile, "user"), exist_ok=True)
    with open(os.path.join(profile, "user", "registrymodifications.xcu"), "w") as f:
        f.write(RECALC_ALWAYS)
    cmd = [soffice(), "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
           "--convert-to", "xlsx", "--outdir", str(outdir), *map(str, paths)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    out = [os.path.join(outdir, os.path.basename(p)) for p in paths]
    missing = [p for p in out if not os.path.exists(p)]
    assert done.returncode == 0 and not missing, f"LibreOffice failed ({done.returncode}): {done.stderr}\n{missing}"
    return out


def named_values(path, data_only=True):
    """{defined name: 2-D array of what its cells hold}."""
    wb = openpyxl.load_workbook(path, data_only=data_only)
    out = {}
    for name, dn in wb.defined_names.items():
        (sheet, ref), = dn.destinations
        cells = wb[sheet][ref.replace("$", "")]
        cells = ((cells,),) if not isinstance(cells, tuple) else cells if isinstance(cells[0], tuple) else (cells,)
        out[name] = np.array([[c.value for c in row] for row in cells], dtype=object)
    return out


def first_cell(wb, name):
    """The worksheet and the A1 address of the first cell of defined name ``name`` (e.g. ``s1_W1``)."""
    (sheet, ref), = wb.defined_names[name].destinations
    return wb[sheet], ref.split(":")[0].replace("$", "")


def max_rel_diff(got, trace):
    """Largest relative difference over every quantity of every step, and where; fails on a non-number."""
    worst, where = 0.0, None
    for s in trace.steps:
        expected = {q.name: q.value for q in s.quantities} | {"lr": s.lr, "t": s.t}
        for name, value in expected.items():
            cells = got[f"s{s.step}_{name}"]
            bad = [v for v in cells.ravel() if not isinstance(v, (int, float))]
            assert not bad, f"s{s.step}_{name} holds {bad[:3]} instead of numbers"
            ours = cells.astype(np.float64)
            theirs = np.asarray(value, dtype=np.float64).reshape(ours.shape)
            diff = np.abs(ours - theirs)
            rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(theirs), 1e-300))
            if rel.max() > worst:
                worst, where = float(rel.max()), f"s{s.step}_{name}"
            assert np.all(rel <= RTOL) or np.all(diff <= 1e-15), (
                f"s{s.step}_{name}: workbook vs engine, max relative difference {rel.max():.2e}\n"
                f"workbook\n{ours}\nengine\n{theirs}")
    return worst, where


def no_bias_model():
    model = gn.Sequential([gn.layers.Dense(3, activation="tanh", use_bias=False),
                           gn.layers.Dense(1, activation="sigmoid")], seed=7, dtype="float64")
    lr = gn.schedules.ExponentialDecay(0.3, decay_steps=1, decay_rate=0.5)  # another lr at every step
    model.compile(loss="half_sse", optimizer=gn.optimizers.SGD(learning_rate=lr, momentum=0.5))
    X, y = gn.data.xor()
    return model, X, y


def mixed_model():
    model = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.Dense(3, activation="leaky_relu"),
                           gn.layers.Dense(3, activation="softmax"), gn.layers.Dense(2)], seed=3, dtype="float64")
    model.compile(loss="mse", optimizer=gn.optimizers.SGD(learning_rate=0.05, momentum=0.8, nesterov=True))
    rng = np.random.default_rng(5)
    return model, rng.normal(size=(6, 3)), rng.normal(size=(6, 2))


CASES = {  # name: (model, X, y), record() arguments
    "article": (lambda: preset("article"), {"steps": 3}),
    "xor": (lambda: preset("xor"), {"steps": 3}),
    "spiral": (lambda: preset("spiral"), {"steps": 3, "batch_size": 5}),
    "mixed": (mixed_model, {"steps": 2}),
    "nobias": (no_bias_model, {"steps": 3, "batch_size": 2, "shuffle": True}),
}


def edited_article(X, W1):
    X, W1 = X.copy(), W1.copy()
    X[1, 1] = 0.5  # Inputs!C6: row 1 of X, feature 2 (was 0)
    W1[0, 0] = 0.25  # Step 1's first weight
    return X, W1


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory):
    """Every case written with wrong (0) cached values, plus edited copies, recalculated by LibreOffice."""
    root = tmp_path_factory.mktemp("xlsx")
    traces, paths = {}, []
    for name, (make, kw) in CASES.items():
        model, X, y = make()
        traces[name] = record(model, X, y, **kw)
        paths.append(root / f"{name}.xlsx")
        to_xlsx(traces[name], paths[-1], cached_values=False)
    # edits a user makes: an input cell and a starting weight (article); a weight and the learning rate (spiral)
    wb = openpyxl.load_workbook(paths[0])
    wb["Inputs"]["C6"] = 0.5
    ws, cell = first_cell(wb, "s1_W1")
    ws[cell] = 0.25
    wb.save(root / "article_edited.xlsx")
    wb = openpyxl.load_workbook(paths[2])
    wb["Inputs"]["B5"] = -0.75  # X[0, 0]
    ws, cell = first_cell(wb, "s1_W2")
    ws[cell] = 1.5  # W2[0, 0]
    wb["Step 1"]["B2"] = 0.02  # the learning rate, which steps 2 and 3 read
    wb.save(root / "spiral_edited.xlsx")
    paths += [root / "article_edited.xlsx", root / "spiral_edited.xlsx"]
    out = recalculate(paths, root / "recalculated", str(root / "profile"))
    return traces, dict(zip([p.stem for p in paths], paths)), dict(zip([p.stem for p in paths], out))


@pytest.mark.parametrize("case", list(CASES))
def test_libreoffice_recalculates_every_name_to_the_engines_number(workbooks, case):
    traces, _, recalculated = workbooks
    trace = traces[case]
    got = named_values(recalculated[case])
    expected = {f"s{s.step}_{q.name}" for s in trace.steps for q in s.quantities}
    expected |= {f"s{s.step}_{k}" for s in trace.steps for k in ("lr", "t")}
    assert expected <= set(got) and all(n in expected or n.startswith("opt_") for n in got)
    worst, where = max_rel_diff(got, trace)
    print(f"{case}: max relative difference workbook (LibreOffice) vs engine = {worst:.3e} at {where}")


def test_edited_inputs_weights_and_learning_rate_recompute_the_whole_chain(workbooks):
    traces, _, recalculated = workbooks
    model, X, y = preset("article")
    X2, W1 = edited_article(X, model.get_weights()[0])
    model.set_weights([W1] + model.get_weights()[1:])
    trace = record(model, X2, y, steps=3)
    got = named_values(recalculated["article_edited"])
    worst, _ = max_rel_diff(got, trace)
    assert not np.allclose(got["s3_W1_new"].astype(float), traces["article"].steps[2]["W1_new"].value)
    print(f"article, edited: max relative difference vs the engine run on the edited values = {worst:.3e}")

    model, X, y = preset("spiral")
    model.optimizer.learning_rate = 0.02
    X = X.copy()
    X[0, 0] = -0.75
    weights = model.get_weights()
    weights[2][0, 0] = 1.5
    model.set_weights(weights)
    trace = record(model, X, y, steps=3, batch_size=5)
    worst, _ = max_rel_diff(named_values(recalculated["spiral_edited"]), trace)
    print(f"spiral, edited: max relative difference = {worst:.3e}")


def test_computed_cells_are_formulas_and_given_cells_values(workbooks):
    traces, written, _ = workbooks
    trace = traces["spiral"]
    formulas = named_values(written["spiral"], data_only=False)
    for s in trace.steps:
        for q in s.quantities:
            cells = list(formulas[f"s{s.step}_{q.name}"].ravel())
            if q.kind == "computed":
                assert all(isinstance(c, ArrayFormula) or (isinstance(c, str) and c.startswith("=")) for c in cells), q.name
            elif q.name in ("A0", "Y"):
                assert all(isinstance(c, str) and c.startswith("='Inputs'!") for c in cells)
            elif s.step == 1:
                assert all(isinstance(c, (int, float)) for c in cells), q.name
            else:
                assert all(isinstance(c, str) and c.startswith(f"='Step {s.step - 1}'!") for c in cells), q.name
    z = formulas["s1_Z1"][0, 0]
    assert isinstance(z, ArrayFormula) and re.fullmatch(r"=MMULT\(B\d+:C\d+,B\d+:B\d+\)\+B\d+", z.text)
    assert formulas["s1_dW1"][0, 0].startswith("=SUMPRODUCT(")
    assert "opt_beta1" in formulas["s1_m_W1_new"][0, 0] and "s1_lr" in formulas["s1_W1_new"][0, 0]


def test_cached_values_are_the_engines_for_viewers_that_do_not_recalculate(tmp_path):
    model, X, y = preset("xor")
    trace = record(model, X, y, steps=2)
    path = tmp_path / "cached.xlsx"
    trace.to_xlsx(path)
    got = named_values(path)
    worst, _ = max_rel_diff(got, trace)
    assert worst <= 1e-15  # given values are written with 16 significant digits, formula results exactly


def test_the_article_workbook_is_labelled_with_the_tutorials_steps(tmp_path):
    model, X, y = preset("article")
    path = tmp_path / "article.xlsx"
    record(model, X, y).to_xlsx(path)
    ws = openpyxl.load_workbook(path)["Step 1"]
    text = [c for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert "Step 0: Read input and output" in text and "Step 11: Update biases at both output and hidden layer" in text
    assert any(t.startswith("Z1 = A0·W1 + b1") and "(tutorial: hidden_layer_input)" in t for t in text)
    fills = {ws.cell(r, c).fill.fgColor.rgb for r in range(1, 40) for c in range(2, 5)}
    assert {"FFFFF2CC", "FFDDEBF7"} <= fills  # given and computed colours, as in the HTML page


def test_too_big_says_how_many_rows_or_steps_fit_and_writes_nothing(tmp_path):
    model, X, y = preset("spiral")
    trace = record(model, X, y, steps=3)
    path = tmp_path / "big.xlsx"
    limit = count_cells(trace) // 2
    with pytest.raises(gn.ExportError) as e:
        trace.to_xlsx(path, max_cells=limit)
    msg = str(e.value)
    assert f"more than max_cells={limit:,}" in msg and "nothing was written" in msg
    assert not path.exists() and os.listdir(tmp_path) == []
    rows = int(re.search(r"batch_size=(\d+)", msg).group(1))
    steps = int(re.search(r"steps=(\d+)", msg).group(1))
    assert 1 <= rows < 12 and 1 <= steps < 3
    # following the advice fits
    record(*preset("spiral"), steps=3, batch_size=rows).to_xlsx(path, max_cells=limit)
    record(*preset("spiral"), steps=steps).to_xlsx(tmp_path / "fewer-steps.xlsx", max_cells=limit)


def test_a_failed_export_leaves_the_old_file_and_no_temporary(tmp_path):
    model, X, y = preset("article")
    trace = record(model, X, y)
    trace.steps[0].quantities.append(Quantity("odd", "?", np.zeros(2), op="no_such_op", inputs=("E",)))
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"old")
    with pytest.raises(gn.ExportError, match="no workbook formula for odd"):
        trace.to_xlsx(path)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["t.xlsx"]
    with pytest.raises(gn.ExportError, match="does not exist"):
        trace.to_xlsx(tmp_path / "no" / "t.xlsx")


def test_to_xlsx_without_a_path_returns_the_workbook_bytes(tmp_path):
    import io

    import openpyxl

    model, X, y = gn.trace.preset("article")
    data = gn.trace.record(model, X, y, steps=1).to_xlsx()
    assert isinstance(data, bytes) and data[:2] == b"PK"  # an xlsx is a zip archive
    names = openpyxl.load_workbook(io.BytesIO(data)).defined_names
    assert "s1_Z1" in names and "s1_W1_new" in names
