"""Reading the project's Markdown the way GitHub renders it: headings, their
anchors, and the fenced code blocks (for tests/docs/ and tests/e2e/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
FENCE = re.compile(r"^(\s*)(```|~~~)(.*)$")


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int  # 1-based line of the opening fence
    info: str  # "sh", "yaml", "" …
    text: str


def doc_pages() -> list[Path]:
    """Every page a reader is sent to: the README, SECURITY.md and docs/*.md."""
    return [REPO / "README.md", REPO / "SECURITY.md", *sorted((REPO / "docs").glob("*.md"))]


def code_blocks(path: Path) -> list[CodeBlock]:
    blocks: list[CodeBlock] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    opened: tuple[int, str, str] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        fence = FENCE.match(line)
        if opened is None and fence:
            opened, body = (number, fence.group(2), fence.group(3).strip()), []
        elif opened is not None and fence and fence.group(2) == opened[1] and not fence.group(3):
            blocks.append(CodeBlock(path, opened[0], opened[2], "\n".join(body)))
            opened = None
        elif opened is not None:
            body.append(line)
    assert opened is None, f"{path}:{opened[0]}: unclosed code block"
    return blocks


def prose(path: Path) -> str:
    """The page with its fenced code blocks blanked (a ``# comment`` in a shell
    block is not a heading); every line keeps its number."""
    kept: list[str] = []
    inside = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        fence = FENCE.match(line)
        if fence and not inside:
            inside = fence.group(2)
        elif fence and fence.group(2) == inside and not fence.group(3):
            inside = ""
        kept.append("" if inside or fence else line)
    return "\n".join(kept)


def headings(path: Path) -> list[str]:
    """Each heading's text as a reader sees it (markup and links dropped)."""
    found = []
    for match in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", prose(path), flags=re.MULTILINE):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))  # [text](url) -> text
        found.append(re.sub(r"[`*]|(?<!\w)_|_(?!\w)", "", text).strip())
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, every character that is not a
    letter, digit, space, ``-`` or ``_`` dropped, each space a ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives ``path``'s headings; repeats get ``-1``, ``-2`` …"""
    seen: dict[str, int] = {}
    result = set()
    for heading in headings(path):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result
