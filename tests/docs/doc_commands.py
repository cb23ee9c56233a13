"""The commands the docs show, as a reader would copy them (issue 22, item 6).

Every ``sunpower-pvs-exporter``, ``sunpower-pvs-simulator``, ``curl`` and
``promtool`` command in README.md, SECURITY.md and docs/*.md: each line of a
shell code block, split at ``&&``, ``|`` and ``;``, and each inline code span
that starts with one of those programs. tests/docs/test_doc_commands_parse.py
parses every exporter and simulator command with the program's own parser;
tests/e2e/test_doc_commands.py runs them against simulated PVSes on loopback.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from docs.markdown import REPO, code_blocks, doc_pages, prose

PROGRAMS = ("sunpower-pvs-exporter", "sunpower-pvs-simulator", "curl", "promtool")
SHELL_BLOCKS = {"sh", "bash", "shell", "console", ""}
SEPARATORS = {"&&", "||", "|", ";", "&"}
# Synopses in prose ("`capture --output FILE [flags]`"): the metavariable stands for
# a value of this shape, and "[flags]" for the flags documented beside it.
PLACEHOLDERS = {"FILE": "capture.json", "NAME": "home", "HOST": "127.0.0.1"}


@dataclass(frozen=True)
class DocCommand:
    page: str  # relative to the repository
    line: int
    shown: str  # the command as the page shows it
    argv: tuple[str, ...]  # placeholders filled in, comments and redirections dropped

    @property
    def program(self) -> str:
        return program_of(self.argv[0])

    @property
    def key(self) -> tuple[str, str]:
        """What the skip-list names: the page and the command as shown."""
        return (self.page, self.shown)

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.shown}"


def program_of(word: str) -> str:
    """``.venv/bin/sunpower-pvs-exporter`` and ``sunpower-pvs-exporter`` are the
    program; ``/opt/sunpower-pvs-exporter`` (a directory) is not."""
    name = word.rsplit("/", 1)[-1]
    if "/" in word and not word.rsplit("/", 1)[0].endswith("bin"):
        return ""
    return name


def simple_commands(line: str) -> list[tuple[str, list[str]]]:
    """(text, argv) of each simple command of a shell line, comments and
    redirections dropped, ``sudo`` and ``VAR=value`` prefixes removed."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:
        return []
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    found = []
    for argv in commands:
        cleaned: list[str] = []
        skip_next = False
        for token in argv:
            if skip_next:
                skip_next = False
            elif token in {">", ">>", "<", "2>"}:
                skip_next = True
            else:
                cleaned.append(token)
        while cleaned and (cleaned[0] == "sudo" or re.fullmatch(r"\w+=.*", cleaned[0])):
            cleaned.pop(0)
        if cleaned:
            found.append((shlex.join(cleaned), cleaned))
    return found


def fill_placeholders(argv: list[str]) -> list[str]:
    return [PLACEHOLDERS.get(word, word) for word in argv if word != "[flags]"]


def block_commands(page: Path) -> list[DocCommand]:
    found = []
    for block in code_blocks(page):
        if block.info not in SHELL_BLOCKS:
            continue
        lines = block.text.split("\n")
        number = 0
        while number < len(lines):
            first = number
            text = lines[number]
            while text.endswith("\\") and number + 1 < len(lines):
                number += 1
                text = text[:-1] + " " + lines[number].strip()
            number += 1
            for shown, argv in simple_commands(text):
                if program_of(argv[0]) in PROGRAMS:
                    relative = str(page.relative_to(REPO))
                    line = block.line + 1 + first
                    found.append(DocCommand(relative, line, shown, tuple(argv)))
    return found


def inline_commands(page: Path) -> list[DocCommand]:
    """Code spans in the prose that are a command with at least one argument
    (a bare program name is a name, not a command)."""
    found = []
    text = prose(page)
    for match in re.finditer(r"`([^`\n]+)`", text):
        try:
            argv = shlex.split(match.group(1))
        except ValueError:
            continue
        if len(argv) > 1 and program_of(argv[0]) in PROGRAMS and argv[0] in PROGRAMS:
            line = text.count("\n", 0, match.start()) + 1
            relative = str(page.relative_to(REPO))
            found.append(DocCommand(relative, line, match.group(1), tuple(fill_placeholders(argv))))
    return found


def doc_commands() -> list[DocCommand]:
    """Every command shown, in page order; the same command shown twice on a
    page counts once."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    result = []
    for page in doc_pages():
        for command in block_commands(page) + inline_commands(page):
            if (command.page, command.argv) not in seen:
                seen.add((command.page, command.argv))
                result.append(command)
    return result
