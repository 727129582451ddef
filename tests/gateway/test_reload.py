"""Live config changes (GatewayServer.apply): atomic, nothing dropped, backends reused or retired."""

import asyncio
from collections import Counter

import orjson
import pytest

from isthmus.config import ConfigError
from tests.conftest import make_config, v2_body
from tests.servers import scripted
from tests.waiting import until

BODY = orjson.dumps(v2_body([1.0]))


def two_backends(url_a, url_b, wa, wb, timeout="2s"):
    return {
        "backends": [
            {"name": "a", "protocol": "kserve-v2", "endpoints": [url_a], "timeout": timeout},
            {"name": "b", "protocol": "kserve-v2", "endpoints": [url_b], "timeout": timeout},
        ],
        "routes": [{"model": "m", "variants": [{"backend": "a", "weight": wa}, {"backend": "b", "weight": wb}]}],
    }


async def test_twenty_changes_under_load_drop_nothing(gateway, http, serve_app):
    url_a = await serve_app(scripted.make_app(scripted.Script("m")))
    url_b = await serve_app(scripted.make_app(scripted.Script("m")))
    server = await gateway(two_backends(url_a, url_b, 1, 0))
    statuses: Counter = Counter()
    seen: Counter = Counter()
    stop = asyncio.Event()

    async def client():
        while not stop.is_set():
            async with http.post(server.url + "/v2/models/m/infer", data=BODY) as r:
                statuses[r.status] += 1
                seen[r.headers["x-isthmus-backend"]] += 1

    tasks = [asyncio.create_task(client()) for _ in range(8)]

    async def some_answered() -> None:  # every generation serves a few requests before the next change
        answered = statuses.total()
        await until(lambda: statuses.total() >= answered + 8, "8 more answers")

    for i in range(20):
        await some_answered()
        weights = (1, 0) if i % 2 else (0, 1)
        await server.apply(make_config(two_backends(url_a, url_b, *weights)), str(i + 2), "test")
    await some_answered()
    stop.set()
    await asyncio.gather(*tasks)
    assert set(statuses) == {200}, statuses
    assert seen["a"] > 0 and seen["b"] > 0
    assert server.dataplane.state.version == "21"
    # weights-only changes keep the very same backend clients (no new pools)
    assert server.dataplane.state.backends["a"] is server._backends["a"]


async def test_in_flight_request_finishes_on_its_generation(gateway, http, serve_app):
    slow = scripted.Script("m", delay=0.5)
    url_a = await serve_app(scripted.make_app(slow))
    url_b = await serve_app(scripted.make_app(scripted.Script("m")))
    server = await gateway(two_backends(url_a, url_b, 1, 0, timeout="1s"))
    old_a = server.dataplane.state.backends["a"]

    async def call():
        async with http.post(server.url + "/v2/models/m/infer", data=BODY) as r:
            return r.status, r.headers["x-isthmus-backend"]

    pending = asyncio.create_task(call())
    await until(lambda: slow.calls, "the request to be waiting on backend a")
    new = {"backends": [{"name": "b", "protocol": "kserve-v2", "endpoints": [url_b]}],
           "routes": [{"model": "m", "variants": [{"backend": "b", "weight": 1}]}]}
    await server.apply(make_config(new), "2", "test")
    assert await call() == (200, "b")
    assert await pending == (200, "a")  # a was retired, but only after its request finished
    assert "a" not in server.dataplane.state.backends
    assert len(server._retiring) == 1 and old_a.transport._pools  # closed only after the grace period


async def test_a_generation_that_cannot_start_leaves_the_old_one_serving(gateway, http, serve_app, tmp_path):
    url_a = await serve_app(scripted.make_app(scripted.Script("m")))
    server = await gateway(two_backends(url_a, url_a, 1, 1))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    bad = {"backends": [{"name": "x", "protocol": "onnx", "model_path": str(broken)}],
           "routes": [{"model": "m", "variants": [{"backend": "x", "weight": 1}]}]}
    with pytest.raises(ConfigError, match="cannot start backend 'x'"):
        await server.apply(make_config(bad), "2", "test")
    assert server.dataplane.state.version == "1"
    async with http.post(server.url + "/v2/models/m/infer", data=BODY) as r:
        assert r.status == 200
