"""RedisTier against a real redis-server: commands, failures mapped to CacheError, and connection set-up
that a few-ms command timeout never cancels half-way."""

from __future__ import annotations

import asyncio
import logging

import pytest

from isthmus.cache.errors import CacheError, RedisConnecting
from isthmus.cache.redis_tier import RedisTier, connect
from isthmus.cache.service import ResultCache
from isthmus.config.model import CacheConfig, RedisConfig, RouteCacheConfig
from tests.cache.redis_server import running_cluster, running_redis
from tests.cache.test_service import Backend
from tests.conftest import free_port
from tests.waiting import until


@pytest.fixture
def redis_server():
    with running_redis() as server:
        yield server


def tier_for(cfg: RedisConfig) -> RedisTier:
    return RedisTier(connect(cfg), cfg.timeout)


async def test_get_set_ttl_and_lock(redis_server):
    tier = tier_for(RedisConfig(url=redis_server.url, timeout="50ms"))
    try:
        assert await tier.get("k") is None
        await tier.set("k", b"\x00value", ttl=0.5)
        assert await tier.get("k") == b"\x00value"
        assert 0 < int(redis_server.cli("pttl", "k")) <= 500
        token = await tier.try_lock("k", 0.2)
        assert token and await tier.try_lock("k", 0.2) is None and await tier.locked("k")
        await tier.unlock("k", token)
        assert not await tier.locked("k")
        await tier.try_lock("k", 0.05)
        assert await tier.locked("k")

        async def unlocked() -> bool:
            return not await tier.locked("k")

        await until(unlocked, "the abandoned lock to expire by itself (ttl 50 ms)", 5)
    finally:
        await tier.close()


async def test_a_key_holding_another_type_is_a_miss_and_a_store_replaces_it(redis_server):
    redis_server.cli("rpush", "k", "a")
    tier = tier_for(RedisConfig(url=redis_server.url, timeout="50ms"))
    try:
        assert await tier.get("k") is None  # GETs go out as MGET, which answers nil for a list
        await tier.set("k", b"answer", 60)
        assert await tier.get("k") == b"answer"
    finally:
        await tier.close()


async def test_gets_of_one_loop_turn_go_out_as_one_mget(redis_server):
    tier = tier_for(RedisConfig(url=redis_server.url, timeout="200ms"))
    try:
        for i in range(3):
            await tier.set(f"k{i}", f"v{i}".encode(), 60)
        calls_before = _mget_calls(redis_server)
        got = await asyncio.gather(*(tier.get(k) for k in ["k0", "k1", "k2", "nope", "k1"]))
        assert got == [b"v0", b"v1", b"v2", None, b"v1"]
        assert _mget_calls(redis_server) == calls_before + 1
    finally:
        await tier.close()


def _mget_calls(redis_server) -> int:
    stats = redis_server.cli("info", "commandstats")
    line = next((ln for ln in stats.splitlines() if ln.startswith("cmdstat_mget:")), "")
    return int(line.split("calls=")[1].split(",")[0]) if line else 0


async def test_a_failed_mget_fails_every_get_of_the_batch_each_with_its_own_error():
    class Failing(SlowToConnect):
        async def ping(self) -> bool:
            return True

        async def mget(self, keys):
            raise ConnectionError("connection reset")

    tier = RedisTier(Failing(), timeout=0.05)
    await tier.start()
    results = await asyncio.gather(*(tier.get(k) for k in "abc"), return_exceptions=True)
    assert all(isinstance(r, CacheError) and "connection reset" in str(r) for r in results)
    assert len({id(r) for r in results}) == 3
    await tier.close()


async def test_connection_refused_is_a_failure_not_connecting():
    tier = tier_for(RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0", timeout="50ms"))
    try:
        for _ in range(3):
            with pytest.raises(CacheError) as err:
                await tier.get("k")
            assert not isinstance(err.value, RedisConnecting)
    finally:
        await tier.close()


class SlowToConnect:
    """A client whose connection set-up takes 30ms and whose commands take none."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def ping(self) -> bool:
        await asyncio.sleep(0.03)
        return True

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        return [self.data.get(k) for k in keys]

    async def set(self, key: str, value: bytes, **kw: object) -> bool:
        self.data[key] = value
        return True

    async def aclose(self) -> None:
        pass


async def test_slow_connection_set_up_is_a_silent_miss_then_the_tier_works(caplog):
    caplog.set_level(logging.INFO, logger="isthmus.cache")
    tier = RedisTier(SlowToConnect(), timeout=0.005)
    cache = ResultCache(CacheConfig(redis=RedisConfig(url="redis://x:1", timeout="5ms")), tier)
    policy = RouteCacheConfig(enabled=True)
    backend = Backend()
    assert (await cache.fetch("a", policy, backend, 5))[1] == "miss"
    assert cache.stats["redis_connecting"] >= 1
    assert not cache.redis_health.degraded and cache.stats["redis_errors"] == 0
    await until(tier._warm_done, "the connection set-up (30 ms) to finish")
    await cache.fetch("b", policy, backend, 5)
    other = ResultCache(CacheConfig(redis=RedisConfig(url="redis://x:1")), tier)
    assert (await other.fetch("b", policy, backend, 5))[1] == "hit"  # stored through the tier
    assert [r for r in caplog.records if r.name == "isthmus.cache"] == []


async def test_a_fresh_cluster_client_works_with_a_5ms_timeout():
    """Cluster set-up (slot map, command table) takes longer than 5ms; it must still complete."""
    with running_cluster(3) as cluster:
        cfg = RedisConfig(cluster_nodes=cluster.addresses, timeout="5ms")
        cache = ResultCache(CacheConfig(redis=cfg), tier_for(cfg))
        policy = RouteCacheConfig(enabled=True)
        try:
            # A cancelled set-up would start over at every command and never finish within 5ms, so
            # nothing would ever be stored. A single slow command on a loaded machine is a legitimate
            # miss (with a back-off), so keep asking for up to 5 s rather than demanding zero errors.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            i = 0
            while sum(cluster.dbsizes()) == 0 and loop.time() < deadline:
                await cache.fetch(f"isthmus:v1:{i}", policy, Backend(), 5)
                i += 1
                await asyncio.sleep(0.05)
            assert cache.l2._warm_done() and sum(cluster.dbsizes()) >= 1, dict(cache.stats)
        finally:
            await cache.close()
