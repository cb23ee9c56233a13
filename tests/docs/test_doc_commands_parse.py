"""Every exporter and simulator command the docs show parses with the program's
own parser: a renamed or removed flag fails here, in the quick loop, before
tests/e2e/test_doc_commands.py runs them (issue 22, item 6)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re

import pytest

from docs.doc_commands import DocCommand, block_commands, doc_commands, simple_commands
from docs.markdown import doc_pages, prose

OURS = ("sunpower-pvs-exporter", "sunpower-pvs-simulator")


def parser_for(argv: tuple[str, ...]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser the program itself uses for this command line, and its arguments."""
    args = list(argv[1:])
    if DocCommand("", 0, "", argv).program == "sunpower-pvs-simulator":
        from sunpower_pvs_exporter.simulator.cli import build_parser

        return build_parser(), args
    if args[:1] == ["init"]:
        from sunpower_pvs_exporter.cli.init_command import build_parser as init_parser

        return init_parser(), args[1:]
    if args[:1] in (["check"], ["capture"]):
        from sunpower_pvs_exporter.cli.subcommands import build_parser as sub_parser

        return sub_parser(args[0]), args[1:]
    from sunpower_pvs_exporter.cli.serve import build_parser as serve_parser

    return serve_parser(), args


OUR_COMMANDS = [c for c in doc_commands() if c.program in OURS]


def test_the_walk_finds_the_commands_of_every_kind():
    shown = {(c.page, c.shown) for c in doc_commands()}
    assert ("README.md", ".venv/bin/sunpower-pvs-exporter --demo") in shown  # in a && chain
    assert ("README.md", ".venv/bin/sunpower-pvs-exporter init") in shown
    assert ("docs/troubleshooting.md", "sunpower-pvs-exporter check --demo") in shown
    assert ("docs/configuration.md", "curl -X POST http://HOST:9110/-/reload") in shown
    assert ("docs/monitoring.md", "promtool check rules *.yml") in shown
    assert len(OUR_COMMANDS) >= 25
    pages = {c.page for c in OUR_COMMANDS}
    assert {"README.md", "docs/troubleshooting.md", "docs/varserver.md"} <= pages


def test_shell_lines_are_split_as_a_shell_would():
    assert simple_commands("a && sudo b --x 'y z' | c > /dev/null  # note") == [
        ("a", ["a"]),
        ("b --x 'y z'", ["b", "--x", "y z"]),
        ("c", ["c"]),
    ]
    assert simple_commands("X=1 promtool check config p.yml") == [
        ("promtool check config p.yml", ["promtool", "check", "config", "p.yml"])
    ]


def test_a_continued_line_is_one_command(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("```sh\nsunpower-pvs-exporter check \\\n  --demo   # try it\n```\n")
    monkeypatch.setattr("docs.doc_commands.REPO", tmp_path)
    (command,) = block_commands(page)
    assert (command.line, command.argv) == (2, ("sunpower-pvs-exporter", "check", "--demo"))


@pytest.mark.parametrize("command", [pytest.param(c, id=str(c)) for c in OUR_COMMANDS])
def test_every_shown_command_parses(command: DocCommand):
    parser, args = parser_for(command.argv)
    out, err = io.StringIO(), io.StringIO()
    code: object = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            parser.parse_args(args)
    except SystemExit as exc:  # --help and --version exit 0 after printing
        code = exc.code
    assert code is None or (code == 0 and args in (["--help"], ["--version"])), (
        f"{command}: exit {code}: {err.getvalue().strip()}"
    )


# Flags the docs show that belong to other programs, and whose they are.
OTHER_PROGRAMS_FLAGS = {
    "--autostash": "git pull",
    "--enable-feature": "prometheus",
    "--web.enable-lifecycle": "prometheus",
    "--web.enable-remote-write-receiver": "prometheus",
    "--no-scrape.adjust-timestamps": "prometheus (a hidden flag; e2e/test_sharding.py uses it)",
    "--offline": "systemd-analyze security",
}


def our_flags() -> str:
    """Every help text of ours: a flag is ours when one of them lists it."""
    from sunpower_pvs_exporter.cli.init_command import build_parser as init_parser
    from sunpower_pvs_exporter.cli.serve import build_parser as serve_parser
    from sunpower_pvs_exporter.cli.subcommands import build_parser as sub_parser
    from sunpower_pvs_exporter.simulator.cli import build_parser as simulator_parser

    parsers = [serve_parser(), init_parser(), sub_parser("check"), sub_parser("capture")]
    return "\n".join(p.format_help() for p in [*parsers, simulator_parser()])


def someone_elses(span: str) -> bool:
    """`git pull --autostash`, `benchmarks/attack.py --only x`: another program's
    command line, whose flags are its own."""
    first = span.split(maxsplit=1)[0] if span.strip() else ""
    return not first.startswith("-") and first not in OURS and "--" in span


def test_every_flag_named_in_the_prose_exists():
    """A flag in a table or a sentence (`--poll-interval SECONDS`, or in one of
    our command lines) is one the program lists in its --help, or another
    program's, named above."""
    helps = our_flags()
    unknown = {}
    for page in doc_pages():
        for span in re.findall(r"`([^`\n]*)`", prose(page)):
            if someone_elses(span):
                continue
            for flag in re.findall(r"(?<![\w-])(--[a-z][\w.-]*[\w])", span):
                ours = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w.-])", helps)
                if not ours and flag not in OTHER_PROGRAMS_FLAGS:
                    unknown.setdefault(flag, []).append(page.name)
    assert unknown == {}
    assert "--web.max-connections" in helps and "--scan" in helps  # the walk has work to do


def test_another_programs_command_line_is_its_own_business():
    assert someone_elses("benchmarks/attack.py --only connection-rate")
    assert someone_elses("git pull --autostash")
    assert not someone_elses("--poll-interval SECONDS")
    assert not someone_elses("sunpower-pvs-exporter check --format json")
