"""The access log and degraded-backend warnings through a running gateway."""

from __future__ import annotations

import json
import logging

from isthmus.backends import BackendUnavailable
from isthmus.backends.fake import FakeBackend
from isthmus.gateway import GatewayServer
from isthmus.telemetry.access_log import AccessLog
from tests.conftest import make_config, v2_body
from tests.telemetry.helpers import plain_telemetry, traced_telemetry

DOC = {
    "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 1}]}],
    "backends": [{"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]}],
}
APP_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_one_line_per_request_with_ids_route_variant_cache_status_and_latency(tmp_path, http):
    path = tmp_path / "access.log"
    telemetry = plain_telemetry(AccessLog.open(str(path)))
    server = GatewayServer(make_config(DOC), backends={"a": FakeBackend("a")}, telemetry=telemetry)
    await server.start()
    headers = {"x-request-id": "req-1", "traceparent": f"00-{APP_TRACE}-00f067aa0ba902b7-01"}
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0]), headers=headers) as r:
        assert r.status == 200
    async with http.get(f"{server.url}/v2/nothing-here") as r:
        assert r.status == 404
    await server.stop()
    telemetry.close()
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert {k: first[k] for k in ("request_id", "trace_id", "transport", "method", "path", "route", "variant",
                                   "cache", "status", "client")} == {  # fmt: skip
        "request_id": "req-1", "trace_id": APP_TRACE, "transport": "http", "method": "POST",
        "path": "/v2/models/m/infer", "route": "m", "variant": "a", "cache": "bypass", "status": 200,
        "client": "127.0.0.1",
    }  # fmt: skip
    assert 0 < first["latency_ms"] < 10_000 and first["ts"] > 1.7e9
    assert (second["status"], second["route"], second["variant"], second["trace_id"]) == (404, None, "-", None)
    assert len(second["request_id"]) == 32


async def test_with_tracing_on_the_line_carries_the_gateways_trace_id(tmp_path, http):
    path = tmp_path / "access.log"
    telemetry, exported = traced_telemetry(access_log=AccessLog.open(str(path)))
    server = GatewayServer(make_config(DOC), backends={"a": FakeBackend("a")}, telemetry=telemetry)
    await server.start()
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        assert r.status == 200
    await server.stop()
    telemetry.close()
    (line,) = (json.loads(x) for x in path.read_text().splitlines())
    (ingress,) = [s for s in exported.get_finished_spans() if s.name.startswith("POST /v2")]
    assert line["trace_id"] == format(ingress.context.trace_id, "032x")


async def test_a_failing_backend_is_warned_about_once_per_interval(http, caplog):
    telemetry = plain_telemetry()
    server = GatewayServer(
        make_config(DOC), backends={"a": FakeBackend("a", error=BackendUnavailable("a", "refused"))}, telemetry=telemetry
    )
    await server.start()
    with caplog.at_level(logging.WARNING, "isthmus.degraded"):
        for _ in range(20):
            async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
                assert r.status == 503
    await server.stop()
    telemetry.close()
    warned = [r.getMessage() for r in caplog.records if r.name == "isthmus.degraded"]
    assert warned == ["backend 'a' is unavailable: refused"]
