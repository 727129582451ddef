"""TensorFlow Serving gRPC client (``tensorflow.serving.PredictionService/Predict``).

Built from TF Serving's published protos (subsets in :mod:`isthmus.protos.tfserving`); there
is no TF Serving binary on the registries this project can use, so the tests run it against a
server built from the same protos (``tests/servers/tfserving_grpc.py``). Readiness is
``ModelService/GetModelStatus`` reporting a version AVAILABLE. gRPC errors become
:mod:`isthmus.backends.errors` here, at the edge.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Awaitable, Callable, Mapping, TypeVar
from urllib.parse import urlsplit

import grpc

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
from isthmus.codecs.convert import request_tensors
from isthmus.codecs.tensorproto import decode_predict_response, encode_predict_request
from isthmus.config.model import TFServingGrpcBackendConfig
from isthmus.protos.tfserving.tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

T = TypeVar("T")

MAX_MESSAGE = 256 * 2**20
CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
)
_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")
_REJECTED = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404}
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


def grpc_target(endpoint: str) -> str:
    """``grpc://host:port`` or ``host:port`` -> the ``host:port`` gRPC dials."""
    return urlsplit(endpoint).netloc if "://" in endpoint else endpoint


def map_rpc_error(backend: str, exc: grpc.aio.AioRpcError) -> BackendError:
    """A gRPC status as the backend layer's error (the one place gRPC codes are read)."""
    code, detail = exc.code(), f"{exc.code().name}: {exc.details() or ''}".rstrip(": ")
    if code == grpc.StatusCode.UNAVAILABLE:
        return BackendUnavailable(backend, detail)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return BackendTimeout(backend, detail)
    if code in _REJECTED:
        return BackendRejected(backend, exc.details() or code.name, _REJECTED[code])
    return BackendFailed(backend, detail)


class TFServingGrpcBackend:
    def __init__(self, config: TFServingGrpcBackendConfig):
        self.name = config.name
        self.config = config
        self.naming = naming_of(config.tensors)
        self.targets = [grpc_target(e) for e in config.endpoints]
        self._channels: list[grpc.aio.Channel] = []
        self._predict: list[prediction_service_pb2_grpc.PredictionServiceStub] = []
        self._status: list[model_service_pb2_grpc.ModelServiceStub] = []
        self._turn = itertools.count()

    async def start(self) -> None:
        if self._channels:
            return
        for target in self.targets:
            ch = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            self._channels.append(ch)
            self._predict.append(prediction_service_pb2_grpc.PredictionServiceStub(ch))
            self._status.append(model_service_pb2_grpc.ModelServiceStub(ch))

    async def close(self) -> None:
        channels, self._channels, self._predict, self._status = self._channels, [], [], []
        for ch in channels:
            await ch.close()

    def remote_model(self, model: str) -> str:
        return self.config.model or model

    def _pick(self) -> int:
        if not self._channels:
            raise BackendUnavailable(self.name, "not started")
        return next(self._turn) % len(self._channels)

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(self.name, exc) from None

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        message = encode_predict_request(
            request_tensors(request, self.naming),
            self.remote_model(ctx.model),
            self.config.version,
            self.config.signature_name,
            request.outputs,
        )
        stub = self._predict[self._pick()]
        metadata = _metadata(ctx)
        timeout = max(0.001, call_timeout(self.config.timeout))  # the app's deadline, when nearer
        resp = await self._call(lambda: stub.Predict(message, timeout=timeout, metadata=metadata))
        try:
            outputs = decode_predict_response(resp)
        except CodecError as exc:
            raise BackendFailed(self.name, f"bad response: {exc}") from None
        return InferResponse(outputs=outputs, id=request.id)

    async def ready(self, model: str) -> bool:
        req = get_model_status_pb2.GetModelStatusRequest()
        req.model_spec.name = self.remote_model(model)
        version = self.config.version
        if version:
            if version.isdigit():
                req.model_spec.version.value = int(version)
            else:
                req.model_spec.version_label = version
        try:
            stub = self._status[self._pick()]
            resp = await self._call(lambda: stub.GetModelStatus(req, timeout=self.config.timeout))
        except BackendError:
            return False
        return any(v.state == AVAILABLE for v in resp.model_version_status)

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        return None


def _metadata(ctx: CallContext) -> tuple[tuple[str, str], ...]:
    """Request id and forwarded headers as gRPC metadata (keys gRPC accepts, no binary ones)."""
    pairs = [("x-request-id", ctx.request_id)]
    for key, value in ctx.headers.items():
        k = key.lower()
        if _METADATA_KEY.match(k) and not k.startswith("grpc-") and not k.endswith("-bin") and k != "x-request-id":
            pairs.append((k, value))
    return tuple(pairs)
