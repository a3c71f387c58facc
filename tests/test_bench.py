"""The benchmark harness at a tiny size: the structure of its report, Markdown and plots — never its timings."""

import json

import numpy as np
import pytest

from glassnet import bench
from glassnet.cli.main import main
from glassnet.errors import ConfigError

TINY = bench.Workload("tiny", rows=96, layers=(8, 6, 3), batch_size=32)
TINY_SWEEP = bench.Sweep(rows=64, n_in=8, n_out=3, widths=(4, 8), width_batch=16, batch_sizes=(16, 32),
                         batch_width=4)


@pytest.fixture(scope="module")
def report():
    return bench.run([TINY, "sweep"], repeats=1, sweep=TINY_SWEEP)


def test_report_has_every_contestant_with_time_memory_and_final_loss(report):
    (w,) = report["workloads"]
    assert (w["name"], w["rows"], w["layers"], w["batch_size"]) == ("tiny", 96, [8, 6, 3], 32)
    assert w["params"] == 8 * 6 + 6 + 6 * 3 + 3 and w["batches_per_epoch"] == 3
    by_name = {r["name"]: r for r in w["results"]}
    assert list(by_name) == ["glassnet", "floor", "torch", "sklearn"]
    for r in by_name.values():
        assert r["seconds_per_epoch"] > 0 and len(r["times"]) == 1 and r["epochs_trained"] == 2
        assert r["peak_rss_mib"] is None or r["peak_rss_mib"] >= 0
    assert by_name["torch"]["peak_traced_mib"] is None  # tracemalloc cannot see torch's allocator
    assert by_name["glassnet"]["peak_traced_mib"] > 0
    assert by_name["floor"]["final_loss"] is None
    for name in ("glassnet", "torch", "sklearn"):  # same start, same data, same optimizer: near-equal losses
        assert by_name[name]["same_init"]
        assert 0 < by_name[name]["final_loss"] < 2 * np.log(3)
        assert 0 <= by_name[name]["final_accuracy"] <= 1
    assert abs(by_name["torch"]["final_loss"] - by_name["glassnet"]["final_loss"]) < 0.05
    assert set(w["ratios"]) == {"floor", "torch", "sklearn"}
    assert w["ratios"]["torch"] == pytest.approx(
        by_name["glassnet"]["seconds_per_epoch"] / by_name["torch"]["seconds_per_epoch"])


def test_report_records_environment_and_sweep(report):
    env = report["environment"]
    assert env["threads"] >= 1 and env["numpy"] == np.__version__
    assert any(t["user_api"] == "blas" for t in env["threadpools"])
    assert "OPENBLAS_CORETYPE" in env["env"]
    s = report["sweep"]
    assert [p["width"] for p in s["width"]] == [4, 8] and [p["batch"] for p in s["batch"]] == [16, 32]
    for p in s["width"] + s["batch"]:
        assert p["glassnet"] > 0 and p["floor"] > 0 and p["ratio"] == pytest.approx(p["glassnet"] / p["floor"])
    json.dumps(report)  # JSON-ready as it is


def test_markdown_has_a_table_per_workload_and_the_sweep(report):
    md = bench.to_markdown(report)
    assert "**tiny**: 96×8→6→3, batch 32" in md and "**sweep**" in md
    header = "| contestant | s/epoch | glassnet ÷ it | peak RSS Δ (MiB) | final loss | final accuracy |"
    rows = md.split(header)[1].split("\n\n")[0].strip().splitlines()[1:]
    assert [r.split("|")[1].strip() for r in rows] == list(bench.CONTESTANTS.values())
    assert all(len(r.split("|")) == 8 for r in rows)
    assert rows[0].split("|")[3].strip() == "1.00"  # glassnet against itself


def test_plot_writes_bar_chart_and_sweep(report, tmp_path):
    written = bench.plot(report, tmp_path / "bench.png")
    assert written == [tmp_path / "bench.png", tmp_path / "bench-sweep.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_floor_does_only_the_products_of_an_epoch(monkeypatch):
    # 3 batches × (2 forward + 2 dW + 1 dX) products, each into a preallocated output; nothing else
    data = bench.make_data(96, 8, 3)
    init = bench.contestants.glassnet_model((8, 6, 3)).get_weights()
    runner = bench.contestants.BUILDERS["floor"]((8, 6, 3), 32, data, init, 1)
    calls, real = [], np.matmul

    def counting(a, b, out=None):
        calls.append((a.shape, b.shape, out is not None))
        return real(a, b, out=out)

    monkeypatch.setattr(np, "matmul", counting)
    runner.epoch()
    assert len(calls) == 3 * 5 and all(out for *_, out in calls)
    assert {((32, 8), (8, 6), True), ((6, 32), (32, 3), True), ((32, 3), (3, 6), True)} <= set(calls)


def test_bad_workload_is_a_config_error():
    with pytest.raises(ConfigError, match="Unknown workload 'huge'"):
        bench.run(["huge"])
    with pytest.raises(ConfigError, match="repeats"):
        bench.run([TINY], repeats=0)


def test_cli_rejects_unknown_workload(capsys):
    assert main(["bench", "--workloads", "small,huge"]) == 2
    assert "Unknown workload 'huge'" in capsys.readouterr().err


def test_cli_writes_json_markdown_and_plot(tmp_path, capsys):
    out = {ext: tmp_path / f"b.{ext}" for ext in ("json", "md", "png")}
    assert main(["bench", "--quick", "--workloads", "small", "--repeats", "1", "--json", str(out["json"]),
                 "--md", str(out["md"]), "--plot", str(out["png"])]) == 0
    printed = capsys.readouterr().out
    assert json.loads(out["json"].read_text())["workloads"][0]["name"] == "small"
    assert out["md"].read_text().strip() == printed.strip()
    assert out["png"].exists() and not (tmp_path / "b-sweep.png").exists()
