"""The report as Markdown (for the README), JSON and PNG plots."""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

from ..errors import ConfigError
from .contestants import CONTESTANTS

__all__ = ["plot", "to_markdown", "write_json"]


def _fmt(x, spec=".3g", none="–"):
    return none if x is None else format(x, spec)


def _blas_line(env: dict) -> str:
    blas = [t for t in env["threadpools"] if t["user_api"] == "blas" and t["loaded_by"] == "numpy"]
    blas = blas or [t for t in env["threadpools"] if t["user_api"] == "blas"]
    kernel = "unknown (no threadpoolctl)"
    if blas:
        kernel = f"{blas[0]['internal_api']} {blas[0]['version']}, {blas[0]['architecture']} kernel"
    forced = ", ".join(f"{k}={v}" for k, v in env["env"].items() if v is not None and k.startswith("OPENBLAS_C"))
    return f"NumPy BLAS: {kernel}" + (f" ({forced})" if forced else "")


def _arch(rows: int, layers) -> str:
    """``20000×64→(64)×10→10``: rows × the layer widths, a run of equal hidden widths written once."""
    hidden = []
    for width, run in groupby(layers[1:-1]):
        n = len(list(run))
        hidden += [f"({width})×{n}"] if n > 2 else [str(width)] * n
    return f"{rows}×" + "→".join([str(layers[0]), *hidden, str(layers[-1])])


def _data(w: dict) -> str:
    """``8192×784`` or ``50×150×1``: the training set's shape."""
    return "×".join(map(str, [w["rows"], *w.get("input_shape", w.get("layers", [])[:1])]))


def _title(w: dict) -> str:
    """An MLP as :func:`_arch` writes it; a conv net as its data shape and its layers in words."""
    return _arch(w["rows"], w["layers"]) if "layers" in w else f"{_data(w)}, {w['net']}"


def _device_line(device: dict | None) -> str:
    """``GPU: NVIDIA ... (device 'gpu': CuPy 13.3.0, CUDA runtime 12040). `` ahead of the CPU line; '' on the CPU."""
    if not device or device["name"] == "cpu":
        return ""
    module = device["array_module"] + (f" {device['array_module_version']}" if device.get("array_module_version")
                                       else "")
    if device.get("card"):
        return (f"GPU: {device['card']} (device {device['name']!r}: {module}, CUDA runtime "
                f"{device.get('cuda_runtime')}, driver {device.get('cuda_driver')}). ")
    return f"Device: {device['name']!r} (array module {module}). "


def _on_gpu(report: dict) -> bool:
    return bool((report.get("device") or {}).get("card"))


def to_markdown(report: dict) -> str:
    """The report as Markdown: how it was measured, one table per workload, and the sweep."""
    env = report["environment"]
    tc = env.get("torch_cpu")
    torch = f"PyTorch {env['torch']}" + (f" (MKL {tc['mkl']}, oneDNN {tc['onednn']})" if tc else "")
    load = env.get("load_average")
    gpu = _on_gpu(report)
    machine = (_device_line(report.get("device")) + f"CPU: {env['cpu']} ({env['cpu_count']} logical CPUs"
               + (f"; load average {load[0]:g}, {load[1]:g}, {load[2]:g} over 1, 5, 15 min at the end" if load else "")
               + f"), {env['threads']} thread{'s' if env['threads'] != 1 else ''} for every contestant. {_blas_line(env)}. NumPy {env['numpy']}, "
               f"{torch}, scikit-learn {env['scikit-learn']}, Python {env['python']}.")
    memory = ("Peak GPU memory Δ: growth of CuPy's memory pool (PyTorch: its caching allocator's "
              "max_memory_reserved) over building the model and its first epoch; the floor holds the whole "
              "training set on the GPU, glassnet and PyTorch copy each batch there from the host. " if gpu else
              "Peak RSS Δ: growth of the resident set over building the model and its first epoch. ")
    method = (f"Seconds per epoch: median of {report['repeats']} epochs after a warm-up epoch"
              f"{' (--quick: fewer rows)' if report['quick'] else ''}"
              f"{', each ended by a device synchronize' if gpu else ''}; {report['settings']['optimizer']}, "
              "float32, same data and initial weights; s/step is s/epoch over the batches per epoch. "
              + memory + "Final loss/accuracy: "
              "one forward pass of the harness over the whole training set, from each contestant's final "
              "weights" + ("; for conv nets, glassnet's forward in training mode (batch normalization with the "
                           "statistics of the whole set)." if any("arch" in w for w in report["workloads"])
                           else "."))
    lines = [machine, "", method, ""]
    mem_key, mem_head = ("peak_device_mib", "peak GPU memory Δ (MiB)") if gpu else ("peak_rss_mib", "peak RSS Δ (MiB)")
    for w in report["workloads"]:
        title = (f"**{w['name']}**: {_title(w)}, batch {w['batch_size']} "
                 f"({w['batches_per_epoch']} batches/epoch, {w['params']:,} parameters)")
        lines += [title, "",
                  f"| contestant | s/epoch | s/step | glassnet ÷ it | {mem_head} | final loss | final accuracy |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in w["results"]:
            if "skipped" in r:
                lines.append(f"| {r['label']} | skipped: {r['skipped']} | | | | | |")
                continue
            ratio = 1.0 if r["name"] == "glassnet" else w["ratios"].get(r["name"])
            lines.append(f"| {r['label']} | {_fmt(r['seconds_per_epoch'], '.4g')} | "
                         f"{_fmt(r.get('seconds_per_step'), '.3g')} | {_fmt(ratio, '.2f')} | "
                         f"{_fmt(r.get(mem_key), '.1f')} | {_fmt(r['final_loss'], '.4f')} | "
                         f"{_fmt(r['final_accuracy'], '.3f')} |")
        lines.append("")
    s = report.get("sweep")
    if s:
        title = (f"**sweep**: {_arch(s['rows'], (s['n_in'], 'w', 'w', s['n_out']))}; width w at batch "
                 f"{s['width_batch']}, batch size at w = {s['batch_width']}")
        lines += [title, "",
                  "| axis | value | glassnet s/epoch | floor s/epoch | glassnet ÷ floor |",
                  "|---|---:|---:|---:|---:|"]
        for axis in ("width", "batch"):
            lines += [f"| {axis} | {p[axis]} | {p['glassnet']:.4g} | {p['floor']:.4g} | {p['ratio']:.2f} |"
                      for p in s[axis]]
        lines.append("")
    return "\n".join(lines)


def write_json(report: dict, path) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def plot(report: dict, path) -> list[Path]:
    """Bar chart of s/epoch per workload at ``path``; the sweep (if run) beside it as ``<stem>-sweep.png``."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullFormatter
    except ImportError as e:
        raise ConfigError("Plots need matplotlib: pip install 'glassnet[plot]'") from e
    path, written = Path(path), []
    ws = report["workloads"]
    if ws:
        cols = min(len(ws), 3)
        rows = -(-len(ws) // cols)
        fig = Figure(figsize=(4.2 * cols, 3.4 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes[len(ws):]:
            ax.set_axis_off()
        for ax, w in zip(axes, ws):
            done = [r for r in w["results"] if "seconds_per_epoch" in r]
            secs = [r["seconds_per_epoch"] for r in done]
            bars = ax.barh([r["label"] for r in done], secs,
                           color=["C0" if r["name"] == "glassnet" else "C7" if r["name"] == "floor" else "C1"
                                  for r in done])
            ax.bar_label(bars, [f"{t:.3g} s" for t in secs], padding=3, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlim(0, max(secs) * 1.35)
            shape = _arch(w["rows"], w["layers"]) if "layers" in w else _data(w)
            ax.set_title(f"{w['name']}: {shape}, batch {w['batch_size']}", fontsize=9)
            ax.set_xlabel("seconds per epoch (lower is better)")
        if _on_gpu(report):
            fig.suptitle(f"on {report['device']['card']}", fontsize=10)
        fig.savefig(path, dpi=120)
        written.append(path)
    s = report.get("sweep")
    if s:
        fig = Figure(figsize=(9, 3.6), layout="constrained")
        for ax, axis in zip(fig.subplots(1, 2), ("width", "batch")):
            xs = [p[axis] for p in s[axis]]
            for who, style in (("glassnet", "o-"), ("floor", "s--")):
                ax.plot(xs, [p[who] for p in s[axis]], style, label=s.get("labels", CONTESTANTS)[who])
            ax.set(xscale="log", yscale="log", ylabel="seconds per epoch",
                   xlabel="hidden width" if axis == "width" else "batch size",
                   title=f"{s['rows']} rows, " + (f"batch {s['width_batch']}" if axis == "width"
                                                  else f"width {s['batch_width']}"))
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=8)
        sweep_path = path.with_name(path.stem + "-sweep" + path.suffix)
        fig.savefig(sweep_path, dpi=120)
        written.append(sweep_path)
    return written
