"""Every exporter config file the docs show (a YAML block with ``targets:``) is
one the exporter accepts, key for key (issue 22, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from docs.markdown import REPO, CodeBlock, code_blocks, doc_pages
from sunpower_pvs_exporter.config import load_config_file


def config_blocks() -> list[CodeBlock]:
    found = []
    for page in doc_pages():
        for block in code_blocks(page):
            if block.info in ("yaml", "yml"):
                data = yaml.safe_load(block.text)
                if isinstance(data, dict) and "targets" in data:
                    found.append(block)
    return found


def test_the_docs_show_config_files():
    pages = {block.path.name for block in config_blocks()}
    assert {"varserver.md", "configuration.md"} <= pages


@pytest.mark.parametrize(
    "block",
    [pytest.param(b, id=f"{b.path.relative_to(REPO)}:{b.line}") for b in config_blocks()],
)
def test_every_config_shown_is_accepted(block: CodeBlock, tmp_path: Path):
    path = tmp_path / "config.yml"
    path.write_text(block.text + "\n")
    config = load_config_file(str(path))  # a ConfigError names the key
    assert [target.name for target in config.targets]
