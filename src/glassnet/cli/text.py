"""``glassnet train-text`` and ``glassnet generate``: a character-level language model (min-char-rnn).

``train-text`` reads a UTF-8 text (default: the pydoc topics that ship with Python), holds out its last
``--validation-fraction``, trains :class:`glassnet.text.CharLM` and prints a line per epoch (loss and
smoothed loss in nats per character, the validation's bits per character, characters per second).
``--save`` writes a model file whose metadata carries the vocabulary. ``generate`` loads such a file and
prints ``--length`` characters drawn after ``--prime``.
"""

from __future__ import annotations

import argparse
import math
import sys

from ..checks import check_non_negative_int, check_positive_int
from ..errors import ConfigError, DataError
from ..text import ARCHS, CharLM, default_text, read_text, split_text
from . import _common as c

__all__ = ["add_parser", "run_generate", "run_train"]

DEFAULT_PRIME = "The "


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train-text",
        help="train a character-level language model (min-char-rnn, or an LSTM) on a text file",
        description="Train a character-level language model: one-hot characters, a SimpleRNN (min-char-rnn) or "
        "an LSTM, a softmax over the vocabulary at every step; Adagrad with gradient clipping. Prints a line "
        "per epoch and, at the end, the validation bits per character and a sample.",
    )
    p.add_argument("--text", metavar="FILE", default=None,
                   help="UTF-8 text to learn (default: Python's pydoc topics, pydoc_data.topics)")
    p.add_argument("--arch", choices=sorted(ARCHS), default="rnn", help="recurrent layer (default: rnn)")
    p.add_argument("--hidden", type=int, default=100, metavar="H", help="recurrent units (default: 100)")
    p.add_argument("--seq-length", type=int, default=25, metavar="T",
                   help="characters per window, the depth of backpropagation through time (default: 25)")
    p.add_argument("--batch-size", type=int, default=1, metavar="B", help="windows per update (default: 1)")
    p.add_argument("--lr", type=float, default=0.1, metavar="X", help="Adagrad's learning rate (default: 0.1)")
    p.add_argument("--clipvalue", type=float, default=5.0, metavar="X",
                   help="clip every gradient element to [-X, X] (default: 5)")
    p.add_argument("--epochs", type=int, default=1, metavar="N", help="passes over the text (default: 1)")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="stop after N updates")
    p.add_argument("--stateful", action=argparse.BooleanOptionalAction, default=True,
                   help="read the text in order, each window starting from the state the one before ended in "
                   "(min-char-rnn; default); --no-stateful: shuffled windows, each from the zero state")
    p.add_argument("--validation-fraction", type=float, default=0.1, metavar="F",
                   help="the last fraction of the text held out for bits per character (default: 0.1)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seeds initialization and order (default: 0)")
    p.add_argument("--save", metavar="FILE", default=None, help="write the trained model (with its vocabulary)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the log lines")
    p.set_defaults(func=run_train)

    g = subparsers.add_parser(
        "generate",
        help="print text sampled from a character-level language model",
        description="Load a model written by `glassnet train-text --save` and print LENGTH characters drawn "
        "one at a time after the prime, each from the model's distribution sharpened (temperature < 1) or "
        "flattened (> 1).",
    )
    g.add_argument("--model", required=True, metavar="FILE", help="a model file from `glassnet train-text`")
    g.add_argument("--prime", default=None,
                   help='characters to start from (default: "The " if the model knows those characters, else the '
                   "first character of its vocabulary)")
    g.add_argument("--length", type=int, default=200, metavar="N", help="characters to draw (default: 200)")
    g.add_argument("--temperature", type=float, default=1.0, metavar="X", help="sampling temperature > 0 (default: 1)")
    g.add_argument("--seed", type=int, default=None, metavar="S", help="seed of the draws (default: fresh)")
    g.add_argument("--no-prime", action="store_true", help="print only the drawn characters, not the prime")
    g.add_argument("--json", action="store_true", help="print one JSON object (prime, text, settings)")
    g.set_defaults(func=run_generate)


def run_train(args) -> int:
    epochs = check_positive_int("--epochs", args.epochs)
    steps = None if args.steps is None else check_positive_int("--steps", args.steps)
    fraction = c.fraction("--validation-fraction", args.validation_fraction)
    lm = CharLM(args.arch, hidden=check_positive_int("--hidden", args.hidden),
                seq_length=check_positive_int("--seq-length", args.seq_length),
                batch_size=check_positive_int("--batch-size", args.batch_size),
                learning_rate=c.positive_float("--lr", args.lr), clipvalue=c.positive_float("--clipvalue", args.clipvalue),
                stateful=args.stateful, seed=check_non_negative_int("--seed", args.seed))
    if args.save:
        c.check_output_path(args.save, "--save")
    try:
        text = default_text() if args.text is None else read_text(args.text)
    except OSError as e:
        raise DataError(f"--text {args.text}: cannot read the file: {e.strerror or e}") from None
    source = "pydoc_data.topics" if args.text is None else args.text
    train, val = split_text(text, fraction)
    if len(val) == 1:  # one character predicts nothing: say so before training, not after
        raise ConfigError(f"--validation-fraction {fraction:g} holds out 1 character of {source}'s {len(text)}; "
                          "bits per character need at least 2: raise --validation-fraction")
    if len(train) < lm.seq_length + 1:
        raise ConfigError(f"--text {source}: {len(train)} training characters are fewer than one window of "
                          f"--seq-length + 1 = {lm.seq_length + 1}")
    log = not (args.json or args.quiet)
    if log:
        vocab = len(set(text))
        print(f"text: {source}: {len(train):,} training and {len(val):,} validation characters, {vocab} distinct "
              f"(uniform guess: ln V = {math.log(vocab):.3f} nats, log2 V = {math.log2(vocab):.3f} bits)",
              file=sys.stderr)

    def progress(logs):
        val_part = f", val {logs['val_bpc']:.3f} bits/char" if "val_bpc" in logs else ""
        print(f"epoch {logs['epoch']}/{epochs}: {logs['steps']} steps, loss {logs['loss']:.4f}, smoothed "
              f"{logs['smooth_loss']:.4f} nats/char{val_part}, {logs['chars_per_second']:,.0f} chars/s", file=sys.stderr)

    lm.fit(train, epochs=epochs, steps=steps, validation_text=val or None, on_epoch=progress if log else None)
    if args.save:
        lm.save(args.save)
    V = len(lm.vocabulary_)
    last = lm.history_[-1]
    report = {
        "text": source, "arch": args.arch, "hidden": lm.hidden, "seq_length": lm.seq_length,
        "batch_size": lm.batch_size, "lr": lm.learning_rate, "clipvalue": lm.clipvalue, "stateful": lm.stateful,
        "seed": lm.seed,
        "train_chars": len(train), "validation_chars": len(val), "vocabulary": V,
        "parameters": lm.model_.count_params(), "uniform_loss": math.log(V), "uniform_bpc": math.log2(V),
        "epochs": len(lm.history_), "steps": len(lm.loss_curve_), "loss": last["loss"],
        "smooth_loss": last["smooth_loss"], "val_bpc": last.get("val_bpc"),
        "chars_per_second": lm.chars_per_second_, "seconds": sum(h["seconds"] for h in lm.history_),
        "history": lm.history_, "saved": args.save,
    }
    if args.json:
        c.print_json(report)
        return 0
    bpc = "" if report["val_bpc"] is None else f"; validation {report['val_bpc']:.3f} bits/char"
    print(f"model: {args.arch}, {report['parameters']:,} parameters; smoothed loss {last['smooth_loss']:.4f} "
          f"nats/char against ln V = {report['uniform_loss']:.4f}{bpc} (uniform {report['uniform_bpc']:.3f}); "
          f"{report['chars_per_second']:,.0f} chars/s" + (f"; saved to {args.save}" if args.save else ""))
    prime = DEFAULT_PRIME if set(DEFAULT_PRIME) <= set(lm.vocabulary_.chars) else train[0]
    print(f"sample (temperature 0.8, seed 0): {prime + lm.sample(prime, 200, 0.8, seed=0)!r}")
    return 0


def run_generate(args) -> int:
    length = check_non_negative_int("--length", args.length)
    temperature = c.positive_float("--temperature", args.temperature)
    seed = None if args.seed is None else check_non_negative_int("--seed", args.seed)
    lm = CharLM.load(args.model)
    chars = lm.vocabulary_.chars
    prime = args.prime
    if prime is None:  # the default start, or one the model surely knows
        prime = DEFAULT_PRIME if set(DEFAULT_PRIME) <= set(chars) else chars[0]
    elif not prime:
        raise ConfigError("--prime is empty; the model needs at least one character to start from")
    try:
        lm.vocabulary_.encode(prime, "the prime")
    except DataError as e:
        shown = chars if len(chars) <= 100 else chars[:100] + "…"
        raise DataError(f"{e}. The model knows these {len(chars)} characters (pass --prime with some of them): "
                        f"{shown!r}") from None
    text = lm.sample(prime, length, temperature, seed=seed)
    if args.json:
        c.print_json({"model": args.model, "prime": prime, "length": length, "temperature": temperature,
                      "seed": seed, "text": text})
        return 0
    print(text if args.no_prime else prime + text)
    return 0
