"""Pooling layers: finite differences, PyTorch as the oracle, the naive twins, a hand-worked example."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glassnet as gn
from glassnet.layers import (
    AveragePool1D,
    AveragePool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    MaxPool1D,
    MaxPool2D,
)
from glassnet.layers.pooling import pool_naive_backward, pool_naive_forward

torch.set_num_threads(1)

LOCAL = {("max", 1): MaxPool1D, ("max", 2): MaxPool2D, ("average", 1): AveragePool1D, ("average", 2): AveragePool2D}
# (pool_size, strides, padding, input spatial shape): overlapping, strided, and asymmetric "same" windows
CASES = {
    1: [(2, None, "valid", (9,)), (3, 1, "valid", (8,)), (3, 2, "same", (9,)), (2, None, "same", (7,)),
        (4, 3, "same", (10,))],
    2: [((2, 2), None, "valid", (6, 5)), ((3, 2), (1, 2), "valid", (6, 7)), ((3, 3), (2, 2), "same", (7, 5)),
        ((2, 2), None, "same", (5, 5)), ((2, 3), (1, 1), "same", (4, 6))],
}
ALL = [(mode, rank, *case) for (mode, rank) in LOCAL for case in CASES[rank]]


def ids(p):
    return "-".join(map(str, p)) if isinstance(p, tuple) else str(p)


def built(mode, rank, pool_size, strides, padding, spatial, C=3, dtype=np.float64):
    layer = LOCAL[mode, rank](pool_size, strides=strides, padding=padding)
    layer.build((*spatial, C), np.random.default_rng(0), dtype)
    return layer


def window_and_step(pool_size, strides, rank):
    """The test case's pool_size and strides as per-axis tuples (strides default to the window)."""
    k = (pool_size,) * rank if isinstance(pool_size, int) else tuple(pool_size)
    return k, k if strides is None else (strides,) * rank if isinstance(strides, int) else tuple(strides)


def expected_pads(pool_size, strides, padding, spatial):
    """((before, after), ...) per spatial axis, by TensorFlow's rule, worked out here and not read from the layer.

    "same": out = ceil(n / s), total = max((out - 1)·s + k - n, 0), before = total // 2, after = the rest
    (the odd cell goes after); "valid" pads nothing.
    """
    k, s = window_and_step(pool_size, strides, len(spatial))
    if padding == "valid":
        return ((0, 0),) * len(spatial)
    pads = []
    for n, kk, ss in zip(spatial, k, s):
        total = max((-(-n // ss) - 1) * ss + kk - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def test_expected_pads_by_hand():
    # 9 steps, window 3, stride 2: out = ceil(9/2) = 5 windows reach (5-1)·2 + 3 = 11 cells, 2 padded: 1 + 1
    assert expected_pads(3, 2, "same", (9,)) == ((1, 1),)
    # 7 steps, window 2 (stride 2): out = 4 windows reach 8 cells, 1 padded, after the input
    assert expected_pads(2, None, "same", (7,)) == ((0, 1),)
    # 10 steps, window 4, stride 3: out = 4 windows reach 3·3 + 4 = 13 cells, 3 padded: 1 before, 2 after
    assert expected_pads(4, 3, "same", (10,)) == ((1, 2),)
    # 4×6, window 2×3, stride 1: 1 row padded (after), 2 columns padded (1 + 1)
    assert expected_pads((2, 3), (1, 1), "same", (4, 6)) == ((0, 1), (1, 1))


@pytest.mark.parametrize("mode,rank,pool_size,strides,padding,spatial", ALL, ids=ids)
def test_pooling_pads_like_tensorflow(mode, rank, pool_size, strides, padding, spatial):
    layer = built(mode, rank, pool_size, strides, padding, spatial)
    pads = expected_pads(pool_size, strides, padding, spatial)
    assert tuple(map(tuple, layer.pads)) == pads
    out = tuple(-(-n // s) for n, s in zip(spatial, layer.strides)) if padding == "same" else tuple(
        (n - k) // s + 1 for n, k, s in zip(spatial, layer.pool_size, layer.strides))
    assert layer.output_shape == (*out, 3)


def inputs(shape, seed=1):
    """Distinct values (no ties inside a max-pooling window, so the arg max is unique)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape) + rng.normal(0, 1e-3, shape)


def torch_pool(mode, pool_size, strides, pads, X, dA):
    """PyTorch's A and dX with the padding of :func:`expected_pads`. Its own padding is symmetric, so
    asymmetric "same" padding is done by hand: -inf cells for max pooling; for average pooling a
    zero-padded sum divided by a pooled mask of ones (padded cells do not count, as glassnet documents)."""
    rank = len(pads)
    x = torch.tensor(X, requires_grad=True)
    xt = x.permute(0, 2, 1) if rank == 1 else x.permute(0, 3, 1, 2)
    k, s = window_and_step(pool_size, strides, rank)
    maxpool, avgpool = (F.max_pool1d, F.avg_pool1d) if rank == 1 else (F.max_pool2d, F.avg_pool2d)
    if all(lo == hi for lo, hi in pads):  # torch's own padding rules
        sym = [lo for lo, _ in pads]
        z = maxpool(xt, k, s, sym) if mode == "max" else avgpool(xt, k, s, sym, count_include_pad=False)
    else:
        pads = [p for lo_hi in reversed(pads) for p in lo_hi]  # F.pad: last axis first
        if mode == "max":
            z = maxpool(F.pad(xt, pads, value=-float("inf")), k, s)
        else:
            area = float(np.prod(k))
            counts = avgpool(F.pad(torch.ones_like(xt[:1, :1]), pads), k, s) * area
            z = avgpool(F.pad(xt, pads), k, s) * area / counts
    a = z.permute(0, 2, 1) if rank == 1 else z.permute(0, 2, 3, 1)
    a.backward(torch.from_numpy(dA))
    return a.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("mode,rank,pool_size,strides,padding,spatial", ALL, ids=ids)
def test_gradcheck_pooling(mode, rank, pool_size, strides, padding, spatial):
    layer = built(mode, rank, pool_size, strides, padding, spatial)
    report = gn.gradcheck(layer, inputs((2, *spatial, 3)))
    assert report.passed, str(report)


@pytest.mark.parametrize("mode,rank,pool_size,strides,padding,spatial", ALL, ids=ids)
def test_pooling_fast_equals_naive(mode, rank, pool_size, strides, padding, spatial):
    layer = built(mode, rank, pool_size, strides, padding, spatial)
    X = inputs((2, *spatial, 3))
    z = layer.forward(X, training=True)
    dz = np.random.default_rng(2).standard_normal(z.shape)
    dX = layer.backward(dz)
    args = (layer.pool_size, layer.strides, expected_pads(pool_size, strides, padding, spatial), mode)
    np.testing.assert_allclose(z, pool_naive_forward(X, *args), rtol=1e-12, atol=1e-15, err_msg="fast vs naive")
    np.testing.assert_allclose(dX, pool_naive_backward(dz, X, *args), rtol=1e-12, atol=1e-15, err_msg="dX")


@pytest.mark.parametrize("mode,rank,pool_size,strides,padding,spatial", ALL, ids=ids)
def test_pooling_matches_torch(mode, rank, pool_size, strides, padding, spatial):
    layer = built(mode, rank, pool_size, strides, padding, spatial)
    X = inputs((2, *spatial, 3))
    a = layer.forward(X, training=True)
    dA = np.random.default_rng(2).standard_normal(a.shape)
    dX = layer.backward(dA)
    a_t, dX_t = torch_pool(mode, pool_size, strides, expected_pads(pool_size, strides, padding, spatial), X, dA)
    np.testing.assert_allclose(a, a_t, rtol=1e-12, atol=1e-15, err_msg="A: ours (ACTUAL) vs torch (DESIRED)")
    np.testing.assert_allclose(dX, dX_t, rtol=1e-12, atol=1e-15, err_msg="dX: ours (ACTUAL) vs torch (DESIRED)")


@pytest.mark.parametrize("cls,shape,dims", [(GlobalAveragePooling1D, (2, 5, 3), (1,)),
                                            (GlobalAveragePooling2D, (2, 4, 3, 3), (1, 2))])
def test_global_average_pooling(cls, shape, dims):
    layer = cls()
    assert layer.build(shape[1:], np.random.default_rng(0), np.float64) == (3,)
    X = inputs(shape)
    report = gn.gradcheck(layer, X)
    assert report.passed, str(report)
    x = torch.tensor(X, requires_grad=True)
    a_t = x.mean(dim=dims)
    dA = np.random.default_rng(2).standard_normal(a_t.shape)
    a_t.backward(torch.from_numpy(dA))
    np.testing.assert_allclose(layer.forward(X), a_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(dA), x.grad.numpy(), rtol=1e-12)


def test_pooling_by_hand():
    # x = 1 5 2 4 3 6 (one channel), windows of 2 every 2 steps: [1 5] [2 4] [3 6]
    x = np.array([1.0, 5, 2, 4, 3, 6]).reshape(1, 6, 1)
    mx, avg = MaxPool1D(2), AveragePool1D(2)
    for layer in (mx, avg):
        layer.build((6, 1), np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(mx.forward(x).ravel(), [5, 4, 6])
    np.testing.assert_array_equal(avg.forward(x).ravel(), [3, 3, 4.5])
    dz = np.array([1.0, 2, 3]).reshape(1, 3, 1)
    np.testing.assert_array_equal(mx.backward(dz).ravel(), [0, 1, 0, 2, 0, 3])  # to each window's max
    np.testing.assert_array_equal(avg.backward(dz).ravel(), [0.5, 0.5, 1, 1, 1.5, 1.5])  # split evenly
    # "same" with 7 steps: 4 windows, the last one holds one real cell and one pad that never counts
    same = AveragePool1D(2, padding="same")
    same.build((7, 1), np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(same.forward(np.arange(7.0).reshape(1, 7, 1)).ravel(), [0.5, 2.5, 4.5, 6])


def test_float32_pooling_stays_float32():
    for mode, rank in LOCAL:
        layer = built(mode, rank, 2, None, "same", (5,) * rank, dtype=np.float32)
        X = inputs((2, *(5,) * rank, 3)).astype(np.float32)
        a = layer.forward(X)
        assert a.dtype == layer.backward(np.ones_like(a)).dtype == np.float32


@pytest.mark.parametrize("make,message", [
    (lambda: MaxPool1D(0), ("Received an invalid value for `pool_size`, expected a positive integer. "
                            "Received: pool_size=0")),
    (lambda: AveragePool2D(2, strides=(1, 0)), r"Received: strides=\(1, 0\)"),
    (lambda: MaxPool2D(2, padding="full"), "`padding`, expected \"valid\" or \"same\""),
])
def test_bad_pooling_hyperparameters(make, message):
    with pytest.raises(gn.ConfigError, match=message):
        make()


def test_bad_pooling_inputs_name_the_layer():
    rng = np.random.default_rng(0)
    with pytest.raises(gn.ShapeError, match=r'Layer "pool" \(MaxPool1D\).*pool_size=\(5,\)'):
        MaxPool1D(5, name="pool").build((3, 2), rng)
    with pytest.raises(gn.ShapeError, match=r'layer "maxpool2d" \(MaxPool2D\).*expected ndim=4'):
        MaxPool2D(2).build((8, 3), rng)
    with pytest.raises(gn.ShapeError, match=r'layer "globalaveragepooling1d".*expected ndim=3'):
        GlobalAveragePooling1D().build((8,), rng)
