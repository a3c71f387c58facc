"""Ctrl-C during fit stops at the next batch boundary with consistent weights and returns the history so far.

A real SIGINT is sent from outside to a process that trains. Consistency is checked the strongest way:
the interrupted model, checkpointed and resumed, must end bit for bit where an uninterrupted run ends —
an update cut in half would show. ``glassnet train`` writes a checkpoint, says where, and exits 130.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import glassnet as gn

SRC = os.path.dirname(os.path.dirname(gn.__file__))
ENV = dict(os.environ, PYTHONPATH=SRC, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

CHILD = textwrap.dedent(
    """
    import json, signal, sys
    import numpy as np
    import glassnet as gn

    ckpt, dtype = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 6))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)

    def make():
        model = gn.Sequential([gn.layers.Dense(16, activation="relu"), gn.layers.Dropout(0.2),
                               gn.layers.Dense(2, activation="softmax")], seed=3, dtype=dtype)
        return model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    class Started(gn.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 0 and not hasattr(self, "said"):
                self.said = print("started", flush=True)

    model = make()
    history = model.fit(X, y, epochs=1000, batch_size=4, verbose=0, callbacks=[Started()])  # until Ctrl-C
    handler_restored = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    state = model._training
    model.save(ckpt)
    end = state.epoch + 2  # go on to the end of the next epoch, and compare with a run that never stopped
    resumed = make()
    full = resumed.fit(X, y, epochs=end, batch_size=4, verbose=0, resume_from=ckpt)
    whole = make()
    expected = whole.fit(X, y, epochs=end, batch_size=4, verbose=0)
    print(json.dumps({
        "interrupted": history.interrupted, "stop_training": model.stop_training, "epochs": history.epoch,
        "epoch": state.epoch, "batch": state.batch, "iterations": model.optimizer.iterations,
        "handler_restored": handler_restored, "finite": bool(np.isfinite(model.flat_params).all()),
        "identical": bool(np.array_equal(resumed.flat_params, whole.flat_params)),
        "same_history": full.history == expected.history,
    }), flush=True)
    """
)


@pytest.mark.parametrize("dtype, seed", [("float32", 1), ("float64", 2), ("float32", 3)])
def test_sigint_stops_at_a_batch_boundary_and_resumes_bit_identical(tmp_path, dtype, seed):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "ckpt.glassnet"), dtype],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
    assert child.stdout.readline() == "started\n"
    time.sleep(random.Random(seed).uniform(0.0, 0.3))  # somewhere in the first epochs (1000 batches each)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    report = json.loads(out)
    assert report["interrupted"] and report["stop_training"] and report["finite"]
    assert report["epochs"] == list(range(report["epoch"]))  # the history so far: the finished epochs
    assert report["iterations"] == report["epoch"] * 1000 + report["batch"] > 0
    assert report["handler_restored"]
    assert report["identical"] and report["same_history"]


def _stop_at(n_batches, times=1):
    class Interrupt(gn.callbacks.Callback):
        seen = 0

        def on_batch_end(self, batch, logs=None):
            Interrupt.seen += 1
            if Interrupt.seen == n_batches:
                for _ in range(times):
                    signal.raise_signal(signal.SIGINT)

    return Interrupt()


def small():
    model = gn.Sequential([gn.layers.Dense(4, activation="tanh"), gn.layers.Dense(1)], seed=0)
    return model.compile(loss="mse", optimizer="sgd")


XS = np.random.default_rng(1).normal(size=(40, 3))
YS = XS.sum(axis=1)


def test_in_process_interrupt_returns_history_and_restores_the_handler():
    model = small()
    history = model.fit(XS, YS, epochs=5, batch_size=4, verbose=0, callbacks=[_stop_at(23)])
    assert history.interrupted and model.stop_training and history.epoch == [0, 1]
    assert model.optimizer.iterations == 23 and model._training.batch == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    again = model.fit(XS, YS, epochs=1, batch_size=4, verbose=0)  # the next fit starts afresh
    assert not again.interrupted and again.epoch == [0]


def test_a_second_ctrl_c_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt):
        small().fit(XS, YS, epochs=5, batch_size=4, verbose=0, callbacks=[_stop_at(3, times=2)])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_model_checkpoint_saves_the_interrupted_run(tmp_path):
    ckpt = tmp_path / "ck-{epoch}.glassnet"
    model = small()
    model.fit(XS, YS, epochs=5, batch_size=4, verbose=0,
              callbacks=[_stop_at(13), gn.callbacks.ModelCheckpoint(ckpt, every=1)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-1.glassnet", "ck-2.glassnet"]
    saved = gn.load(tmp_path / "ck-2.glassnet")  # epoch 2 in progress: 3 of its 10 batches done
    assert (saved._training.epoch, saved._training.batch) == (1, 3)
    np.testing.assert_array_equal(saved.flat_params, model.flat_params)


def test_fit_off_the_main_thread_leaves_signals_alone():
    result = {}

    def train():
        result["history"] = small().fit(XS, YS, epochs=2, verbose=0)

    thread = threading.Thread(target=train)
    thread.start()
    thread.join()
    assert len(result["history"].epoch) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_cli_train_ctrl_c_writes_a_checkpoint_and_says_where(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4))
    rows = "\n".join(",".join(f"{v:.5f}" for v in row) + f",{int(row[0] > 0)}" for row in X)
    data = tmp_path / "d.csv"
    data.write_text("a,b,c,d,y\n" + rows + "\n")
    save, ckpt = tmp_path / "m.glassnet", tmp_path / "m.glassnet.checkpoint"
    argv = [sys.executable, "-m", "glassnet.cli.main", "train", "--data", str(data), "--target", "y",
            "--batch-size", "2", "--layers", "16", "--save", str(save)]
    child = subprocess.Popen(argv + ["--epochs", "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=ENV, text=True)
    assert child.stdout.readline().startswith("task: classification")
    time.sleep(1.0)  # well inside training (the first line comes before it starts)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert f"checkpoint written to {ckpt}" in err and f"--resume {ckpt}" in err
    assert "Traceback" not in err and not save.exists()
    state = gn.load(ckpt)._training
    assert state.epoch * 1500 + state.batch > 0

    resumed = subprocess.run(argv + ["--epochs", str(state.epoch + 1), "--resume", str(ckpt), "--json"],
                             capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["epochs"] == state.epoch + 1 and save.exists()
