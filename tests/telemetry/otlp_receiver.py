"""An in-process OTLP collector for the tests: TraceService and MetricsService (gRPC, grpc.aio,
built from opentelemetry-proto's service definitions) and the same over HTTP/protobuf (aiohttp)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Received:
    """What a receiver got: every export request, flattened into spans and metric points."""

    def __init__(self) -> None:
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []

    def spans(self) -> list[Any]:
        return [s for r in self.trace_requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def resources(self) -> list[dict[str, str]]:
        return [
            {kv.key: kv.value.string_value for kv in rs.resource.attributes}
            for r in self.trace_requests
            for rs in r.resource_spans
        ]

    def metric_names(self) -> set[str]:
        return {
            m.name
            for r in self.metric_requests
            for rm in r.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }

    async def wait_spans(self, n: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.spans()) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.spans()

    async def wait_metrics(self, name: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while name not in self.metric_names() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return name in self.metric_names()


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self._received = received

    async def Export(self, request, context):  # noqa: N802 - the service's method name
        self._received.trace_requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received) -> None:
        self._received = received

    async def Export(self, request, context):  # noqa: N802
        self._received.metric_requests.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class GrpcReceiver(Received):
    """OTLP/gRPC on 127.0.0.1:<port>; ``endpoint`` is ``http://127.0.0.1:<port>`` (plaintext)."""

    async def start(self) -> str:
        self._server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(self), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        return self.endpoint

    async def stop(self) -> None:
        await self._server.stop(grace=None)


class HttpReceiver(Received):
    """OTLP/HTTP (protobuf) on 127.0.0.1:<port>: POST /v1/traces and /v1/metrics."""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._metrics)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.endpoint = f"http://127.0.0.1:{port}"
        return self.endpoint

    async def _traces(self, request: web.Request) -> web.Response:
        self.trace_requests.append(trace_service_pb2.ExportTraceServiceRequest.FromString(await request.read()))
        body = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    async def _metrics(self, request: web.Request) -> web.Response:
        self.metric_requests.append(metrics_service_pb2.ExportMetricsServiceRequest.FromString(await request.read()))
        body = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    async def stop(self) -> None:
        await self._runner.cleanup()
