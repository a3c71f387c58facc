"""The LSTM's and GRU's fused kernels (numba) give exactly the NumPy reference's numbers, and torch's through it.

Each check runs the same layer twice, ``GLASSNET_ACCEL=numpy`` (the reference loops of
glassnet.layers.recurrent) and ``GLASSNET_ACCEL=numba`` (glassnet.layers.recurrent_kernels), and
compares with ``np.array_equal``: outputs, the cached arrays the trace reads, the final states, every
gradient, dL/dx and dL/d(initial state).
"""

import numba  # in the dev extra: a missing numba fails this module, it is not skipped
import numpy as np
import pytest
import torch
from test_recurrent import torch_run

import glassnet as gn
from glassnet import accel
from glassnet.layers import GRU, LSTM, Dense
from glassnet.layers import recurrent_kernels as rk

torch.set_num_threads(1)

CACHED = {LSTM: ("A", "H", "C", "tanh_c"), GRU: ("A", "H", "hU")}
SHAPES = [(3, 5, 4, 7), (1, 1, 2, 1), (16, 12, 5, 33), (64, 16, 32, 128)]  # N, T, C, U (the last: the benchmark's widths)


def make(cls, C, U, dtype, seed=0, **kw):
    """A built layer with random weights and bias (not the zero bias: every term of the gates counts)."""
    layer = cls(U, **kw)
    rng = np.random.default_rng(seed)
    layer.build((1, C), rng, dtype)  # T is free: any length runs
    for k, p in layer.params.items():
        p[...] = rng.standard_normal(p.shape) * (0.6 if k != "b" else 0.3)
    return layer


def run(mode, monkeypatch, layer, x, dy, initial_state=None, mask=None, passes=1, dstates=None):
    """Everything a forward and backward pass under GLASSNET_ACCEL=mode produces, as copies, by name."""
    monkeypatch.setenv("GLASSNET_ACCEL", mode)
    out = {}
    for p in range(passes):  # a stateful layer carries its states from one pass into the next
        layer.initial_state, layer.input_mask = initial_state, mask
        y = layer.forward(x, training=True)
        dx = layer.backward(dy) if dstates is None else layer.backward(dy, dstates)
        out |= {f"y{p}": y.copy(), f"dx{p}": None if dx is None else dx.copy()}
        out |= {f"{k}{p}": getattr(layer, k).copy() for k in CACHED[type(layer)]}
        out |= {f"d{k}{p}": g.copy() for k, g in layer.grads.items()}
        out |= {f"state{i}_{p}": s.copy() for i, s in enumerate(layer.states)}
        out |= {f"dstate{i}_{p}": g.copy() for i, g in enumerate(layer.initial_state_grads or [])}
    layer.initial_state = layer.input_mask = None
    if layer.stateful:
        layer.reset_states()
    return out


def assert_bit_identical(reference, fused):
    assert reference.keys() == fused.keys()
    for k, ref in reference.items():
        if ref is None:
            assert fused[k] is None, k
            continue
        assert fused[k].dtype == ref.dtype, k
        assert np.array_equal(fused[k], ref), (
            f"{k}: fused differs from NumPy at {np.argwhere(fused[k] != ref)[:3].tolist()}; "
            f"max |diff| {np.max(np.abs(fused[k].astype(float) - ref))}")


def both(monkeypatch, layer, x, dy, **kw):
    return run("numpy", monkeypatch, layer, x, dy, **kw), run("numba", monkeypatch, layer, x, dy, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seq", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_fused_equals_numpy_bit_for_bit(monkeypatch, cls, shape, seq, dtype):
    N, T, C, U = shape
    layer = make(cls, C, U, dtype, return_sequences=seq)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, T, C)).astype(dtype)
    dy = rng.standard_normal((N, T, U) if seq else (N, U)).astype(dtype)
    reference, fused = both(monkeypatch, layer, x, dy)
    assert_bit_identical(reference, fused)
    assert np.abs(reference["dW0"]).max() > 0 and np.abs(reference["dx0"]).max() > 0  # something flowed back


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_fused_equals_numpy_with_initial_state_and_truncated_bptt(monkeypatch, cls, dtype):
    N, T, C, U = 5, 9, 3, 6
    layer = make(cls, C, U, dtype, return_sequences=True, bptt=4)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, T, C)).astype(dtype)
    dy = rng.standard_normal((N, T, U)).astype(dtype)
    h0 = [rng.standard_normal((N, U)).astype(dtype) for _ in cls.state_keys]
    reference, fused = both(monkeypatch, layer, x, dy, initial_state=h0)
    assert_bit_identical(reference, fused)
    assert all(np.abs(reference[f"dstate{i}_0"]).max() > 0 for i in range(len(h0)))
    # gradients of the final states too (return_state): the fused forward, then the reference backward
    dstates = [rng.standard_normal((N, U)).astype(dtype) for _ in cls.state_keys]
    assert_bit_identical(*both(monkeypatch, layer, x, dy, initial_state=h0, dstates=dstates))


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_fused_equals_numpy_when_stateful(monkeypatch, cls):
    N, T, C, U = 4, 6, 3, 5
    layer = make(cls, C, U, np.float64, stateful=True, batch_size=N)
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((N, T, C)), rng.standard_normal((N, U))
    reference, fused = both(monkeypatch, layer, x, dy, passes=2)  # the second pass starts from the first's states
    assert not np.array_equal(reference["y0"], reference["y1"])
    assert_bit_identical(reference, fused)


@pytest.mark.parametrize("seq", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_masked_batches_give_the_same_numbers(monkeypatch, cls, seq):
    """A mask: the fused forward steps and the state-keeping copies, then the reference backward pass."""
    N, T, C, U = 4, 7, 3, 5
    layer = make(cls, C, U, np.float32, return_sequences=seq)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((N, T, C)).astype(np.float32)
    dy = rng.standard_normal((N, T, U) if seq else (N, U)).astype(np.float32)
    mask = np.arange(T) < np.array([[7], [3], [5], [1]])  # post-padded rows of lengths 7, 3, 5, 1
    reference, fused = both(monkeypatch, layer, x, dy, mask=mask)
    assert_bit_identical(reference, fused)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_training_a_model_gives_the_same_weights(monkeypatch, cls):
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((48, 10, 3)).astype(np.float32), rng.integers(0, 3, 48)

    def train(mode):
        monkeypatch.setenv("GLASSNET_ACCEL", mode)
        model = gn.Sequential([cls(12, return_sequences=True), cls(8), Dense(3, activation="softmax")], seed=0)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        history = model.fit(X, y, epochs=2, batch_size=16, verbose=0)
        return model.get_weights(), history.history["loss"]

    (w_np, loss_np), (w_nb, loss_nb) = train("numpy"), train("numba")
    assert loss_nb == loss_np
    for a, b in zip(w_np, w_nb, strict=True):
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("seq", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_fused_matches_torch_in_float64(monkeypatch, cls, seq):
    monkeypatch.setenv("GLASSNET_ACCEL", "numba")
    N, T, C, U = 3, 6, 4, 5
    layer = make(cls, C, U, np.float64, return_sequences=seq)
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((N, T, C)), rng.standard_normal((N, T, U) if seq else (N, U))
    y = layer.forward(x, training=True)
    dx = layer.backward(dy)
    y_t, dx_t, grads_t = torch_run(layer, x, dy)
    np.testing.assert_allclose(y, y_t, rtol=1e-10, atol=1e-12, err_msg="output: fused (ACTUAL) vs torch")
    np.testing.assert_allclose(dx, dx_t, rtol=1e-10, atol=1e-12, err_msg="dx: fused (ACTUAL) vs torch")
    for k, g in grads_t.items():
        np.testing.assert_allclose(layer.grads[k], g, rtol=1e-10, atol=1e-12, err_msg=f"d{k}: fused vs torch")


def test_auto_takes_the_fused_path_and_numpy_mode_does_not(monkeypatch):
    """Not just equal numbers: ``auto`` (numba importable) really calls the kernels, ``numpy`` never does."""
    calls = []
    for name in ("lstm_step", "lstm_backward", "gru_step", "gru_backward"):
        original = getattr(rk, name)
        monkeypatch.setattr(rk, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    x = np.random.default_rng(7).standard_normal((2, 3, 4)).astype(np.float32)
    for mode, expected in (("auto", {"lstm_step", "lstm_backward", "gru_step", "gru_backward"}), ("numpy", set())):
        monkeypatch.setenv("GLASSNET_ACCEL", mode)
        calls.clear()
        for cls in (LSTM, GRU):
            layer = make(cls, 4, 5, np.float32)
            layer.backward(np.ones_like(layer.forward(x, training=True)))
        assert set(calls) == expected, mode


def test_fused_path_needs_numpy_arrays_of_the_layers_dtype(monkeypatch):
    monkeypatch.setenv("GLASSNET_ACCEL", "numba")
    layer = make(LSTM, 4, 5, np.float32)
    a = np.zeros((2, 20), np.float32)
    assert rk.applies(layer, a) and accel.enabled()
    assert not rk.applies(layer, a.astype(np.float64))  # a float64 dy into a float32 layer: NumPy's casting rules
    assert not rk.applies(layer, a.tolist())
    monkeypatch.setenv("GLASSNET_ACCEL", "numpy")
    assert not rk.applies(layer, a)


def test_kernels_compiled_for_both_dtypes():
    """warm_up compiled every kernel for float32 and float64 up front (a failure would mean NumPy, not a crash)."""
    assert accel.warm_up()
    for name in ("lstm_gates_in", "lstm_cell", "lstm_backward_step", "gru_gates_in", "gru_candidate_in",
                 "gru_hidden", "gru_backward_step"):
        kernel = accel._get()[name]
        assert isinstance(kernel, numba.core.registry.CPUDispatcher), name
        dtypes = {str(sig[0].dtype) for sig in kernel.signatures}
        assert {"float32", "float64"} <= dtypes, (name, dtypes)
