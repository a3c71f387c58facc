"""What SimpleRNN, LSTM and GRU share (:class:`_Recurrent`): settings, shapes, states and masks, the GEMMs.

The plan every recurrent layer follows, its sequence options (initial and carried states, masking,
truncated BPTT) and the parameter layouts are described in :mod:`glassnet.layers.recurrent`, beside the
three layers; this module holds the base class they share.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_bool, check_positive_int
from ..errors import ConfigError, DataError, ShapeError
from ..initializers import get_initializer, initializer_name
from .base import Layer
from .conv import buffer, check_input_rank

__all__ = ["_Recurrent"]


class _Recurrent(Layer):
    """What the three layers share: settings, shapes, states and masks, the one-GEMM input projection,
    the closing GEMMs."""

    supports_masking = True  # Keras' flag; compute_mask passes the mask on with return_sequences only
    gates = 1  # column blocks of W, U and b
    state_keys: tuple[str, ...] = ("h",)  # the recurrent states; the LSTM adds its cell "c"
    one_dWU = True  # dW and dU by one GEMM: the same deltas dG multiply x_t and h_{t-1} (not the GRU's)
    dWU_steps: int | None = None  # [dW; dU] in chunks of this many steps inside the backward loop (the LSTM's)

    def __init__(self, units: int, return_sequences: bool = False, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", name: str | None = None, *,
                 return_state: bool = False, stateful: bool = False, batch_size: int | None = None,
                 bptt: int | None = None) -> None:
        super().__init__(name)
        self.units = check_positive_int("units", units)
        self.return_sequences = check_bool("return_sequences", return_sequences)
        self.return_state = check_bool("return_state", return_state)
        self.stateful = check_bool("stateful", stateful)
        self.batch_size = None if batch_size is None else check_positive_int("batch_size", batch_size)
        if self.stateful and self.batch_size is None:
            raise ConfigError(f'Layer "{self.display_name}" ({type(self).__name__}) has stateful=True, which '
                              "carries each row's state to the same row of the next batch, so the batch size "
                              "must be fixed (Keras: a static batch size): pass batch_size=B, the rows of every "
                              "batch. Received: batch_size=None")
        self.bptt = None if bptt is None else check_positive_int("bptt", bptt)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.recurrent_initializer = get_initializer(recurrent_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.need_input_grad = True  # the model turns this off for its first layer
        #: the carried states, registered buffers ``state_h`` (and ``state_c``) of shape (batch_size, U)
        self.state_names = tuple(f"state_{k}" for k in self.state_keys) if self.stateful else ()
        #: the states at t = 0 for the next forward passes: None (zeros, or the carried states when
        #: stateful) or a list of (N, U) arrays, one per state (``[h]``, the LSTM's ``[h, c]``)
        self.initial_state = None
        #: set by the model before each forward: a bool array (N, T), True at a real step, or None
        self.input_mask = None
        #: the final states [h_T] (LSTM: [h_T, c_T]) of the last forward, (N, U) each
        self.states = None
        #: dL/d(initial_state), one (N, U) array per state, after a backward whose forward had an initial_state
        self.initial_state_grads = None

    # -- shapes and parameters ----------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def compute_mask(self, mask):
        """The mask of the output (Keras): the input's with ``return_sequences``, else None."""
        return mask if self.return_sequences else None

    def bias_shape(self) -> tuple:
        """Shape of the bias ``b``: ``(G·U,)`` (the GRU's is ``(2, 3U)``)."""
        return (self.gates * self.units,)

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        check_input_rank(self, input_shape, 1, "(N, T, C)")
        width = self.gates * self.units
        self.params = {"W": self.kernel_initializer((input_shape[-1], width), rng, dtype),
                       "U": self.recurrent_initializer((self.units, width), rng, dtype),
                       "b": self.bias_initializer(self.bias_shape(), rng, dtype)}
        self._new_grads()
        self.state = {}
        for key in self.state_names:  # part of the model's state: saved, restored, copied with it
            self.add_weight(key, np.zeros((self.batch_size, self.units), dtype), trainable=False)
        return super().build(input_shape, rng, dtype)

    def reset_states(self) -> None:
        """Zero the carried states of a stateful layer in place (Keras' ``reset_states``); forget ``states``."""
        for a in self.state.values():
            a[...] = 0
        self.states = None

    def __call__(self, x, initial_state=None, mask=None, training: bool = False):
        """Keras' ``layer(x, initial_state=[h, c])``: the output, or ``[output, *final states]`` with
        ``return_state``.

        An unbuilt layer is built for ``x``'s shape (float64 input: float64 weights) with a fresh,
        unseeded generator; call ``layer.build(shape, rng, dtype)`` first for reproducible weights.
        ``initial_state`` and ``mask`` (bool (N, T), True at real steps) hold for this call only;
        ``backward(dy)`` afterwards fills ``grads`` and ``initial_state_grads``, and
        ``backward(dy, dstates=[dh_T, dc_T])`` adds the gradients of the returned final states
        (an encoder whose states start a decoder passes on the decoder's ``initial_state_grads``).
        """
        where = f'layer "{self.display_name}" ({type(self).__name__})'
        given = [] if initial_state is None else initial_state if isinstance(initial_state, list | tuple) else [
            initial_state]
        for what, a in [("the input", x), *[("an initial state", s) for s in given]]:
            dtype = a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype  # a device array stays where it is
            if dtype.kind not in "fiu":  # a direct call skips the model's input checks: say what is wrong here
                raise DataError(f"{what.capitalize()} of {where} must hold numbers; received dtype {dtype}")
        if np.ndim(x) == 3 and np.shape(x)[0] == 0:
            raise ShapeError(f"The input of {where} has no rows: received shape {np.shape(x)}")
        if not self.built:
            dtype = np.float64 if np.asarray(x).dtype == np.float64 else np.float32
            self.build(np.shape(x)[1:], np.random.default_rng(), dtype)
        kept = self.initial_state, self.input_mask
        self.initial_state, self.input_mask = initial_state, mask
        try:
            y = self.forward(self.xp.asarray(x), training=check_bool("training", training))
        finally:
            self.initial_state, self.input_mask = kept
        return [y, *self.states] if self.return_state else y

    # -- the pieces every forward and backward uses --------------------------------------------------
    def _input_projection(self, x: np.ndarray, add_bias: bool = True, project: bool = True) -> np.ndarray:
        """Check x (N, T, C) (with the mask and initial states, :meth:`_begin`), keep it time major, return
        ``A = xt·W + b`` (T, N, G·U) for all steps at once (``xt·W`` without ``add_bias``: the fused kernels
        add b at each step, as the same first addition; without ``project``, A is left for the layer to fill
        step by step, as the LSTM does)."""
        where = f'Input 0 of layer "{self.display_name}" ({type(self).__name__}) is incompatible with the layer'
        if x.ndim != 3:
            raise ShapeError(f"{where}: expected ndim=3 (N, T, C), found ndim={x.ndim}. "
                             f"Full shape received: {tuple(x.shape)}")
        if x.shape[2] != self.input_shape[-1] or x.shape[1] < 1:
            raise ShapeError(f"{where}: expected (N, T, C) with T >= 1 and C={self.input_shape[-1]}. "
                             f"Full shape received: {tuple(x.shape)}")
        if self.stateful and x.shape[0] != self.batch_size:
            raise ShapeError(f"{where}: stateful=True carries states of shape ({self.batch_size}, {self.units}), "
                             f"so it expects batches of (N, T, C) with N={self.batch_size}. Full shape "
                             f"received: {tuple(x.shape)} (predict and evaluate need batch_size="
                             f"{self.batch_size} too; call reset_states() between independent sequences)")
        N, T, C = x.shape
        self._begin(N, T)
        W, b = self.params["W"], self.params["b"]
        # with one_dWU, row t of XH is [x_t | h_{t-1}] (N, C+U): xt and H are views of it, so the closing GEMM
        # reads both as one (T·N, C+U) matrix; row T holds h_T beside an unused x part. Else XH is xt.
        shape = (T + 1, N, C + self.units) if self.one_dWU else (T, N, C)
        XH = buffer(self, "XH", shape, self.dtype)
        xt = XH[:T, :, :C]  # (T, N, C), rows C+U apart with one_dWU
        np.copyto(xt, x.transpose(1, 0, 2))  # time major, in the layer's dtype
        A = buffer(self, "A", (T, N, W.shape[1]), self.dtype)
        self.XH, self.xt = XH, xt
        if not project:
            return A
        np.matmul(xt.reshape(T * N, C), W, out=A.reshape(T * N, -1))  # (T·N, G·U): the big GEMM
        if add_bias:
            A += b if b.ndim == 1 else b[0]  # the GRU adds its recurrent bias inside the loop
        return A

    def _begin(self, N: int, T: int) -> None:
        """Read this pass's mask and initial states: ``self._keep`` (T, N, 1) True where a step is masked (the
        state is kept), or None when every step is real; ``self._h0`` the states at t = 0, or None for zeros."""
        where = f'layer "{self.display_name}" ({type(self).__name__})'
        self._keep = self._real = None
        m = self.input_mask
        if m is not None:
            if tuple(np.shape(m)) != (N, T):
                raise ShapeError(f"The mask of {where} must have shape (N, T) = ({N}, {T}), the input's first two "
                                 f"axes; received {tuple(np.shape(m))}")
            m = self.xp.asarray(m).astype(bool, copy=False)
            if not bool(m.all()):  # all real: the unmasked fast path
                self._real = m.T[:, :, None]  # (T, N, 1)
                self._keep = ~self._real
        given = self.initial_state
        self._given = given is not None
        if given is None:
            self._h0 = [self.state[f"state_{k}"] for k in self.state_keys] if self.stateful else None
            return
        given = list(given) if isinstance(given, (list, tuple)) else [given]
        names = ", ".join(self.state_keys)
        if len(given) != len(self.state_keys):
            raise ShapeError(f"The initial_state of {where} must be a list of {len(self.state_keys)} arrays "
                             f"([{names}]) of shape (N, U) = ({N}, {self.units}); received {len(given)} arrays")
        for key, s in zip(self.state_keys, given):
            if tuple(np.shape(s)) != (N, self.units):
                raise ShapeError(f"The initial state {key} of {where} must have shape (N, U) = ({N}, {self.units}) "
                                 f"for inputs of shape (N, T, C) = {(N, T, self.input_shape[-1])}; received "
                                 f"{tuple(np.shape(s))}")
        self._h0 = [self.xp.asarray(s) for s in given]

    def _states(self, key: str, T: int, N: int) -> np.ndarray:
        """A (T+1, N, U) buffer whose row 0 is the initial state (zeros by default); row t+1 holds step t's.

        With ``one_dWU``, ``H`` is the right-hand part of :meth:`_input_projection`'s ``XH`` (a view)."""
        joint = key == "H" and self.one_dWU
        s = self.XH[..., -self.units:] if joint else buffer(self, key, (T + 1, N, self.units), self.dtype)
        s[0] = 0 if self._h0 is None else self._h0[self.state_keys.index(key.lower())]
        return s

    def _end(self, *finals: np.ndarray) -> None:
        """Keep the final states (copies) in ``states``; a stateful layer carries them to its next batch."""
        self.states = [s.copy() for s in finals]
        if self.stateful:
            for key, s in zip(self.state_keys, finals):
                self.state[f"state_{key}"][...] = s  # in place: the model holds these arrays

    def _output(self, H: np.ndarray) -> np.ndarray:
        """h_T (N, U), or every h_t as (N, T, U); a fresh array (the buffers are reused by the next call).

        A masked step keeps the state, so its output is the last real step's h (h_0 before any), as Keras 3
        returns for masked steps (``zero_output_for_mask=False``).
        """
        self.a = H[1:].transpose(1, 0, 2).copy(order="C") if self.return_sequences else H[-1].copy()
        return self.a

    def _dy_at(self, dy: np.ndarray, t: int, T: int) -> np.ndarray | None:
        """dL/dh_t from the layer's output: dy[:, t] for sequences, dy at the last step only otherwise."""
        if self.return_sequences:
            return dy[:, t]
        return dy if t == T - 1 else None

    def _add_dstate(self, d: np.ndarray, dstates, k: int, N: int) -> None:
        """``d += dstates[k]``: the gradient of a final state that a direct call returned (``return_state``)."""
        if dstates is None:
            return
        if len(dstates) != len(self.state_keys) or tuple(np.shape(dstates[k])) != (N, self.units):
            shapes = [tuple(np.shape(a)) for a in dstates]
            raise ShapeError(f'backward of layer "{self.display_name}" ({type(self).__name__}): dstates must be '
                             f"{len(self.state_keys)} arrays ([{', '.join(self.state_keys)}]) of shape (N, U) = "
                             f"({N}, {self.units}); received shapes {shapes}")
        d += self.xp.asarray(dstates[k])

    def _cut(self, t: int) -> bool:
        """Whether truncated BPTT stops the gradient between steps t-1 and t (chunks of ``bptt`` steps)."""
        return self.bptt is not None and t > 0 and t % self.bptt == 0

    def _dh_prev(self, dG_t: np.ndarray, Ut: np.ndarray, dh: np.ndarray, t: int) -> None:
        """``dh <- dL/dh_{t-1} = dG_t·Uᵀ`` from ``dh = dL/dh_t``; a row masked at step t passes dh on unchanged
        (its state was kept, its deltas dG_t are zero); zero where truncated BPTT cuts."""
        if self._cut(t):
            dh[...] = 0
            return
        # the product into a column-major (N, U) buffer, then copied: OpenBLAS writes a (U, N) result faster
        # than an (N, U) one for these shapes (LSTM 128 units, batch 64: 5.2 ms instead of 5.6 over 50 steps)
        back = buffer(self, "dh_prev_T", dh.shape[::-1], self.dtype).T  # (N, U), a view
        np.matmul(dG_t, Ut, out=back)
        if self._keep is None:
            np.copyto(dh, back)
        else:
            np.copyto(dh, back, where=self._real[t])

    def _dWU_chunk(self, dG: np.ndarray, t: int) -> None:
        """``[dW; dU] += [x | H_prev]ᵀ·dG`` over steps t .. t+k-1 (k = ``dWU_steps``) once the backward loop
        has their deltas, while those are still in cache (the LSTM: 0.5 ms of a 15 ms backward pass saved over
        one GEMM after the loop); into the ``dWU`` buffer that :meth:`_closing_gemms` hands on."""
        k = self.dWU_steps
        if k is None or t % k:
            return
        T, N, width = dG.shape
        end = min(t + k, T)
        XH = self.XH[t:end].reshape((end - t) * N, -1)  # (k·N, C+U)
        dWU = buffer(self, "dWU", (XH.shape[1], width), self.dtype)  # (C+U, G·U)
        if end == T:  # the first chunk back through time
            np.matmul(XH.T, dG[t:end].reshape(-1, width), out=dWU)
        else:
            part = buffer(self, "dWU_part", dWU.shape, self.dtype)
            np.matmul(XH.T, dG[t:end].reshape(-1, width), out=part)
            dWU += part

    def _closing_gemms(self, dGx: np.ndarray, dGh: np.ndarray | None = None) -> np.ndarray | None:
        """dW = xtᵀ·dGx, dU = H_prevᵀ·dGh, db = Σ dG and dx = dGx·Wᵀ, one GEMM each over all steps.

        ``dGx`` (T, N, G·U) are the deltas of the input side's pre-activations, ``dGh`` those of the
        recurrent side's (the same array except in the GRU's candidate).
        """
        T, N, width = dGx.shape
        C = self.xt.shape[2]
        dGx2 = dGx.reshape(T * N, width)
        dGh2 = dGx2 if dGh is None else dGh.reshape(T * N, width)
        if self.one_dWU:  # [dW; dU] = [x_t | h_{t-1}]ᵀ·dG: one GEMM of C+U rows beats one of C rows and one of U
            XH = self.XH[:-1].reshape(T * N, -1)  # (T·N, C+U): every step's rows
            dWU = buffer(self, "dWU", (XH.shape[1], width), self.dtype)  # (C+U, G·U)
            if self.dWU_steps is None:  # else the backward loop has summed it in chunks (_dWU_chunk)
                np.matmul(XH.T, dGx2, out=dWU)
            self.grads["W"][...] = dWU[:C]
            self.grads["U"][...] = dWU[C:]
        else:
            np.matmul(self.xt.reshape(T * N, C).T, dGx2, out=self.grads["W"])  # (C, G·U)
            np.matmul(self.H[:-1].reshape(T * N, -1).T, dGh2, out=self.grads["U"])  # (U, G·U)
        db = self.grads["b"]
        if db.ndim == 1:
            np.sum(dGx2, axis=0, out=db)  # (G·U,)
        else:
            np.sum(dGx2, axis=0, out=db[0])
            np.sum(dGh2, axis=0, out=db[1])
        if not self.need_input_grad:
            return None
        dxt = (dGx2 @ self.params["W"].T).reshape(T, N, -1)  # (T, N, C)
        return dxt.transpose(1, 0, 2)  # (N, T, C)

    # -- config ---------------------------------------------------------------------------------------
    def get_config(self):
        return {"units": self.units, "return_sequences": self.return_sequences,
                "return_state": self.return_state, "stateful": self.stateful, "batch_size": self.batch_size,
                "bptt": self.bptt, "kernel_initializer": initializer_name(self.kernel_initializer),
                "recurrent_initializer": initializer_name(self.recurrent_initializer),
                "bias_initializer": initializer_name(self.bias_initializer), "name": self.name}

    def extra_repr(self):
        flags = [f"{k}=True" for k in ("return_sequences", "return_state") if getattr(self, k)]
        flags += [f"stateful=True, batch_size={self.batch_size}"] if self.stateful else []
        flags += [f"bptt={self.bptt}"] if self.bptt is not None else []
        return ", ".join([f"{self.units}", *flags])
