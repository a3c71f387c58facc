"""Embedding: the rows looked up and the scatter-added gradient, with their workbook formulas.

The ids ``A{k-1}`` (N, T) are integers (the model's inputs: an Embedding is its first layer)::

    A{k}[n, t, :] = E{k}[A{k-1}[n, t], :]                         (N, T, D)  workbook: INDEX
    dE{k}[v, :] = Σ over (n, t) with A{k-1}[n, t] = v of dA{k}[n, t, :]   (V, D)  workbook: SUMIF per t

Ids have no gradient, so nothing is sent back.
"""

from __future__ import annotations

from ...layers.embedding import Embedding
from ..formulas import formula
from .base import LayerTracer, register

__all__ = ["EmbeddingTracer"]


@register(Embedding)
class EmbeddingTracer(LayerTracer):
    """``A{k} = E{k}[ids]``; ``dE{k}`` adds each id's incoming gradients into its row."""

    def describe(self, layer, k):
        return {"input_dim": layer.input_dim, "output_dim": layer.output_dim, "mask_zero": layer.mask_zero}

    def summary(self, layer):
        return f"Embedding {layer.input_dim}×{layer.output_dim}"

    def forward(self, b, ctx):
        ids, E = ctx.inp, ctx.p("E")
        b.add(ctx.out, f"{E}[{ids}]", ctx.rec["out"], f"the rows of {E} that the ids pick, one vector per id "
              "(id v reads row v, counting from 0)", (ids, E), op="lookup", layer=ctx.k)

    def backward(self, b, ctx):
        ids, dE = ctx.inp, ctx.d("E")
        b.add(dE, f"Σ_(n,t: {ids}[n,t] = v) {ctx.d_out}[n, t]  for each row v", ctx.rec["grads"]["E"],
              "the table's gradient: each id's incoming gradient added into its row (an id met twice adds twice, "
              "an id never met gets 0)", (ids, ctx.d_out), op="scatter_add", layer=ctx.k)


# -- workbook formulas -----------------------------------------------------------------------------------------

@formula("lookup", batch=True)
def _lookup(c):
    table = c.whole(1)

    def f(i, j):
        n, t, d = c.index(i, j)
        return f"INDEX({table},{c.ref(0, (n, t))}+1,{d + 1})"
    return f


@formula("scatter_add")
def _scatter_add(c):
    T = c.ins[0].shape[1]
    D = c.ins[1].shape[-1]
    return lambda v, d: "+".join(f"SUMIF({c.col(0, t)},{v},{c.col(1, t * D + d)})" for t in range(T))
