"""How the telemetry is wired: built from the config, kept across reloads, refused when unusable,
and the coalescing span of a request that waited for an identical one."""

from __future__ import annotations

import asyncio

from isthmus.backends.fake import FakeBackend
from isthmus.cli import main
from isthmus.gateway import DataPlane, GatewayServer
from tests.conftest import make_config, v2_body
from tests.telemetry.helpers import traced_telemetry
from tests.waiting import until

DOC = {
    "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 1}], "cache": {"enabled": True}}],
    "backends": [{"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]}],
}


async def test_the_server_builds_its_telemetry_from_the_config_and_a_reload_keeps_it(tmp_path):
    log = tmp_path / "access.log"
    doc = {**DOC, "telemetry": {"access_log": {"enabled": True, "path": str(log)}}}
    server = GatewayServer(make_config(doc), backends={"a": FakeBackend("a")})
    assert server.telemetry.access_log is not None and server.telemetry.tracer is None
    assert type(server.dataplane) is DataPlane
    await server.start()
    reloaded = make_config({**DOC, "telemetry": {"service_name": "other"}})
    await server.apply(reloaded, "2", "reload")
    assert server.dataplane.state.config.telemetry == server.config.telemetry  # local: never reloaded
    await server.stop()  # closes the telemetry it built (the access log's file)
    assert server.telemetry.access_log._closed


async def test_tracing_on_puts_the_data_plane_and_cache_steps_in_spans():
    doc = {**DOC, "telemetry": {"tracing": {"otlp_endpoint": "http://127.0.0.1:9"}}}
    server = GatewayServer(make_config(doc), backends={"a": FakeBackend("a")})
    assert type(server.dataplane) is DataPlane and server.dataplane.traced and server.dataplane.cache.traced
    await server.stop()


def test_serve_refuses_an_access_log_it_cannot_open_naming_the_field(tmp_path, capsys):
    config = tmp_path / "gw.yaml"
    config.write_text(
        "listener: {address: '127.0.0.1:0'}\n"
        f"telemetry: {{access_log: {{enabled: true, path: {tmp_path}/missing/dir/access.log}}}}\n"
    )
    try:
        main(["serve", "--config", str(config), "--admin-address", "off"])
    except SystemExit as exc:
        assert exc.code == 1
    else:
        raise AssertionError("serve started")
    err = capsys.readouterr().err
    assert f"{config}: telemetry.access_log.path: cannot open the access log" in err


async def test_a_request_waiting_for_an_identical_ones_call_has_a_coalesced_span(http):
    telemetry, exported = traced_telemetry()
    entered, release = asyncio.Event(), asyncio.Event()

    class Slow(FakeBackend):
        async def infer(self, request, ctx):
            entered.set()
            await release.wait()
            return await super().infer(request, ctx)

    backend = Slow("a")
    server = GatewayServer(make_config(DOC), backends={"a": backend}, telemetry=telemetry)
    await server.start()
    url = f"{server.url}/v2/models/m/infer"
    first = asyncio.ensure_future(http.post(url, json=v2_body([1.0])))
    await entered.wait()
    second = asyncio.ensure_future(http.post(url, json=v2_body([1.0])))
    await until(lambda: server.dataplane.cache.coalescer.followers, "the second request to coalesce")
    release.set()
    for call in (first, second):
        response = await call
        assert response.status == 200 and response.headers["x-isthmus-cache"] == "miss"
        response.release()
    await server.stop()
    telemetry.close()
    coalesce = [s for s in exported.get_finished_spans() if s.name == "coalesce"]
    assert sorted(s.attributes["isthmus.cache.coalesced"] for s in coalesce) == [False, True]
    assert len(backend.calls) == 1
