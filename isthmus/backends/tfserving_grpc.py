"""TensorFlow Serving gRPC client (``tensorflow.serving.PredictionService/Predict``).

Built from TF Serving's published protos (subsets in :mod:`isthmus.protos.tfserving`); there
is no TF Serving binary on the registries this project can use, so the tests run it against a
server built from the same protos (``tests/servers/tfserving_grpc.py``). Readiness is
``ModelService/GetModelStatus`` reporting a version AVAILABLE. Channels, metadata, deadlines and
the gRPC status -> :mod:`isthmus.backends.errors` mapping are :mod:`isthmus.backends.grpc_common`'s
(``grpcs://`` endpoints: TLS with the system roots).
"""

from __future__ import annotations

import itertools
from typing import Any, Awaitable, Callable, Mapping, TypeVar

import grpc

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendError, BackendFailed, BackendUnavailable
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
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


class TFServingGrpcBackend:
    def __init__(self, config: TFServingGrpcBackendConfig):
        self.name = config.name
        self.config = config
        self.naming = naming_of(config.tensors)
        self.targets = [grpc_target(e)[0] for e in config.endpoints]
        self._channels: list[grpc.aio.Channel] = []
        self._predict: list[prediction_service_pb2_grpc.PredictionServiceStub] = []
        self._status: list[model_service_pb2_grpc.ModelServiceStub] = []
        self._turn = itertools.count()

    async def start(self) -> None:
        if self._channels:
            return
        options = channel_options(MAX_MESSAGE)
        for endpoint in self.config.endpoints:
            ch = open_channel(endpoint, options)
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

    async def _call(self, i: int, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            raise translate_error(self.name, self.targets[i], exc) from None

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        message = encode_predict_request(
            request_tensors(request, self.naming),
            self.remote_model(ctx.model),
            self.config.version,
            self.config.signature_name,
            request.outputs,
        )
        i = self._pick()
        stub = self._predict[i]
        metadata = call_metadata(ctx)
        timeout = call_deadline(self.name, self.config.timeout)  # the app's deadline, when nearer
        resp = await self._call(i, lambda: stub.Predict(message, timeout=timeout, metadata=metadata))
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
            i = self._pick()
            stub = self._status[i]
            resp = await self._call(i, lambda: stub.GetModelStatus(req, timeout=self.config.timeout))
        except BackendError:
            return False
        return any(v.state == AVAILABLE for v in resp.model_version_status)

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        return None

