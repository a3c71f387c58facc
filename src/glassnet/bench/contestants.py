"""The contestants: each builds its model on the shared data and weights and returns an epoch to time.

A builder takes ``(layers, batch, data, init, threads)`` — ``layers = (n_in, hidden..., n_classes)``,
``init = [W1, b1, W2, b2, ...]`` with ``W`` of shape ``(n_in, n_out)`` — and returns a :class:`Runner`.
Peers are imported inside their builder, so glassnet never needs them to import.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["BUILDERS", "CONTESTANTS", "EPS", "LR", "SEED", "Data", "Runner", "evaluate", "glassnet_model",
           "make_data"]

LR, EPS, SEED = 1e-3, 1e-7, 0
CONTESTANTS = {"glassnet": "glassnet", "floor": "GEMM floor (NumPy)", "torch": "PyTorch CPU",
               "sklearn": "scikit-learn MLPClassifier"}


@dataclass
class Runner:
    """A contestant ready to train: ``epoch()`` runs one epoch; ``weights()`` returns its current weights."""

    epoch: Callable[[], None]
    weights: Callable[[], list[np.ndarray]] | None  # [W1, b1, W2, b2, ...], W as (n_in, n_out)
    note: str = ""
    same_init: bool = True


@dataclass
class Data:
    """The shared training set."""

    X: np.ndarray  # (N, n_in) float32, C-contiguous
    y: np.ndarray  # (N,) int64 class labels


def make_data(rows: int, n_in: int, n_out: int, seed: int = SEED) -> Data:
    """Gaussian inputs labelled by a random linear teacher plus noise, so there is something to learn."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, n_in), dtype=np.float32)
    teacher = rng.standard_normal((n_in, n_out), dtype=np.float32) / np.float32(np.sqrt(n_in))
    scores = X @ teacher + np.float32(0.5) * rng.standard_normal((rows, n_out), dtype=np.float32)
    return Data(X, scores.argmax(axis=1).astype(np.int64))


# -- contestants ---------------------------------------------------------------------------------------
def glassnet_model(layers: tuple[int, ...], seed: int = SEED):
    from ..layers.dense import Dense
    from ..model import Sequential
    from ..optimizers import Adam

    stack = [Dense(u, activation="relu") for u in layers[1:-1]] + [Dense(layers[-1], activation="softmax")]
    model = Sequential(stack, seed=seed)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=LR, epsilon=EPS))
    return model.build(layers[0])


def _glassnet(layers, batch, data, init, threads) -> Runner:
    model = glassnet_model(layers)
    model.set_weights(init)
    return Runner(lambda: model.fit(data.X, data.y, epochs=1, batch_size=batch, shuffle=True, verbose=0),
                   model.get_weights)


def _floor(layers, batch, data, init, threads) -> Runner:
    X, n = data.X, len(data.X)
    Ws = init[0::2]
    dWs = [np.empty_like(W) for W in Ws]
    rng = np.random.default_rng(SEED)

    def buffers(m):  # outputs Z_k, incoming gradients dZ_k and dX_k of one batch of m rows
        z = [np.empty((m, u), np.float32) for u in layers[1:]]
        dz = [rng.standard_normal((m, u), dtype=np.float32) for u in layers[1:]]
        dx = [np.empty((m, u), np.float32) for u in layers[1:-1]]  # dX of layer k+1 = dA of layer k
        return z, dz, dx

    by_size = {m: buffers(m) for m in {batch, n % batch or batch}}

    def epoch():
        for s in range(0, n, batch):
            x0 = X[s:s + batch]  # a view: the floor pays no shuffling copy
            z, dz, dx = by_size[len(x0)]
            x = x0
            for k, W in enumerate(Ws):
                np.matmul(x, W, out=z[k])  # (m, n_out_k)
                x = z[k]
            for k in reversed(range(len(Ws))):
                np.matmul((x0 if k == 0 else z[k - 1]).T, dz[k], out=dWs[k])  # (n_in_k, n_out_k)
                if k:
                    np.matmul(dz[k], Ws[k].T, out=dx[k - 1])  # (m, n_in_k)

    return Runner(epoch, None, note="matrix products only")


def _torch(layers, batch, data, init, threads) -> Runner:
    import torch

    torch.set_num_threads(threads)
    mods = []
    for k in range(len(layers) - 1):
        lin = torch.nn.Linear(layers[k], layers[k + 1])
        with torch.no_grad():  # glassnet's W is (n_in, n_out); torch's weight is (n_out, n_in)
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(init[2 * k].T)))
            lin.bias.copy_(torch.from_numpy(init[2 * k + 1]))
        mods += [lin, torch.nn.ReLU()]
    net = torch.nn.Sequential(*mods[:-1])  # logits; CrossEntropyLoss applies log-softmax
    opt = torch.optim.Adam(net.parameters(), lr=LR, eps=EPS)
    loss_fn = torch.nn.CrossEntropyLoss()
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    rng, n = np.random.default_rng(SEED), len(data.X)

    def epoch():
        order = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)  # the epoch's mean loss, as fit() and partial_fit() track it

    def weights():
        out = []
        for m in net:
            if isinstance(m, torch.nn.Linear):
                out += [m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()]
        return out

    return Runner(epoch, weights, note=f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def _sklearn(layers, batch, data, init, threads) -> Runner:
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


def evaluate(weights: list[np.ndarray], data: Data, chunk: int = 8192) -> tuple[float, float]:
    """Mean softmax cross-entropy and accuracy of a ReLU MLP with these weights, on all of ``data``.

    One formula for every contestant, so the final numbers compare like with like.
    """
    loss, hits, n = 0.0, 0, len(data.X)
    for s in range(0, n, chunk):
        a, y = data.X[s:s + chunk], data.y[s:s + chunk]
        for k in range(0, len(weights), 2):
            z = a @ weights[k].astype(np.float32) + weights[k + 1].astype(np.float32)
            a = np.maximum(z, 0) if k + 2 < len(weights) else z
        z = z.astype(np.float64)  # (m, K) logits
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        loss += float((lse - z[np.arange(len(y)), y]).sum())
        hits += int((z.argmax(axis=1) == y).sum())
    return loss / n, hits / n
