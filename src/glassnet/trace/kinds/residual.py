"""Residual blocks: each inner layer laid out by its own kind, then the sum and the backward split.

Block ``k`` runs its main branch's layers 1…n and its shortcut's layers 1…m on ``A{k-1}``. Inner layer ``i``
of the main branch is named with the suffix ``{k}m{i}`` (``s`` for the shortcut) wherever a top-level layer
uses its number: its parameters ``W3m1``, ``gamma3m2``, its buffers ``moving_mean3m2``, its quantities
``Z3m1``, ``xhat3m2``, its output ``A3m1`` (input of main layer 2). Then::

    A{k} = A{k}m{n} + A{k}s{m}           (an empty shortcut is the identity: A{k}m{n} + A{k-1})

Backward, ``dA{k}`` goes unchanged into both branches' last layers; each branch sends back its own
gradient of the block's input, ``dA{k}m0`` and ``dA{k}s0``, and the block sends back their sum::

    dA{k-1} = dA{k}m0 + dA{k}s0          (identity shortcut: dA{k}m0 + dA{k})
"""

from __future__ import annotations

from dataclasses import dataclass

from ...layers.residual import Residual
from ..builder import LayerContext
from .base import LayerTracer, check_layer, register, tracer_for

__all__ = ["ResidualTracer"]

BRANCHES = (("main", "m"), ("shortcut", "s"))


@dataclass
class _Inner(LayerContext):
    """An inner layer's context: the gradients at its output and input have names of the block's choosing."""

    grad_out: str = ""
    grad_in: str = ""

    @property
    def d_out(self) -> str:
        return self.grad_out

    @property
    def d_inp(self) -> str:
        return self.grad_in


def _suffix(k, letter: str, i: int) -> str:
    return f"{k}{letter}{i}"


@register(Residual)
class ResidualTracer(LayerTracer):
    """``A{k} = main(A{k-1}) + shortcut(A{k-1})``, each inner layer traced by its own kind."""

    def check(self, layer, k):
        for branch, letter in BRANCHES:
            for i, sub in enumerate(getattr(layer, branch), 1):
                check_layer(sub, _suffix(k, letter, i))

    def describe(self, layer, k):
        def entries(branch, letter):
            out = []
            for i, sub in enumerate(getattr(layer, branch), 1):
                tracer = tracer_for(sub)
                entry = {"layer": _suffix(k, letter, i), "name": sub.display_name, "kind": type(sub).__name__,
                         "input_shape": list(sub.input_shape), "output_shape": list(sub.output_shape)}
                entry.update(tracer.describe(sub, _suffix(k, letter, i)))
                out.append(entry)
            return out

        return {"main": entries("main", "m"), "shortcut": entries("shortcut", "s"),
                "shortcut_identity": not layer.shortcut}

    def summary(self, layer):
        def names(layers):
            return ", ".join(tracer_for(sub).summary(sub) for sub in layers)

        return f"Residual[{names(layer.main)} | {names(layer.shortcut) if layer.shortcut else 'identity'}]"

    def param_name(self, layer, key, k):
        branch, i, rest = key.split(".", 2)
        sub = getattr(layer, branch)[int(i)]
        return tracer_for(sub).param_name(sub, rest, _suffix(k, branch[0], int(i) + 1))

    def sublayers(self, layer):
        return [*layer.main, *layer.shortcut]

    def _contexts(self, ctx, branch, letter):
        """One context per inner layer of ``branch``, in order (inputs, outputs and gradient names linked)."""
        layers, base = getattr(ctx.layer, branch), ctx.suffix or ctx.k  # a block inside a block: "3m1"
        subs = ctx.rec.get("sublayers", {})
        out, prev = [], ctx.inp
        for i, sub in enumerate(layers, 1):
            sfx = _suffix(base, letter, i)
            prefix = f"{branch}.{i - 1}."
            regularized = {key[len(prefix):] for key in ctx.regularized if key.startswith(prefix)}
            last = i == len(layers)
            out.append(_Inner(k=ctx.k, layer=sub, rec=subs.get(id(sub), {}), inp=prev, out=f"A{sfx}", n=ctx.n,
                              suffix=sfx, regularized=regularized, section=ctx.section,
                              grad_out=ctx.d_out if last else f"dA{sfx}",
                              grad_in=f"dA{_suffix(base, letter, i - 1)}"))
            prev = f"A{sfx}"
        return out

    def forward(self, b, ctx):
        k, section = ctx.k, b.section
        ends = {}
        for branch, letter in BRANCHES:
            ends[branch] = ctx.inp
            for i, sctx in enumerate(self._contexts(ctx, branch, letter), 1):
                tracer = tracer_for(sctx.layer)
                b.section = f"{section}, {branch} layer {i} ({type(sctx.layer).__name__}: {tracer.summary(sctx.layer)})"
                tracer.forward(b, sctx)
                tracer.update_buffers(b, sctx)
                ends[branch] = sctx.out
        b.section = f"{section}, the sum"
        main, short = ends["main"], ends["shortcut"]
        words = ("the block's output: main branch plus shortcut" if ctx.layer.shortcut
                 else "the block's output: main branch plus its input (identity shortcut)")
        b.add(ctx.out, f"{main} + {short}", ctx.rec["out"], words, (main, short), op="add", layer=k)

    def backward(self, b, ctx):
        k, section = ctx.k, b.section
        starts = {}
        for branch, letter in BRANCHES:
            contexts = self._contexts(ctx, branch, letter)
            starts[branch] = contexts[0].d_inp if contexts else ctx.d_out
            for i, sctx in reversed(list(enumerate(contexts, 1))):
                tracer = tracer_for(sctx.layer)
                b.section = f"{section}, {branch} layer {i} ({type(sctx.layer).__name__})"
                tracer.backward(b, sctx)
        if ctx.sends_back:
            b.section = f"{section}, the split joined"
            main, short = starts["main"], starts["shortcut"]
            b.add(ctx.d_inp, f"{main} + {short}", ctx.rec["dx"], "gradient sent back: the main branch's plus the "
                  "shortcut's" + ("" if ctx.layer.shortcut else " (identity: dA passes on unchanged)"), (main, short),
                  op="add", layer=k - 1)
