"""The admin handler over a fake AdminSources: each endpoint, 404/405, errors as JSON; then over a real socket."""

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from isthmus.admin import AdminServer, Readiness, Scrape
from isthmus.admin.handlers import ENDPOINTS, AdminHandler, is_loopback
from isthmus.admin.server import split_address
from isthmus.gateway.http_types import Headers, Request

EXPOSITION = b"""# HELP isthmus_requests_total Requests.
# TYPE isthmus_requests_total counter
isthmus_requests_total{model="m",variant="a"} 3.0
"""


@dataclass
class FakeSources:
    readiness_value: Readiness = Readiness(True)
    scrape: Scrape | None = Scrape(EXPOSITION, "text/plain; version=0.0.4; charset=utf-8")
    dump: dict[str, Any] = field(default_factory=lambda: {"version": "7", "config": {"routes": []}})
    fail: bool = False
    accepts: list[str | None] = field(default_factory=list)

    def readiness(self) -> Readiness:
        return self.readiness_value

    def metrics(self, accept: str | None) -> Scrape | None:
        self.accepts.append(accept)
        return self.scrape

    def config_dump(self) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("boom")
        return self.dump


def get(path: str, method: str = "GET") -> Request:
    return Request(method, path, Headers(), b"")


async def test_ready_is_200_when_ready_and_503_with_every_reason_when_not():
    sources = FakeSources()
    handler = AdminHandler(sources)
    r = await handler(get("/ready"))
    assert r.status == 200 and orjson.loads(r.body) == {"ready": True}
    sources.readiness_value = Readiness(False, ("starting: x", "no config yet: y"))
    r = await handler(get("/ready"))
    assert r.status == 503
    assert orjson.loads(r.body) == {
        "ready": False,
        "reasons": ["starting: x", "no config yet: y"],
        "error": "not ready: starting: x; no config yet: y",
    }


async def test_live_answers_200():
    r = await AdminHandler(FakeSources(readiness_value=Readiness(False, ("x",))))(get("/live"))
    assert r.status == 200 and orjson.loads(r.body) == {"live": True}


async def test_metrics_pass_the_exposition_and_its_content_type_through():
    sources = FakeSources()
    r = await AdminHandler(sources)(Request("GET", "/metrics", Headers({"accept": "application/openmetrics-text"}), b""))
    assert sources.accepts == ["application/openmetrics-text"]
    assert r.status == 200 and r.body == EXPOSITION
    assert r.content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"


async def test_metrics_when_telemetry_is_off_is_a_404_saying_so():
    r = await AdminHandler(FakeSources(scrape=None))(get("/metrics"))
    assert r.status == 404 and "exports no metrics" in orjson.loads(r.body)["error"]


async def test_config_dump_is_the_sources_dump_as_json():
    r = await AdminHandler(FakeSources())(get("/config_dump"))
    assert r.status == 200 and r.content_type == "application/json"
    assert orjson.loads(r.body) == {"version": "7", "config": {"routes": []}}


async def test_index_lists_every_endpoint():
    r = await AdminHandler(FakeSources())(get("/"))
    assert r.status == 200 and set(orjson.loads(r.body)["endpoints"]) == {"/", "/ready", "/live", "/metrics", "/config_dump"}


async def test_unknown_path_is_404_naming_the_endpoints():
    r = await AdminHandler(FakeSources())(get("/stats"))
    assert r.status == 404
    message = orjson.loads(r.body)["error"]
    assert message.startswith("no such admin endpoint: /stats") and "/config_dump" in message


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_mutating_methods_are_405_with_allow(method):
    r = await AdminHandler(FakeSources())(get("/config_dump", method))
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD"
    assert "read-only" in orjson.loads(r.body)["error"]


async def test_a_failing_source_is_a_500_json_error_and_the_rest_still_answers():
    handler = AdminHandler(FakeSources(fail=True))
    r = await handler(get("/config_dump"))
    assert r.status == 500 and "boom" in orjson.loads(r.body)["error"]
    assert (await handler(get("/live"))).status == 200


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("10.1.2.3", False), ("::", False), ("admin.example", False),
])  # fmt: skip
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:9901", ("127.0.0.1", 9901)), ("[::1]:0", ("::1", 0)), ("localhost:80", ("localhost", 80)),
])  # fmt: skip
def test_split_address(address, expected):
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["9901", ":9901", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"])
def test_split_address_refuses_what_is_not_host_port(address):
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        split_address(address)


async def test_over_a_real_socket(http):
    server = AdminServer("127.0.0.1:0", FakeSources(readiness_value=Readiness(False, ("starting: x",))))
    await server.start()
    try:
        assert server.port and server.url == f"http://127.0.0.1:{server.port}"
        async with http.get(server.url + "/ready") as r:
            assert r.status == 503 and (await r.json())["reasons"] == ["starting: x"]
        async with http.get(server.url + "/metrics?name[]=x") as r:  # a query string is ignored
            assert r.status == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
            families = list(text_string_to_metric_families(await r.text()))
        assert [(f.name, f.type) for f in families] == [("isthmus_requests", "counter")]
        async with http.head(server.url + "/config_dump") as r:
            assert r.status == 200 and await r.read() == b""
        async with http.post(server.url + "/config_dump", data=b"{}") as r:
            assert r.status == 405 and r.headers["allow"] == "GET, HEAD"
            assert "error" in await r.json()
        async with http.get(server.url + "/nope") as r:
            assert r.status == 404 and "no such admin endpoint" in (await r.json())["error"]
    finally:
        await server.stop()
    assert set(ENDPOINTS) >= {"/ready", "/live", "/metrics", "/config_dump"}


@pytest.mark.parametrize(
    "host, status",
    [
        ("127.0.0.1:9901", 200), ("localhost:9901", 200), ("localhost", 200), ("[::1]:9901", 200),
        (None, 200),  # HTTP/1.0 without Host
        ("evil.example:9901", 403), ("evil.example", 403), ("10.0.0.5:9901", 403), ("[2001:db8::1]:9901", 403),
    ],
)  # fmt: skip
async def test_bound_to_loopback_only_requests_to_a_loopback_host_are_answered(host, status):
    headers = Headers() if host is None else Headers({"host": host})
    r = await AdminHandler(FakeSources(), loopback_hosts_only=True)(Request("GET", "/config_dump", headers, b""))
    assert r.status == status
    if status == 403:
        assert "loopback host only" in orjson.loads(r.body)["error"]
    r = await AdminHandler(FakeSources())(Request("GET", "/config_dump", headers, b""))  # bound beyond loopback
    assert r.status == 200


async def test_dns_rebinding_is_refused_over_a_real_socket(http):
    server = AdminServer("127.0.0.1:0", FakeSources())
    await server.start()
    try:
        async with http.get(server.url + "/config_dump", headers={"Host": f"attacker.example:{server.port}"}) as r:
            assert r.status == 403
        async with http.get(server.url + "/config_dump") as r:
            assert r.status == 200
    finally:
        await server.stop()
