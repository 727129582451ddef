"""The control plane's gRPC server also serves grpc.health.v1 and server reflection (grpc_health_probe
and grpcurl work against it), through the library clients."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from isthmus.xds.server import ADS_SERVICE

SERVING = health_pb2.HealthCheckResponse.SERVING


async def test_health_check_watch_and_list(plane, caplog):
    caplog.set_level(logging.DEBUG)
    stub = health_pb2_grpc.HealthStub(plane.channel)
    for service in ("", ADS_SERVICE):
        assert (await stub.Check(health_pb2.HealthCheckRequest(service=service))).status == SERVING
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Check(health_pb2.HealthCheckRequest(service="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await asyncio.wait_for(watch.read(), 10)).status == SERVING
    watch.cancel()
    listed = await stub.List(health_pb2.HealthListRequest())
    assert {n: r.status for n, r in listed.statuses.items()} == {"": SERVING, ADS_SERVICE: SERVING}
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_reflection_resolves_the_ads_service(plane):
    def reflect() -> tuple[list[str], list[str]]:
        with grpc.insecure_channel(f"127.0.0.1:{plane.port}") as channel:
            db = ProtoReflectionDescriptorDatabase(channel)
            service = DescriptorPool(db).FindServiceByName(ADS_SERVICE)
            return sorted(db.get_services()), [m.name for m in service.methods]

    services, methods = await asyncio.to_thread(reflect)
    assert services == sorted([ADS_SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"])
    assert methods == ["StreamAggregatedResources", "DeltaAggregatedResources"]
