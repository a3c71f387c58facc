"""The documentation cannot go stale.

- Every public name (the ``__all__`` lists of glassnet and its public modules) has a docstring, and so
  does every public method and property of a public class (its own or the one it overrides); the API
  pages (``make docs``, mkdocstrings) are built from them.
- Every public module has its API page, and every ``##`` section of README.md is on a guide page.
- Every ```` ```python ```` block of the guide (README.md, docs/**/*.md) runs: each page's blocks in
  order, in one namespace, in a fresh directory. Markdown comments steer this, invisible on the page:
  ``<!-- not run: REASON -->`` right above a block skips it (only for what cannot run here, e.g. a
  GPU), and a ``<!-- test setup:`` ... ``-->`` comment holds code run before the next block (files or
  names the text takes for granted).

The site itself is built in strict mode by ``make docs`` (part of ``make test``): a broken link or
reference, or a docstring griffe cannot parse, fails it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Public modules: their __all__ is the API. (glassnet.sklearn imports scikit-learn, a dev dependency.)
PUBLIC_MODULES = [
    "glassnet", "glassnet.layers", "glassnet.losses", "glassnet.optimizers", "glassnet.schedules",
    "glassnet.callbacks", "glassnet.metrics", "glassnet.regularizers", "glassnet.initializers",
    "glassnet.data", "glassnet.trace", "glassnet.models", "glassnet.models.tsc", "glassnet.sklearn",
    "glassnet.gradcheck", "glassnet.state", "glassnet.checks", "glassnet.errors", "glassnet.search",
    "glassnet.dask", "glassnet.plots", "glassnet.explore", "glassnet.models.forecast",
    "glassnet.text",
]
PAGE_TIMEOUT_S = 300  # a page's blocks together; README's take about 10 s


def _public_objects():
    """(dotted name, object) for every class and function named in a public module's ``__all__``."""
    seen = set()
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isroutine(obj)) and id(obj) not in seen:
                seen.add(id(obj))
                yield f"{modname}.{name}", obj


def _public_members(cls):
    """(name, member) for the public methods and properties that glassnet code defines on ``cls``."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, name)
        func = raw.fget if isinstance(raw, property) else getattr(raw, "__func__", raw)
        if not (isinstance(raw, property) or inspect.isfunction(func)):
            continue  # data attributes, settings
        if not getattr(func, "__module__", "").startswith("glassnet"):
            continue  # inherited from Python, NumPy or scikit-learn
        yield name, raw


def test_public_modules_have_docstrings():
    missing = [m for m in PUBLIC_MODULES if not (importlib.import_module(m).__doc__ or "").strip()]
    assert not missing, f"modules without a docstring: {missing}"


def test_every_public_name_has_a_docstring():
    missing = [name for name, obj in _public_objects() if not (inspect.getdoc(obj) or "").strip()
               or (inspect.isclass(obj) and not (obj.__doc__ or "").strip())]
    assert not missing, "public names without a docstring (the API reference shows nothing for them):\n" + \
        "\n".join(f"  {n}  ({inspect.getsourcefile(dict(_public_objects())[n])})" for n in missing)


def test_every_public_method_has_a_docstring():
    missing = []
    for qual, cls in _public_objects():
        if not inspect.isclass(cls):
            continue
        for name, member in _public_members(cls):
            # getdoc finds the docstring of the method a subclass overrides: an override may rely on it
            if not (inspect.getdoc(getattr(cls, name) if not isinstance(member, property) else member) or "").strip():
                func = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
                code = getattr(func, "__code__", None)
                where = f"{code.co_filename}:{code.co_firstlineno}" if code else "?"
                missing.append(f"  {qual}.{name}  ({where})")
    assert not missing, "public methods and properties without a docstring:\n" + "\n".join(sorted(set(missing)))


def test_every_public_module_has_an_api_page():
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md"))
    missing = [m for m in PUBLIC_MODULES[1:] if not re.search(rf"^::: {re.escape(m)}\s*$", pages, re.MULTILINE)]
    assert not missing, f"public modules without an API page (a '::: MODULE' line under docs/api/): {missing}"
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    unlisted = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if p.relative_to(DOCS).as_posix() not in nav]
    assert not unlisted, f"pages missing from mkdocs.yml's nav: {unlisted}"


def _hooks():
    spec = importlib.util.spec_from_file_location("glassnet_docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_readme_section_is_on_a_guide_page():
    hooks = _hooks()
    sections = hooks.readme_sections()
    wanted = {}
    for page in DOCS.rglob("*.md"):
        for name in hooks.markers(page.read_text(encoding="utf-8")):
            assert name in sections, f"{page.relative_to(ROOT)} includes README section {name!r}, which README lacks"
            wanted.setdefault(name, []).append(page.relative_to(ROOT).as_posix())
    shown = set(wanted) | {s for name in wanted for s in hooks.top_sections(sections[name])}
    missing = [t for t in hooks.top_sections() if t not in shown]
    assert not missing, f"README sections on no docs page (add '<!-- readme: TITLE -->' to one): {missing}"
    assert "intro" in wanted


def test_readme_links_are_rewritten_for_the_site():
    hooks = _hooks()
    text = "See [errors](docs/errors.md#readers), [r](src/glassnet/layers/recurrent.py), [b](benchmarks/README.md)."
    out = hooks._rewrite_links(text, "guide/library.md", DOCS)
    assert out == "See [errors](../errors.md#readers), [r](../api/layers.md), b."


# -- the guide's code ---------------------------------------------------------------------------------
FENCE_OPEN = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
SKIP = re.compile(r"^<!--\s*not run:\s*(?P<reason>.+?)\s*-->\s*$")
SETUP_OPEN = re.compile(r"^<!--\s*test setup:\s*(?P<rest>.*)$")


def code_blocks(text: str) -> list[dict]:
    """The page's python blocks in order: ``{"line", "code", "skip", "setup"}`` (1-based line of the code)."""
    lines = text.splitlines()
    blocks, i, setup, skip = [], 0, [], None
    while i < len(lines):
        line = lines[i]
        if m := SETUP_OPEN.match(line):
            if m["rest"].rstrip().endswith("-->"):  # on one line
                setup.append(m["rest"].rstrip()[:-3])
                i += 1
                continue
            body = [m["rest"]] if m["rest"].strip() else []
            i += 1
            while i < len(lines) and not lines[i].rstrip().endswith("-->"):
                body.append(lines[i])
                i += 1
            last = lines[i].rstrip()[:-3] if i < len(lines) else ""
            body += [last] if last.strip() else []
            setup.append("\n".join(body))
            i += 1
            continue
        if m := SKIP.match(line):
            skip = m["reason"]
            i += 1
            continue
        if m := FENCE_OPEN.match(line):
            fence, lang, start = m["fence"], m["lang"].lower(), i + 1
            i += 1
            while i < len(lines) and not lines[i].startswith(fence):
                i += 1
            if lang in ("python", "py"):
                blocks.append({"line": start + 1, "code": "\n".join(lines[start:i]), "skip": skip,
                               "setup": "\n".join(setup)})
                setup = []
            skip = None
            i += 1
            continue
        if line.strip():
            skip = None  # a marker holds only for the block right below it
        i += 1
    return blocks


def _pages():
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [p for p in pages if code_blocks(p.read_text(encoding="utf-8"))]


def test_code_blocks_parser():
    page = ("text\n<!-- test setup:\nn = 3\n-->\n```python\nx = n\n```\n<!-- not run: needs a GPU -->\n"
            "```python\ngpu()\n```\n```bash\nls\n```\n<!-- test setup: m = 1 -->\n```python\ny = x\n```\n")
    blocks = code_blocks(page)
    assert [(b["line"], b["code"], b["skip"], b["setup"].strip()) for b in blocks] == [
        (6, "x = n", None, "n = 3"), (10, "gpu()", "needs a GPU", ""), (17, "y = x", None, "m = 1")]


class _PageTimeout(Exception):
    pass


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_guide_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the blocks write (trace.json, ...) land here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    rel = page.relative_to(ROOT).as_posix()
    namespace = {"__name__": "__docs__"}
    ran = 0

    def expire(signum, frame):
        raise _PageTimeout(f"{rel}: its code blocks ran longer than {PAGE_TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(PAGE_TIMEOUT_S)
    try:
        for block in code_blocks(page.read_text(encoding="utf-8")):
            if block["skip"]:
                continue
            if block["setup"]:
                exec(compile(block["setup"], f"{rel} (test setup above line {block['line']})", "exec"),  # noqa: S102
                     namespace)
            # the block's own lines keep their numbers in a traceback
            source = "\n" * (block["line"] - 1) + block["code"]
            exec(compile(source, str(page), "exec"), namespace)  # noqa: S102 (the guide's own code)
            ran += 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert ran, f"{rel}: every python block is marked 'not run'"
