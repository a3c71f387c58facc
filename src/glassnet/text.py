"""Character-level language models: Karpathy's min-char-rnn, and the same with an LSTM.

The model reads one character at a time, as a one-hot vector, and predicts the next one::

    x_t = onehot(c_t)                       # (N, T, V)
    h_t = recurrent(x_t, h_{t-1})           # SimpleRNN: tanh(x_t·W + h_{t-1}·U + b), h_0 = 0;  (N, T, H)
    p_t = softmax(h_t·W2 + b2)              # a distribution over the V characters at every step
    L   = -mean_{n,t} log p_t[c_{t+1}]      # nats per character; bits per character = L / ln 2

A text becomes windows of ``seq_length + 1`` characters, one every ``seq_length`` (the inputs are the
first ``seq_length``, the targets the same shifted by one), as min-char-rnn walks through its text.
Training follows min-char-rnn: hidden 100, sequence length 25, one window per step, Adagrad with
learning rate 0.1 and the accumulator starting at 0, every gradient element clipped to [-5, 5], and each
window starting from the state the one before ended in (``stateful=True``; ``False`` starts every window
from the zero state). The differences are documented in docs/deviations.md: the loss is the mean over the
window's characters (min-char-rnn's is their sum, so its clip at 5 bites 25 times sooner; Adagrad itself
does not care), where Adagrad adds its ε, and Keras' initialization.

A model that never saw a character cannot read it: :meth:`Vocabulary.encode` raises a DataError naming
every character outside the vocabulary (there is no unknown token).

>>> vocab = Vocabulary.from_text("hello")
>>> vocab.chars, vocab.encode("hell").tolist(), vocab.decode([3, 1])
('ehlo', [1, 0, 2, 2], 'oh')
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checks import check_bool, check_non_negative_int, check_number, check_positive_int, is_int
from .errors import ConfigError, DataError, ModelFileError, invalid_value
from .layers import LSTM, Dense, SimpleRNN
from .losses import SparseCategoricalCrossEntropy
from .model import Sequential, load_model
from .optimizers import AdaGrad

__all__ = ["ARCHS", "CharLM", "Vocabulary", "default_text", "read_text", "smooth", "split_text", "windows"]

#: the recurrent layer of each architecture
ARCHS = {"rnn": SimpleRNN, "lstm": LSTM}
_META = "charlm"  # the key of the model file's metadata that holds the vocabulary and settings
_CHUNK = 256  # windows per forward pass when measuring a text's loss


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows, in code-point order: character ``chars[i]`` has id ``i``.

    Parameters
    ----------
    chars : str
        Distinct characters, sorted by code point (what :meth:`from_text` builds).
    """

    chars: str
    _points: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.chars, str) or not self.chars:
            raise invalid_value("chars", self.chars, "a non-empty string of distinct characters")
        points = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)
        if np.any(np.diff(points.astype(np.int64)) <= 0):
            raise invalid_value("chars", self.chars, "distinct characters sorted by code point")
        object.__setattr__(self, "_points", points)

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """The vocabulary of every character in ``text``."""
        if not text:
            raise DataError("Cannot build a vocabulary from an empty text")
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """The ids of ``text``'s characters, int64 (len(text),); DataError naming any unknown character.

        ``what`` names the text in the message ("the prime", a file name).
        """
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (L,) code points
        ids = np.searchsorted(self._points, points)  # binary search in the sorted vocabulary
        known = self._points[np.minimum(ids, len(self) - 1)] == points
        if not known.all():
            at = np.flatnonzero(~known)
            unknown = sorted({text[i] for i in at})
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise DataError(f"{what} holds {len(unknown)} character(s) that are not in the model's vocabulary of "
                            f"{len(self)}: {shown}{more}; the first at position {at[0]}")
        return ids.astype(np.int64)

    def decode(self, ids) -> str:
        """The text of a sequence of ids."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def one_hot(self, ids: np.ndarray, dtype=np.float32) -> np.ndarray:
        """One-hot vectors ``ids.shape + (V,)`` of ``dtype``, the model's input."""
        return SparseCategoricalCrossEntropy.expand(np.asarray(ids), len(self), dtype)


def windows(ids: np.ndarray, seq_length: int, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs X and targets Y, both int64 (N, seq_length): ``Y[n, t] = X[n, t+1]``, the next character.

    Window n starts at ``n·step`` (default ``step = seq_length``: windows that do not overlap, so each
    character is a target once); characters after the last whole window are left out.
    """
    seq_length = check_positive_int("seq_length", seq_length)
    step = seq_length if step is None else check_positive_int("step", step)
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) < seq_length + 1:
        raise DataError(f"A text of {len(ids)} characters is shorter than one window of seq_length + 1 = "
                        f"{seq_length + 1} characters")
    view = np.lib.stride_tricks.sliding_window_view(ids, seq_length + 1)[::step]  # (N, T+1), no copy
    return np.ascontiguousarray(view[:, :-1]), np.ascontiguousarray(view[:, 1:])


def smooth(losses, start: float, decay: float = 0.999) -> np.ndarray:
    """min-char-rnn's smoothed loss: ``s_k = decay·s_{k-1} + (1 - decay)·loss_k`` from ``s_0 = start``."""
    out = np.empty(len(losses))
    s = float(start)
    for k, value in enumerate(losses):
        s = decay * s + (1 - decay) * float(value)
        out[k] = s
    return out


def default_text() -> str:
    """English text that ships with Python: the pydoc topics (``pydoc_data.topics``), ~465,000 characters."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def read_text(path) -> str:
    """The UTF-8 text of a file, ``\r\n`` line ends read as ``\n`` and a leading byte-order mark dropped.

    An empty file (or only whitespace), a NUL byte (binary data) or bytes that are not UTF-8 raise a
    DataError naming the file; a file that cannot be opened is the OSError ``open()`` raises, as for the
    other readers.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path}: the text file is empty")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{path}: not a text file (a NUL byte at offset {nul}: binary data)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def split_text(text: str, validation_fraction: float = 0.1) -> tuple[str, str]:
    """The text's first part for training and its last ``validation_fraction`` held out (Keras' split)."""
    fraction = check_number("validation_fraction", validation_fraction, high=1.0)
    cut = len(text) - round(len(text) * fraction)
    return text[:cut], text[cut:]


class CharLM:
    """A character-level language model (min-char-rnn): one-hot characters, a recurrent layer, a softmax.

    ``__init__`` stores the settings; :meth:`fit` builds the vocabulary and the model and trains it.

    Parameters
    ----------
    arch : {"rnn", "lstm"}, default "rnn"
        SimpleRNN (tanh), as min-char-rnn, or LSTM.
    hidden : int, default 100
        Units of the recurrent layer.
    seq_length : int, default 25
        Characters per window: backpropagation goes back at most this far.
    batch_size : int, default 1
        Windows per update (min-char-rnn: 1).
    learning_rate : float, default 0.1
        Adagrad's rate; the accumulator starts at 0 and ε = 1e-8, as in min-char-rnn.
    clipvalue : float, default 5.0
        Every gradient element is clipped to ``[-clipvalue, clipvalue]``.
    stateful : bool, default True
        min-char-rnn's way: the text is read in order as ``batch_size`` streams, and each window starts
        from the state its stream's previous window ended in (``hprev``; the gradient stops there:
        truncated backpropagation through time); measuring and sampling carry the state from character
        to character. False: every window starts from the zero state and the windows are shuffled each
        epoch; measuring and sampling then read the last ``seq_length`` characters from the zero state.
    seed : int, default 0
        Seeds the initialization and (stateful=False) the order of the windows.

    Attributes (after fit): ``model_`` (the Sequential), ``vocabulary_``, ``loss_curve_`` (nats per
    character of every update, each measured on its window before the update), ``history_`` (one dict per
    epoch), ``chars_per_second_``.

    Adagrad's accumulator starts at 0, so its first updates move every weight by about ±learning_rate:
    reading the text in order, the model then follows the text it has just read, and for the first few
    thousand updates its training loss runs well below that of its weights on held-out text.
    """

    def __init__(self, arch: str = "rnn", hidden: int = 100, seq_length: int = 25, batch_size: int = 1,
                 learning_rate: float = 0.1, clipvalue: float = 5.0, stateful: bool = True, seed: int = 0) -> None:
        if arch not in ARCHS:
            raise invalid_value("arch", arch, f"one of {', '.join(sorted(ARCHS))}")
        self.arch = arch
        self.hidden = check_positive_int("hidden", hidden)
        self.seq_length = check_positive_int("seq_length", seq_length)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.learning_rate = check_number("learning_rate", learning_rate, low_open=True)
        self.clipvalue = check_number("clipvalue", clipvalue, low_open=True)
        self.stateful = check_bool("stateful", stateful)
        self.seed = check_non_negative_int("seed", seed)

    def build(self, vocabulary: Vocabulary) -> Sequential:
        """A fresh, compiled model for ``vocabulary``: input (seq_length, V), output (seq_length, V)."""
        V = len(vocabulary)
        model = Sequential([ARCHS[self.arch](self.hidden, return_sequences=True),
                            Dense(V, activation="softmax")], seed=self.seed)
        model.compile(loss="sparse_categorical_crossentropy",
                      optimizer=AdaGrad(self.learning_rate, initial_accumulator_value=0.0, epsilon=1e-8,
                                        clipvalue=self.clipvalue))
        model.build((self.seq_length, V))
        model.metadata = {_META: {"vocabulary": vocabulary.chars, "arch": self.arch, "hidden": self.hidden,
                                  "seq_length": self.seq_length, "stateful": self.stateful,
                                  "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                                  "clipvalue": self.clipvalue, "seed": self.seed}}
        return model

    def _batches(self, X: np.ndarray, Y: np.ndarray, rng) -> list[tuple[np.ndarray, np.ndarray]]:
        """One epoch's (inputs, targets) batches: shuffled windows, or B streams read in order (stateful)."""
        B = self.batch_size
        if not self.stateful:
            order = rng.permutation(len(X))
            return [(X[order[lo:lo + B]], Y[order[lo:lo + B]]) for lo in range(0, len(X), B)]
        per = len(X) // B  # windows per stream; stream i holds windows i·per ... (i+1)·per - 1
        if per == 0:
            raise DataError(f"The training text holds {len(X)} windows of {self.seq_length + 1} characters, fewer "
                            f"than batch_size = {B} streams")
        Xs, Ys = X[:per * B].reshape(B, per, -1), Y[:per * B].reshape(B, per, -1)  # (B, per, T)
        return [(Xs[:, k], Ys[:, k]) for k in range(per)]

    def fit(self, text: str, epochs: int = 1, steps: int | None = None, validation_text: str | None = None,
            on_epoch: Callable[[dict], None] | None = None) -> CharLM:
        """Train on ``text`` for ``epochs`` passes (or until ``steps`` updates); returns self.

        The vocabulary is every character of ``text`` and ``validation_text``. After each epoch
        ``on_epoch(logs)`` receives ``epoch``, ``steps``, ``loss`` (mean nats per character of the epoch's
        updates), ``smooth_loss``, ``val_loss`` and ``val_bpc`` (with a validation text), ``seconds`` and
        ``chars_per_second`` (training only, validation excluded).
        """
        epochs = check_positive_int("epochs", epochs)
        steps = None if steps is None else check_positive_int("steps", steps)
        if not isinstance(text, str):
            raise DataError(f"text must be a str; received {type(text).__name__}")
        if validation_text is not None and not isinstance(validation_text, str):
            raise DataError(f"validation_text must be a str or None; received {type(validation_text).__name__}")
        if validation_text and len(validation_text) < 2:  # said now, not after the first epoch's training
            raise DataError(f"the validation text needs at least 2 characters to predict one; it has "
                            f"{len(validation_text)}")
        vocab = Vocabulary.from_text(text + (validation_text or ""))
        if len(vocab) < 2:  # a softmax over one character is always 1: nothing to learn or to sample
            raise DataError(f"the text holds one distinct character ({vocab.chars!r}); a language model needs at "
                            "least 2 to predict one from the others")
        X, Y = windows(vocab.encode(text, "the training text"), self.seq_length)  # (N, T) each
        model = self.build(vocab)
        self.model_, self.vocabulary_, self.history_ = model, vocab, []
        layer = model.layers[0]
        losses, smoothed = [], math.log(len(vocab))  # min-char-rnn starts the smoothed loss at ln V
        train_seconds, total_chars = 0.0, 0
        for epoch in range(epochs):
            start, first, chars = time.perf_counter(), len(losses), 0
            states = None  # each epoch starts from the zero state (min-char-rnn resets hprev at the text's end)
            for xb, yb in self._batches(X, Y, model.rng):
                layer.initial_state = states  # None: zeros
                try:
                    loss, _ = model.train_step(vocab.one_hot(xb), model.loss.expand(yb, len(vocab)))
                finally:
                    layer.initial_state = None
                states = layer.states if self.stateful else None  # copies: the gradient stops here
                losses.append(loss)
                chars += yb.size
                smoothed = 0.999 * smoothed + 0.001 * loss
                if steps is not None and len(losses) >= steps:
                    break
            seconds = time.perf_counter() - start
            train_seconds, total_chars = train_seconds + seconds, total_chars + chars
            logs = {"epoch": epoch + 1, "steps": len(losses), "loss": float(np.mean(losses[first:])),
                    "smooth_loss": smoothed, "seconds": seconds, "chars_per_second": chars / max(seconds, 1e-9)}
            if validation_text:
                logs["val_loss"] = self._mean_loss(validation_text, "the validation text")
                logs["val_bpc"] = logs["val_loss"] / math.log(2)
            self.history_.append(logs)
            if on_epoch is not None:
                on_epoch(logs)
            if steps is not None and len(losses) >= steps:
                break
        self.loss_curve_ = np.array(losses)
        self.chars_per_second_ = total_chars / max(train_seconds, 1e-9)
        return self

    # -- measuring and sampling ------------------------------------------------------------------------
    def _fitted(self) -> Sequential:
        model = getattr(self, "model_", None)
        if model is None:
            raise ConfigError("This CharLM is not trained yet: call fit(text) or CharLM.load(path) first")
        return model

    def _forward(self, ids: np.ndarray, states=None) -> tuple[np.ndarray, list]:
        """Probabilities (n, t, V) for ids (n, t) starting from ``states`` (None: zeros), and the final states."""
        model = self._fitted()
        layer = model.layers[0]
        layer.initial_state = states
        try:
            a = model.forward(self.vocabulary_.one_hot(ids, model.dtype), training=False)
        finally:
            layer.initial_state = None
        return a, layer.states

    def _mean_loss(self, text: str, what: str) -> float:
        """Mean nats per character of ``text``: read in one stream from the zero state (stateful), or as
        windows of seq_length that each start from the zero state (the tail a shorter one)."""
        model, T = self._fitted(), self.seq_length
        if not isinstance(text, str):
            raise DataError(f"{what} must be a str; received {type(text).__name__}")
        ids = self.vocabulary_.encode(text, what)
        if len(ids) < 2:
            raise DataError(f"{what} needs at least 2 characters to predict one; it has {len(ids)}")
        if self.stateful:  # one stream from the zero state, fed in chunks that carry the state
            x, y, step = ids[None, :-1], ids[None, 1:], _CHUNK * T
            parts = [(x[:, lo:lo + step], y[:, lo:lo + step]) for lo in range(0, x.shape[1], step)]
        else:  # windows of T from the zero state, _CHUNK at a time, then the tail (< T) as one more
            n = (len(ids) - 1) // T
            X, Y = windows(ids[:n * T + 1], T) if n else (None, None)
            parts = [(X[lo:lo + _CHUNK], Y[lo:lo + _CHUNK]) for lo in range(0, n, _CHUNK)]
            tail = ids[n * T:]
            if len(tail) > 1:
                parts.append((tail[None, :-1], tail[None, 1:]))
        total, states = 0.0, None
        for x, y in parts:
            a, states = self._forward(x, states if self.stateful else None)
            total += model.compute_loss(a, model.loss.expand(y, len(self.vocabulary_), model.dtype)) * y.size
        return float(total / (len(ids) - 1))

    def bits_per_character(self, text: str) -> float:
        """Cross-entropy of the model on ``text`` in bits per character (log2 V for a uniform guess)."""
        return self._mean_loss(text, "the text") / math.log(2)

    def sample(self, prime: str, length: int = 200, temperature: float = 1.0, seed: int | None = None) -> str:
        """``length`` characters drawn one at a time after ``prime`` (which is not repeated).

        The prime is read from the zero state; then each drawn character is fed back with the state
        carried from the one before (stateful; otherwise the last ``seq_length`` characters are read
        again from the zero state, as in training). Character i is drawn with probability
        ``∝ p_i^(1/temperature)``: below 1 the likelier characters gain, above 1 the draw nears uniform.
        The same ``seed`` gives the same text.
        """
        self._fitted()
        vocab = self.vocabulary_
        length = check_non_negative_int("length", length)
        temperature = check_number("temperature", temperature, low_open=True, expected="a positive number")
        if seed is not None and not (is_int(seed) and seed >= 0):
            raise invalid_value("seed", seed, "a non-negative integer or None")
        if not isinstance(prime, str) or not prime:
            raise invalid_value("prime", prime, "a non-empty string (the model needs a character to start from)")
        ids = list(vocab.encode(prime, "the prime"))
        rng = np.random.default_rng(seed)
        a, states = self._forward(np.asarray(ids[-self.seq_length:] if not self.stateful else ids)[None])
        out = []
        for k in range(length):
            if k:  # the character drawn last, on the carried state, or the window that ends with it
                if self.stateful:
                    a, states = self._forward(np.asarray([[ids[-1]]]), states)
                else:
                    a, _ = self._forward(np.asarray(ids[-self.seq_length:])[None])
            logits = np.log(np.maximum(a[0, -1].astype(np.float64), 1e-300)) / temperature  # (V,)
            q = np.exp(logits - logits.max())
            ids.append(int(rng.choice(len(q), p=q / q.sum())))
            out.append(vocab.chars[ids[-1]])
        return "".join(out)

    # -- files -----------------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the model file; its metadata carries the vocabulary and the settings."""
        self._fitted().save(path)

    @classmethod
    def load(cls, path) -> CharLM:
        """A trained CharLM from a file written by :meth:`save` (ModelFileError for any other model file)."""
        model = load_model(path)
        meta = (model.metadata or {}).get(_META)
        if not isinstance(meta, dict) or not isinstance(meta.get("vocabulary"), str):
            raise ModelFileError(f"{path}: not a character-level language model (its metadata holds no "
                                 "vocabulary; train one with `glassnet train-text`)")
        try:
            optional = {k: meta[k] for k in ("batch_size", "learning_rate", "clipvalue", "seed") if k in meta}
            lm = cls(arch=meta["arch"], hidden=meta["hidden"], seq_length=meta["seq_length"],
                     stateful=meta["stateful"], **optional)  # files before the optional keys: the defaults
            vocab = Vocabulary(meta["vocabulary"])
        except (KeyError, ConfigError) as e:
            raise ModelFileError(f"{path}: the language model's metadata is damaged: {e}") from None
        if model.output_shape[-1] != len(vocab):
            raise ModelFileError(f"{path}: the vocabulary has {len(vocab)} characters but the model "
                                 f"predicts {model.output_shape[-1]}")
        lm.model_, lm.vocabulary_, lm.history_ = model, vocab, []
        return lm
