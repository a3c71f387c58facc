"""What SimpleRNN, LSTM and GRU share in a trace: the states at t = 0, a padded batch's mask, the output
sequence, dh_t carried back through time, and the gradients summed over the steps (:mod:`.recurrent` holds
the three cells, :mod:`.recurrent_formulas` their workbook formulas)."""

from __future__ import annotations

import numpy as np

from .base import LayerTracer

__all__ = ["MASK_OPS", "RecurrentTracer", "section"]


#: ops of the quantities that hold a padding mask a later recurrent layer may read
MASK_OPS = ("masking_mask", "rnn_mask_ids", "rnn_copy", "value")


class RecurrentTracer(LayerTracer):
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


def section(b, base, t, backward=False):
    b.section = f"{base}, t = {t}" + (" (back through time)" if backward else "")
