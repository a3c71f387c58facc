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
:mod:`.wrappers`; what the three kinds share is in :mod:`.recurrent_base`, their workbook formulas in
:mod:`.recurrent_formulas`.
"""

from __future__ import annotations

import numpy as np

from ...layers.recurrent import GRU, LSTM, SimpleRNN
from . import recurrent_formulas  # noqa: F401  (registers the workbook formulas of the ops below)
from .base import register
from .dense import activation_info, add_activation, add_activation_backward
from .recurrent_base import RecurrentTracer, section

__all__ = ["GRUTracer", "LSTMTracer", "SimpleRNNTracer"]


@register(SimpleRNN)
class SimpleRNNTracer(RecurrentTracer):
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
            section(b, base, t)
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
            section(b, base, t, True)
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
class LSTMTracer(RecurrentTracer):
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
            section(b, base, t)
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
            section(b, base, t, True)
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
class GRUTracer(RecurrentTracer):
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
            section(b, base, t)
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
            section(b, base, t, True)
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
