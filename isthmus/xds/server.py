"""The ADS gRPC service (grpc.aio): state-of-the-world and delta streams over one ``ConfigWatcher``.

It knows nothing of files or snapshots: it reads requests, hands them to a stream object
(``stream_sotw``/``stream_delta``), and writes what the watches answer, in the order they answer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import AsyncIterator, Callable, Union

import grpc
from envoy.service.discovery.v3 import ads_pb2, ads_pb2_grpc, discovery_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from isthmus.xds.base import ConfigWatcher, NoCallbacks, StreamCallbacks
from isthmus.xds.stream_delta import DeltaStream
from isthmus.xds.stream_sotw import SotwStream, StreamError

log = logging.getLogger(__name__)
_END = object()
Stream = Union[SotwStream, DeltaStream]


class AdsServer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    def __init__(self, watcher: ConfigWatcher, callbacks: StreamCallbacks | None = None) -> None:
        self._watcher = watcher
        self._callbacks = callbacks if callbacks is not None else NoCallbacks()
        self._ids = itertools.count(1)

    async def StreamAggregatedResources(  # noqa: N802 (gRPC method name)
        self, request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        async for response in self._serve("sotw", SotwStream, request_iterator, context):
            yield response

    async def DeltaAggregatedResources(  # noqa: N802
        self, request_iterator: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[discovery_pb2.DeltaDiscoveryResponse]:
        async for response in self._serve("delta", DeltaStream, request_iterator, context):
            yield response

    async def _serve(
        self, kind: str, make: Callable[..., Stream], requests: AsyncIterator, context: grpc.aio.ServicerContext
    ) -> AsyncIterator:
        sid = next(self._ids)
        queue: asyncio.Queue = asyncio.Queue()
        stream = make(sid, self._watcher, self._callbacks, queue.put_nowait)
        self._callbacks.on_stream_open(sid, kind)
        reader = asyncio.create_task(self._read(stream, requests, queue))
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, StreamError):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(item))
                yield item
        finally:
            reader.cancel()
            stream.close()
            self._callbacks.on_stream_close(sid)

    @staticmethod
    async def _read(stream: Stream, requests: AsyncIterator, queue: asyncio.Queue) -> None:
        try:
            async for req in requests:
                stream.handle(req)
        except StreamError as exc:
            queue.put_nowait(exc)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            queue.put_nowait(_END)


ADS_SERVICE = ads_pb2.DESCRIPTOR.services_by_name["AggregatedDiscoveryService"].full_name


class ControlPlaneHealth(health.aio.HealthServicer):
    """grpcio-health-checking's servicer (statuses set by the server), with ``List``, which it lacks
    (the base class's would raise NotImplementedError and log a traceback)."""

    async def List(self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext) -> health_pb2.HealthListResponse:  # noqa: N802
        statuses = {name: health_pb2.HealthCheckResponse(status=s) for name, s in self._server_status.items()}
        return health_pb2.HealthListResponse(statuses=statuses)


async def start_ads_server(
    watcher: ConfigWatcher, callbacks: StreamCallbacks | None = None, host: str = "127.0.0.1", port: int = 0
) -> tuple[grpc.aio.Server, int]:
    """A started grpc.aio server on ``host:port`` (0: any free port); returns it and its port.

    Beside ADS it serves ``grpc.health.v1.Health`` (``""`` and the ADS service: SERVING while it
    runs; the control plane has scanned its config directory before it starts) and server reflection.
    """
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0), ("grpc.max_concurrent_streams", 1 << 20)])
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(AdsServer(watcher, callbacks), server)
    checks = ControlPlaneHealth()
    await checks.set(ADS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    reflection.enable_server_reflection((ADS_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the xDS server to {host}:{port}")
    await server.start()
    return server, bound
