"""Every pointer into a document lands on a section that exists (issue 22, item 6).

Two kinds of pointer: Markdown links with an anchor (``[x](SECURITY.md#hostile-load)``,
``[x](#container)``), checked against GitHub's anchor rules, and the plain-text
references that comments and messages use (``SECURITY.md, "Hostile load"``,
``docs/monitoring.md ("systemd")``), which must name the start of a heading.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docs.markdown import REPO, anchors, doc_pages, headings, prose, slug

LINK = re.compile(r"\]\(([^)\s#]*)#([^)\s]+)\)")
# FILE.md, "Section" / FILE.md, *Section* / FILE.md ("Section" …
TEXT_REFERENCE = re.compile(
    r"(?P<file>[\w./-]+\.md)(?:,\s*|\s*\(\s*)(?P<quote>[\"*])(?P<name>[^\"*\n]{2,80}?)(?P=quote)"
)
REFERRING = ("contrib", "docs", "src")


def markdown_files() -> list[Path]:
    pages = {*doc_pages(), *REPO.glob("contrib/**/*.md"), *REPO.glob("benchmarks/*.md")}
    return sorted(pages)


def referring_files() -> list[Path]:
    """Files whose comments or text point at doc sections."""
    found = [REPO / "README.md", REPO / "SECURITY.md", REPO / "Dockerfile"]
    for folder in REFERRING:
        found += [
            path
            for path in sorted((REPO / folder).rglob("*"))
            if path.is_file()
            and path.suffix not in {".png", ".json", ".pyc"}
            and ".egg-info" not in str(path)
        ]
    return found


def resolve(referrer: Path, name: str) -> Path | None:
    for base in (referrer.parent, REPO, REPO / "docs"):
        if (base / name).is_file():
            return (base / name).resolve()
    return None


def linked_anchors() -> list[tuple[str, Path, str]]:
    """(where, page, anchor) for every Markdown link with an anchor."""
    found = []
    for page in markdown_files():
        for number, line in enumerate(prose(page).splitlines(), start=1):
            for target, anchor in LINK.findall(line):
                if "://" in target:
                    continue
                resolved = page if not target else resolve(page, target)
                where = f"{page.relative_to(REPO)}:{number}: {target}#{anchor}"
                assert resolved is not None, f"{where}: no such file"
                found.append((where, resolved, anchor))
    return found


def text_references() -> list[tuple[str, Path, str]]:
    """(where, page, section name) for every ``FILE.md, "Section"`` in comments and docs."""
    found = []
    for path in referring_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        # A reference wrapped over two comment lines reads as one.
        joined = re.sub(r"\n[ \t]*(?:#|//|\*)?[ \t]*", " ", text)
        for match in TEXT_REFERENCE.finditer(joined):
            page = resolve(path, match["file"])
            if page is None or page.suffix != ".md":
                continue
            found.append((f"{path.relative_to(REPO)}: {match.group(0)}", page, match["name"]))
    return found


def test_the_walk_finds_the_pointers_it_must_check():
    linked = {(page.name, anchor) for _where, page, anchor in linked_anchors()}
    assert ("configuration.md", "secrets") in linked
    referenced = {(page.name, name) for _where, page, name in text_references()}
    assert ("SECURITY.md", "Hostile load") in referenced  # the systemd unit's
    assert ("configuration.md", "Secrets") in referenced
    assert ("monitoring.md", "systemd") in referenced


@pytest.mark.parametrize(
    ("where", "page", "anchor"), [pytest.param(*case, id=case[0]) for case in linked_anchors()]
)
def test_every_linked_anchor_exists(where: str, page: Path, anchor: str):
    assert anchor in anchors(page), f"{where}: {page.name} has only {sorted(anchors(page))}"


@pytest.mark.parametrize(
    ("where", "page", "name"), [pytest.param(*case, id=case[0]) for case in text_references()]
)
def test_every_named_section_exists(where: str, page: Path, name: str):
    """The name is a heading, or the start of one ("The owner's network" for
    "The owner's network: what the exporter reads, keeps and writes")."""
    titles = headings(page)
    assert any(
        title == name or (title.startswith(name) and not title[len(name)].isalnum())
        for title in titles
    ), f"{where}: {page.name} has no such section; its headings: {titles}"


def test_slugs_follow_githubs_rules():
    assert slug("Pointing it at a real PVS: init") == "pointing-it-at-a-real-pvs-init"
    assert slug("Without Docker: Debian or Raspberry Pi OS packages") == (
        "without-docker-debian-or-raspberry-pi-os-packages"
    )
    assert slug("Receivers: fill in one (or more)") == "receivers-fill-in-one-or-more"
    assert slug("The owner's network") == "the-owners-network"
    assert slug("poll_interval and 3.5") == "poll_interval-and-35"


def test_repeated_headings_get_numbered_anchors(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("# A\n\n```sh\n# not a heading\n```\n\n## `init`\n\n## init\n")
    assert anchors(page) == {"a", "init", "init-1"}
