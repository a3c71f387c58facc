"""``glassnet tsc``: train Wang et al.'s MLP, FCN, ResNet (or an LSTM) on UCR files; report the test error.

Both files are read with :func:`glassnet.data.load_ucr` (``.ts`` or ``.tsv``) and z-normalised with the
training file's mean and std (the paper's choice; ``--znorm series`` normalises each series instead).
The reported ``test_error`` is the one at the epoch of lowest training loss, as the paper reports it;
``test_error_final`` is the one after the last epoch.
"""

from __future__ import annotations

import sys

from ..backend import get_device
from ..callbacks import ProgressBar
from ..checks import check_non_negative_int, check_positive_int
from ..data import load_ucr
from ..errors import DataError
from ..models import tsc
from . import _common as c

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "tsc",
        help="time-series classification: Wang et al.'s MLP/FCN/ResNet, or an LSTM, on UCR files",
        description="Train one of Wang et al. (2017)'s baselines on a UCR training file (.ts or .tsv) and "
        "report the test error at the epoch of lowest training loss (as the paper does) and after the "
        "last epoch. Optimizer, learning-rate schedule and batch size are the paper's (the LSTM, not in "
        "the paper, is trained as the FCN is).",
    )
    p.add_argument("--train", required=True, metavar="F_TRAIN.ts", help="training series (.ts or .tsv)")
    p.add_argument("--test", required=True, metavar="F_TEST.ts", help="test series (.ts or .tsv)")
    p.add_argument("--arch", choices=sorted(tsc.ARCHS), default="fcn",
                   help="architecture (default: fcn); lstm: LSTM(64) over the series, then softmax")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        metavar="N",
        help="passes over the training series (default: the paper's, mlp 5000, fcn 2000, resnet 1500; "
        "lstm 2000)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seeds initialization, shuffling and dropout (default: 0)")
    p.add_argument(
        "--znorm",
        choices=["train", "series", "none"],
        default="train",
        help="z-normalisation: with the training set's mean and std (default, Wang et al.), per series "
        "(Fawaz et al.), or none",
    )
    p.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help="series per update (default: the paper's int(min(N_train/10, 16)))")
    p.add_argument("--test-every", type=int, default=1, metavar="N",
                   help="also measure the test error every N epochs for the history (0: only where the "
                   "training loss reaches a new low, which is all the result needs; default: 1)")
    c.add_device_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (no progress bar)")
    p.set_defaults(func=run)


def _load(path: str, flag: str, **kw):
    try:
        return load_ucr(path, **kw)
    except OSError as e:
        raise DataError(f"{flag} {path}: cannot read the file: {e.strerror or e}") from None


def run(args) -> int:
    epochs = None if args.epochs is None else check_positive_int("--epochs", args.epochs)
    seed = check_non_negative_int("--seed", args.seed)
    batch_size = None if args.batch_size is None else check_positive_int("--batch-size", args.batch_size)
    test_every = check_non_negative_int("--test-every", args.test_every)
    get_device(args.device)  # unknown, or 'gpu' without CuPy: before reading any file
    znorm = None if args.znorm == "none" else args.znorm
    train = _load(args.train, "--train", znorm=znorm)
    test = _load(args.test, "--test", znorm=znorm, stats=train.stats)
    for data, flag in ((train, "--train"), (test, "--test")):
        if data.y is None or data.classes is None:
            raise DataError(f"{flag} {data.path} has no class labels (@classLabel false or @targetlabel); "
                            "tsc needs labelled series")

    N, T, C = train.X.shape
    if test.X.shape[1:] != (T, C):
        raise DataError(f"--test {test.path} holds series of length {test.X.shape[1]} with {test.X.shape[2]} "
                        f"channel(s) but --train {train.path} holds length {T} with {C}; they must agree")
    if not (args.json or args.quiet):
        classes = ", ".join(map(str, train.classes.tolist()))
        how = {"train": "with the training set's mean and std", "series": "per series", None: "not"}[znorm]
        print(f"dataset: {train.name}: {N} training and {len(test.X)} test series of length {T}, {C} "
              f"channel{'s' if C > 1 else ''}; {len(train.classes)} classes ({classes}); z-normalised {how}")
    callbacks = [] if args.json or args.quiet else [ProgressBar(file=sys.stderr)]
    result = tsc.train(args.arch, train.X, train.y, test.X, test.y, epochs=epochs, seed=seed,
                       batch_size=batch_size, callbacks=callbacks, test_every=test_every, device=args.device)
    model = result.pop("model")
    report = {
        "dataset": train.name,
        "arch": args.arch,
        "train_file": train.path,
        "test_file": test.path,
        "znorm": args.znorm,
        "parameters": model.count_params(),
        "device": model.device,
        **result,
    }
    if args.json:
        c.print_json(report)
        return 0
    on = "" if model.device == "cpu" else f" on device {model.device!r}"
    print(f"model: {args.arch}{on}, {report['parameters']:,} parameters; batch size {result['batch_size']}; "
          f"{result['optimizer']['class']} (final learning rate {result['lr_final']:g})")
    print(f"test error {result['test_error']:.4f} at epoch {result['best_epoch']} (lowest training loss "
          f"{result['train_loss']:.4g}); after the last epoch {result['test_error_final']:.4f} "
          f"({result['epochs']} epochs, {result['seconds']:.1f} s)")
    return 0
