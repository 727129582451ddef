"""Open Inference Protocol V2 over gRPC (KServe, MLServer, Triton): ModelInfer, ModelReady, ModelMetadata.

Each endpoint gets a small pool of grpc.aio channels (each its own HTTP/2 connection) with
keepalive; a call goes to the endpoint its :class:`CallContext` names (the upstream layer picks
it), rotating over that endpoint's channels, or with ``endpoint=-1`` round-robin over every
channel of every endpoint. Health checks (:meth:`KServeV2GrpcBackend.probe`) are
``grpc.health.v1`` or, on servers without it, ``ServerReady``. Each call's deadline is the
try's timeout (``CallContext.timeout``, else the backend's), or the app's remaining time when
that is shorter (:mod:`isthmus.deadline`). Channels, metadata, deadlines and the gRPC status ->
:class:`BackendError` mapping are :mod:`isthmus.backends.grpc_common`'s.
"""

from __future__ import annotations

from typing import Any, Mapping

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import service_pb2_grpc

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendFailed, BackendUnavailable
from isthmus.backends.grpc_common import (
    call_limit,
    call_metadata,
    channel_options,
    grpc_target,
    open_channel,
    translate_error,
)
from isthmus.backends.http_base import naming_of
from isthmus.codecs import CodecError, InferRequest, InferResponse
from isthmus.codecs import v2_grpc as codec
from isthmus.codecs.convert import request_tensors
from isthmus.config.model import KServeGrpcBackendConfig

_PROBE_TIMEOUT = 5.0  # ModelReady / ModelMetadata


class KServeV2GrpcBackend:
    def __init__(self, config: KServeGrpcBackendConfig):
        self.name = config.name
        self.config = config
        self.endpoints = list(config.endpoints)
        self.naming = naming_of(config.tensors)
        self._targets = [grpc_target(e)[0] for e in config.endpoints]
        self._channels: list[grpc.aio.Channel] = []
        self._stubs: list[tuple[str, service_pb2_grpc.GRPCInferenceServiceStub]] = []  # interleaved: rotation
        self._by_endpoint: list[list[tuple[str, service_pb2_grpc.GRPCInferenceServiceStub]]] = []
        self._turns: list[int] = []  # per endpoint: its channel in turn
        self._health: list[health_pb2_grpc.HealthStub] = []
        self._next = 0

    async def start(self) -> None:
        if self._stubs:
            return
        c = self.config
        options = channel_options(c.max_message_size, c.keepalive_time, c.keepalive_timeout, c.connect_timeout)
        self._by_endpoint = [[] for _ in c.endpoints]
        self._turns = [0] * len(c.endpoints)
        for _ in range(c.channels):  # interleaved: consecutive calls go to different endpoints
            for i, endpoint in enumerate(c.endpoints):
                channel = open_channel(endpoint, options)
                self._channels.append(channel)
                stub = (self._targets[i], service_pb2_grpc.GRPCInferenceServiceStub(channel))
                self._stubs.append(stub)
                self._by_endpoint[i].append(stub)
        self._health = [health_pb2_grpc.HealthStub(ch) for ch in self._channels[: len(c.endpoints)]]

    async def close(self) -> None:
        channels, self._channels, self._stubs, self._by_endpoint, self._health = self._channels, [], [], [], []
        for channel in channels:
            await channel.close()

    def remote_model(self, model: str) -> str:
        return self.config.model or model

    def _stub(self, endpoint: int = -1) -> tuple[str, service_pb2_grpc.GRPCInferenceServiceStub]:
        """The next channel of ``endpoint`` (-1: of every endpoint, in turn)."""
        if not self._stubs:
            raise BackendUnavailable(self.name, "backend is not started (or already closed)", sent=False)
        if endpoint >= 0:
            stubs = self._by_endpoint[endpoint]
            i = self._turns[endpoint]
            self._turns[endpoint] = (i + 1) % len(stubs)
            return stubs[i]
        i = self._next
        self._next = (i + 1) % len(self._stubs)
        return self._stubs[i]

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        msg = codec.encode_request(
            request, request_tensors(request, self.naming), self.remote_model(ctx.model), self.config.version
        )
        timeout = call_limit(self.name, ctx, self.config.timeout)
        target, stub = self._stub(ctx.endpoint)
        metadata = call_metadata(ctx)
        try:
            answer = await stub.ModelInfer(msg, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise translate_error(self.name, target, exc) from None
        try:
            return codec.decode_response(answer, f"response of backend '{self.name}'")
        except CodecError as exc:
            raise BackendFailed(self.name, f"bad response: {exc}") from None

    async def probe(self, endpoint: int, model: str, timeout: float) -> bool:
        """``grpc.health.v1.Health/Check`` (the server as a whole) answers SERVING; a server without
        the health service (UNIMPLEMENTED) is asked ``ServerReady`` instead. Never raises."""
        if not self._health:
            return False
        try:
            answer = await self._health[endpoint].Check(health_pb2.HealthCheckRequest(), timeout=timeout)
            return answer.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                return False
        except grpc.aio.UsageError:  # closed meanwhile
            return False
        try:
            ready = await self._by_endpoint[endpoint][0][1].ServerReady(codec.pb.ServerReadyRequest(), timeout=timeout)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError):
            return False
        return bool(ready.ready)

    async def ready(self, model: str) -> bool:
        if not self._stubs:
            return False
        _, stub = self._stub()
        req = codec.pb.ModelReadyRequest(name=self.remote_model(model), version=self.config.version or "")
        try:
            answer = await stub.ModelReady(req, timeout=min(self.config.timeout, _PROBE_TIMEOUT))
        except grpc.aio.AioRpcError:
            return False
        return bool(answer.ready)

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        if not self._stubs:
            return None
        _, stub = self._stub()
        req = codec.pb.ModelMetadataRequest(name=self.remote_model(model), version=self.config.version or "")
        try:
            answer = await stub.ModelMetadata(req, timeout=min(self.config.timeout, _PROBE_TIMEOUT))
        except grpc.aio.AioRpcError:
            return None
        return codec.metadata_from_pb(answer)
