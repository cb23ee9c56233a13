"""Secrets never leave the process: not in logs (even at DEBUG), pages, metrics or ``ps``.

Neither do the PVS's own: its hotspot's Wi-Fi key (``/sys/info/wpa_key``) and
SSID, its finance type, and the name of the home Wi-Fi it joined.

The real CLI runs as a subprocess with known secrets — a PVS password (file),
a wrong PVS password (environment), basic-auth credentials (bcrypt hash in the
web config), and Pushgateway credentials (file) aimed at a closed port — and
every output is searched for them. The varserver part runs when this tree has
a varserver simulator and client; the rest runs regardless.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
from datetime import UTC
from pathlib import Path

import aiohttp
import bcrypt
import yaml

from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer, free_port
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from support import NOON_UTC, parse_samples, series, start_exporter_async

PVS_SECRET = "PvsSecret-7f3a9c"
WRONG_PVS_SECRET = "WrongPvsSecret-11d2"
BASIC_SECRET = "BasicSecret-c0ffee"
WRONG_BASIC_SECRET = "WrongBasicSecret-beef"
LONG_BASIC_SECRET = "LongBasicSecret-" + "z" * 80
PUSH_SECRET = "PushSecret-4242"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def start_varserver_sim() -> SimulatorServer | None:
    """A varserver simulator with a known password, if this tree has one."""
    try:
        pvs = SimulatedPvs(
            config=SiteConfig(inverters=2, tz=UTC),
            clock=SimClock(start=NOON_UTC),
            api="varserver",
            password_override=PVS_SECRET,
        )
        server = SimulatorServer(pvs, host="127.0.0.1", port=0)
        await server.start()
    except (TypeError, ValueError, OSError, ImportError):
        return None
    if not getattr(server, "tls_port", 0):
        await server.stop()
        return None
    return server


async def test_secrets_stay_out_of_logs_pages_metrics_and_ps(tmp_path: Path) -> None:
    legacy = SimulatorServer(
        SimulatedPvs(config=SiteConfig(inverters=2, tz=UTC), clock=SimClock(start=NOON_UTC)),
        host="127.0.0.1",
        port=0,
    )
    await legacy.start()
    varserver = await start_varserver_sim()
    process: asyncio.subprocess.Process | None = None
    try:
        (tmp_path / "pvs-password").write_text(PVS_SECRET + "\n")
        (tmp_path / "push-auth").write_text(f"pushuser:{PUSH_SECRET}\n")
        hashed = bcrypt.hashpw(BASIC_SECRET.encode(), bcrypt.gensalt(rounds=4)).decode()
        (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
        targets = [
            {
                "name": "legacy",
                "host": "127.0.0.1",
                "port": legacy.port,
                "api": "legacy",
                "password_file": str(tmp_path / "pvs-password"),
                "timezone": "UTC",
            }
        ]
        if varserver is not None:
            common = {
                "host": "127.0.0.1",
                "port": varserver.tls_port,
                "use_tls": True,
                "api": "varserver",
                "timezone": "UTC",
            }
            targets.append(
                {"name": "vs-good", "password_file": str(tmp_path / "pvs-password"), **common}
            )
            targets.append({"name": "vs-bad", "password_env": "TEST_PVS_PASSWORD", **common})
        config = {
            "log_level": "DEBUG",
            "log_file": str(tmp_path / "exporter.log"),
            "web_config_file": str(tmp_path / "web.yml"),
            "push_to": f"http://127.0.0.1:{free_port()}",
            "push_auth_file": str(tmp_path / "push-auth"),
            "targets": targets,
        }
        (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            "TEST_PVS_PASSWORD": WRONG_PVS_SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("SUNPOWER_PVS_PASSWORD", None)
        output = tmp_path / "output"
        process, port = await start_exporter_async(
            "--config",
            str(tmp_path / "config.yml"),
            output=output,
            log_file=tmp_path / "exporter.log",  # as the config says too
            env=env,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        good = basic("prometheus", BASIC_SECRET)
        bodies: dict[str, str] = {}
        async with aiohttp.ClientSession() as http:
            # Wait (bounded) until every target has been polled at least once.
            names = [t["name"] for t in targets]
            for _ in range(300):
                if process.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url + "/metrics", headers=good) as response:
                        if response.status == 200:
                            samples = parse_samples(await response.text())
                            polled = {
                                labels["target"]
                                for labels, value in series(samples, "sunpower_pvs_polls_total")
                                if value >= 1
                            }
                            ups = {
                                labels["target"]: value
                                for labels, value in series(samples, "sunpower_pvs_up")
                            }
                            if (
                                set(names) <= polled
                                and ups.get("legacy") == 1.0
                                and (varserver is None or ups.get("vs-good") == 1.0)
                            ):
                                break
                await asyncio.sleep(0.1)
            assert process.returncode is None, "the exporter exited early"
            for path in ["/", "/metrics", "/-/healthy", "/nope"] + [
                f"/probe?target={n}" for n in names
            ]:
                async with http.get(url + path, headers=good) as response:
                    bodies[f"good {path}"] = await response.text()
            for password in (WRONG_BASIC_SECRET, LONG_BASIC_SECRET, ""):
                for user in ("prometheus", "nobody"):
                    async with http.get(url + "/metrics", headers=basic(user, password)) as r:
                        assert r.status == 401
                        bodies[f"401 {user}"] = await r.text()
                        bodies[f"401 headers {user}"] = str(dict(r.headers))
            async with http.get(url + "/metrics") as response:
                bodies["no auth"] = await response.text()
            cmdline = await asyncio.to_thread(Path(f"/proc/{process.pid}/cmdline").read_bytes)
            cmdline = cmdline.replace(b"\0", b" ")
            bodies["ps"] = cmdline.decode(errors="replace")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await process.wait()
        bodies["stdout and stderr"] = await asyncio.to_thread(output.read_text, "utf-8", "replace")
        log_text = await asyncio.to_thread(
            (tmp_path / "exporter.log").read_text, "utf-8", "replace"
        )
        bodies["log"] = log_text

        # The run really was at DEBUG, and really exercised the interesting paths.
        assert " DEBUG " in log_text, log_text[:2000]
        assert "basic auth failed" in log_text
        assert "sunpower_pvs_up" in bodies["good /metrics"]
        assert "legacy" in bodies["good /"]
        if varserver is not None:
            assert varserver.pvs.failed_logins >= 1, "the wrong password was never tried"
            assert varserver.pvs.logins >= 1, "the right password never logged in"

        secrets = {
            "PVS password": PVS_SECRET,
            "wrong PVS password": WRONG_PVS_SECRET,
            "basic-auth password": BASIC_SECRET,
            "wrong basic-auth password": WRONG_BASIC_SECRET,
            "long basic-auth password": LONG_BASIC_SECRET[:40],
            "bcrypt hash": hashed,
            "bcrypt hash body": hashed[7:],
            "push password": PUSH_SECRET,
            "basic-auth header": good["Authorization"].split()[1],
        }
        for user in ("ssm_owner", "installer"):
            for password in (PVS_SECRET, WRONG_PVS_SECRET):
                token = base64.b64encode(f"{user}:{password}".encode()).decode()
                secrets[f"PVS auth header {user}"] = token
        # The PVS's own: the hotspot's Wi-Fi key and names, the finance type,
        # the home Wi-Fi it joined; the exporter never even asks for the key.
        secrets["home Wi-Fi name"] = legacy.pvs.network.home_ssid
        if varserver is not None:
            network = varserver.pvs.network
            secrets["PVS hotspot Wi-Fi key"] = network.hotspot_key
            secrets["PVS hotspot Wi-Fi name"] = network.hotspot_ssid
            secrets["finance type"] = network.finance_type
            assert varserver.pvs.hotspot_key_reads == 0
            for index, token in enumerate(getattr(varserver.pvs, "sessions", {})):
                if len(token) >= 8:
                    secrets[f"varserver session {index}"] = token
        print(
            f"\nsecrets test: varserver part {'ran' if varserver is not None else 'NOT run'}; "
            f"searched {len(bodies)} outputs ({len(log_text.splitlines())} log lines) "
            f"for {len(secrets)} secrets"
        )
        leaks = [
            f"{what} in {where}"
            for what, secret in secrets.items()
            for where, text in bodies.items()
            if secret and secret in text
        ]
        assert leaks == [], leaks
    finally:
        if process is not None and process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            async with asyncio.timeout(10):
                await process.wait()
        if varserver is not None:
            await varserver.stop()
        await legacy.stop()
