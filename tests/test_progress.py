"""ProgressBar: one line per epoch off a terminal, tqdm bars (epochs, and batches within an epoch) on one."""

import io

import numpy as np

import glassnet as gn
from glassnet.callbacks import EarlyStopping, ProgressBar


class FakeTTY(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, :1] > 0).astype(float)


def model():
    m = gn.Sequential([gn.layers.Dense(4, activation="tanh"), gn.layers.Dense(1, activation="sigmoid")], seed=0)
    return m.compile(loss="binary_crossentropy", optimizer="adam")


def test_not_a_terminal_one_line_per_epoch_no_carriage_return():
    X, y = data()
    stream = io.StringIO()
    model().fit(X, y, epochs=5, batch_size=16, validation_data=(X, y), verbose=0,
                callbacks=[ProgressBar(file=stream)])
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [line.split(" - ")[0] for line in lines] == [f"Epoch {e}/5" for e in range(1, 6)]
    assert all(" - loss: " in line and " - val_loss: " in line for line in lines)


def test_not_a_terminal_every_n_epochs_and_the_last_one():
    X, y = data()
    stream = io.StringIO()
    model().fit(X, y, epochs=7, verbose=0, callbacks=[ProgressBar(every=3, file=stream)])
    assert [line.split(" - ")[0] for line in stream.getvalue().splitlines()] == ["Epoch 3/7", "Epoch 6/7",
                                                                                 "Epoch 7/7"]


def test_not_a_terminal_early_stop_prints_no_bar():
    X, y = data()
    stream = io.StringIO()
    stop = EarlyStopping(monitor="loss", min_delta=10.0, patience=1)  # stops after epoch 2
    history = model().fit(X, y, epochs=40, verbose=0, callbacks=[stop, ProgressBar(file=stream)])
    lines = stream.getvalue().splitlines()
    assert len(history.epoch) == 2 and [line.split(" - ")[0] for line in lines] == ["Epoch 1/40", "Epoch 2/40"]
    assert "%" not in stream.getvalue()


def test_terminal_tqdm_bar_closed_once_at_early_stop():
    X, y = data()
    stream = FakeTTY()
    stop = EarlyStopping(monitor="loss", min_delta=10.0, patience=1)
    model().fit(X, y, epochs=40, batch_size=8, verbose=0, callbacks=[stop, ProgressBar(file=stream)])
    text = stream.getvalue()
    assert "\r" in text  # tqdm redraws in place on a terminal
    final = text.split("\r")[-1]
    assert "2/40" in final and final.count("\n") == 1  # the bar ends at the epochs run, drawn once
    assert text.count("2/40") >= 1 and "40/40" not in text


def test_terminal_shows_batches_within_an_epoch():
    X, y = data(n=400)
    stream = FakeTTY()
    bar = ProgressBar(file=stream, refresh=0.0)  # redraw at every batch, to see it
    model().fit(X, y, epochs=2, batch_size=10, verbose=0, callbacks=[bar])
    text = stream.getvalue()
    assert "40/40" in text and "batch" in text and "epoch 2" in text
    assert bar.bar is None and bar.batch_bar is None  # both closed


def test_terminal_batch_bar_redraws_at_most_every_refresh_seconds():
    X, y = data(n=400)
    stream = FakeTTY()
    bar = ProgressBar(file=stream, refresh=3600.0)
    model().fit(X, y, epochs=1, batch_size=10, verbose=0, callbacks=[bar])
    assert "5/40" not in stream.getvalue()  # one redraw in the hour: the first batch


def test_single_batch_epochs_have_no_batch_bar():
    X, y = data()
    stream = FakeTTY()
    bar = ProgressBar(file=stream)
    m = model()
    m.fit(X, y, epochs=2, batch_size=None, verbose=0, callbacks=[bar])  # full batch: one batch per epoch
    assert "batch" not in stream.getvalue()
