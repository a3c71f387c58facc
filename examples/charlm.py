"""The README's character-level language model: min-char-rnn, then an LSTM, on Python's pydoc topics.

    python examples/charlm.py --out /tmp/charlm          # about 10 minutes on one core

trains both with min-char-rnn's settings (hidden 100, sequence length 25, Adagrad 0.1, clip 5, one
window per update), writes OUT/rnn.glassnet, OUT/lstm.glassnet and OUT/results.json, and draws the
smoothed training loss of both against the uniform guess ln V (--plot, default docs/img/charlm-loss.png).
``glassnet generate --model OUT/lstm.glassnet --temperature 0.8 --seed 0`` then prints samples.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from glassnet.text import CharLM, default_text, smooth, split_text


def main(out: Path, epochs: dict, plot: Path | None, text: str | None = None) -> dict:
    """Train each architecture of ``epochs`` ({"rnn": n, "lstm": m}); return the numbers (also in results.json)."""
    out.mkdir(parents=True, exist_ok=True)
    train, val = split_text(text or default_text(), 0.1)
    results, curves = {}, {}
    for arch, n in epochs.items():
        lm = CharLM(arch, hidden=100, seq_length=25, batch_size=1, learning_rate=0.1, clipvalue=5.0, stateful=True,
                    seed=0)
        lm.fit(train, epochs=n, validation_text=val, on_epoch=lambda logs, a=arch: print(a, json.dumps(logs)))
        lm.save(out / f"{arch}.glassnet")
        V = len(lm.vocabulary_)
        curves[arch] = smooth(lm.loss_curve_, math.log(V))
        results[arch] = {"epochs": n, "steps": len(lm.loss_curve_), "vocabulary": V,
                         "parameters": lm.model_.count_params(), "uniform_loss": math.log(V),
                         "uniform_bpc": math.log2(V), "smooth_loss": float(curves[arch][-1]),
                         "val_bpc": lm.history_[-1]["val_bpc"], "best_val_bpc": min(h["val_bpc"] for h in lm.history_),
                         "chars_per_second": lm.chars_per_second_, "history": lm.history_,
                         "train_chars": len(train), "validation_chars": len(val)}
        (out / "results.json").write_text(json.dumps(results, indent=1))
    if plot is not None:
        _plot(curves, results, plot)
    return results


def _plot(curves: dict, results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for arch, curve in curves.items():
        ax.plot([k * 25 / 1e6 for k in range(1, len(curve) + 1)], curve,
                label=f"{arch}: smoothed loss (validation {results[arch]['val_bpc']:.2f} bits/char)")
    V = next(iter(results.values()))["vocabulary"]
    ax.axhline(math.log(V), color="gray", linestyle="--", label=f"uniform guess ln V = ln {V} = {math.log(V):.2f}")
    ax.set_xlabel("characters trained on (millions)")
    ax.set_ylabel("loss (nats per character)")
    ax.set_title("Character-level language model on Python's pydoc topics")
    ax.set_ylim(0, math.log(V) + 0.3)
    ax.legend(loc="center right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("charlm-out"))
    parser.add_argument("--epochs-rnn", type=int, default=25)
    parser.add_argument("--epochs-lstm", type=int, default=15)
    parser.add_argument("--plot", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img" / "charlm-loss.png")
    a = parser.parse_args()
    main(a.out, {"rnn": a.epochs_rnn, "lstm": a.epochs_lstm}, a.plot)
