"""The Redis L2 on a real 3-master Redis Cluster (the same redis-server binary, cluster-enabled)."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from isthmus.cache.keys import request_key
from isthmus.cache.redis_tier import RedisTier, connect
from isthmus.codecs import v2
from isthmus.config.model import RedisConfig
from tests.cache.redis_server import running_cluster
from tests.conftest import v2_body
from tests.integration.test_cache_redis import config, post
from tests.servers.counting import Counting, make_app


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(3) as c:
        yield c


@pytest.fixture
def empty_cluster(cluster):
    for n in cluster.nodes:
        n.cli("flushall")
    return cluster


def test_cluster_nodes_configure_a_cluster_client():
    cfg = RedisConfig(cluster_nodes=["127.0.0.1:7000", "[::1]:7001"], timeout="20ms", max_connections=8)
    client = connect(cfg)
    assert isinstance(client, RedisCluster)
    assert [(n.host, n.port) for n in client.nodes_manager.startup_nodes.values()] == [
        ("127.0.0.1", 7000), ("::1", 7001)]


def test_cache_keys_and_their_locks_spread_over_slots():
    """No hash tag: keys spread over the cluster; a key and its lock may land on different nodes, which is
    fine because every command touches one key."""
    keys = [request_key(v2.decode_request(orjson.dumps(v2_body([float(i)]))), model="m", backend="b", version=None,
                        tenant=None) for i in range(300)]
    slots = [key_slot(k.encode()) for k in keys]
    thirds = [sum(1 for s in slots if lo <= s < lo + 5462) for lo in (0, 5462, 10924)]
    assert min(thirds) > 50, thirds


async def test_gateway_caches_and_hits_through_the_cluster(gateway, http, serve_app, empty_cluster):
    counting = Counting()
    url = await serve_app(make_app(counting))
    redis = {"cluster_nodes": empty_cluster.addresses, "timeout": "50ms"}
    a = await gateway(config(url, redis))
    b = await gateway(config(url, redis))
    bodies = [v2_body([float(i)]) for i in range(30)]
    assert [(await post(http, a, body)).cache for body in bodies] == ["miss"] * 30
    replies = [await post(http, b, body) for body in bodies]  # b's L1 is empty: every hit comes from Redis
    assert [r.cache for r in replies] == ["hit"] * 30, (dict(a.dataplane.cache.stats), dict(b.dataplane.cache.stats),
                                                        empty_cluster.dbsizes())
    assert [r.call for r in replies] == list(range(1, 31))
    assert counting.calls == 30
    assert b.dataplane.cache.stats["hit_l2"] == 30
    assert a.dataplane.cache.stats["redis_errors"] == b.dataplane.cache.stats["redis_errors"] == 0
    sizes = empty_cluster.dbsizes()
    assert sum(sizes) == 30 and sum(1 for s in sizes if s > 0) >= 2, sizes


async def test_distributed_lock_on_the_cluster(empty_cluster):
    cfg = RedisConfig(cluster_nodes=empty_cluster.addresses, timeout="50ms")
    tier = RedisTier(connect(cfg), cfg.timeout)
    try:
        token = await tier.try_lock("isthmus:v1:abc", 1.0)
        assert token is not None and await tier.locked("isthmus:v1:abc")
        assert await tier.try_lock("isthmus:v1:abc", 1.0) is None
        await tier.unlock("isthmus:v1:abc", "not-my-token")
        assert await tier.locked("isthmus:v1:abc")  # only the holder releases
        await tier.unlock("isthmus:v1:abc", token)
        assert not await tier.locked("isthmus:v1:abc")
    finally:
        await tier.close()
