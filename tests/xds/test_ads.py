"""ADS over gRPC, in process: SotW and delta; ACK, NACK (never re-sent), stale nonces, names."""

from __future__ import annotations

import asyncio

import pytest
from envoy.config.route.v3 import route_pb2

from isthmus.xds import Snapshot, resources_from_config, type_urls
from isthmus.xds.resources import HTTP_ROUTES
from isthmus.xds.sim_client import SimClient
from tests.waiting import until
from tests.xds.helpers import config


def snap(**kw) -> Snapshot:
    return Snapshot.build(resources_from_config(config(**kw)))


def weights(any_rc) -> list[int]:
    rc = route_pb2.RouteConfiguration()
    any_rc.Unpack(rc)
    route = [r for r in rc.virtual_hosts[0].routes if r.route.weighted_clusters.clusters][0]
    return [c.weight.value for c in route.route.weighted_clusters.clusters]


def no_equal_split(t, resources):
    if t == type_urls.ROUTE and HTTP_ROUTES in resources and weights(resources[HTTP_ROUTES]) == [1, 1]:
        return "routes: equal split refused by this client"
    return None


def acked(client: SimClient, s: Snapshot) -> bool:
    return all(client.accepted.get(t) == s.version(t) for t in type_urls.ORDER)


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_full_update_ack_and_weight_change(plane, delta):
    s1 = snap()
    plane.cache.set_snapshot("default", s1)
    client = SimClient(plane.channel, "n1", delta=delta, names={type_urls.ROUTE: [HTTP_ROUTES], type_urls.ENDPOINT: ["a", "b"]})
    client.start()
    await client.wait(lambda: acked(client, s1))
    assert sorted(client.state[type_urls.CLUSTER]) == ["a", "b"]
    assert sorted(client.state[type_urls.LISTENER]) == ["isthmus-http"]  # wildcard: no ApiListeners
    # the client has sent its ACK; the server records it when it reads it
    await until(lambda: plane.registry.clients()[0]["types"]["RDS"]["acked_version"] == s1.version(type_urls.ROUTE),
                "the server to record the RDS ACK")
    [status] = plane.registry.clients()
    assert status["kind"] == ("delta" if delta else "sotw") and status["node_id"] == "n1"
    assert status["types"]["RDS"]["acked_version"] == s1.version(type_urls.ROUTE)

    s2 = snap(weights=(50, 50))
    plane.cache.set_snapshot("default", s2)
    await client.wait(lambda: acked(client, s2))
    assert weights(client.state[type_urls.ROUTE][HTTP_ROUTES]) == [50, 50]
    assert len(client.received[type_urls.CLUSTER]) == 1  # only routes changed
    await client.close()


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_nack_is_recorded_and_never_resent(plane, delta):
    s1 = snap()
    plane.cache.set_snapshot("default", s1)
    client = SimClient(plane.channel, "picky", delta=delta, names={type_urls.ROUTE: [HTTP_ROUTES]}, judge=no_equal_split)
    client.start()
    await client.wait(lambda: acked(client, s1))
    plane.cache.set_snapshot("default", snap(weights=(1, 1)))
    await client.wait(lambda: len(client.received[type_urls.ROUTE]) == 2)
    # The NACK is recorded when the server reads it; a NACK loop would re-send right then, on this stream,
    # before the answer to the next request (a barrier: an EDS subscription answered on the same stream).
    await until(lambda: plane.registry.nack_total == 1, "the server to record the NACK")
    client.request(type_urls.ENDPOINT, ["a"])
    await client.wait(lambda: "a" in client.state.get(type_urls.ENDPOINT, {}))
    assert len(client.received[type_urls.ROUTE]) == 2
    assert client.accepted[type_urls.ROUTE] == s1.version(type_urls.ROUTE)  # kept its last good version
    assert weights(client.state[type_urls.ROUTE][HTTP_ROUTES]) == [90, 10]
    [status] = plane.registry.clients()
    rds = status["types"]["RDS"]
    assert rds["nacks"] == 1 and "equal split refused" in rds["last_nack"]["error_detail"]
    assert rds["acked_version"] == s1.version(type_urls.ROUTE) and plane.registry.nack_total == 1
    s3 = snap(weights=(70, 30))
    plane.cache.set_snapshot("default", s3)
    await client.wait(lambda: acked(client, s3))
    await client.close()


async def test_stale_nonce_is_ignored_and_name_changes_are_answered(plane):
    s1 = snap()
    plane.cache.set_snapshot("default", s1)
    client = SimClient(plane.channel, "n", names={type_urls.ROUTE: [HTTP_ROUTES], type_urls.LISTENER: ["isthmus-http"]})
    client.start()
    await client.wait(lambda: acked(client, s1))
    client.request(type_urls.LISTENER, ["isthmus-http", "m"], nonce="stale-1")
    # a barrier: requests of one stream are read in order, so once this later EDS subscription is
    # answered, an answer to the stale request would have been sent before it
    client.request(type_urls.ENDPOINT, ["a"])
    await client.wait(lambda: "a" in client.state.get(type_urls.ENDPOINT, {}))
    assert len(client.received[type_urls.LISTENER]) == 1
    client.request(type_urls.LISTENER, ["isthmus-http", "m"])  # latest nonce: ACK + new name
    await client.wait(lambda: len(client.received[type_urls.LISTENER]) == 2)
    assert sorted(client.received[type_urls.LISTENER][-1].resources) == ["isthmus-http", "m"]
    assert client.received[type_urls.LISTENER][-1].version == s1.version(type_urls.LISTENER)
    await client.close()


async def test_delta_unsubscribe_and_removal(plane):
    plane.cache.set_snapshot("default", snap(extra_backend=True))
    client = SimClient(plane.channel, "d", delta=True, names={type_urls.ENDPOINT: ["a", "c"]})
    client.start()
    await client.wait(lambda: sorted(client.state.get(type_urls.ENDPOINT, {})) == ["a", "c"])
    plane.cache.set_snapshot("default", snap())
    await client.wait(lambda: sorted(client.state[type_urls.ENDPOINT]) == ["a"])
    assert client.received[type_urls.ENDPOINT][-1].removed == ["c"]
    await client.close()


async def test_wait_synced_counts_acks_of_every_client(plane):
    s1 = snap()
    plane.cache.set_snapshot("default", s1)
    clients = [SimClient(plane.channel, f"n{i}", delta=bool(i % 2)) for i in range(6)]
    for c in clients:
        c.start()
    for c in clients:
        await c.wait(lambda c=c: all(c.accepted.get(t) == s1.version(t) for t in (type_urls.CLUSTER, type_urls.LISTENER)))
    s2 = snap(weights=(3, 1))
    plane.cache.set_snapshot("default", s2)
    lagging = await plane.registry.wait_synced("default", s2.versions, timeout=5)
    assert lagging == []
    for c in clients:
        await c.close()


async def test_a_stream_without_node_is_refused(plane):
    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(plane.channel)

    async def reqs():
        yield discovery_pb2.DiscoveryRequest(type_url=type_urls.CLUSTER)
        await asyncio.sleep(5)

    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stub.StreamAggregatedResources(reqs()):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "node" in err.value.details()
