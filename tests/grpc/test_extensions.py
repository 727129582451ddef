"""The gRPC listener's extensions over fake backends: ModelConfig / RepositoryIndex /
ModelStatistics errors, every other method a clean UNIMPLEMENTED (no ERROR in the log), health
(Check, Watch, List) following readiness, and server reflection."""

from __future__ import annotations

import asyncio
import logging

import grpc
import numpy as np
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from tritonclient.grpc import service_pb2_grpc

from isthmus.backends.fake import FakeBackend
from isthmus.gateway.grpc_extensions import UNIMPLEMENTED
from isthmus.gateway.grpc_ingress import InferenceServicer
from tests.grpc.conftest import grpc_config
from tests.grpc.test_ingress import infer_request, pb

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]


def two_routes():
    return grpc_config(["a", "b"], routes=[
        {"model": "m", "variants": [{"backend": "a", "weight": 1, "version": "1"}]},
        {"model": "other", "variants": [{"backend": "b", "weight": 1}]}])


async def start(gateway, config=None):
    backends = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    return await gateway(config or two_routes(), backends=backends), backends


def test_every_method_of_the_service_is_the_gateways_own():
    base = service_pb2_grpc.GRPCInferenceServiceServicer
    inherited = [m.name for m in SERVICE.methods if getattr(InferenceServicer, m.name) is getattr(base, m.name)]
    assert inherited == []  # the generated base's methods raise NotImplementedError: an ERROR traceback


async def test_unimplemented_methods_answer_cleanly_without_a_traceback(gateway, caplog):
    server, _ = await start(gateway)
    channel = grpc.aio.insecure_channel(server.grpc_target)
    caplog.set_level(logging.DEBUG)
    called = 0
    try:
        for method in SERVICE.methods:
            if method.name not in UNIMPLEMENTED:
                continue
            request = getattr(pb, method.input_type.name)()
            path = f"/{SERVICE.full_name}/{method.name}"
            ser, de = request.SerializeToString, getattr(pb, method.output_type.name).FromString
            if method.client_streaming:
                call = channel.stream_stream(path, request_serializer=ser, response_deserializer=de)(iter([request]))
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    async for _ in call:
                        pass
            else:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await channel.unary_unary(path, request_serializer=ser, response_deserializer=de)(request)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED, method.name
            assert method.name in err.value.details() and "Isthmus" in err.value.details()
            called += 1
    finally:
        await channel.close()
    assert called == len(UNIMPLEMENTED) == 11
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


async def test_extension_errors_are_statuses(gateway, channels):
    server, backends = await start(gateway)
    stub = channels(server)
    for call, request in ((stub.ModelConfig, pb.ModelConfigRequest(name="nope")),
                          (stub.ModelConfig, pb.ModelConfigRequest(name="m", version="9")),
                          (stub.ModelStatistics, pb.ModelStatisticsRequest(name="nope")),
                          (stub.RepositoryIndex, pb.RepositoryIndexRequest(repository_name="models"))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(request)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    backends["b"].is_ready = False
    index = await stub.RepositoryIndex(pb.RepositoryIndexRequest())
    rows = [(m.name, m.version, m.state, m.reason) for m in index.models]
    assert rows == [("m", "1", "READY", ""), ("other", "", "UNAVAILABLE", "no variant with traffic is ready (b)")]
    ready = await stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True))
    assert [m.name for m in ready.models] == ["m"]


async def test_statistics_over_grpc_count_this_calls(gateway, channels):
    server, _ = await start(gateway)
    stub = channels(server)
    for _ in range(3):
        await stub.ModelInfer(infer_request(np.ones((1, 2))))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.ModelInfer(infer_request(np.ones((1, 2)), model_version="9"))
    stats = await stub.ModelStatistics(pb.ModelStatisticsRequest())
    by_name = {s.name: s for s in stats.model_stats}
    m = by_name["m"]
    assert (m.inference_count, m.execution_count, m.inference_stats.success.count, m.inference_stats.fail.count) == (3, 3, 3, 1)
    assert m.inference_stats.success.ns > 0 and m.last_inference > 0
    assert by_name["other"].inference_count == 0 and by_name["other"].last_inference == 0
    v1 = (await stub.ModelStatistics(pb.ModelStatisticsRequest(name="m", version="1"))).model_stats[0]
    assert (v1.version, v1.inference_count, v1.inference_stats.fail.count) == ("1", 3, 0)


async def health_of(channel, service: str) -> int:
    return (await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))).status


async def test_health_follows_readiness(gateway):
    server, backends = await start(gateway)
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        assert await health_of(channel, "") == SERVING
        assert await health_of(channel, "inference.GRPCInferenceService") == SERVING
        assert await health_of(channel, "m") == SERVING
        backends["a"].is_ready = False
        assert await health_of(channel, "m") == NOT_SERVING
        assert await health_of(channel, "") == SERVING  # the server is, one model is not
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await health_of(channel, "nope")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest())
        statuses = {name: r.status for name, r in listed.statuses.items()}
        assert statuses == {
            "": SERVING, "inference.GRPCInferenceService": SERVING, "tensorflow.serving.PredictionService": SERVING,
            "tensorflow.serving.ModelService": SERVING, "m": NOT_SERVING, "other": SERVING,
        }  # fmt: skip
        # before a first config (an xDS gateway) and until one is applied
        server.dataplane.await_config()
        assert await health_of(channel, "") == NOT_SERVING
        assert await health_of(channel, "other") == NOT_SERVING
        await server.apply(two_routes(), "2", "test")
        assert await health_of(channel, "") == SERVING


async def test_watch_sees_changes_and_ends_with_not_serving_at_shutdown(gateway):
    server, backends = await start(gateway)
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        model = stub.Watch(health_pb2.HealthCheckRequest(service="m"))
        whole = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        unknown = stub.Watch(health_pb2.HealthCheckRequest(service="nope"))
        assert (await model.read()).status == SERVING
        assert (await whole.read()).status == SERVING
        assert (await unknown.read()).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        backends["a"].is_ready = False
        assert (await asyncio.wait_for(model.read(), 10)).status == NOT_SERVING  # re-evaluated every second
        loop = asyncio.get_running_loop()
        started = loop.time()
        stopping = asyncio.create_task(server.stop())
        assert (await asyncio.wait_for(whole.read(), 10)).status == NOT_SERVING
        assert await asyncio.wait_for(whole.read(), 10) is grpc.aio.EOF  # the stream ends: no grace period held
        await stopping
        assert loop.time() - started < 4  # well under the listener's 5 s grace


async def test_reflection_lists_and_resolves_the_services(gateway):
    server, _ = await start(gateway)

    def reflect() -> tuple[list[str], list[str]]:
        with grpc.insecure_channel(server.grpc_target) as channel:
            db = ProtoReflectionDescriptorDatabase(channel)
            services = sorted(db.get_services())
            pool = DescriptorPool(db)
            service = pool.FindServiceByName("inference.GRPCInferenceService")
            # TF Serving's services are in a private descriptor pool: resolved through it too
            predict = pool.FindServiceByName("tensorflow.serving.PredictionService")
            return services, [m.name for m in service.methods], [m.name for m in predict.methods]

    services, methods, tfs_methods = await asyncio.to_thread(reflect)
    assert services == ["grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                        "inference.GRPCInferenceService", "tensorflow.serving.ModelService",
                        "tensorflow.serving.PredictionService"]
    assert {"ModelInfer", "ModelConfig", "RepositoryIndex", "ModelStatistics"} <= set(methods)
    assert {"Predict", "Classify", "Regress", "GetModelMetadata"} <= set(tfs_methods)
