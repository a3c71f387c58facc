"""SimpleRNN, LSTM and GRU unrolled over time: every step's gates and states, and backpropagation through time.

Time steps are 1-based: ``h1_t3`` is layer 1's hidden state after step 3 of T, ``h1_t0`` the initial state
(zeros, or a stateful layer's carried ``state_h1``). Forward, per step t (Keras' layouts, gate blocks of U
columns)::

    SimpleRNN  Z_t = x_t·W + b + h_{t-1}·U;   h_t = act(Z_t)
    LSTM       z*_t = x_t·W_* + b_* + h_{t-1}·U_*  (* = i f g o);  i f o = σ(z),  g = tanh(zg)
               c_t = f ⊙ c_{t-1} + i ⊙ g;   h_t = o ⊙ tanh(c_t)
    GRU        hn_t = h_{t-1}·U_n + b[1]_n;   zz, zr = x_t·W + b[0] + h_{t-1}·U + b[1]  (z and r blocks)
               z, r = σ(zz), σ(zr);   zn = x_t·W_n + b[0]_n + r ⊙ hn;   n = tanh(zn)
               h_t = z ⊙ h_{t-1} + (1 − z) ⊙ n

Backward, t = T … 1, ``dh_t`` being all of dL/dh_t: the output's gradient at t plus what step t+1 sends
back (``dz_{t+1}·Uᵀ``; the GRU adds ``dh_{t+1} ⊙ z_{t+1}``; the LSTM carries ``dc``), then each gate's
delta (the gradient at its pre-activation), and after the loop ``dW = Σ_t x_tᵀ·dz_t``,
``dU = Σ_t h_{t-1}ᵀ·dz_t``, ``db = Σ_t Σ_rows dz_t`` and ``dA{k-1}[:, t] = dz_t·Wᵀ``.

Which values are the engine's arrays and which are derived (the engine overwrites some in place and keeps
only its gates' deltas after the backward): read — the gates, cells, hidden states, the SimpleRNN's
``Z``, the GRU's ``hn``, every delta (the LSTM's ``dG``, the GRU's ``dGx``/``dGh``, the SimpleRNN's ``dZ``:
the array its backward gets from ``activation.slope`` and turns into the deltas in place), dW, dU, db and
dA{k-1}; derived by the arithmetic of
the formulas from those arrays — the LSTM's and GRU's pre-activations and ``dh``/``dc`` (the engine keeps
only the last step's).

A batch with padded steps adds ``mask{k}`` (N, T): there the states are kept, the deltas are 0 and dh, dc
pass back unchanged (each formula says so with an ``IF`` on the mask). Bidirectional and Masking are in
:mod:`.wrappers`.
"""

from __future__ import annotations

import numpy as np

from ...layers.recurrent import GRU, LSTM, SimpleRNN
from ..formulas import formula
from .base import LayerTracer, register
from .dense import activation_info, add_activation, add_activation_backward

__all__ = ["GRUTracer", "LSTMTracer", "SimpleRNNTracer"]


#: ops of the quantities that hold a padding mask a later recurrent layer may read
MASK_OPS = ("masking_mask", "rnn_mask_ids", "rnn_copy", "value")


class _RecurrentTracer(LayerTracer):
    """What the three kinds share: the states at t = 0, the output, dh_t, and the gradients summed over steps."""

    kind = ""
    gates: tuple[str, ...] = ()
    #: the stems of the per-step quantities, forward and backward, in the order each step records them
    forward_stems: tuple[str, ...] = ()
    backward_stems: tuple[str, ...] = ()

    def describe(self, layer, k):
        T, C = layer.input_shape
        return {"units": layer.units, "n_in": int(C), "steps": int(T), "return_sequences": layer.return_sequences,
                "gate_order": " ".join(self.gates), "time_steps": "1-based: t1 … tT; t0 is the initial state",
                "per_step": {"forward": list(self.forward_stems), "backward": list(self.backward_stems),
                             "name": f"<stem>{k}_t<t>"},
                "stateful": layer.stateful, "bptt": layer.bptt}

    def summary(self, layer):
        return f"{self.kind} {layer.units}" + (" seq" if layer.return_sequences else "")

    def after_forward(self, layer, rec):
        rec["params"] = {key: v.copy() for key, v in layer.params.items()}  # the weights the forward used
        rec["xt"], rec["H"] = layer.xt.copy(), layer.H.copy()  # (T, N, C), (T+1, N, U)
        keep = getattr(layer, "_keep", None)  # (T, N, 1) True at a masked step, None when every step is real
        rec["mask"] = None if keep is None else (~keep[..., 0]).T.astype(np.float64)  # (N, T): 1 real, 0 padded

    # -- shared pieces ---------------------------------------------------------------------------------
    def _name(self, ctx, stem, t):
        return f"{ctx.q(stem)}_t{t}"

    def _add_mask(self, b, ctx):
        """``mask{k}`` (N, T), when the batch has padded steps: 1 at a real step, 0 where the state is kept.

        It reads the mask an earlier layer recorded (a Masking layer's, a recurrent layer's) where one holds
        the same numbers, else the ids ``A0 ≠ 0`` where those are it (an Embedding's ``mask_zero``); else it is
        given.
        """
        m = ctx.rec["mask"]
        if m is None:
            return
        words = "1 at a real step, 0 at a padded one: there the states are kept and the deltas are 0"
        src = next((q for q in reversed(b.quantities) if q.name.startswith("mask") and q.op in MASK_OPS
                    and np.array_equal(q.value, m)), None)
        ids = next((q for q in b.quantities if q.name == "A0"), None)
        if src is None and ids is not None and np.shape(ids.value) == m.shape and np.array_equal(ids.value != 0, m):
            b.add(ctx.q("mask"), "1 where A0 ≠ 0, else 0", m, words + " (id 0 is padding: Embedding(mask_zero=True))",
                  ("A0",), op="rnn_mask_ids", layer=ctx.k)
        elif src is None:
            b.add(ctx.q("mask"), "the input's mask", m, words + " (given with the batch)", kind="input", op="value",
                  layer=ctx.k)
        else:
            b.add(ctx.q("mask"), src.name, m, f"{words} (the mask of {src.name})", (src.name,), op="rnn_copy",
                  layer=ctx.k)

    def _masked(self, ctx, t0, keep=None):
        """(extra inputs, attrs) gating a formula by the mask at 0-based step t0: where it is 0, the value is
        input ``keep``'s (a kept state) or 0 (a delta)."""
        if ctx.rec["mask"] is None:
            return (), {}
        return (ctx.q("mask"),), {"mask_t": t0, "keep": keep}

    def _real(self, ctx, t0):
        """(N, 1) True where step t0 (0-based) is real, or None when nothing is masked."""
        m = ctx.rec["mask"]
        return None if m is None else m[:, t0:t0 + 1] > 0

    def _initial(self, b, ctx, key):
        """``h{k}_t0`` (``c{k}_t0``): zeros, or the carried buffer ``state_h{k}`` of a stateful layer."""
        name, value = self._name(ctx, key, 0), ctx.rec["H" if key == "h" else "C"][0]
        if ctx.layer.stateful:
            buf = ctx.p(f"state_{key}")
            b.add(name, buf, value, f"the {key} state at t = 0: the stateful layer's carried {buf}", (buf,),
                  op="rnn_copy", layer=ctx.k)
        else:
            b.add(name, "0", value, f"the initial {'hidden' if key == 'h' else 'cell'} state: zeros", kind="input",
                  op="value", layer=ctx.k)

    def update_buffers(self, b, ctx):
        for key in self.state_keys(ctx.layer):
            if ctx.layer.stateful:
                T = len(ctx.rec["H"]) - 1
                last = self._name(ctx, key, T)
                b.add(ctx.p(f"state_{key}") + "_new", last, ctx.rec["H" if key == "h" else "C"][-1],
                      "the state carried to the next batch: the last step's", (last,), op="rnn_copy", layer=ctx.k)

    def state_keys(self, layer):
        return layer.state_keys

    def _output(self, b, ctx, T):
        h = [self._name(ctx, "h", t) for t in range(1, T + 1)]
        if ctx.layer.return_sequences:
            b.add(ctx.out, f"[{h[0]} … {h[-1]}]", ctx.rec["out"], f"layer {ctx.k}'s output: every step's hidden "
                  "state, as (N, T, U)", tuple(h), op="rnn_sequence", layer=ctx.k)
        else:
            b.add(ctx.out, h[-1], ctx.rec["out"], f"layer {ctx.k}'s output: the last step's hidden state", (h[-1],),
                  op="rnn_copy", layer=ctx.k)

    def _dy(self, ctx, t0, T):
        """dL/dh from the layer's output at 0-based step t0, or None."""
        dy = ctx.rec["dy"]
        if ctx.layer.return_sequences:
            return dy[:, t0]
        return dy if t0 == T - 1 else None

    def _cut(self, layer, t0):
        """Truncated BPTT stops the gradient between 0-based steps t0-1 and t0."""
        return layer.bptt is not None and t0 > 0 and t0 % layer.bptt == 0

    def _dh(self, b, ctx, t, T, deltas, value, carry=()):
        """``dh{k}_t{t}``: the output's gradient at t plus ``Σ_blocks d_{t+1}·U_blockᵀ`` (+ a carried product)."""
        layer, name = ctx.layer, self._name(ctx, "dh", t)
        has_dy = layer.return_sequences or t == T
        ins, parts, words = [], [], []
        if has_dy:
            ins.append(ctx.d_out)
            parts.append(f"{ctx.d_out}[:, t{t}]" if layer.return_sequences else ctx.d_out)
            words.append("the output's gradient at this step")
        back = t < T and not self._cut(layer, t)  # t is step t0 + 1 = t's next step, 0-based
        cols, attrs = [], {}
        if back:
            nxt = [self._name(ctx, d, t + 1) for d in deltas]
            ins += nxt + [ctx.p("U")]
            cols = [i * layer.units for i in range(len(deltas))]
            blocks = [""] if len(deltas) == 1 else ["_" + (d[2:] if d.startswith("dz") else "n") for d in deltas]
            parts.append(" + ".join(f"{d}·{ctx.p('U')}{g}ᵀ" for d, g in zip(nxt, blocks)))
            words.append("what step t+1's deltas send back through U")
            if carry:
                ins += [self._name(ctx, c, t + 1) for c in carry]
                parts.append(f"{ctx.q(carry[0])}_t{t + 1} ⊙ {ctx.q(carry[1])}_t{t + 1}")
                words.append("the direct path h_t → h_{t+1} through z")
            if ctx.rec["mask"] is not None:  # a padded step t+1 passes dh_{t+1} on unchanged
                nxt_dh = self._name(ctx, "dh", t + 1)
                if nxt_dh not in ins:
                    ins.append(nxt_dh)
                attrs = {"mask_t": t, "pass": ins.index(nxt_dh)}
                ins.append(ctx.q("mask"))
                parts[-1] = f"({parts[-1]} where step {t + 1} is real, else {nxt_dh})"
        if not parts:
            parts, words = ["0"], ["zero: nothing reaches this step (truncated BPTT and no output here)"]
        b.add(name, " + ".join(parts), value, "gradient at the hidden state: " + ", plus ".join(words), tuple(ins),
              op="rnn_dh", layer=ctx.k, t=t - 1, seq=layer.return_sequences, dy=has_dy, cols=cols,
              carry=bool(carry) and back, **attrs)

    def _grads(self, b, ctx, T, x_deltas, h_deltas):
        """dW, dU, db (each Σ over steps) and dA{k-1}; values are the engine's gradients and dx."""
        k, u, A, W = ctx.k, ctx.layer.units, ctx.inp, ctx.p("W")
        steps = range(1, T + 1)
        xd = [self._name(ctx, d, t) for t in steps for d in x_deltas]
        hd = [self._name(ctx, d, t) for t in steps for d in h_deltas]
        hs = [self._name(ctx, "h", t - 1) for t in steps]
        gates = ", ".join(x_deltas)
        b.add(ctx.d("W"), f"Σ_t {A}[:, t]ᵀ·[{gates}]_t", ctx.rec["grads"]["W"], "kernel gradient: each step's "
              "input transposed times its deltas, summed over the steps", (A, *xd), op="rnn_dW", layer=k, T=T,
              G=len(x_deltas), units=u)
        b.add(ctx.d("U"), f"Σ_t h_(t-1)ᵀ·[{', '.join(h_deltas)}]_t", ctx.rec["grads"]["U"], "recurrent kernel "
              "gradient: each step's previous hidden state transposed times its deltas, summed over the steps",
              (*hs, *hd), op="rnn_dU", layer=k, T=T, G=len(h_deltas), units=u)
        two = np.ndim(ctx.rec["grads"]["b"]) == 2
        b.add(ctx.d("b"), "Σ_t Σ_rows deltas" + (" (row 0 input side, row 1 recurrent side)" if two else ""),
              ctx.rec["grads"]["b"], "bias gradient: the deltas summed over rows and steps", (*xd, *hd) if two else
              tuple(xd), op="rnn_db", layer=k, T=T, G=len(x_deltas), units=u)
        if ctx.sends_back:
            b.add(ctx.d_inp, f"[{gates}]_t·{W}ᵀ at each step t", ctx.rec["dx"], f"gradient sent back to layer "
                  f"{k - 1}, step by step: the step's deltas times the kernel transposed", (W, *xd), op="rnn_dx",
                  layer=k - 1, T=T, G=len(x_deltas), units=u)


def _section(b, base, t, backward=False):
    b.section = f"{base}, t = {t}" + (" (back through time)" if backward else "")


@register(SimpleRNN)
class SimpleRNNTracer(_RecurrentTracer):
    """``h_t = act(x_t·W + b + h_{t-1}·U)`` step by step; back through time with the engine's deltas."""

    kind = "SimpleRNN"
    forward_stems = ("Z", "h")  # a padded batch adds "a" (the activation) before "h"
    backward_stems = ("dh", "slope", "dZ")

    def check(self, layer, k):
        activation_info(layer.activation, f"layer {k} ({layer.display_name})")

    def describe(self, layer, k):
        return super().describe(layer, k) | {"activation": activation_info(layer.activation, f"layer {k}").op}

    def after_forward(self, layer, rec):
        super().after_forward(layer, rec)
        rec["Z"] = layer.Z.copy()  # (T, N, U): x_t·W + b + h_{t-1}·U
        act, slope = layer.activation, type(layer.activation).slope

        def capture(z, a):  # the backward's first array becomes its deltas dZ in place: keep a reference
            rec["dZ_live"] = slope(act, z, a)
            return rec["dZ_live"]
        act.slope = capture

    def after_backward(self, layer, rec):
        layer.activation.__dict__.pop("slope", None)
        live = rec.pop("dZ_live", None)
        rec["dZ"] = None if live is None else live.copy()

    def forward(self, b, ctx):
        layer, k, base = ctx.layer, ctx.k, b.section
        Z, H = ctx.rec["Z"], ctx.rec["H"]
        T, masked = len(Z), ctx.rec["mask"] is not None
        self._initial(b, ctx, "h")
        self._add_mask(b, ctx)
        for t in range(1, T + 1):
            _section(b, base, t)
            z, h, hp = self._name(ctx, "Z", t), self._name(ctx, "h", t), self._name(ctx, "h", t - 1)
            b.add(z, f"{ctx.inp}[:, t{t}]·{ctx.p('W')} + {ctx.p('b')} + {hp}·{ctx.p('U')}", Z[t - 1], f"step {t}'s "
                  "pre-activation: this step's input times the kernel, plus the bias, plus the previous hidden state "
                  "times the recurrent kernel", (ctx.inp, ctx.p("W"), ctx.p("b"), hp, ctx.p("U")), op="rnn_pre",
                  layer=k, t=t - 1, col=0)
            if not masked:
                add_activation(b, layer.activation, z, h, H[t], f"step {t}'s hidden state", k)
                continue
            a = self._name(ctx, "a", t)  # padded steps keep the state: act(Z) gets a name of its own
            add_activation(b, layer.activation, z, a, layer.activation.f(Z[t - 1]), f"step {t}'s activation", k)
            extra, attrs = self._masked(ctx, t - 1, keep=1)
            b.add(h, f"{a} where step {t} is real, else {hp}", H[t], f"step {t}'s hidden state: the activation, or "
                  "the previous state at a padded step", (a, hp, *extra), op="rnn_keep", layer=k, **attrs)
        b.section = base
        self._output(b, ctx, T)

    def backward(self, b, ctx):
        layer, base = ctx.layer, b.section
        Z, H, U = ctx.rec["Z"], ctx.rec["H"], ctx.rec["params"]["U"]
        T, masked = len(Z), ctx.rec["mask"] is not None
        A = layer.activation.f(Z) if masked else H[1:]  # what the slope reads: act(Z), kept states aside
        slope = layer.activation.slope(Z, A)  # (T, N, U), the engine's own slope
        dZ = ctx.rec.get("dZ")
        dh = np.zeros_like(H[1:])
        dz = np.zeros_like(Z) if dZ is None else dZ
        for t0 in reversed(range(T)):  # dh_t = dy_t + dZ_{t+1}·Uᵀ; dZ_t (the engine's where it was kept)
            dy = self._dy(ctx, t0, T)
            dh[t0] = 0 if dy is None else dy
            if t0 < T - 1 and not self._cut(layer, t0 + 1):
                back, real = dz[t0 + 1] @ U.T, self._real(ctx, t0 + 1)
                dh[t0] += back if real is None else np.where(real, back, dh[t0 + 1])
            if dZ is None:
                real = self._real(ctx, t0)
                dz[t0] = dh[t0] * slope[t0] * (1 if real is None else real)
        for t in range(T, 0, -1):
            _section(b, base, t, True)
            self._dh(b, ctx, t, T, ("dZ",), dh[t - 1])
            a = self._name(ctx, "a" if masked else "h", t)
            add_activation_backward(b, layer.activation, self._name(ctx, "Z", t), a, Z[t - 1], A[t - 1],
                                    self._name(ctx, "dh", t), self._name(ctx, "dZ", t), dz[t - 1], ctx.k)
            if masked:  # the delta is 0 at a padded step
                q, (extra, attrs) = b.quantities[-1], self._masked(ctx, t - 1)
                q.op, q.inputs, q.formula = "rnn_mul", q.inputs + extra, f"{q.formula} (0 where step {t} is padded)"
                q.attrs.update(attrs)
        b.section = base
        self._grads(b, ctx, T, ("dZ",), ("dZ",))


@register(LSTM)
class LSTMTracer(_RecurrentTracer):
    """Gates i, f, g, o, the cell and the hidden state step by step; dh, dc and the gates' deltas back in time."""

    kind = "LSTM"
    gates = ("i", "f", "g", "o")
    forward_stems = ("zi", "zf", "zg", "zo", "i", "f", "g", "o", "c", "h")
    backward_stems = ("dh", "dc", "dzi", "dzf", "dzg", "dzo")

    def describe(self, layer, k):
        return super().describe(layer, k) | {"unit_forget_bias": layer.unit_forget_bias}

    def after_forward(self, layer, rec):
        super().after_forward(layer, rec)
        rec["gates"], rec["C"] = layer.A.copy(), layer.C.copy()  # (T, N, 4U) after activation, (T+1, N, U)

    def after_backward(self, layer, rec):
        rec["dG"] = layer._buffers["dG"].copy()  # (T, N, 4U): the gates' deltas, the engine's

    def forward(self, b, ctx):
        k, u, base = ctx.k, ctx.layer.units, b.section
        P, gates, H, C = ctx.rec["params"], ctx.rec["gates"], ctx.rec["H"], ctx.rec["C"]
        T = len(gates)
        pre = ctx.rec["xt"] @ P["W"] + P["b"] + H[:-1] @ P["U"]  # (T, N, 4U): derived (the engine's is overwritten)
        W, bb, U = ctx.p("W"), ctx.p("b"), ctx.p("U")
        self._initial(b, ctx, "h")
        self._initial(b, ctx, "c")
        self._add_mask(b, ctx)
        padded = "" if ctx.rec["mask"] is None else ", or the previous one at a padded step"
        words = {"i": "input gate", "f": "forget gate", "g": "candidate cell (Keras' c)", "o": "output gate"}
        for t in range(1, T + 1):
            _section(b, base, t)
            hp, cp = self._name(ctx, "h", t - 1), self._name(ctx, "c", t - 1)
            n = {s: self._name(ctx, s, t) for s in ("i", "f", "g", "o", "c", "h")}
            for j, g in enumerate(self.gates):
                b.add(self._name(ctx, "z" + g, t), f"{ctx.inp}[:, t{t}]·{W}_{g} + {bb}_{g} + {hp}·{U}_{g}",
                      pre[t - 1][:, j * u:(j + 1) * u], f"step {t}'s {words[g]} pre-activation",
                      (ctx.inp, W, bb, hp, U), op="rnn_pre", layer=k, t=t - 1, col=j * u)
            for j, g in enumerate(self.gates):
                op = "tanh" if g == "g" else "sigmoid"
                b.add(n[g], f"{op}({self._name(ctx, 'z' + g, t)})", gates[t - 1][:, j * u:(j + 1) * u],
                      f"step {t}'s {words[g]}: {op}", (self._name(ctx, "z" + g, t),), op=op, layer=k)
            extra, attrs = self._masked(ctx, t - 1, keep=1)
            b.add(n["c"], f"{n['f']} ⊙ {cp} + {n['i']} ⊙ {n['g']}", C[t], f"step {t}'s cell: keep f of the old "
                  "cell, add i of the candidate" + padded, (n["f"], cp, n["i"], n["g"], *extra), op="lstm_cell",
                  layer=k, **attrs)
            extra, attrs = self._masked(ctx, t - 1, keep=2)
            b.add(n["h"], f"{n['o']} ⊙ tanh({n['c']})", H[t], f"step {t}'s hidden state: the output gate times "
                  "tanh of the cell" + padded, (n["o"], n["c"], *(extra and (hp, *extra))), op="lstm_hidden",
                  layer=k, **attrs)
        b.section = base
        self._output(b, ctx, T)

    def backward(self, b, ctx):
        layer, u, base = ctx.layer, ctx.layer.units, b.section
        gates, C, dG, U = ctx.rec["gates"], ctx.rec["C"], ctx.rec["dG"], ctx.rec["params"]["U"]
        T, N = gates.shape[:2]
        f, o = gates[..., u:2 * u], gates[..., 3 * u:]
        tanh_c = np.tanh(C[1:])
        dh, dc = np.zeros((T, N, u)), np.zeros((T, N, u))
        # derived: dh_t = dy_t + dG_{t+1}·Uᵀ, dc_t = dh_t·o·(1-tanh²c) + dc_{t+1}·f_{t+1}
        for t0 in reversed(range(T)):
            dy = self._dy(ctx, t0, T)
            dh[t0] = 0 if dy is None else dy
            dc[t0] = 0
            if t0 < T - 1 and not self._cut(layer, t0 + 1):
                back, carry, real = dG[t0 + 1] @ U.T, dc[t0 + 1] * f[t0 + 1], self._real(ctx, t0 + 1)
                if real is not None:  # a padded step t0+1 passes dh and dc on unchanged
                    back, carry = np.where(real, back, dh[t0 + 1]), np.where(real, carry, dc[t0 + 1])
                dh[t0] += back
                dc[t0] = carry
            real = self._real(ctx, t0)
            dc[t0] += dh[t0] * o[t0] * (1 - tanh_c[t0] ** 2) * (1 if real is None else real)
        deltas = tuple("dz" + g for g in self.gates)
        for t in range(T, 0, -1):
            _section(b, base, t, True)
            n = {s: self._name(ctx, s, t) for s in ("i", "f", "g", "o", "c", "h", "dh", "dc")}
            self._dh(b, ctx, t, T, deltas, dh[t - 1])
            ins = (n["dh"], n["o"], n["c"])
            formula_ = f"{n['dh']} ⊙ {n['o']} ⊙ (1 − tanh²({n['c']}))"
            if t < T and not self._cut(layer, t):
                ins += (self._name(ctx, "dc", t + 1), self._name(ctx, "f", t + 1))
                formula_ += f" + {ins[3]} ⊙ {ins[4]}"
            extra, attrs = self._masked(ctx, t - 1)
            if extra:  # padded: no path through h_t at step t; dc_{t+1} passes a padded step t+1 unchanged
                attrs = {"mask_t": t - 1} | ({"mask_next": t} if len(ins) == 5 else {})
                formula_ += " (by the mask: at a padded step t the first term is 0; at a padded t+1, f is 1)"
            b.add(n["dc"], formula_, dc[t - 1], "gradient at the cell: through h_t, plus the cell's path back from "
                  "step t+1 (times its forget gate)", ins + extra, op="lstm_dc", layer=ctx.k, **attrs)
            cp = self._name(ctx, "c", t - 1)
            d = dG[t - 1]
            rows = [("i", (n["dc"], n["g"], n["i"]), "rnn_sig_delta",
                     f"{n['dc']} ⊙ {n['g']} ⊙ {n['i']}(1 − {n['i']})"),
                    ("f", (n["dc"], cp, n["f"]), "rnn_sig_delta", f"{n['dc']} ⊙ {cp} ⊙ {n['f']}(1 − {n['f']})"),
                    ("g", (n["dc"], n["i"], n["g"]), "rnn_tanh_delta",
                     f"{n['dc']} ⊙ {n['i']} ⊙ (1 − {n['g']}²)"),
                    ("o", (n["dh"], n["c"], n["o"]), "lstm_do",
                     f"{n['dh']} ⊙ tanh({n['c']}) ⊙ {n['o']}(1 − {n['o']})")]
            extra, attrs = self._masked(ctx, t - 1)
            for j, (g, ins, op, text) in enumerate(rows):
                b.add(self._name(ctx, "dz" + g, t), text, d[:, j * u:(j + 1) * u], f"delta of gate {g} at step {t}: "
                      "the gradient at its pre-activation" + (" (0 at a padded step)" if extra else ""), ins + extra,
                      op=op, layer=ctx.k, **attrs)
        b.section = base
        self._grads(b, ctx, T, deltas, deltas)


@register(GRU)
class GRUTracer(_RecurrentTracer):
    """Update gate z, reset gate r, candidate n and the hidden state step by step (reset after the product)."""

    kind = "GRU"
    gates = ("z", "r", "n")
    forward_stems = ("hn", "zz", "z", "zr", "r", "zn", "n", "h")
    backward_stems = ("dh", "dzn", "dzz", "dzr", "dhn")

    def describe(self, layer, k):
        return super().describe(layer, k) | {"reset_after": True, "bias_rows": "0: input side, 1: recurrent side"}

    def after_forward(self, layer, rec):
        super().after_forward(layer, rec)
        rec["gates"], rec["hU"] = layer.A.copy(), layer.hU.copy()  # (T, N, 3U) after activation; h_{t-1}·U + b[1]

    def after_backward(self, layer, rec):
        rec["dGx"], rec["dGh"] = layer._buffers["dGx"].copy(), layer._buffers["dGh"].copy()  # (T, N, 3U) each

    def forward(self, b, ctx):
        k, u, base = ctx.k, ctx.layer.units, b.section
        P, gates, H, hU = ctx.rec["params"], ctx.rec["gates"], ctx.rec["H"], ctx.rec["hU"]
        T = len(gates)
        xw = ctx.rec["xt"] @ P["W"] + P["b"][0]  # (T, N, 3U): derived (the engine's is overwritten)
        r = gates[..., u:2 * u]
        pre = {"z": xw[..., :u] + hU[..., :u], "r": xw[..., u:2 * u] + hU[..., u:2 * u],
               "n": xw[..., 2 * u:] + r * hU[..., 2 * u:]}
        W, bb, U = ctx.p("W"), ctx.p("b"), ctx.p("U")
        self._initial(b, ctx, "h")
        self._add_mask(b, ctx)
        padded = "" if ctx.rec["mask"] is None else ", or the previous one at a padded step"
        for t in range(1, T + 1):
            _section(b, base, t)
            hp = self._name(ctx, "h", t - 1)
            n = {s: self._name(ctx, s, t) for s in ("z", "r", "n", "h", "hn", "zz", "zr", "zn")}
            b.add(n["hn"], f"{hp}·{U}_n + {bb}[1]_n", hU[t - 1][:, 2 * u:], f"step {t}'s recurrent side of the "
                  "candidate (before the reset gate)", (hp, U, bb), op="gru_hn", layer=k, col=2 * u)
            for j, g in enumerate(("z", "r")):
                b.add(n["z" + g], f"{ctx.inp}[:, t{t}]·{W}_{g} + {bb}[0]_{g} + {hp}·{U}_{g} + {bb}[1]_{g}",
                      pre[g][t - 1], f"step {t}'s {'update' if g == 'z' else 'reset'} gate pre-activation",
                      (ctx.inp, W, bb, hp, U), op="rnn_pre", layer=k, t=t - 1, col=j * u)
                b.add(n[g], f"sigmoid({n['z' + g]})", gates[t - 1][:, j * u:(j + 1) * u],
                      f"step {t}'s {'update' if g == 'z' else 'reset'} gate", (n["z" + g],), op="sigmoid", layer=k)
            b.add(n["zn"], f"{ctx.inp}[:, t{t}]·{W}_n + {bb}[0]_n + {n['r']} ⊙ {n['hn']}", pre["n"][t - 1],
                  f"step {t}'s candidate pre-activation: the reset gate scales the recurrent side",
                  (ctx.inp, W, bb, n["r"], n["hn"]), op="gru_zn", layer=k, t=t - 1, col=2 * u)
            b.add(n["n"], f"tanh({n['zn']})", gates[t - 1][:, 2 * u:], f"step {t}'s candidate", (n["zn"],),
                  op="tanh", layer=k)
            extra, attrs = self._masked(ctx, t - 1, keep=1)
            b.add(n["h"], f"{n['z']} ⊙ {hp} + (1 − {n['z']}) ⊙ {n['n']}", H[t], f"step {t}'s hidden state: z "
                  "keeps the old state, 1 − z takes the candidate" + padded, (n["z"], hp, n["n"], *extra),
                  op="gru_hidden", layer=k, **attrs)
        b.section = base
        self._output(b, ctx, T)

    def backward(self, b, ctx):
        layer, u, base = ctx.layer, ctx.layer.units, b.section
        gates, dGx, dGh, U = ctx.rec["gates"], ctx.rec["dGx"], ctx.rec["dGh"], ctx.rec["params"]["U"]
        T, N = gates.shape[:2]
        z = gates[..., :u]
        dh = np.zeros((T, N, u))
        for t0 in reversed(range(T)):  # derived: dh_t = dy_t + dGh_{t+1}·Uᵀ + dh_{t+1}·z_{t+1}
            dy = self._dy(ctx, t0, T)
            dh[t0] = 0 if dy is None else dy
            if t0 < T - 1 and not self._cut(layer, t0 + 1):
                back, real = dGh[t0 + 1] @ U.T + dh[t0 + 1] * z[t0 + 1], self._real(ctx, t0 + 1)
                dh[t0] += back if real is None else np.where(real, back, dh[t0 + 1])
        for t in range(T, 0, -1):
            _section(b, base, t, True)
            n = {s: self._name(ctx, s, t) for s in ("z", "r", "n", "hn", "dh", "dzz", "dzr", "dzn", "dhn")}
            hp = self._name(ctx, "h", t - 1)
            self._dh(b, ctx, t, T, ("dzz", "dzr", "dhn"), dh[t - 1], carry=("dh", "z"))
            extra, attrs = self._masked(ctx, t - 1)
            zero = " (0 at a padded step)" if extra else ""
            b.add(n["dzn"], f"{n['dh']} ⊙ (1 − {n['z']}) ⊙ (1 − {n['n']}²)", dGx[t - 1][:, 2 * u:],
                  f"delta of the candidate at step {t}" + zero, (n["dh"], n["z"], n["n"], *extra), op="gru_dn", layer=ctx.k,
                  **attrs)
            b.add(n["dzz"], f"{n['dh']} ⊙ ({hp} − {n['n']}) ⊙ {n['z']}(1 − {n['z']})", dGx[t - 1][:, :u],
                  f"delta of the update gate at step {t}" + zero, (n["dh"], hp, n["n"], n["z"], *extra), op="gru_dz",
                  layer=ctx.k, **attrs)
            b.add(n["dzr"], f"{n['dzn']} ⊙ {n['hn']} ⊙ {n['r']}(1 − {n['r']})", dGx[t - 1][:, u:2 * u],
                  f"delta of the reset gate at step {t}", (n["dzn"], n["hn"], n["r"]), op="rnn_sig_delta",
                  layer=ctx.k)
            b.add(n["dhn"], f"{n['dzn']} ⊙ {n['r']}", dGh[t - 1][:, 2 * u:], f"delta of {n['hn']}: the candidate's "
                  "delta through the reset gate", (n["dzn"], n["r"]), op="mul", layer=ctx.k)
        b.section = base
        self._grads(b, ctx, T, ("dzz", "dzr", "dzn"), ("dzz", "dzr", "dhn"))


# -- workbook formulas -----------------------------------------------------------------------------------------

def _span(c, k, first, last):
    """Input k from array index ``first`` to ``last`` (one contiguous piece of a grid row or column)."""
    a, z = c.ref(k, first), c.ref(k, last)
    return a if a == z else f"{a}:{z.split('!')[-1]}"


def _x_row(c, k, i, t):
    """Row i of step t of input k, shape (N, T, C): x_t's cells for sample i."""
    C = c.ins[k].shape[-1]
    return _span(c, k, (i, t, 0), (i, t, C - 1))


def _bias(c, k, col, rows):
    b = c.ins[k]
    if len(b.shape) == 1:
        return c.ref(k, (col,))
    return "+".join(c.ref(k, (r, col)) for r in rows)


@formula("rnn_pre", array=True, batch=True)
def _rnn_pre(c):  # x_t·W[:, col+j] + b + h_{t-1}·U[:, col+j]; inputs A, W, b, h_prev, U
    t, col = c.attrs["t"], c.attrs["col"]
    return lambda i, j: (f"MMULT({_x_row(c, 0, i, t)},{c.col(1, col + j)})+{_bias(c, 2, col + j, (0, 1))}"
                         f"+MMULT({c.row(3, i)},{c.col(4, col + j)})")


@formula("gru_hn", array=True, batch=True)
def _gru_hn(c):  # h_{t-1}·U_n + b[1]_n; inputs h_prev, U, b
    col = c.attrs["col"]
    return lambda i, j: f"MMULT({c.row(0, i)},{c.col(1, col + j)})+{c.ref(2, (1, col + j))}"


@formula("gru_zn", array=True, batch=True)
def _gru_zn(c):  # x_t·W_n + b[0]_n + r ⊙ hn; inputs A, W, b, r, hn
    t, col = c.attrs["t"], c.attrs["col"]
    return lambda i, j: (f"MMULT({_x_row(c, 0, i, t)},{c.col(1, col + j)})+{c.ref(2, (0, col + j))}"
                         f"+{c.at(3, i, j)}*{c.at(4, i, j)}")


def _gated(c, i, j, text):
    """``text`` where the mask (the last input) is 1 at step ``mask_t``; else input ``keep``'s cell, or 0."""
    t = c.attrs.get("mask_t")
    if t is None:
        return text
    keep = c.attrs.get("keep")
    return f"IF({c.ref(len(c.ins) - 1, (i, t))}>0,{text},{'0' if keep is None else c.at(keep, i, j)})"


#: elementwise ops: their inputs, in order, fill {0}, {1}... (a mask, when there is one, comes last)
TEMPLATES = {
    "rnn_copy": "{0}",
    "rnn_keep": "{0}",
    "rnn_mul": "{0}*{1}",
    "lstm_cell": "{0}*{1}+{2}*{3}",
    "lstm_hidden": "{0}*TANH({1})",
    "gru_hidden": "{0}*{1}+(1-{0})*{2}",
    "rnn_sig_delta": "{0}*{1}*{2}*(1-{2})",
    "rnn_tanh_delta": "{0}*{1}*(1-{2}*{2})",
    "lstm_do": "{0}*TANH({1})*{2}*(1-{2})",
    "gru_dz": "{0}*({1}-{2})*{3}*(1-{3})",
    "gru_dn": "{0}*(1-{1})*(1-{2}*{2})",
}


@formula(*TEMPLATES, batch=True)
def _elementwise(c):
    text = TEMPLATES[c.q.op]
    return lambda i, j: _gated(c, i, j, text.format(*(c.at(k, i, j) for k in range(len(c.ins)))))


@formula("lstm_dc", batch=True)
def _lstm_dc(c):  # dh ⊙ o ⊙ (1 − tanh²c) [+ dc_{t+1} ⊙ f_{t+1}]
    def f(i, j):
        text = _gated(c, i, j, f"{c.at(0, i, j)}*{c.at(1, i, j)}*(1-TANH({c.at(2, i, j)})^2)")
        if "mask_next" in c.attrs:  # dc_{t+1} passes a padded step t+1 unchanged
            m = c.ref(5, (i, c.attrs["mask_next"]))
            return f"{text}+IF({m}>0,{c.at(3, i, j)}*{c.at(4, i, j)},{c.at(3, i, j)})"
        return text + (f"+{c.at(3, i, j)}*{c.at(4, i, j)}" if len(c.ins) >= 5 else "")
    return f


@formula("rnn_sequence", batch=True)
def _rnn_sequence(c):  # (N, T, U) from h_1 … h_T
    def f(i, j):
        _, t, u = c.index(i, j)
        return c.ref(t, (i, u))
    return f


@formula("rnn_dh", batch=True)
def _rnn_dh(c):  # [dy_t] + Σ_blocks d_{t+1}·U_blockᵀ [+ dh_{t+1} ⊙ z_{t+1}]
    a = c.attrs
    t, cols, k0 = a["t"], a["cols"], int(a["dy"])
    ku = k0 + len(cols)  # U follows the deltas

    def f(i, j):
        terms = []
        if a["dy"]:
            terms.append(c.ref(0, (i, t, j)) if a["seq"] else c.at(0, i, j))
        for g, col in enumerate(cols):
            width = c.ins[k0 + g].shape[-1]
            terms.append(f"SUMPRODUCT({c.row(k0 + g, i)},{_span(c, ku, (j, col), (j, col + width - 1))})")
        back = [f"{c.at(ku + 1, i, j)}*{c.at(ku + 2, i, j)}"] if a["carry"] else []
        back = terms[int(a["dy"]):] + back
        terms = terms[:int(a["dy"])]
        if back and "mask_t" in a:  # a padded step t+1 passes dh_{t+1} on unchanged
            back = [f"IF({c.ref(len(c.ins) - 1, (i, a['mask_t']))}>0,{'+'.join(back)},{c.at(a['pass'], i, j)})"]
        return "+".join(terms + back) or "0"
    return f


def _block(c, j):
    """(gate block, column in it) of column j of a (…, G·U) parameter."""
    return divmod(j, c.attrs["units"])


@formula("rnn_dW")
def _rnn_dW(c):  # Σ_t x_tᵀ·d_t; inputs A (N, T, C), then each step's deltas (step-major)
    T, G, C = c.attrs["T"], c.attrs["G"], c.ins[0].shape[-1]

    def f(i, j):
        g, u = _block(c, j)
        return "+".join(f"SUMPRODUCT({c.col(0, t * C + i)},{c.col(1 + t * G + g, u)})" for t in range(T))
    return f


@formula("rnn_dU")
def _rnn_dU(c):  # Σ_t h_{t-1}ᵀ·d_t; inputs h_0 … h_{T-1}, then each step's deltas
    T, G = c.attrs["T"], c.attrs["G"]

    def f(i, j):
        g, u = _block(c, j)
        return "+".join(f"SUMPRODUCT({c.col(t, i)},{c.col(T + t * G + g, u)})" for t in range(T))
    return f


@formula("rnn_db")
def _rnn_db(c):  # Σ_t Σ_rows d_t; a GRU's row 1 sums the recurrent side's deltas (the inputs' second half)
    T, G = c.attrs["T"], c.attrs["G"]

    def f(i, j):
        g, u = _block(c, j)
        return "+".join(f"SUM({c.col(i * T * G + t * G + g, u)})" for t in range(T))
    return f


@formula("rnn_dx", batch=True)
def _rnn_dx(c):  # dA[i, t, :] = Σ_blocks d_t[i]·W_blockᵀ; inputs W, then each step's deltas
    G, u = c.attrs["G"], c.attrs["units"]

    def f(i, j):
        _, t, ch = c.index(i, j)
        return "+".join(f"SUMPRODUCT({c.row(1 + t * G + g, i)},{_span(c, 0, (ch, g * u), (ch, g * u + u - 1))})"
                        for g in range(G))
    return f
