"""The package's import graph follows the design's layering (docs: design.md, "Imports run one way").

Every module of ``src/glassnet`` is parsed with :mod:`ast`; every ``import`` and ``from ... import`` in it,
at module level or inside a function, is an edge to the glassnet module it loads (relative imports
resolved). A package stands for its ``__init__.py``: ``from .. import data`` and ``import glassnet.data``
are edges to ``glassnet.data``; ``from ..data.validate import x`` is an edge to ``glassnet.data.validate``
only (the parent package's ``__init__`` runs too, but counting it would tie every module to
``glassnet/__init__.py``, which re-exports everything). Imports under ``if TYPE_CHECKING:`` are left out:
they never run and only name types for annotations (import-linter's ``exclude_type_checking_imports``).
"""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

import glassnet

PACKAGE_DIR = Path(glassnet.__file__).resolve().parent
ROOT = "glassnet"

# Cycles that are known and tolerated, each as the sorted tuple of its modules, with the reason.
# Aim: empty. A cycle found that is not listed fails the test.
ALLOWED_CYCLES: dict[tuple[str, ...], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST):
    """Every node under ``node``, at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(glassnet module imported, line) for every import statement in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, is_package, node.level, node.module)
            # `from pkg import sub` loads the module pkg.sub when there is one, else a name of pkg.
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import glassnet.x.y` where y is a name: fall back
                target = target.rpartition(".")[0]
            if target.split(".")[0] == ROOT and target != name:
                found.append((target, node.lineno))
    return found


def _graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: first line that imports it}."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in _imports(name, path, modules):
            edges.setdefault(target, line)
        graph[name] = edges
    return graph


GRAPH = _graph()


def _where(a: str, b: str) -> str:
    return f"{a} -> {b} ({_module_path(a)}:{GRAPH[a][b]})"


def _module_path(name: str) -> str:
    return str(_modules()[name].relative_to(PACKAGE_DIR.parent.parent))


def _strongly_connected() -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (a cycle each)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def _one_cycle(component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, as a path that ends where it starts."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(GRAPH[v]):
            if w == start:
                return paths[v] + [start]
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError("a strongly connected component without a cycle")  # pragma: no cover


def test_graph_sees_the_package():
    # A parser that silently found nothing would pass every test below.
    assert "glassnet.layers.dense" in GRAPH and "glassnet.checks" in GRAPH
    assert "glassnet.errors" in GRAPH["glassnet.checks"]
    assert "glassnet.layers" in GRAPH["glassnet"]


def test_sees_function_level_imports_but_not_type_checking_ones(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "from .errors import ConfigError\n"
        "if TYPE_CHECKING:\n"
        "    from .model import Sequential\n"
        "else:\n"
        "    import glassnet.losses\n"
        "def f():\n"
        "    from .layers import dense\n"
        "    from . import data\n"
        "    import glassnet.trace.records\n",
        encoding="utf-8")
    found = {t for t, _ in _imports("glassnet.m", path, _modules())}
    assert found == {"glassnet.errors", "glassnet.losses", "glassnet.layers.dense", "glassnet.data",
                     "glassnet.trace.records"}


def test_resolves_relative_imports():
    assert _resolve("glassnet.layers.dense", False, 2, "data.validate") == "glassnet.data.validate"
    assert _resolve("glassnet.layers", True, 1, "base") == "glassnet.layers.base"
    assert _resolve("glassnet.trace.text", False, 1, None) == "glassnet.trace"


def test_no_import_cycles():
    unexpected = [c for c in _strongly_connected() if tuple(c) not in ALLOWED_CYCLES]
    messages = []
    for component in unexpected:
        cycle = _one_cycle(component)
        steps = "\n    ".join(_where(a, b) for a, b in pairwise(cycle))
        messages.append(f"import cycle among {', '.join(component)}:\n    {steps}")
    assert not messages, "\n".join(messages)


def test_allowed_cycles_still_exist():
    # A cycle that was broken comes off the allow-list, so it cannot come back unnoticed.
    gone = [c for c in ALLOWED_CYCLES if list(c) not in _strongly_connected()]
    assert not gone, f"no longer cycles; remove them from ALLOWED_CYCLES: {gone}"


def _offending(source_prefix: str, forbidden: str) -> list[str]:
    return [
        _where(a, b)
        for a in sorted(GRAPH)
        if a == source_prefix or a.startswith(source_prefix + ".")
        for b in sorted(GRAPH[a])
        if b == forbidden or b.startswith(forbidden + ".")
    ]


def test_layers_never_import_data():
    bad = _offending("glassnet.layers", "glassnet.data")
    assert not bad, "layers import glassnet.data (argument checks live in glassnet.checks):\n" + "\n".join(bad)


def test_checks_is_a_leaf():
    extra = sorted(set(GRAPH["glassnet.checks"]) - {"glassnet.errors"})
    assert not extra, "glassnet.checks may import only glassnet.errors:\n" + "\n".join(
        _where("glassnet.checks", b) for b in extra)


def test_library_never_imports_cli():
    bad = [
        _where(a, b)
        for a in sorted(GRAPH)
        if not (a == "glassnet.cli" or a.startswith("glassnet.cli."))
        for b in sorted(GRAPH[a])
        if b == "glassnet.cli" or b.startswith("glassnet.cli.")
    ]
    assert not bad, "the library imports the CLI:\n" + "\n".join(bad)
