"""Telemetry of the V2 gRPC ingress (fake backends): the duration measurement with gRPC status
names, errors by kind, in-flight calls, the server span continuing the app's trace from metadata,
and the access log line."""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator

import grpc
import numpy as np
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tritonclient.grpc import service_pb2_grpc

from isthmus.backends import BackendTimeout
from isthmus.backends.fake import FakeBackend
from isthmus.codecs import InferRequest, Tensor
from isthmus.codecs import v2_grpc as codec
from isthmus.gateway import GatewayServer
from isthmus.telemetry.access_log import AccessLog
from tests.conftest import make_config
from tests.telemetry.helpers import plain_telemetry, requests_by, scraped, series, traced_telemetry

APP_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
APP_PARENT = f"00-{APP_TRACE}-00f067aa0ba902b7-01"
DOC = {
    "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
    "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 1}]}],
    "backends": [{"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"]}],
}


def infer_request(model: str = "m") -> codec.pb.ModelInferRequest:
    t = Tensor("input-0", "FP32", np.array([[1.0, 2.0]], dtype=np.float32))
    return codec.encode_request(InferRequest(), (t,), model, raw=True)


@pytest.fixture
async def grpc_gateway() -> AsyncIterator:
    opened: list = []

    async def start(backend, telemetry):
        server = GatewayServer(make_config(DOC), backends={"a": backend}, telemetry=telemetry)
        await server.start()
        channel = grpc.aio.insecure_channel(server.grpc_target)
        opened.append((server, channel, telemetry))
        return server, service_pb2_grpc.GRPCInferenceServiceStub(channel)

    yield start
    for server, channel, telemetry in opened:
        await channel.close()
        await server.stop()
        telemetry.close()


async def test_grpc_requests_are_measured_with_status_names_and_errors_by_kind(grpc_gateway):
    telemetry = plain_telemetry()
    backend = FakeBackend("a")
    server, stub = await grpc_gateway(backend, telemetry)
    for _ in range(3):
        await stub.ModelInfer(infer_request())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(infer_request("nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    backend.error = BackendTimeout("a", "slow")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(infer_request())
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await stub.ServerLive(codec.pb.ServerLiveRequest())  # not an inference request: not measured
    samples = scraped(telemetry)
    assert requests_by(samples, "status", transport="grpc") == {"OK": 3, "NOT_FOUND": 1, "DEADLINE_EXCEEDED": 1}
    assert requests_by(samples, "model", transport="grpc") == {"m": 4, "-": 1}
    assert requests_by(samples, "cache", transport="grpc", status="OK") == {"bypass": 3}
    errors = {dict(k)["kind"]: v for k, v in series(samples, "isthmus_request_errors_total", transport="grpc").items()}
    assert errors == {"unknown_model": 1, "backend_timeout": 1}


async def test_grpc_in_flight_calls_are_observed(grpc_gateway):
    telemetry = plain_telemetry()
    entered, release = asyncio.Event(), asyncio.Event()

    class Slow(FakeBackend):
        async def infer(self, request, ctx):
            entered.set()
            await release.wait()
            return await super().infer(request, ctx)

    server, stub = await grpc_gateway(Slow("a"), telemetry)
    call = asyncio.ensure_future(stub.ModelInfer(infer_request()))
    await entered.wait()
    assert list(series(scraped(telemetry), "isthmus_requests_in_flight", transport="grpc").values()) == [1]
    release.set()
    await call
    assert list(series(scraped(telemetry), "isthmus_requests_in_flight", transport="grpc").values()) == [0]


async def test_the_grpc_server_span_continues_the_apps_trace_from_metadata(grpc_gateway):
    telemetry, exported = traced_telemetry()
    backend = FakeBackend("a")
    server, stub = await grpc_gateway(backend, telemetry)
    await stub.ModelInfer(infer_request(), metadata=(("traceparent", APP_PARENT), ("tracestate", "app=1")))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.ModelInfer(infer_request("nope"))
    spans = exported.get_finished_spans()
    ingress = [s for s in spans if s.kind == SpanKind.SERVER]
    assert [s.name for s in ingress] == ["inference.GRPCInferenceService/ModelInfer"] * 2
    ok, missing = ingress
    assert format(ok.context.trace_id, "032x") == APP_TRACE and ok.parent.span_id == 0x00F067AA0BA902B7
    assert ok.attributes["rpc.system"] == "grpc" and ok.attributes["rpc.grpc.status_code"] == 0
    assert missing.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert missing.status.status_code != StatusCode.ERROR  # NOT_FOUND is the caller's error, not the server's
    (call,) = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert call.parent.span_id == ok.context.span_id
    assert backend.calls[0][1].headers["traceparent"].split("-")[1:3] == [APP_TRACE, f"{call.context.span_id:016x}"]
    assert backend.calls[0][1].headers["tracestate"] == "app=1"


async def test_tracing_off_grpc_metadata_traceparent_reaches_the_backend_and_the_access_log(grpc_gateway, tmp_path):
    path = tmp_path / "access.log"
    telemetry = plain_telemetry(AccessLog.open(str(path)))
    backend = FakeBackend("a")
    server, stub = await grpc_gateway(backend, telemetry)
    await stub.ModelInfer(infer_request(), metadata=(("traceparent", APP_PARENT), ("x-request-id", "g-1")))
    assert dict(backend.calls[0][1].headers) == {"traceparent": APP_PARENT}
    await server.stop()
    telemetry.access_log.close()
    (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    assert {k: line[k] for k in ("request_id", "trace_id", "transport", "route", "variant", "cache", "status",
                                 "client")} == {  # fmt: skip
        "request_id": "g-1", "trace_id": APP_TRACE, "transport": "grpc", "route": "m", "variant": "a",
        "cache": "bypass", "status": "OK", "client": "127.0.0.1",
    }  # fmt: skip
    assert line["path"] == "/inference.GRPCInferenceService/ModelInfer"
