"""``grpc.health.v1.Health`` and server reflection on the gateway's gRPC listener.

Health follows readiness, as ``/v2/health/ready`` and ``/v2/models/{m}/ready`` do:

- service ``""`` (and each served gRPC service's full name, e.g. ``inference.GRPCInferenceService``):
  SERVING once the gateway has a config (NOT_SERVING before an xDS gateway's first one), NOT_SERVING
  from the start of a shutdown;
- a model name (a route): SERVING when a variant of it with traffic is ready (asked of its
  backends at each Check, as the REST readiness endpoint does); any other name is NOT_FOUND.

The protocol and stubs are grpcio-health-checking's; the servicer is written here because that
package's servicer serves statuses pushed to it with ``set()``, while these are computed from the
data plane when asked. ``Watch`` re-evaluates every ``interval`` seconds (and at once when the
gateway starts shutting down, when it sends NOT_SERVING and ends the stream, so a watching probe
never holds the listener's shutdown grace period).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterable

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE
from grpc_reflection.v1alpha import reflection

from isthmus.backends import BackendError
from isthmus.gateway.dataplane import DataPlane
from isthmus.router import RoutingError

Status = health_pb2.HealthCheckResponse.ServingStatus
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class GatewayHealth(health_pb2_grpc.HealthServicer):
    def __init__(self, dataplane: DataPlane, services: Iterable[str] = (), interval: float = 1.0) -> None:
        self._dp = dataplane
        self._server_wide = frozenset({"", *services})
        self._interval = interval
        self._draining = asyncio.Event()

    def drain(self) -> None:
        """The gateway is shutting down: every service is NOT_SERVING from now on, watches end."""
        self._draining.set()

    async def status(self, service: str) -> Status | None:
        """The service's status, or None for a name that is neither the server's nor a model's."""
        dp = self._dp
        if service in self._server_wide:
            return SERVING if dp.configured and not self._draining.is_set() else NOT_SERVING
        if service not in dp.routes:
            return None
        if self._draining.is_set() or not dp.configured:
            return NOT_SERVING
        try:
            ready = await dp.model_ready(service)
        except (RoutingError, BackendError):
            ready = False
        return SERVING if ready else NOT_SERVING

    async def Check(self, request: health_pb2.HealthCheckRequest, context: Any) -> health_pb2.HealthCheckResponse:
        status = await self.status(request.service)
        if status is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"unknown service '{request.service}': health is served for '' and for each model (route) name",
            )
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        last = None
        while True:
            status = await self.status(request.service)
            status = SERVICE_UNKNOWN if status is None else status
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            if self._draining.is_set():
                return
            try:
                async with asyncio.timeout(self._interval):
                    await self._draining.wait()
            except TimeoutError:
                pass

    async def List(self, request: health_pb2.HealthListRequest, context: Any) -> health_pb2.HealthListResponse:
        names = sorted(self._server_wide) + [m for m in self._dp.routes.models if m not in self._server_wide]
        statuses = await asyncio.gather(*(self.status(n) for n in names))
        return health_pb2.HealthListResponse(
            statuses={n: health_pb2.HealthCheckResponse(status=s) for n, s in zip(names, statuses) if s is not None}
        )


class ChainedPools:
    """Descriptor look-ups in several pools, the first that has the name answering: the reflection
    servicer takes one pool, and TF Serving's services live in a private one
    (:mod:`isthmus.protos.tfserving._pool`) beside protobuf's default pool."""

    def __init__(self, *pools: Any) -> None:
        self._pools = pools

    def _first(self, method: str, *args: Any) -> Any:
        for pool in self._pools:
            try:
                return getattr(pool, method)(*args)
            except KeyError:
                continue
        raise KeyError(args[0])

    def FindFileByName(self, name: str) -> Any:  # noqa: N802 (DescriptorPool's names)
        return self._first("FindFileByName", name)

    def FindFileContainingSymbol(self, symbol: str) -> Any:  # noqa: N802
        return self._first("FindFileContainingSymbol", symbol)

    def FindMessageTypeByName(self, name: str) -> Any:  # noqa: N802
        return self._first("FindMessageTypeByName", name)

    def FindExtensionByNumber(self, message: Any, number: int) -> Any:  # noqa: N802
        return self._first("FindExtensionByNumber", message, number)

    def FindAllExtensions(self, message: Any) -> Any:  # noqa: N802
        return self._first("FindAllExtensions", message)


def serve_health_and_reflection(
    server: grpc.aio.Server,
    dataplane: DataPlane,
    services: Iterable[str],
    interval: float = 1.0,
    pools: Iterable[Any] = (),
) -> GatewayHealth:
    """Add the health service (following ``dataplane``) and reflection, listing ``services`` (the
    full names of the other services on ``server``), health and reflection itself. ``pools``: the
    descriptor pools of services not in protobuf's default pool."""
    services = tuple(services)
    health = GatewayHealth(dataplane, services, interval)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    pool = ChainedPools(descriptor_pool.Default(), *pools)
    reflection.enable_server_reflection((*services, HEALTH_SERVICE, reflection.SERVICE_NAME), server, pool=pool)
    return health
