"""The fused kernels of glassnet.accel give exactly the NumPy path's numbers (and torch's, through it)."""

import numba  # in the dev extra: a missing numba fails this module, it is not skipped
import numpy as np
import pytest
from test_optimizers import (
    OPTIMIZERS,
    assert_params_match,
    assert_state_matches,
    data,
    fit_ours,
    glassnet_mlp,
    torch_twin,
    train_torch,
)

import glassnet as gn
from glassnet import accel
from glassnet.errors import ConfigError, DivergenceError
from glassnet.layers import Dense
from glassnet.optimizers import Adam, AdamW


def train(mode, monkeypatch, optimizer, dtype, *, clip=None, steps=6):
    """Weights, optimizer state and divergence backup after ``steps`` mini-batches under GLASSNET_ACCEL=mode."""
    monkeypatch.setenv("GLASSNET_ACCEL", mode)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((64, 40)), rng.integers(0, 5, 64)
    model = gn.Sequential([Dense(400, activation="relu"), Dense(5, activation="softmax")], seed=0, dtype=dtype)
    model.build(40)
    assert model.flat_params.size >= accel.MIN_SIZE
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer(**(clip or {})))
    model.fit(X, y, epochs=steps // 2, batch_size=32, verbose=0)
    return model.flat_params.copy(), {k: v.copy() for k, v in model.optimizer.state.items()}, model._backup.copy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", [Adam, lambda **kw: AdamW(weight_decay=0.1, **kw),
                                       lambda **kw: Adam(learning_rate=0.01, beta1=0.5, beta2=0.9, epsilon=1e-3, **kw)],
                         ids=["adam", "adamw", "adam_settings"])
@pytest.mark.parametrize("clip", [None, {"global_clipnorm": 0.05}], ids=["plain", "clipped"])
def test_fused_adam_is_bit_identical_to_numpy(monkeypatch, optimizer, dtype, clip):
    p_np, state_np, backup_np = train("numpy", monkeypatch, optimizer, dtype, clip=clip)
    p_nb, state_nb, backup_nb = train("numba", monkeypatch, optimizer, dtype, clip=clip)
    assert not np.array_equal(p_np, backup_np), "the last step changed nothing"
    np.testing.assert_array_equal(p_nb, p_np)
    np.testing.assert_array_equal(backup_nb, backup_np)
    for k in state_np:
        np.testing.assert_array_equal(state_nb[k], state_np[k])


def test_auto_uses_the_kernels_for_large_buffers_only(monkeypatch):
    monkeypatch.delenv("GLASSNET_ACCEL", raising=False)
    assert accel.mode() == "auto"
    assert accel.available(accel.MIN_SIZE)
    assert not accel.available(accel.MIN_SIZE - 1)
    monkeypatch.setenv("GLASSNET_ACCEL", "numpy")
    assert not accel.available(10**7)
    monkeypatch.setenv("GLASSNET_ACCEL", "numba")
    assert accel.available(1)
    assert accel.warm_up()


def test_kernel_path_is_taken(monkeypatch):
    """Not just equal numbers: the auto mode really calls the kernel for a large model."""
    seen = []
    original = accel.adam

    def spy(*args, **kwargs):
        seen.append(args[0].size)
        return original(*args, **kwargs)

    monkeypatch.setattr(accel, "adam", spy)
    p, _, _ = train("auto", monkeypatch, Adam, "float32")
    assert seen and seen[0] == p.size


def test_fused_adam_matches_torch(monkeypatch):
    monkeypatch.setenv("GLASSNET_ACCEL", "numba")
    ours_opt, torch_opt, state_names = OPTIMIZERS["adamw"]
    X, y = data()
    model = glassnet_mlp(ours_opt())
    net = torch_twin(model)
    opt = train_torch(net, torch_opt, X, y)
    fit_ours(model, X, y)
    assert_params_match(model, net, "adamw")
    assert_state_matches(model, net, opt, state_names, "adamw")


def test_divergence_keeps_the_last_good_weights_with_the_kernel(monkeypatch):
    monkeypatch.setenv("GLASSNET_ACCEL", "numba")
    X = np.ones((4, 3)) * 1e3
    y = np.ones((4, 1))
    model = gn.Sequential([Dense(8, activation="relu"), Dense(1)], seed=0, dtype="float32")
    model.compile(loss="mse", optimizer=Adam(learning_rate=1e38))
    with pytest.raises(DivergenceError) as err, np.errstate(over="ignore", invalid="ignore"):
        model.fit(X, y, epochs=50, batch_size=None, verbose=0)
    assert "last weights with a finite loss" in str(err.value)
    assert np.isfinite(model.flat_params).all()
    assert np.isfinite(model.evaluate(X, y)["loss"])


def test_bad_mode_is_a_config_error(monkeypatch):
    monkeypatch.setenv("GLASSNET_ACCEL", "fortran")
    with pytest.raises(ConfigError, match="GLASSNET_ACCEL must be one of auto, numpy, numba; received 'fortran'"):
        accel.available(10**6)


def test_numba_required_but_missing_is_a_config_error(monkeypatch):
    monkeypatch.setattr(accel, "_kernels", {})  # as if the import had failed
    monkeypatch.setenv("GLASSNET_ACCEL", "numba")
    with pytest.raises(ConfigError, match="numba is not installed"):
        accel.available(10**6)
    monkeypatch.setenv("GLASSNET_ACCEL", "auto")
    assert not accel.available(10**6)  # auto falls back to NumPy quietly


def test_a_kernel_that_fails_to_compile_means_numpy_with_a_warning(monkeypatch):
    from glassnet.errors import GlassnetWarning

    def broken(*args, **kwargs):
        def decorate(f):
            def fail(*a):
                raise RuntimeError("LLVM says no")
            return fail
        return decorate

    monkeypatch.setattr(numba, "njit", broken)
    monkeypatch.setattr(accel, "_kernels", None)
    monkeypatch.setenv("GLASSNET_ACCEL", "auto")
    with pytest.warns(GlassnetWarning, match="could not compile the fused kernels .*LLVM says no.*using NumPy"):
        assert not accel.available(10**6)
    p_np, _, _ = train("numpy", monkeypatch, Adam, "float32")
    p_auto, _, _ = train("auto", monkeypatch, Adam, "float32")  # trains on the NumPy path, same numbers
    np.testing.assert_array_equal(p_auto, p_np)
