"""Open Inference Protocol V2 over gRPC (KServe, MLServer, Triton): ModelInfer, ModelReady, ModelMetadata.

Each endpoint gets a small pool of grpc.aio channels (each its own HTTP/2 connection) with
keepalive; calls rotate round-robin over every channel of every endpoint. Each call's deadline
is the backend's timeout, or the app's remaining time when that is shorter
(:mod:`isthmus.backends.deadline`). gRPC status codes become :class:`BackendError` subclasses
here, at the edge of the layer.
"""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import urlsplit

import grpc
from tritonclient.grpc import service_pb2_grpc

from isthmus.backends.base import CallContext
from isthmus.backends.deadline import call_timeout
from isthmus.backends.errors import (
    BackendError,
    BackendFailed,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from isthmus.backends.http_base import naming_of
from isthmus.codecs import CodecError, InferRequest, InferResponse
from isthmus.codecs import v2_grpc as codec
from isthmus.codecs.convert import request_tensors
from isthmus.config.model import KServeGrpcBackendConfig

_PROBE_TIMEOUT = 5.0  # ModelReady / ModelMetadata
_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")
_REJECTED = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
}


def grpc_target(url: str) -> tuple[str, bool]:
    """``http://host:port`` -> ("host:port", plaintext); ``https://`` -> TLS. Default ports 80 / 443."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or (443 if tls else 80)}", tls


def translate_error(backend: str, target: str, exc: grpc.aio.AioRpcError) -> BackendError:
    code, details = exc.code(), exc.details() or ""
    message = f"{target}: {code.name}: {details}"
    if code in _REJECTED:
        return BackendRejected(backend, details or code.name, _REJECTED[code])
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return BackendTimeout(backend, message)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return BackendUnavailable(backend, message)
    return BackendFailed(backend, message)  # INTERNAL, UNKNOWN, UNIMPLEMENTED, RESOURCE_EXHAUSTED, ...


class KServeV2GrpcBackend:
    def __init__(self, config: KServeGrpcBackendConfig):
        self.name = config.name
        self.config = config
        self.naming = naming_of(config.tensors)
        self._targets = [grpc_target(e) for e in config.endpoints]
        self._channels: list[grpc.aio.Channel] = []
        self._stubs: list[tuple[str, service_pb2_grpc.GRPCInferenceServiceStub]] = []
        self._next = 0

    def _options(self) -> list[tuple[str, Any]]:
        c = self.config
        return [
            ("grpc.keepalive_time_ms", int(c.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(c.keepalive_timeout * 1000)),
            ("grpc.keepalive_permit_without_calls", 0),
            ("grpc.max_send_message_length", c.max_message_size),
            ("grpc.max_receive_message_length", c.max_message_size),
            # Without a local pool, channels with equal arguments share one connection.
            ("grpc.use_local_subchannel_pool", 1),
        ]

    async def start(self) -> None:
        if self._stubs:
            return
        options = self._options()
        for _ in range(self.config.channels):  # interleaved: consecutive calls go to different endpoints
            for target, tls in self._targets:
                if tls:
                    channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options)
                else:
                    channel = grpc.aio.insecure_channel(target, options)
                self._channels.append(channel)
                self._stubs.append((target, service_pb2_grpc.GRPCInferenceServiceStub(channel)))

    async def close(self) -> None:
        channels, self._channels, self._stubs = self._channels, [], []
        for channel in channels:
            await channel.close()

    def remote_model(self, model: str) -> str:
        return self.config.model or model

    def _stub(self) -> tuple[str, service_pb2_grpc.GRPCInferenceServiceStub]:
        if not self._stubs:
            raise BackendUnavailable(self.name, "backend is not started (or already closed)")
        i = self._next
        self._next = (i + 1) % len(self._stubs)
        return self._stubs[i]

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        msg = codec.encode_request(
            request, request_tensors(request, self.naming), self.remote_model(ctx.model), self.config.version
        )
        timeout = call_timeout(self.config.timeout)
        if timeout <= 0:
            raise BackendTimeout(self.name, "the app's deadline passed before the call could be made")
        target, stub = self._stub()
        metadata = [("x-request-id", ctx.request_id)]
        metadata += [(k.lower(), v) for k, v in ctx.headers.items() if _METADATA_KEY.match(k.lower())]
        try:
            answer = await stub.ModelInfer(msg, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise translate_error(self.name, target, exc) from None
        try:
            return codec.decode_response(answer, f"response of backend '{self.name}'")
        except CodecError as exc:
            raise BackendFailed(self.name, f"bad response: {exc}") from None

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
