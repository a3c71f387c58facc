"""Griffe extension: doctests written in a docstring's prose are shown as Python sessions.

numpydoc puts examples under an ``Examples`` heading, and griffe renders those as code. glassnet's
docstrings also keep a tiny doctest in the prose where it teaches (style.md); Markdown would read its
``>>>`` as nested block quotes. This wraps each such run of lines (``>>>``/``...`` lines and the output
under them, up to a blank line) in a ``pycon`` fence, and shows Sphinx roles (``:meth:`to```) as inline
code. Docstrings in the source stay as they are.
"""

from __future__ import annotations

import re

from griffe import Extension

SECTION = re.compile(r"^(?P<title>[A-Z][A-Za-z ]+)\n-{3,}$")
ROLE = re.compile(r":(?:class|meth|func|mod|attr|obj|data|exc):`(?P<tilde>~?)(?P<target>[^`]+)`")


def plain_roles(text: str) -> str:
    """Sphinx roles (``:meth:`get_state```, ``:class:`~a.b.C```) as inline code (``get_state``, ``C``)."""
    return ROLE.sub(lambda m: "`" + (m["target"].rsplit(".", 1)[-1] if m["tilde"] else m["target"]) + "`", text)


def fence_doctests(text: str) -> str:
    """``text`` with each prose run of doctest lines fenced (``Examples`` sections are left alone)."""
    lines = text.split("\n")
    out: list[str] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and SECTION.match(f"{line.strip()}\n{lines[i + 1].strip()}"):
            section = line.strip()
        if line.lstrip().startswith(">>>") and section != "Examples":
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].strip())
                i += 1
            out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class FenceDoctests(Extension):
    """Fence the prose doctests and plain the Sphinx roles of every docstring before griffe parses it."""

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(fence_doctests(obj.docstring.value))
