"""contrib/stack: the one-command stack is checked file by file.

No container runs here (no Docker engine on the CI machines): Debian's
docker-compose validates the compose file, promtool and amtool the files
Prometheus and Alertmanager load, the exporter its own configuration, and the
Grafana provisioning files are held against the keys Grafana documents
(Grafana cannot run here). Every file the compose file mounts must be one of
the files checked, or the first test fails.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from contrib.alertmanager_config import ALERTMANAGER_DIR
from contrib.promql_names import PROMETHEUS_DIR, REPO, RULE_FILES
from e2e.monitoring_stack import require_binaries

STACK = REPO / "contrib" / "stack"
COMPOSE = STACK / "docker-compose.yml"
ENV_EXAMPLE = STACK / "env.example"
GRAFANA_DIR = REPO / "contrib" / "grafana"
PROVISIONING = STACK / "grafana" / "provisioning"
SERVICES = {"sunpower-pvs-exporter", "prometheus", "alertmanager", "grafana"}

# Each host path the compose file mounts, and the test that checks it.
CHECKED_MOUNTS = {
    STACK / "exporter.yml": "test_exporter_config_passes_check_config",
    STACK / "prometheus.yml": "test_prometheus_config_and_rules_pass_promtool",
    PROMETHEUS_DIR: "test_prometheus_config_and_rules_pass_promtool (+ test_alerts.py)",
    ALERTMANAGER_DIR / "alertmanager.yml": "test_alertmanager.py (amtool check-config)",
    ALERTMANAGER_DIR / "templates": "test_alertmanager.py (amtool template render)",
    PROVISIONING / "datasources": "test_grafana_datasource_provisioning",
    PROVISIONING / "dashboards": "test_grafana_dashboard_provisioning",
    GRAFANA_DIR: "test_dashboards.py",
    # The owner's passwords (not in git): only their presence is documented.
    STACK / "secrets": "",
    # The host's time zone database.
    Path("/usr/share/zoneinfo"): "",
}

# Keys Grafana reads from provisioning files (apiVersion 1), as documented in
# "Provision Grafana" (grafana.com/docs/grafana/latest/administration/provisioning/)
# and in its loader's yaml tags. Grafana ignores unknown keys silently, so a
# typo here would be lost without a word: hence this check.
DATASOURCE_KEYS = {
    "orgId", "orgName", "version", "name", "type", "access", "url", "user", "database",
    "basicAuth", "basicAuthUser", "withCredentials", "isDefault", "correlations", "jsonData",
    "secureJsonData", "editable", "uid",
}  # fmt: skip
PROVIDER_KEYS = {
    "name", "orgId", "folder", "folderUid", "type", "disableDeletion",
    "updateIntervalSeconds", "allowUiUpdates", "options",
}  # fmt: skip
PROVIDER_OPTION_KEYS = {"path", "foldersFromFilesStructure"}


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def defaults_in_compose() -> dict[str, str]:
    """${NAME:-default} of the compose file: what applies without a .env."""
    return dict(re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", COMPOSE.read_text()))


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(
                ((STACK / source).resolve() if source[0] == "." else Path(source), target)
            )
    return mounts


def container_path(service: str, host_path: Path) -> str:
    for source, target in bind_mounts(compose()["services"][service]):
        if source == host_path.resolve():
            return target
    raise AssertionError(f"{service} does not mount {host_path}")


def test_every_mounted_file_exists_and_is_checked():
    mounted = {
        source for service in compose()["services"].values() for source, _ in bind_mounts(service)
    }
    assert mounted == set(CHECKED_MOUNTS), "a mount without a check, or a check of nothing"
    for source, check in CHECKED_MOUNTS.items():
        if check:
            assert source.exists(), source


def test_services_images_and_loopback_defaults():
    doc = compose()
    assert set(doc["services"]) == SERVICES
    exporter = doc["services"]["sunpower-pvs-exporter"]
    assert (STACK / exporter["build"]["context"] / "Dockerfile").resolve() == REPO / "Dockerfile"
    defaults = defaults_in_compose()
    for name, service in doc["services"].items():
        if "image" in service and "build" not in service:
            # Pinned: a version, from .env or its default, never "latest".
            match = re.fullmatch(
                r"[a-z/]+:\$\{([A-Z_]+)_VERSION:-(v?\d+\.\d+\.\d+)\}", service["image"]
            )
            assert match, f"{name}: {service['image']}"
        for port in service.get("ports", []):
            address = re.match(r"\$\{([A-Z_]+):-", port)
            assert address, f"{name}: {port} does not choose its address"
            assert defaults[address[1]] == "127.0.0.1", f"{name}: {port} not on loopback"
        assert service["restart"] == "unless-stopped", name


def test_env_example_matches_the_compose_defaults():
    """.env.example shows the defaults: copying it changes nothing until edited."""
    example, defaults = env_example(), defaults_in_compose()
    assert set(example) == set(defaults)
    assert example == defaults


def test_passwords_come_from_files():
    doc = compose()
    for name, service in doc["services"].items():
        for key in service.get("environment", {}):
            assert "PASSWORD" not in key or key.endswith("__FILE"), f"{name}: {key}"
        assert "password" not in " ".join(service.get("command", [])), name
    assert {s["file"] for s in doc["secrets"].values()} == {
        "./secrets/pvs-password",
        "./secrets/grafana-admin-password",
    }
    grafana = doc["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == (
        "/run/secrets/grafana-admin-password"
    )
    exporter = doc["services"]["sunpower-pvs-exporter"]
    assert exporter["secrets"] == ["pvs-password"]
    assert "/run/secrets/pvs-password" in (STACK / "exporter.yml").read_text()
    assert (STACK / ".gitignore").read_text().split("\n")[1:3] == [".env", "secrets/"]


@pytest.mark.e2e
@pytest.mark.parametrize("env_file", [None, ENV_EXAMPLE], ids=["defaults", "env.example"])
def test_docker_compose_accepts_the_stack(env_file: Path | None, tmp_path: Path):
    binary = require_binaries("docker-compose")["docker-compose"]
    args = [binary, "--project-directory", str(STACK), "-f", str(COMPOSE)]
    if env_file is not None:
        args += ["--env-file", str(env_file)]
    # An empty env file when none is given, so a developer's own .env cannot interfere.
    else:
        (tmp_path / "empty.env").write_text("")
        args += ["--env-file", str(tmp_path / "empty.env")]
    run = subprocess.run(
        [*args, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    resolved = yaml.safe_load(run.stdout)
    assert set(resolved["services"]) == SERVICES
    for service in resolved["services"].values():
        for port in service.get("ports", []):
            published = port if isinstance(port, str) else f"{port['host_ip']}:{port['published']}"
            assert published.startswith("127.0.0.1:"), port
    prometheus = resolved["services"]["prometheus"]
    assert "--storage.tsdb.retention.time=25y" in prometheus["command"]


def promtool_check_config(text: str, directory: Path) -> tuple[dict[str, Any], str]:
    """``promtool check config`` on the stack's prometheus.yml ``text``, its rule
    glob aimed at contrib/prometheus/: the config and promtool's output."""
    promtool = require_binaries("promtool")["promtool"]
    config: dict[str, Any] = yaml.safe_load(text)
    (pattern,) = config["rule_files"]
    mounted_at = container_path("prometheus", PROMETHEUS_DIR)
    assert Path(pattern).parent == Path(mounted_at), pattern
    config["rule_files"] = [str(PROMETHEUS_DIR / Path(pattern).name)]
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    run = subprocess.run(
        [promtool, "check", "config", str(directory / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return config, run.stdout + run.stderr


@pytest.mark.e2e
def test_prometheus_config_and_rules_pass_promtool(tmp_path: Path):
    """prometheus.yml, with its rule glob aimed at contrib/prometheus/ as mounted."""
    _config, output = promtool_check_config((STACK / "prometheus.yml").read_text(), tmp_path)
    # The glob found every rule file, and promtool checked each.
    for path in RULE_FILES:
        assert f"Checking {path}" in output, path
    assert len(RULE_FILES) >= 2


def test_prometheus_talks_to_the_stack_services():
    config = yaml.safe_load((STACK / "prometheus.yml").read_text())
    (manager,) = config["alerting"]["alertmanagers"]
    assert manager["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    probe = jobs["sunpower_probe"]
    assert probe["relabel_configs"][-1]["replacement"] == "sunpower-pvs-exporter:9110"
    assert jobs["sunpower_exporter"]["static_configs"] == [
        {"targets": ["sunpower-pvs-exporter:9110"]}
    ]
    # The sites scraped are the exporter's targets, by name.
    exporter = yaml.safe_load((STACK / "exporter.yml").read_text())
    (targets,) = probe["static_configs"]
    assert targets["targets"] == [t["name"] for t in exporter["targets"]]
    # The alert SunpowerPvsExporterDown matches the stack's job names.
    assert all(name.startswith("sunpower") for name in ("sunpower_probe", "sunpower_exporter"))


def test_exporter_config_passes_check_config(tmp_path: Path):
    run = subprocess.run(
        [
            str(Path(os.sys.executable).parent / "sunpower-pvs-exporter"),
            "--config",
            str(STACK / "exporter.yml"),
            "--check-config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_grafana_datasource_provisioning():
    (path,) = sorted((PROVISIONING / "datasources").glob("*.yml"))
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == 1
    assert set(doc) == {"apiVersion", "datasources"}
    (source,) = doc["datasources"]
    assert set(source) <= DATASOURCE_KEYS, set(source) - DATASOURCE_KEYS
    assert source["type"] == "prometheus"
    assert source["access"] == "proxy"  # Grafana's server asks Prometheus, not the browser
    assert source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"]


def test_grafana_dashboard_provisioning():
    (path,) = sorted((PROVISIONING / "dashboards").glob("*.yml"))
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == 1
    assert set(doc) == {"apiVersion", "providers"}
    (provider,) = doc["providers"]
    assert set(provider) <= PROVIDER_KEYS, set(provider) - PROVIDER_KEYS
    assert set(provider["options"]) <= PROVIDER_OPTION_KEYS
    assert provider["type"] == "file"
    # The path is where the compose file mounts contrib/grafana/, and the home
    # dashboard is one of the files there.
    mounted_at = container_path("grafana", GRAFANA_DIR)
    assert provider["options"]["path"] == mounted_at
    environment = compose()["services"]["grafana"]["environment"]
    home = Path(environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home.parent == Path(mounted_at) and (GRAFANA_DIR / home.name).is_file()
    # Each dashboard picks its data source through a variable that defaults to
    # the default Prometheus data source (provisioned above).
    for dashboard in sorted(GRAFANA_DIR.glob("*.json")):
        variables = yaml.safe_load(dashboard.read_text())["templating"]["list"]
        (source,) = [v for v in variables if v["type"] == "datasource"]
        assert source["query"] == "prometheus", dashboard.name


# docs/stack.md's package install: the sed edits it makes to the stack's files
# (the compose service names become localhost), as "s/old/new/" commands.
PROMETHEUS_EDITS = [
    ("sunpower-pvs-exporter:9110", "localhost:9110"),
    ("alertmanager:9093", "localhost:9093"),
]
DATASOURCE_EDIT = ("http://prometheus:9090", "http://localhost:9090")


def test_package_install_edits_are_the_documented_ones():
    docs = (REPO / "docs" / "stack.md").read_text()
    prometheus = (STACK / "prometheus.yml").read_text()
    for old, new in PROMETHEUS_EDITS:
        assert f"s/{old}/{new}/" in docs and old in prometheus
    old, new = DATASOURCE_EDIT
    assert f"s#{old}#{new}#" in docs
    assert old in (PROVISIONING / "datasources" / "prometheus.yml").read_text()


@pytest.mark.e2e
def test_package_install_prometheus_config_passes_promtool(tmp_path: Path):
    """The stack's prometheus.yml as the package install edits it is valid, and
    talks to localhost only."""
    text = (STACK / "prometheus.yml").read_text()
    for old, new in PROMETHEUS_EDITS:
        text = text.replace(old, new)
    config, _output = promtool_check_config(text, tmp_path)
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    targets += [job["relabel_configs"][-1]["replacement"] for job in config["scrape_configs"]
                if "relabel_configs" in job]  # fmt: skip
    targets += config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    addresses = {t for t in targets if ":" in t}
    assert addresses and all(t.startswith("localhost:") for t in addresses), addresses
