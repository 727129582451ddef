"""The Redis L2 behind a real Sentinel: a master, its replica and one Sentinel (the same redis-server binary).

The gateway is given only the Sentinel's address and the service name; it finds the master through
Sentinel, keeps answering (failing open) while the master is SIGKILLed and Sentinel promotes the
replica, then stores and hits through the new master without being restarted.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from redis.asyncio.sentinel import SentinelConnectionPool

from isthmus.cache.redis_tier import connect
from isthmus.config.model import RedisConfig
from tests.conftest import v2_body
from tests.integration.redis_sentinel import SERVICE, SentinelSet, running_sentinel_set
from tests.integration.test_cache_redis import config, post
from tests.servers.counting import Counting, make_app
from tests.waiting import until


@pytest.fixture
def sentinel_set():
    with running_sentinel_set() as s:
        yield s


@pytest.fixture
async def counting(serve_app):
    c = Counting()
    c.url = await serve_app(make_app(c))  # type: ignore[attr-defined]
    return c


def sentinel_cfg(s: SentinelSet) -> dict:
    return {"sentinels": [s.sentinel.address], "sentinel_service": SERVICE, "timeout": "50ms"}


def test_sentinels_configure_a_sentinel_managed_client():
    client = connect(RedisConfig(sentinels=["127.0.0.1:26379", "[::1]:26380"], sentinel_service="svc",
                                 timeout="20ms"))
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "svc" and pool.is_master
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
    assert sentinels[1].connection_pool.connection_kwargs["host"] == "::1"
    assert sentinels[0].connection_pool.connection_kwargs["socket_timeout"] == 0.02  # sentinels: the same limit
    assert pool.connection_kwargs["socket_timeout"] == 0.02


async def test_answers_are_stored_in_the_master_sentinel_names(gateway, http, counting, sentinel_set):
    a = await gateway(config(counting.url, sentinel_cfg(sentinel_set)))
    b = await gateway(config(counting.url, sentinel_cfg(sentinel_set)))
    bodies = [v2_body([float(i)]) for i in range(10)]
    assert [(await post(http, a, body)).cache for body in bodies] == ["miss"] * 10
    replies = [await post(http, b, body) for body in bodies]  # b's L1 is empty: the hits come from Redis
    assert [r.cache for r in replies] == ["hit"] * 10
    assert [r.call for r in replies] == list(range(1, 11)) and counting.calls == 10
    assert b.dataplane.cache.stats["hit_l2"] == 10
    assert a.dataplane.cache.stats["redis_errors"] == b.dataplane.cache.stats["redis_errors"] == 0
    assert int(sentinel_set.master.cli("dbsize")) == 10  # written to the master ...
    keys = sentinel_set.master.cli("--scan", "--pattern", "isthmus:v1:*").split()
    assert len(keys) == 10
    # ... and replicated, the replica takes no writes
    await until(lambda: int(sentinel_set.replica.cli("dbsize")) >= 10, "the 10 entries replicated", 5, interval=0.02)


async def test_master_killed_failover_then_the_new_master_without_a_restart(gateway, counting, sentinel_set, caplog):
    """SIGKILL the master under load: every answer is 200 while Sentinel fails over; then the same gateways
    store and hit through the promoted replica."""
    s = sentinel_set
    a = await gateway(config(counting.url, sentinel_cfg(s)))
    b = await gateway(config(counting.url, sentinel_cfg(s)))
    statuses: dict[str, list[int]] = {"before": [], "failover": [], "after": []}
    phase = "before"
    sent = 0
    failover_took = 0.0
    stop = asyncio.Event()

    async def client(http: aiohttp.ClientSession, n: int) -> None:
        nonlocal sent
        i = 0
        while not stop.is_set():
            seq = n * 100_000 + i
            body = orjson.dumps(v2_body([float(seq if i % 3 == 0 else seq % 40)]))  # fresh misses keep coming
            r = await post(http, a if (n + i) % 2 else b, body)
            statuses[phase].append(r.status)
            sent += 1
            i += 1
            await asyncio.sleep(0.005)

    async def killer() -> None:
        nonlocal phase, failover_took
        await until(lambda: sent >= 100, "100 answers before the kill", 60, interval=0.005)
        s.master.kill()
        phase = "failover"
        # redis-cli in a thread: the gateways run on this event loop and must keep answering
        failover_took = await asyncio.to_thread(s.wait_for_master, s.replica.port)
        phase = "after"
        # past the one-second back-off: the gateways find the new master under load
        await until(lambda: len(statuses["after"]) >= 100
                    and not any(gw.dataplane.cache.redis_health.degraded for gw in (a, b)),
                    "both gateways back on the new master, 100 answers after the failover", 15)
        stop.set()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(killer(), *(client(http, n) for n in range(4)))

    total = {p: len(v) for p, v in statuses.items()}
    assert min(total.values()) > 0, total
    for p, v in statuses.items():
        assert v.count(200) == len(v), (p, {st: v.count(st) for st in set(v)})
    assert failover_took < 15
    for gw in (a, b):
        cache = gw.dataplane.cache
        assert cache.stats["redis_errors"] >= 1 and cache.redis_health.episodes >= 1
        assert not cache.redis_health.degraded, (dict(cache.stats), s.sentinel.log())
    warnings = [r.getMessage() for r in caplog.records if r.name == "isthmus.cache"]
    assert any("unavailable" in w for w in warnings), warnings

    # no load now: each fresh answer a stores lands in the new master, and b (empty L1 for it) hits it there
    async with aiohttp.ClientSession() as http:
        hits_l2 = b.dataplane.cache.stats["hit_l2"]
        for x in (1e6, 2e6, 3e6):
            before = int(await asyncio.to_thread(s.replica.cli, "dbsize"))
            body = v2_body([x])
            assert (await post(http, a, body)).cache == "miss"
            assert int(await asyncio.to_thread(s.replica.cli, "dbsize")) == before + 1
            r = await post(http, b, body)
            assert (r.status, r.cache) == (200, "hit")
        assert b.dataplane.cache.stats["hit_l2"] == hits_l2 + 3
    assert "role:master" in await asyncio.to_thread(s.replica.cli, "info", "replication")
