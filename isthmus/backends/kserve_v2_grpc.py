"""Open Inference Protocol V2 over gRPC (KServe, MLServer, Triton): ModelInfer, ModelReady, ModelMetadata.

Each endpoint gets a small pool of grpc.aio channels (each its own HTTP/2 connection) with
keepalive; calls rotate round-robin over every channel of every endpoint. Each call's deadline
is the backend's timeout, or the app's remaining time when that is shorter
(:mod:`isthmus.deadline`). Channels, metadata, deadlines and the gRPC status ->
:class:`BackendError` mapping are :mod:`isthmus.backends.grpc_common`'s.
"""

from __future__ import annotations

from typing import Any, Mapping

import grpc
from tritonclient.grpc import service_pb2_grpc

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendFailed, BackendUnavailable
from isthmus.backends.grpc_common import (
    call_deadline,
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
        self.naming = naming_of(config.tensors)
        self._channels: list[grpc.aio.Channel] = []
        self._stubs: list[tuple[str, service_pb2_grpc.GRPCInferenceServiceStub]] = []
        self._next = 0

    async def start(self) -> None:
        if self._stubs:
            return
        c = self.config
        options = channel_options(c.max_message_size, c.keepalive_time, c.keepalive_timeout)
        for _ in range(c.channels):  # interleaved: consecutive calls go to different endpoints
            for endpoint in c.endpoints:
                channel = open_channel(endpoint, options)
                self._channels.append(channel)
                self._stubs.append((grpc_target(endpoint)[0], service_pb2_grpc.GRPCInferenceServiceStub(channel)))

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
        timeout = call_deadline(self.name, self.config.timeout)
        target, stub = self._stub()
        metadata = call_metadata(ctx)
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
