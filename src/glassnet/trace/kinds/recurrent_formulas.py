"""Workbook formulas of the recurrent kinds (:mod:`.recurrent`): each step's pre-activations as MMULT over a
row of x_t and h_{t-1}, the gates, the cell, dh and dc carried back, and the gradients summed over time."""

from __future__ import annotations

from ..formulas import formula

__all__ = ["TEMPLATES", "x_row"]


def _span(c, k, first, last):
    """Input k from array index ``first`` to ``last`` (one contiguous piece of a grid row or column)."""
    a, z = c.ref(k, first), c.ref(k, last)
    return a if a == z else f"{a}:{z.split('!')[-1]}"


def x_row(c, k, i, t):
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
    return lambda i, j: (f"MMULT({x_row(c, 0, i, t)},{c.col(1, col + j)})+{_bias(c, 2, col + j, (0, 1))}"
                         f"+MMULT({c.row(3, i)},{c.col(4, col + j)})")


@formula("gru_hn", array=True, batch=True)
def _gru_hn(c):  # h_{t-1}·U_n + b[1]_n; inputs h_prev, U, b
    col = c.attrs["col"]
    return lambda i, j: f"MMULT({c.row(0, i)},{c.col(1, col + j)})+{c.ref(2, (1, col + j))}"


@formula("gru_zn", array=True, batch=True)
def _gru_zn(c):  # x_t·W_n + b[0]_n + r ⊙ hn; inputs A, W, b, r, hn
    t, col = c.attrs["t"], c.attrs["col"]
    return lambda i, j: (f"MMULT({x_row(c, 0, i, t)},{c.col(1, col + j)})+{c.ref(2, (0, col + j))}"
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
