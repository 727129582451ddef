"""The result cache through a real gateway (real HTTP) to a counting backend, with a real Redis as L2."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from isthmus.gateway import GatewayServer
from tests.cache.redis_server import RedisServer, running_redis
from tests.conftest import v2_body
from tests.servers.counting import Counting, make_app
from tests.waiting import until

TENANT = "x-tenant"
VARIANT = "x-isthmus-variant"


@dataclass
class Reply:
    status: int
    cache: str | None
    backend: str | None
    doc: Any

    @property
    def call(self) -> int:
        """Which backend call produced this answer (the counting backend numbers them)."""
        return self.doc["parameters"]["call"]


async def post(http: aiohttp.ClientSession, gw: GatewayServer, body: Any, headers: dict | None = None,
               model: str = "m") -> Reply:
    data = body if isinstance(body, bytes | str) else orjson.dumps(body)
    async with http.post(f"{gw.url}/v2/models/{model}/infer", data=data,
                         headers={"content-type": "application/json", **(headers or {})}) as r:
        return Reply(r.status, r.headers.get("x-isthmus-cache"), r.headers.get("x-isthmus-backend"),
                     orjson.loads(await r.read()))


def config(backend_url: str, redis: dict | None, **route_cache: Any) -> dict:
    return {
        "cache": {"redis": redis, "tenant_header": TENANT},
        "backends": [
            {"name": "m-v1", "protocol": "kserve-v2", "endpoints": [backend_url], "model": "m", "timeout": "5s"},
            {"name": "m-v2", "protocol": "kserve-v2", "endpoints": [backend_url], "model": "m", "timeout": "5s"},
        ],
        "routes": [{
            "model": "m",
            "variants": [{"backend": "m-v1", "weight": 100}, {"backend": "m-v2", "weight": 0}],
            "override_header": VARIANT,
            "cache": {"enabled": True, **route_cache},
        }],
    }


@pytest.fixture
def redis_server():
    with running_redis() as server:
        yield server


@pytest.fixture
async def counting(serve_app):
    c = Counting()
    c.url = await serve_app(make_app(c))  # type: ignore[attr-defined]
    return c


def redis_cfg(server: RedisServer, **extra: Any) -> dict:
    return {"url": server.url, "timeout": "50ms", **extra}


async def test_miss_hit_and_bypass(gateway, http, counting, redis_server):
    gw = await gateway(config(counting.url, redis_cfg(redis_server)))
    body = v2_body([1, 2, 3])
    first = await post(http, gw, body)
    assert (first.status, first.cache, first.backend) == (200, "miss", "m-v1")
    assert first.doc["outputs"][0]["data"] == [2.0, 4.0, 6.0]
    again = await post(http, gw, body)
    assert (again.status, again.cache, again.backend) == (200, "hit", "m-v1")
    assert again.doc["outputs"] == first.doc["outputs"] and again.call == first.call == 1
    assert counting.calls == 1
    assert int(redis_server.cli("dbsize")) == 1  # stored in Redis too

    no_cache = await post(http, gw, body, {"cache-control": "no-cache"})
    assert (no_cache.status, no_cache.cache, no_cache.call) == (200, "bypass", 2)
    no_store = await post(http, gw, body, {"Cache-Control": "max-age=0, no-store"})
    assert (no_store.status, no_store.cache, no_store.call) == (200, "bypass", 3)
    assert counting.calls == 3
    after = await post(http, gw, body)  # no-cache refreshed the entry; no-store left it alone
    assert (after.cache, after.call) == ("hit", 2)


async def test_a_second_gateway_hits_through_redis(gateway, http, counting, redis_server):
    a = await gateway(config(counting.url, redis_cfg(redis_server)))
    b = await gateway(config(counting.url, redis_cfg(redis_server)))
    body = v2_body([5, 6])
    assert (await post(http, a, body)).cache == "miss"
    from_b = await post(http, b, body)
    assert (from_b.cache, from_b.call, counting.calls) == ("hit", 1, 1)
    assert b.dataplane.cache.stats["hit_l2"] == 1
    assert (await post(http, b, body)).cache == "hit"
    assert b.dataplane.cache.stats["hit_l1"] == 1


async def test_reordered_json_and_respelled_numbers_hit(gateway, http, counting, redis_server):
    gw = await gateway(config(counting.url, redis_cfg(redis_server)))
    first = await post(http, gw, '{"inputs":[{"name":"input-0","datatype":"FP32","shape":[1,3],"data":[1,2,3]}],'
                                 '"parameters":{"a":1,"b":"x"}}')
    assert first.cache == "miss"
    spellings = [
        '{"parameters":{"b":"x","a":1.0},"inputs":[{"data":[1.0,2.0,3.0],"shape":[1,3],"datatype":"FP32",'
        '"name":"input-0"}]}',
        '{\n  "inputs": [ { "name": "input-0", "shape": [1, 3], "datatype": "FP32", "data": [[1e0, 0.2e1, 3.000]] } ],'
        '\n  "parameters": { "a": 1, "b": "x" }, "id": "another-request-id"\n}',
    ]
    for text in spellings:
        r = await post(http, gw, text)
        assert (r.status, r.cache, r.call) == (200, "hit", 1), text
    different = await post(http, gw, '{"inputs":[{"name":"input-0","datatype":"FP32","shape":[1,3],"data":[1,2,3]}],'
                                     '"parameters":{"a":2,"b":"x"}}')
    assert different.cache == "miss"
    assert counting.calls == 2


async def test_variants_and_tenants_never_share(gateway, http, counting, redis_server):
    gw = await gateway(config(counting.url, redis_cfg(redis_server)))
    body = v2_body([7.0])
    assert (await post(http, gw, body)).cache == "miss"
    pinned = await post(http, gw, body, {VARIANT: "m-v2"})
    assert (pinned.cache, pinned.backend) == ("miss", "m-v2")
    pinned_again = await post(http, gw, body, {VARIANT: "m-v2"})
    assert (pinned_again.cache, pinned_again.backend, pinned_again.call) == ("hit", "m-v2", pinned.call)
    v1_again = await post(http, gw, body, {VARIANT: "m-v1"})
    assert (v1_again.cache, v1_again.backend, v1_again.call) == ("hit", "m-v1", 1)

    acme = await post(http, gw, body, {TENANT: "acme"})
    globex = await post(http, gw, body, {TENANT: "globex"})
    assert (acme.cache, globex.cache) == ("miss", "miss")
    assert len({acme.call, globex.call, 1}) == 3
    assert (await post(http, gw, body, {TENANT: "acme"})).call == acme.call
    assert (await post(http, gw, body, {TENANT: "globex"})).call == globex.call
    assert counting.calls == 4
    assert int(redis_server.cli("dbsize")) == 4


async def test_entries_expire_after_the_route_ttl_in_both_tiers(gateway, http, counting, redis_server):
    a = await gateway(config(counting.url, redis_cfg(redis_server), ttl="400ms"))
    b = await gateway(config(counting.url, redis_cfg(redis_server), ttl="400ms"))
    body = v2_body([9.0])
    assert (await post(http, a, body)).cache == "miss"
    (key,) = redis_server.cli("--scan", "--pattern", "isthmus:*").split()
    assert 0 < int(redis_server.cli("pttl", key)) <= 400
    assert (await post(http, a, body)).cache == "hit"
    await asyncio.sleep(0.5)
    assert int(redis_server.cli("exists", key)) == 0
    assert (await post(http, a, body)).cache == "miss"  # L1 expired too
    assert (await post(http, b, body)).cache == "hit"  # a's fresh answer, through Redis
    assert counting.calls == 2


async def test_oversize_answers_are_not_stored(gateway, http, counting, redis_server):
    gw = await gateway(config(counting.url, redis_cfg(redis_server), max_entry_size="4KiB"))
    big = {**v2_body([1.0]), "parameters": {"pad": 5000}}
    small = {**v2_body([1.0]), "parameters": {"pad": 3000}}
    assert [(await post(http, gw, big)).cache for _ in range(3)] == ["miss"] * 3
    assert counting.calls == 3
    assert int(redis_server.cli("dbsize")) == 0
    assert gw.dataplane.cache.stats["oversize"] == 3
    assert [(await post(http, gw, small)).cache for _ in range(2)] == ["miss", "hit"]
    assert int(redis_server.cli("dbsize")) == 1


async def test_200_concurrent_identical_requests_make_one_backend_call(gateway, counting, redis_server):
    counting.delay = 0.3
    gw = await gateway(config(counting.url, redis_cfg(redis_server)))
    body = orjson.dumps(v2_body([4.0, 2.0]))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        replies = await asyncio.gather(*(post(http, gw, body) for _ in range(200)))
    assert {r.status for r in replies} == {200}
    assert counting.calls == 1
    assert {r.call for r in replies} == {1}
    assert {r.doc["outputs"][0]["data"] == [8.0, 4.0] for r in replies} == {True}
    stats = gw.dataplane.cache.stats
    assert stats["coalesced"] + 1 + stats["hit_l1"] == 200


async def test_redis_killed_under_load_then_restarted(gateway, counting, redis_server, caplog):
    """SIGKILL Redis while 8 clients send 400 requests: every answer is 200; the restart is picked up."""
    a = await gateway(config(counting.url, redis_cfg(redis_server)))
    b = await gateway(config(counting.url, redis_cfg(redis_server)))
    bodies = [orjson.dumps(v2_body([float(i)])) for i in range(160)]  # misses keep coming after the kill
    statuses: list[int] = []
    caches: list[str | None] = []
    sent = 0

    async def client(http: aiohttp.ClientSession, n: int) -> None:
        nonlocal sent
        for i in range(50):
            gw = a if (n + i) % 2 else b
            r = await post(http, gw, bodies[(n * 50 + i) % len(bodies)])
            statuses.append(r.status)
            caches.append(r.cache)
            sent += 1

    async def killer() -> None:
        await until(lambda: sent >= 100, "100 answers before the kill", 60, interval=0.001)
        redis_server.kill()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(killer(), *(client(http, n) for n in range(8)))
    assert len(statuses) == 400
    assert statuses.count(200) == 400, {s: statuses.count(s) for s in set(statuses)}
    assert caches.count("hit") > 0 and caches.count("miss") > 0
    for gw in (a, b):
        cache = gw.dataplane.cache
        assert cache.stats["redis_errors"] >= 1
        assert cache.redis_health.degraded and cache.redis_health.episodes == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "isthmus.cache"]
    assert len([w for w in warnings if "unavailable" in w]) == 2  # once per gateway, not once per request

    redis_server.start()
    fresh = iter(range(1000, 2000))  # a new body each time: a hit can only come from Redis, never from L1
    async with aiohttp.ClientSession() as http:
        # past the back-off after the last failure (1 s), a's misses store through Redis again
        async def a_stores() -> bool:
            await post(http, a, v2_body([float(next(fresh))]))
            return int(await asyncio.to_thread(redis_server.cli, "dbsize")) >= 1

        async def b_hits_what_a_stored() -> bool:  # and b, past its own back-off, reads them
            body = v2_body([float(next(fresh))])
            assert (await post(http, a, body)).cache == "miss"
            return (await post(http, b, body)).cache == "hit"

        await until(a_stores, "gateway a storing through Redis once it is back", 6.1, interval=0.05)
        await until(b_hits_what_a_stored, "gateway b hitting a's answer through Redis", 6.1, interval=0.05)
    assert int(redis_server.cli("dbsize")) >= 1
    assert not a.dataplane.cache.redis_health.degraded
    assert b.dataplane.cache.stats["hit_l2"] >= 1
