"""Checkpoints and exact resume: an interrupted-and-resumed run ends bit for bit where an uninterrupted one does.

``ModelCheckpoint(path, every=N)`` writes weights, optimizer state, the generator's state, the epoch and
the history; ``fit(X, y, epochs=E, resume_from=path)`` continues to E epochs in total (as in Keras) and
returns a history of all E. Shuffling and dropout are on throughout.
"""

import json
import signal
import zipfile

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.main import main

rng = np.random.default_rng(0)
X = rng.normal(size=(90, 5))
Y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)


def make(dtype="float32", optimizer="adam", units=8):
    model = gn.Sequential([gn.layers.Dense(units, activation="relu"), gn.layers.Dropout(0.3),
                           gn.layers.Dense(3, activation="softmax")], seed=7, dtype=dtype)
    opt = {"adam": gn.optimizers.Adam(0.01), "sgd": gn.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
           "rmsprop": gn.optimizers.RMSProp(0.01)}[optimizer]
    return model.compile(loss="sparse_categorical_crossentropy", optimizer=opt, metrics=["accuracy"])


FIT = {"batch_size": 16, "shuffle": True, "validation_split": 0.2, "verbose": 0}


def assert_identical(a, b):
    assert a.flat_params.dtype == b.flat_params.dtype
    np.testing.assert_array_equal(a.flat_params, b.flat_params)
    for k in a.optimizer.state:
        np.testing.assert_array_equal(a.optimizer.state[k], b.optimizer.state[k])
    assert a.optimizer.iterations == b.optimizer.iterations
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


class StopAfter(gn.callbacks.Callback):
    """Ctrl-C (a real SIGINT to this process) after `n` batches."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def on_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.n:
            signal.raise_signal(signal.SIGINT)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_resume_after_epoch_4_of_10_is_bit_identical(tmp_path, dtype, optimizer):
    whole = make(dtype, optimizer)
    expected = whole.fit(X, Y, epochs=10, **FIT)

    ckpt = tmp_path / "ckpt.glassnet"
    first = make(dtype, optimizer)
    first.fit(X, Y, epochs=4, callbacks=[gn.callbacks.ModelCheckpoint(ckpt, every=2)], **FIT)
    second = make(dtype, optimizer)  # a fresh process would start like this: same code, same seed
    history = second.fit(X, Y, epochs=10, resume_from=ckpt, **FIT)

    assert_identical(whole, second)
    assert history.epoch == list(range(10)) == expected.epoch
    assert history.history == expected.history  # all 10 epochs, the first 4 from the checkpoint


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("stop_after", [1, 4, 5, 9, 22])  # batch 5 of 5 ends epoch 1 without its end-of-epoch
def test_resume_from_the_middle_of_an_epoch_is_bit_identical(tmp_path, dtype, stop_after):
    whole = make(dtype)
    expected = whole.fit(X, Y, epochs=6, **FIT)

    ckpt = tmp_path / "ckpt.glassnet"
    first = make(dtype)
    partial = first.fit(X, Y, epochs=6, callbacks=[StopAfter(stop_after), gn.callbacks.ModelCheckpoint(ckpt, every=50)],
                        **FIT)
    assert partial.interrupted and first.optimizer.iterations == stop_after
    # 72 training rows in batches of 16: 5 per epoch; a stop after an epoch's last batch precedes its end
    assert len(partial.epoch) == (stop_after - 1) // 5
    second = make(dtype)
    history = second.fit(X, Y, epochs=6, resume_from=ckpt, **FIT)
    assert_identical(whole, second)
    assert history.history == expected.history and not history.interrupted


def test_resume_chains_and_the_checkpoint_holds_the_training_section(tmp_path):
    whole = make()
    whole.fit(X, Y, epochs=9, **FIT)
    ckpt = tmp_path / "c-{epoch}.glassnet"
    model = make()
    model.fit(X, Y, epochs=3, callbacks=[gn.callbacks.ModelCheckpoint(ckpt, every=1)], **FIT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c-1.glassnet", "c-2.glassnet", "c-3.glassnet"]
    with zipfile.ZipFile(tmp_path / "c-3.glassnet") as zf:
        config = json.loads(zf.read("config.json"))
        assert {"optimizer/m.npy", "optimizer/v.npy"} <= set(zf.namelist())
    training = config["training"]
    assert training["epoch"] == 3 and training["batch"] == 0 and training["history_epochs"] == [0, 1, 2]
    assert len(training["history"]["loss"]) == len(training["history"]["val_accuracy"]) == 3
    assert config["rng_state"]["bit_generator"] == "PCG64" and config["optimizer_iterations"] == 15

    again = make()
    again.fit(X, Y, epochs=6, resume_from=tmp_path / "c-3.glassnet", **FIT)
    again.save(tmp_path / "after-6.glassnet")  # a model saved after fit is a checkpoint too
    last = make()
    history = last.fit(X, Y, epochs=9, resume_from=tmp_path / "after-6.glassnet", **FIT)
    assert_identical(whole, last)
    assert len(history.epoch) == 9


def test_nothing_left_to_run_returns_the_checkpoints_history(tmp_path):
    ckpt = tmp_path / "c.glassnet"
    model = make()
    model.fit(X, Y, epochs=4, callbacks=[gn.callbacks.ModelCheckpoint(ckpt, every=4)], **FIT)
    again = make()
    history = again.fit(X, Y, epochs=3, resume_from=ckpt, **FIT)
    assert history.epoch == [0, 1, 2, 3]
    np.testing.assert_array_equal(again.flat_params, model.flat_params)


def test_resuming_into_a_different_model_or_run_is_refused(tmp_path):
    ckpt = tmp_path / "c.glassnet"
    make().fit(X, Y, epochs=2, callbacks=[gn.callbacks.ModelCheckpoint(ckpt)], **FIT)
    with pytest.raises(gn.ConfigError, match=r"different model \(parameters"):
        make(units=9).fit(X, Y, epochs=3, resume_from=ckpt, **FIT)
    with pytest.raises(gn.ConfigError, match="dtype float32 vs float64"):
        make("float64").fit(X, Y, epochs=3, resume_from=ckpt, **FIT)
    with pytest.raises(gn.ConfigError, match="optimizer Adam vs SGD"):
        make(optimizer="sgd").fit(X, Y, epochs=3, resume_from=ckpt, **FIT)
    with pytest.raises(gn.ShapeError, match=r"built for input shape \(5,\)"):  # built from the checkpoint
        make().fit(X[:, :4], Y, epochs=3, resume_from=ckpt, **FIT)

    mid = tmp_path / "mid.glassnet"
    make().fit(X, Y, epochs=3, callbacks=[StopAfter(3), gn.callbacks.ModelCheckpoint(mid, every=9)], **FIT)
    with pytest.raises(gn.ConfigError, match="in the middle of epoch 1"):
        make().fit(X, Y, epochs=3, resume_from=mid, **(FIT | {"batch_size": 8}))
    with pytest.raises(gn.ConfigError, match="in the middle of epoch 1"):
        make().fit(X[:80], Y[:80], epochs=3, resume_from=mid, **FIT)


def test_model_checkpoint_arguments():
    with pytest.raises(gn.ConfigError, match="`every`"):
        gn.callbacks.ModelCheckpoint("x", every=0)
    with pytest.raises(gn.ConfigError, match="`path`"):
        gn.callbacks.ModelCheckpoint(None)
    with pytest.raises(gn.ConfigError, match="names 'nope'"):
        make().fit(X, Y, epochs=1, callbacks=[gn.callbacks.ModelCheckpoint("{nope}.glassnet")], **FIT)


# -- the command line -----------------------------------------------------------------------------------------


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    rows = "\n".join(",".join(f"{v:.6f}" for v in row) + f",{'abc'[label]}" for row, label in zip(X, Y))
    path.write_text("a,b,c,d,e,label\n" + rows + "\n")
    return path


def _train(capsys, *argv):
    """(exit status, the JSON report or None, stderr) of `glassnet train --json ...`."""
    code = main(["train", "--layers", "8", "--batch-size", "8", "--validation-split", "0.2", "--json", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_cli_checkpoint_and_resume_end_bit_identical(tmp_path, capsys, csv_file):
    code, whole, _ = _train(capsys, "--data", csv_file, "--target", "label", "--epochs", 7, "--save",
                            tmp_path / "whole")
    assert code == 0
    ckpt = tmp_path / "ckpt"
    code, _, _ = _train(capsys, "--data", csv_file, "--target", "label", "--epochs", 3, "--save", tmp_path / "part",
                        "--checkpoint", ckpt, "--checkpoint-every", 2)
    assert code == 0 and gn.load(ckpt)._training.epoch == 2  # written after epoch 2 (and not 3)
    code, resumed, _ = _train(capsys, "--data", csv_file, "--target", "label", "--epochs", 7, "--save",
                              tmp_path / "res", "--resume", ckpt)
    assert code == 0 and resumed["history"] == whole["history"] and resumed["final"] == whole["final"]
    np.testing.assert_array_equal(gn.load(tmp_path / "whole").flat_params, gn.load(tmp_path / "res").flat_params)


def test_cli_checkpoint_arguments_are_one_line_errors(tmp_path, capsys, csv_file):
    argv = ["--data", csv_file, "--target", "label", "--epochs", 2, "--save", tmp_path / "m"]
    ckpt, garbage = tmp_path / "c", tmp_path / "garbage"
    garbage.write_bytes(b"PK\x03\x04garbage")
    assert _train(capsys, *argv, "--checkpoint", ckpt)[0] == 0
    for extra, words in [
        (["--checkpoint-every", 3], "--checkpoint-every goes with --checkpoint"),
        (["--checkpoint", ckpt, "--checkpoint-every", 0], "`--checkpoint-every`"),
        (["--checkpoint", tmp_path / "no" / "c"], "does not exist"),
        (["--resume", tmp_path / "missing"], "no such model file"),
        (["--resume", garbage], "not a readable glassnet model file"),
        (["--resume", ckpt, "--layers", "5"], "different model"),
    ]:
        code, _, err = _train(capsys, *argv, *extra)
        assert code == 2 and words in err and err.count("\n") == 1, err
