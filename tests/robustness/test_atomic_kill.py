"""A save killed at any moment leaves the previous model file whole: the file on disk always loads.

A child process saves a model over and over with new weights, logging each state's checksum before it
saves it; the test kills it with SIGKILL at random moments and checks that the file then on disk loads and
holds one of the logged states. (A killed save can leave its hidden temporary file ``.NAME.XXXX.tmp``
beside the target; never a half-written target.)
"""

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

import glassnet as gn

CHILD = textwrap.dedent(
    """
    import hashlib, os, sys
    import numpy as np
    import glassnet as gn

    path, log = sys.argv[1], sys.argv[2]
    model = gn.Sequential([gn.layers.Dense(512, activation="relu"), gn.layers.Dense(8)], seed=0)
    model.compile(loss="mse", optimizer="adam")
    model.build(256)  # 135k parameters; with Adam's m and v about 1.6 MB per file
    rng = np.random.default_rng(int(sys.argv[3]))
    with open(log, "a") as f:
        for i in range(10**9):
            model.flat_params[...] = rng.standard_normal(model.flat_params.size, dtype=np.float32)
            model.optimizer.state["m"][...] = model.flat_params  # the optimizer state changes with it
            f.write(hashlib.sha256(model.flat_params.tobytes()).hexdigest() + "\\n")
            f.flush()
            os.fsync(f.fileno())
            model.save(path)
            if i == 0:
                print("saved", flush=True)
    """
)


def _digest(model):
    return hashlib.sha256(model.flat_params.tobytes()).hexdigest()


def test_sigkill_during_saves_never_leaves_a_broken_file(tmp_path):
    path, log = tmp_path / "m.glassnet", tmp_path / "states.log"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(gn.__file__)), OPENBLAS_NUM_THREADS="1")
    chooser = random.Random(1234)
    seen = set()
    for run in range(6):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(log), str(run)],
                                 stdout=subprocess.PIPE, env=env)
        try:
            assert child.stdout.readline() == b"saved\n"  # one whole save is on disk: from now on, kill
            time.sleep(chooser.uniform(0.0, 0.4))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        assert child.returncode == -signal.SIGKILL

        logged = set(log.read_text().split())
        model = gn.load(path)  # loads: never half-written
        digest = _digest(model)
        assert digest in logged, f"run {run}: the file holds a state that was never saved"
        np.testing.assert_array_equal(model.optimizer.state["m"], model.flat_params)
        seen.add(digest)
        leftovers = [p for p in os.listdir(tmp_path) if p not in ("m.glassnet", "states.log")]
        assert all(p.startswith(".m.glassnet.") and p.endswith(".tmp") for p in leftovers), leftovers
    assert len(seen) == 6  # each run saved its own states
