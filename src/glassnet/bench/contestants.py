"""The contestants: each builds its model on the shared data and weights and returns an epoch to time.

A builder takes ``(layers, batch, data, init, threads, device)`` — ``layers`` an MLP's widths
``(n_in, hidden..., n_classes)``, a :class:`~glassnet.bench.nets.ConvNet` or a recurrent net
(:class:`~glassnet.bench.nets.LSTMNet`, :class:`~glassnet.bench.nets.GRUNet`), ``init`` the glassnet
model's trainable weights, :func:`trainable_weights` (``[W1, b1, W2, b2, ...]`` for an MLP, ``W`` of shape ``(n_in, n_out)``),
``device`` a :class:`~glassnet.backend.Device` (default the CPU) — and returns a :class:`Runner`. Peers are
imported inside their builder, so glassnet never needs them to import.

On a device other than the CPU: glassnet's model is moved there (``model.to(device)``) and trained with
``fit`` as on the CPU, each batch copied from the host as it is used; the floor does its products with
the device's array module on arrays it allocates there (the training set included); PyTorch runs on
``"cuda"`` for ``device="gpu"`` (each batch copied from the host, as glassnet's), scikit-learn not at all.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..backend import CPU, Device, get_device, synchronize
from ..errors import ConfigError
from .nets import (
    ConvNet,
    RecurrentNet,
    build_glassnet,
    gemm_shapes,
    glassnet_weights,
    torch_input,
    torch_twin,
    trainable,
)

__all__ = ["BUILDERS", "CONTESTANTS", "EPS", "LR", "SEED", "Data", "Runner", "applies", "evaluate",
           "glassnet_model", "label", "make_data"]

LR, EPS, SEED = 1e-3, 1e-7, 0
CONTESTANTS = {"glassnet": "glassnet", "floor": "GEMM floor (NumPy)", "torch": "PyTorch CPU",
               "sklearn": "scikit-learn MLPClassifier"}
_MODULE_NAMES = {"numpy": "NumPy", "cupy": "CuPy"}


def label(name: str, device: Device = CPU) -> str:
    """The contestant's name in tables: ``CONTESTANTS[name]`` on the CPU; the floor's module, torch's device else."""
    if device.name == "cpu" or name not in ("floor", "torch"):
        return CONTESTANTS[name]
    if name == "floor":
        return f"GEMM floor ({_MODULE_NAMES.get(device.module.__name__, device.module.__name__)})"
    return "PyTorch CUDA" if device.name == "gpu" else "PyTorch"


def _nothing() -> None:
    pass


@dataclass
class Runner:
    """A contestant ready to train: ``epoch()`` runs one epoch; ``weights()`` returns its current weights.

    ``sync()`` waits until the device has finished what ``epoch()`` queued (GPU kernels run
    asynchronously); the harness calls it before it reads the clock. A no-op on the CPU.
    """

    epoch: Callable[[], None]
    weights: Callable[[], list[np.ndarray]] | None  # as trainable_weights(model): [W1, b1, W2, b2, ...]
    note: str = ""
    same_init: bool = True
    sync: Callable[[], None] = _nothing


@dataclass
class Data:
    """The shared training set."""

    X: np.ndarray  # (N, n_in), (N, T, C) or (N, H, W, C) float32, C-contiguous
    y: np.ndarray  # (N,) int64 class labels


def make_data(rows: int, n_in: int | tuple[int, ...], n_out: int, seed: int = SEED) -> Data:
    """Gaussian inputs labelled by a random linear teacher plus noise, so there is something to learn.

    ``n_in`` is the number of features, or the shape of one sample (``(T, C)``, ``(H, W, C)``): the
    teacher then reads the flattened sample.
    """
    rng = np.random.default_rng(seed)
    shape = (n_in,) if isinstance(n_in, (int, np.integer)) else tuple(n_in)
    features = int(np.prod(shape))
    X = rng.standard_normal((rows, features), dtype=np.float32)
    teacher = rng.standard_normal((features, n_out), dtype=np.float32) / np.float32(np.sqrt(features))
    scores = X @ teacher + np.float32(0.5) * rng.standard_normal((rows, n_out), dtype=np.float32)
    return Data(X.reshape(rows, *shape), scores.argmax(axis=1).astype(np.int64))


# -- contestants ---------------------------------------------------------------------------------------
def glassnet_model(layers, seed: int = SEED):
    """The glassnet model of ``layers``, built and compiled with the harness's Adam and softmax cross-entropy."""
    from ..optimizers import Adam

    model = build_glassnet(layers, seed)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=LR, epsilon=EPS))
    return model


def trainable_weights(model) -> list[np.ndarray]:
    """Copies of the model's trainable arrays in layer order (``get_weights()`` without buffers such as
    BatchNorm's moving statistics): what a peer's parameters correspond to one to one."""
    return list(model.state_dict(("params",))["params"].values())


def set_trainable_weights(model, weights: list[np.ndarray]) -> None:
    """Copy ``weights`` (as :func:`trainable_weights` gives them) into the model's trainable arrays."""
    keys = list(model.state_dict(("params",))["params"])
    model.load_state_dict({"params": dict(zip(keys, weights, strict=True))})


def applies(name: str, layers) -> bool:
    """Whether contestant ``name`` can train ``layers``: scikit-learn has MLPs only."""
    return not (name == "sklearn" and isinstance(layers, (ConvNet, RecurrentNet)))


def _glassnet(layers, batch, data, init, threads, device=CPU) -> Runner:
    device = get_device(device)
    model = glassnet_model(layers)
    set_trainable_weights(model, init)
    model.to(device)  # parameters, gradients and Adam's state; fit copies each batch there
    return Runner(lambda: model.fit(data.X, data.y, epochs=1, batch_size=batch, shuffle=True, verbose=0),
                  lambda: trainable_weights(model), sync=lambda: synchronize(device))


def _floor(layers, batch, data, init, threads, device=CPU) -> Runner:
    """Per batch and weighted layer ``Z = A·W``, ``dW = Aᵀ·dZ`` and (not for the first) ``dA = dZ·Wᵀ``.

    For an MLP, ``A`` is a slice of X for the first layer and the previous ``Z`` after it; for a conv
    net each layer's ``A`` is its im2col matrix, a preallocated buffer: the floor pays no shuffling,
    im2col or col2im copy, and nothing elementwise (BN, activations, pooling, Adam). A recurrent net
    has its own products (:func:`_recurrent_floor`). Every array lives on ``device`` (X copied there once: the
    floor pays no transfer) and every product is its module's ``matmul``.
    """
    device = get_device(device)
    if isinstance(layers, RecurrentNet):
        return _recurrent_floor(layers, batch, data, init, device)
    xp = device.module
    gemms = gemm_shapes(layers)  # (rows per sample, k, n) per weighted layer
    chained = not isinstance(layers, ConvNet)
    Ws = [xp.asarray(w.reshape(k, n)) for w, (_, k, n) in zip((w for w in init if w.ndim > 1), gemms)]
    dWs = [xp.empty_like(W) for W in Ws]
    X, rows = xp.asarray(data.X), len(data.X)  # no copy on the CPU
    rng = np.random.default_rng(SEED)

    def normal(shape):  # drawn on the host, as glassnet draws every random number
        return xp.asarray(rng.standard_normal(shape, dtype=np.float32))

    def buffers(m):  # per layer: input A (unless chained), output Z, incoming dZ and dA (not the first)
        a = None if chained else [normal((m * p, k)) for p, k, _ in gemms]
        z = [xp.empty((m * p, n), np.float32) for p, _, n in gemms]
        dz = [normal((m * p, n)) for p, _, n in gemms]
        da = [None] + [xp.empty((m * p, k), np.float32) for p, k, _ in gemms[1:]]
        return a, z, dz, da

    by_size = {m: buffers(m) for m in {batch, rows % batch or batch}}

    def epoch():
        for s in range(0, rows, batch):
            x0 = X[s:s + batch]  # a view: the floor pays no shuffling copy
            a, z, dz, da = by_size[len(x0)]
            inputs = [x0] + z[:-1] if chained else a
            for k, W in enumerate(Ws):
                xp.matmul(inputs[k], W, out=z[k])  # (m·p, n)
            for k in reversed(range(len(Ws))):
                xp.matmul(inputs[k].T, dz[k], out=dWs[k])  # (k, n)
                if k:
                    xp.matmul(dz[k], Ws[k].T, out=da[k])  # (m·p, k)

    return Runner(epoch, None, note="matrix products only", sync=lambda: synchronize(device))


def _recurrent_floor(net: RecurrentNet, batch, data, init, device: Device) -> Runner:
    """The products of backpropagation through time, per batch of m sequences of T steps, G = 4 gates (LSTM) or 3 (GRU)::

        A = X·W                    (m·T, C)·(C, G·U)    all steps at once
        A_t += h_{t-1}·U           (m, U)·(U, G·U)      T times
        Z = h_T·V                  (m, U)·(U, K)        the Dense layer, then its dV = h_Tᵀ·dZ, dh = dZ·Vᵀ
        dh_{t-1} = dG_t·Uᵀ         (m, G·U)·(G·U, U)    T times
        dW = Xᵀ·dG,  dU = Hᵀ·dG    (C or U, m·T)·(m·T, G·U)

    X is a view of the batch (batch major: the floor pays no transposing copy), the rest preallocated
    buffers; nothing elementwise (gates, cell, softmax, Adam). The GRU's input and recurrent sides have
    deltas of the same shape (they differ in the candidate's third); one array stands for both.
    """
    xp = device.module
    W, Uh, _, V, _ = (xp.asarray(w) for w in init)
    T, C = net.input_shape
    u, K, G = net.units, net.n_classes, net.gates
    X, rows = xp.asarray(data.X), len(data.X)  # no copy on the CPU
    dW, dU, dV = xp.empty_like(W), xp.empty_like(Uh), xp.empty_like(V)
    rng = np.random.default_rng(SEED)

    def normal(shape):
        return xp.asarray(rng.standard_normal(shape, dtype=np.float32))

    def buffers(m):
        return {"A": xp.empty((m * T, G * u), np.float32), "hU": xp.empty((m, G * u), np.float32),
                "H": normal((m * T, u)), "Z": xp.empty((m, K), np.float32), "dZ": normal((m, K)),
                "dh": xp.empty((m, u), np.float32), "dG": normal((m * T, G * u))}

    by_size = {m: buffers(m) for m in {batch, rows % batch or batch}}

    def epoch():
        for s in range(0, rows, batch):
            x = X[s:s + batch]  # (m, T, C), a view
            m = len(x)
            b = by_size[m]
            H, dG = b["H"].reshape(m, T, u), b["dG"].reshape(m, T, G * u)
            xp.matmul(x.reshape(m * T, C), W, out=b["A"])
            for t in range(T):
                xp.matmul(H[:, t], Uh, out=b["hU"])
            xp.matmul(H[:, -1], V, out=b["Z"])
            xp.matmul(H[:, -1].T, b["dZ"], out=dV)
            xp.matmul(b["dZ"], V.T, out=b["dh"])
            for t in reversed(range(T)):
                xp.matmul(dG[:, t], Uh.T, out=b["dh"])
            xp.matmul(x.reshape(m * T, C).T, b["dG"], out=dW)
            xp.matmul(b["H"].T, b["dG"], out=dU)

    return Runner(epoch, None, note="matrix products only", sync=lambda: synchronize(device))


def _torch(layers, batch, data, init, threads, device=CPU) -> Runner:
    """PyTorch on the CPU, or on ``"cuda"`` for glassnet's ``device="gpu"`` (see :func:`_torch_device`)."""
    import torch

    where = _torch_device(get_device(device))
    torch.set_num_threads(threads)
    if where == "cuda":  # full float32 products, as CuPy's: no TF32 in cuBLAS or cuDNN
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    net = torch_twin(layers, init).to(where)  # logits; CrossEntropyLoss applies log-softmax
    opt = torch.optim.Adam(trainable(net), lr=LR, eps=EPS)
    loss_fn = torch.nn.CrossEntropyLoss()
    # on the host, as glassnet's: convolutions' inputs channels first, copied once: (N, C, T) and (N, C, H, W)
    X, y = torch_input(layers, data.X), torch.from_numpy(data.y)
    rng, n = np.random.default_rng(SEED), len(data.X)

    def epoch():
        order = torch.from_numpy(rng.permutation(n))
        total = 0.0
        with warnings.catch_warnings():  # FCN's k=8 'same' pads a copy of its input, and says so each time
            warnings.filterwarnings("ignore", "Using padding='same' with even kernel")
            for s in range(0, n, batch):
                idx = order[s:s + batch]
                xb, yb = X[idx].to(where), y[idx].to(where)  # a copy to the GPU as glassnet's; none on the CPU
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)  # the epoch's mean loss, as fit() and partial_fit() track it

    def weights():
        return glassnet_weights(layers, [p.detach().cpu().numpy() for p in trainable(net)])

    if where == "cuda":
        note = f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}, TF32 off"
        return Runner(epoch, weights, note=note, sync=torch.cuda.synchronize)
    return Runner(epoch, weights, note=f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def _torch_device(device: Device) -> str:
    """PyTorch's device for glassnet's: ``"cpu"`` for the CPU, ``"cuda"`` for ``"gpu"`` (CuPy); else ConfigError."""
    if device.name in ("cpu", "gpu"):
        return {"cpu": "cpu", "gpu": "cuda"}[device.name]
    raise ConfigError(f"PyTorch has no device matching glassnet's device {device.name!r}; it runs on 'cpu' or 'gpu'")


def _sklearn(layers, batch, data, init, threads, device=CPU) -> Runner:
    if (name := get_device(device).name) != "cpu":
        raise ConfigError(f"scikit-learn runs on the CPU only; received device={name!r}")
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=layers[1:-1], activation="relu", solver="adam", alpha=0.0,
                        batch_size=batch, learning_rate_init=LR, epsilon=EPS, shuffle=True, random_state=SEED)
    classes = np.arange(layers[-1])
    clf.partial_fit(data.X[:batch], data.y[:batch], classes=classes)  # builds the network (one step)
    same = True
    try:  # same start as the others: our weights, in place, and a fresh Adam state
        for c, W in zip(clf.coefs_, init[0::2]):
            c[...] = W
        for c, b in zip(clf.intercepts_, init[1::2]):
            c[...] = b
        del clf._optimizer  # recreated by the next partial_fit, from step 0
    except (AttributeError, ValueError):
        same = False

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(data.X, data.y)

    def weights():
        return [a for W, b in zip(clf.coefs_, clf.intercepts_) for a in (W, b)]

    return Runner(epoch, weights, note=f"float32: {clf.coefs_[0].dtype == np.float32}", same_init=same)


BUILDERS = {"glassnet": _glassnet, "floor": _floor, "torch": _torch, "sklearn": _sklearn}


def evaluate(weights: list[np.ndarray], data: Data, layers=None, *, chunk: int = 8192) -> tuple[float, float]:
    """Mean softmax cross-entropy and accuracy of the net ``layers`` with these weights, on all of ``data``.

    One formula for every contestant, so the final numbers compare like with like. An MLP (``layers``
    None or widths) runs as NumPy ReLU layers here; a :class:`ConvNet` or a recurrent net runs as
    glassnet's model in training mode, so batch normalization uses the statistics of the chunk (the whole training set when it
    has at most ``chunk`` rows) rather than the moving averages, which torch keeps with the unbiased
    variance.
    """
    model = None
    if isinstance(layers, (ConvNet, RecurrentNet)):
        model = build_glassnet(layers, SEED)
        if isinstance(layers, RecurrentNet):
            chunk = min(chunk, 512)  # the layer keeps every step's gates: (T, chunk, G·U) floats
        set_trainable_weights(model, weights)
    loss, hits, n = 0.0, 0, len(data.X)
    for s in range(0, n, chunk):
        a, y = data.X[s:s + chunk], data.y[s:s + chunk]
        if model is not None:
            model.forward(a, training=True)
            z = model.layers[-1].z  # (m, K) logits of the softmax layer
        else:
            for k in range(0, len(weights), 2):
                z = a @ weights[k].astype(np.float32) + weights[k + 1].astype(np.float32)
                a = np.maximum(z, 0) if k + 2 < len(weights) else z
        z = z.astype(np.float64)  # (m, K) logits
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        loss += float((lse - z[np.arange(len(y)), y]).sum())
        hits += int((z.argmax(axis=1) == y).sum())
    return loss / n, hits / n
