"""MkDocs hook: the guide pages take their text from README.md, so the two never drift apart.

A page under docs/ holds markers such as ``<!-- readme: Command line -->``; at build time each marker is
replaced by that README section (its heading and everything up to the next heading of the same or a higher
level), and ``<!-- readme: intro -->`` by the text above the first ``##`` heading. README's links are
written from the repository root; they are rewritten for the page: ``docs/errors.md`` becomes a link to
that page, ``src/glassnet/<module>...`` a link to the module's API page, and any other file of the
repository (``benchmarks/README.md``) plain text naming it, since the site does not hold it. A page made
of one section (and no title of its own) takes that section's heading as its title.

Only the standard library here: tests/test_docs.py imports this file to check that every README section
is on some page.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- readme: (?P<name>.+?) -->[ \t]*$", re.MULTILINE)
HEADING = re.compile(r"^(?P<hashes>#{1,6}) (?P<title>.+?)\s*$")
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\(docs/(?P<target>[^)\s]+)\)")  # an image under docs/ (docs/img/...)


def readme_sections(text: str | None = None) -> dict[str, str]:
    """README's sections by heading title (every level), plus ``"intro"``: the text above the first ``##``.

    Headings inside fenced code blocks are not headings. A section runs to the next heading of the same or
    a higher level, so a ``##`` section holds its ``###`` subsections.
    """
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines(keepends=True)
    headings = []  # (line index, level, title)
    in_fence = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := HEADING.match(line)):
            headings.append((i, len(m["hashes"]), m["title"]))
    sections = {}
    first_h2 = next((i for i, level, _ in headings if level == 2), len(lines))
    sections["intro"] = "".join(lines[:first_h2])
    for k, (start, level, title) in enumerate(headings):
        end = next((i for i, lv, _ in headings[k + 1:] if lv <= level), len(lines))
        sections[title] = "".join(lines[start:end])
    return sections


def top_sections(text: str | None = None) -> list[str]:
    """Titles of README's ``##`` sections, in order (the ones every site must show)."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    titles, in_fence = [], False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and line.startswith("## "):
            titles.append(line[3:].strip())
    return titles


def markers(page_text: str) -> list[str]:
    """The README sections a docs page asks for, in order."""
    return [m["name"] for m in MARKER.finditer(page_text)]


def _rewrite_links(text: str, page_path: str, docs_dir: Path) -> str:
    """README links (relative to the repository root) made relative to the page ``page_path``."""
    page_dir = posixpath.dirname(page_path)

    def fix(m: re.Match) -> str:
        target = m["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return m[0]  # a URL or an anchor on the same page
        path, _, anchor = target.partition("#")
        path = posixpath.normpath(path)
        inside = None
        if path.startswith("docs/") and (docs_dir / path[5:]).is_file():
            inside = path[5:]
        elif (mod := re.match(r"^src/glassnet/(\w+)", path)) and (docs_dir / "api" / f"{mod[1]}.md").is_file():
            inside, anchor = f"api/{mod[1]}.md", ""
        if inside is None:
            return m["text"]  # a file of the repository that the site does not hold
        rel = posixpath.relpath(inside, page_dir or ".")
        return f"[{m['text']}]({rel}{'#' + anchor if anchor else ''})"

    def fix_image(m: re.Match) -> str:
        if not (docs_dir / m["target"]).is_file():
            return m[0]
        return f"![{m['alt']}]({posixpath.relpath(m['target'], page_dir or '.')})"

    out, in_fence = [], False
    for line in text.splitlines(keepends=True):
        if FENCE.match(line):
            in_fence = not in_fence
        out.append(line if in_fence else IMAGE.sub(fix_image, LINK.sub(fix, line)))
    return "".join(out)


def _promote(text: str) -> str:
    """Every heading one level up (``##`` -> ``#``): a page made of one README section takes its title."""
    out, in_fence = [], False
    for line in text.splitlines(keepends=True):
        if FENCE.match(line):
            in_fence = not in_fence
        out.append(line[1:] if not in_fence and line.startswith("##") else line)
    return "".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace each ``<!-- readme: ... -->`` marker with that README section."""
    names = markers(markdown)
    if not names:
        return markdown
    sections = readme_sections()
    docs_dir = Path(config["docs_dir"])
    own_title = any(HEADING.match(line) and line.startswith("# ") for line in markdown.splitlines())
    promote = len(names) == 1 and names[0] != "intro" and not own_title

    def include(m: re.Match) -> str:
        name = m["name"]
        if name not in sections:
            raise ValueError(f"{page.file.src_uri}: README.md has no section {name!r} "
                             f"(it has: {', '.join(sections)})")
        text = _rewrite_links(sections[name], page.file.src_uri, docs_dir)
        return _promote(text) if promote else text

    return MARKER.sub(include, markdown)
