"""Config file parsing: defaults in one place, strict keys, precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sunpower_pvs_exporter.config import ConfigError, load_config_file, parse_config

ROOT = Path(__file__).parent.parent


def parse(text: str):
    return parse_config(yaml.safe_load(text))


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        parse(text)
    return str(exc.value)


def test_minimal_file_gets_defaults():
    config = parse("targets:\n  - {name: home, host: 172.27.153.1}\n")
    (target,) = config.targets
    assert (target.port, target.api, target.poll_interval, target.timeout, target.max_age) == (
        80,
        "auto",
        120.0,
        120.0,
        360.0,
    )
    assert config.single_target is False
    assert config.listen_port == 9110


def test_defaults_section_durations_and_per_target_overrides():
    config = parse(
        """
listen_on: "127.0.0.1:9200"
poll_mode: scrape
defaults: {api: varserver, poll_interval: 45s, password_env: PVS_PW}
targets:
  - {name: a, host: pvs-a.lan}
  - {name: b, host: pvs-b.lan, api: legacy, poll_interval: 2m, use_tls: true}
"""
    )
    a, b = config.targets
    assert (a.api, a.poll_interval, a.timeout, a.password_env) == (
        "varserver",
        45.0,
        10.0,
        "PVS_PW",
    )
    assert (b.api, b.poll_interval, b.port, b.max_age) == ("legacy", 120.0, 443, 360.0)
    assert (config.listen_host, config.listen_port, config.poll_mode) == (
        "127.0.0.1",
        9200,
        "scrape",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "targets:\n  - {name: a, host: h}\n  - {name: b, host: h, api: legacy, "
            "poll_interval: 20}\n",
            "targets[1].poll_interval: must be >= 60s for the legacy API, got 20s",
        ),
        (
            "targets:\n  - {name: a, host: h, api: varserver, poll_interval: 10s}\n",
            "targets[0].poll_interval: must be >= 30s for the varserver API, got 10s",
        ),
        (
            "targets:\n  - {name: a, host: h, pol_interval: 90}\n",
            "targets[0].pol_interval: unknown",
        ),
        ("target:\n  - {name: a, host: h}\n", "target: unknown key"),
        ("targets: []\n", "targets: expected a non-empty list"),
        ("targets:\n  - {name: a}\n", "targets[0].host: missing"),
        ("targets:\n  - {name: a, host: h}\n  - {name: a, host: i}\n", "duplicate target name"),
        ("targets:\n  - {name: a, host: h, port: 0}\n", "targets[0].port: expected a port"),
        ("targets:\n  - {name: a, host: h, api: new}\n", "targets[0].api: must be one of"),
        ("targets:\n  - {name: a, host: h, use_tls: yes please}\n", "targets[0].use_tls"),
        ("targets:\n  - {name: 'a b', host: h}\n", "targets[0].name"),
        ("targets:\n  - {name: a, host: h, timeout: -3}\n", "targets[0].timeout: must be positive"),
        ("targets:\n  - {name: a, host: h, max_age: 30}\n", "targets[0].max_age: must be >="),
        (
            "targets:\n  - {name: a, host: h, password_file: /x, password_env: Y}\n",
            "targets[0].password_file: give",
        ),
        ("targets:\n  - {name: a, host: h, timezone: Nowhere/Land}\n", "targets[0].timezone"),
        ("listen_on: '::1:9110'\ntargets:\n  - {name: a, host: h}\n", "listen_on: IPv6"),
        ("poll_mode: sometimes\ntargets:\n  - {name: a, host: h}\n", "poll_mode: must be one"),
        ("defaults: {name: x}\ntargets:\n  - {name: a, host: h}\n", "defaults.name: unknown key"),
        ("- just a list\n", "config: expected a mapping"),
    ],
)
def test_errors_name_the_key_and_the_problem(text: str, message: str):
    assert message in error_of(text)


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path):
    path = tmp_path / "broken.yml"
    path.write_text("targets:\n  - name: a\n   host: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load_config_file(str(path))
    assert "line" in str(exc.value)
    assert str(path) in str(exc.value)


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError) as exc:
        load_config_file(str(tmp_path / "nope.yml"))
    assert "cannot read" in str(exc.value)


def test_shipped_example_config_is_valid():
    config = load_config_file(str(ROOT / "contrib" / "config" / "sunpower-pvs-exporter.yml"))
    assert len(config.targets) >= 2


def test_password_comes_from_file_or_env_never_the_config(tmp_path: Path, monkeypatch):
    secret = tmp_path / "pw"
    secret.write_text("A0321\n")
    config = parse(
        f"targets:\n  - {{name: a, host: h, password_file: {secret}}}\n"
        "  - {name: b, host: h, password_env: MY_PVS_PW}\n"
    )
    monkeypatch.setenv("MY_PVS_PW", "B9999")
    a, b = config.targets
    assert a.password() == "A0321"
    assert b.password() == "B9999"
    assert "A0321" not in repr(config)


@pytest.mark.parametrize("key", ["ease_off_after_reboots", "request_histograms"])
def test_a_switch_is_on_by_default_and_turned_off_per_target_or_for_all(key):
    config = parse("targets:\n  - {name: a, host: pvs-a.lan}\n")
    assert getattr(config.targets[0], key) is True
    config = parse(
        f"""
defaults: {{{key}: false}}
targets:
  - {{name: a, host: pvs-a.lan}}
  - {{name: b, host: pvs-b.lan, {key}: true}}
"""
    )
    assert [getattr(t, key) for t in config.targets] == [False, True]


# --- docs/configuration.md lists every key ------------------------------------------


def documented_keys(heading: str) -> set[str]:
    """The first-column keys of one of docs/configuration.md's key tables."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return {
        line.split("`")[1]
        for line in section.splitlines()
        if line.startswith("| `") and line.count("`") >= 2
    }


def test_every_config_key_is_in_docs_configuration_md():
    from sunpower_pvs_exporter.config import GLOBAL_KEYS, TARGET_KEYS

    assert sorted(TARGET_KEYS - documented_keys("Target keys")) == []
    assert sorted(GLOBAL_KEYS - documented_keys("Global keys")) == []
