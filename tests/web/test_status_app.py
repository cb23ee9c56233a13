"""The status page as served: real PVS addresses, the real listen address, the demo's mark."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import yaml

from support import start_exporter_async, target_for

CAPTURE = Path(__file__).parents[1] / "captures" / "simulator-legacy-sunvault.json"


def scrape_config(page: str) -> dict:
    code = re.search(r'<code id="scrape-config">(.*?)</code>', page, re.S)
    assert code is not None
    return yaml.safe_load(html.unescape(code.group(1)))


async def test_two_pvses_on_one_host_are_told_apart_and_the_config_names_our_port(
    make_simulator, make_exporter, http
):
    first = await make_simulator(inverters=1)
    second = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(first, name="a"), target_for(second, name="b")])
    async with http.get(f"http://127.0.0.1:{exporter.port}/") as response:
        page = await response.text()
    assert f"127.0.0.1:{first.port}" in page and f"127.0.0.1:{second.port}" in page
    jobs = {j["job_name"]: j for j in scrape_config(page)["scrape_configs"]}
    listen = f"127.0.0.1:{exporter.port}"
    assert jobs["sunpower_pvs_exporter"]["static_configs"][0]["targets"] == [listen]
    assert jobs["sunpower_pvs"]["static_configs"][0]["targets"] == ["a", "b"]
    assert jobs["sunpower_pvs"]["relabel_configs"][-1]["replacement"] == listen
    assert "9110" not in page.split('id="scrape-config"')[1].split("</code>")[0]
    assert "SIMULATED" not in page


async def fetch_status_page(tmp_path: Path, *args: str) -> str:
    """Start the real command line with ``args``, read ``/`` once it has data, stop it."""
    import aiohttp

    output = tmp_path / "output"
    process, port = await start_exporter_async(*args, output=output)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/") as response:
                        page = await response.text()
                    if 'data-up="1"' in page:
                        return page
                except aiohttp.ClientError:
                    pass
                assert process.returncode is None, output.read_text()
                await asyncio.sleep(0.1)
        raise AssertionError("the exporter never showed an UP target")
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)


async def test_the_demo_is_marked_simulated(tmp_path: Path):
    page = await fetch_status_page(tmp_path, "--demo", "--demo-inverters", "3")
    section = page[page.index('id="target-demo"') :].split("</section>")[0]
    assert "SIMULATED" in section and "simulated PVS (--demo): not a real PVS" in section
    assert re.search(r"127\.0\.0\.1:\d+", section)


async def test_a_replayed_capture_is_marked_and_shows_its_broken_inverter(tmp_path: Path):
    page = await fetch_status_page(tmp_path, "--demo", "--replay", str(CAPTURE))
    section = page[page.index('id="target-demo"') :].split("</section>")[0]
    assert "replay of the capture simulator-legacy-sunvault.json" in section
    problems = section[section.index('<table class="problems">') :]
    assert "Inverter" in problems and ">error<" in problems


async def test_a_slow_page_render_does_not_hold_up_other_requests(
    make_simulator, make_exporter, http, monkeypatch
):
    """The page is rendered in a worker thread: while a (here artificially)
    slow render runs, the event loop still answers /-/healthy."""
    import time

    from sunpower_pvs_exporter.web import status

    real_render = status.render_status_page
    rendering = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_render(*args, **kwargs):
        loop.call_soon_threadsafe(rendering.set)
        time.sleep(1.0)  # blocks whichever thread runs it
        return real_render(*args, **kwargs)

    monkeypatch.setattr(status, "render_status_page", slow_render)
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])

    async def page() -> str:
        async with http.get(f"http://127.0.0.1:{exporter.port}/") as response:
            return await response.text()

    viewing = asyncio.create_task(page())
    await asyncio.wait_for(rendering.wait(), 10)
    async with http.get(f"http://127.0.0.1:{exporter.port}/-/healthy") as response:
        assert response.status == 200
    assert not viewing.done()  # answered while the page was still being rendered
    assert "SunPower PVS Exporter" in await viewing
