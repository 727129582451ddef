"""TensorFlow Serving gRPC client (``tensorflow.serving.PredictionService``: Predict, Classify,
Regress, GetModelMetadata), one channel per endpoint: a call goes to the endpoint its
:class:`CallContext` names (-1: round-robin), with the try's timeout.

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
    call_limit,
    call_metadata,
    channel_options,
    grpc_target,
    open_channel,
    translate_error,
)
from isthmus.backends.http_base import naming_of
from isthmus.codecs import CodecError, InferRequest, InferResponse, tfserving_meta
from isthmus.codecs.convert import request_tensors
from isthmus.codecs.tensorproto import decode_predict_response, encode_predict_request
from isthmus.codecs.tfserving_examples import ExamplesRequest, check_count
from isthmus.config.model import TFServingGrpcBackendConfig
from isthmus.protos.tfserving.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
    regression_pb2,
)

T = TypeVar("T")

MAX_MESSAGE = 256 * 2**20
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


class TFServingGrpcBackend:
    def __init__(self, config: TFServingGrpcBackendConfig):
        self.name = config.name
        self.config = config
        self.naming = naming_of(config.tensors)
        self.endpoints = list(config.endpoints)
        self.targets = [grpc_target(e)[0] for e in config.endpoints]
        self._channels: list[grpc.aio.Channel] = []
        self._predict: list[prediction_service_pb2_grpc.PredictionServiceStub] = []
        self._status: list[model_service_pb2_grpc.ModelServiceStub] = []
        self._turn = itertools.count()

    async def start(self) -> None:
        if self._channels:
            return
        options = channel_options(MAX_MESSAGE, connect_timeout=self.config.connect_timeout)
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

    def _pick(self, endpoint: int = -1) -> int:
        """``endpoint``'s channel, or with -1 the next one in turn."""
        if not self._channels:
            raise BackendUnavailable(self.name, "not started", sent=False)
        return endpoint if endpoint >= 0 else next(self._turn) % len(self._channels)

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
            request.signature_name or self.config.signature_name,  # the app's, when it named one
            request.outputs,
        )
        i = self._pick(ctx.endpoint)
        stub = self._predict[i]
        metadata = call_metadata(ctx)
        timeout = call_limit(self.name, ctx, self.config.timeout)  # the app's deadline, when nearer
        resp = await self._call(i, lambda: stub.Predict(message, timeout=timeout, metadata=metadata))
        try:
            outputs = decode_predict_response(resp)
        except CodecError as exc:
            raise BackendFailed(self.name, f"bad response: {exc}") from None
        return InferResponse(outputs=outputs, id=request.id)

    async def classify(self, request: ExamplesRequest, ctx: CallContext) -> classification_pb2.ClassificationResult:
        message = classification_pb2.ClassificationRequest(model_spec=self._spec(ctx.model, request), input=request.input)
        resp = await self._unary(lambda i: self._predict[i].Classify, message, ctx)
        return _checked(self.name, resp.result, len(resp.result.classifications), request)

    async def regress(self, request: ExamplesRequest, ctx: CallContext) -> regression_pb2.RegressionResult:
        message = regression_pb2.RegressionRequest(model_spec=self._spec(ctx.model, request), input=request.input)
        resp = await self._unary(lambda i: self._predict[i].Regress, message, ctx)
        return _checked(self.name, resp.result, len(resp.result.regressions), request)

    def _spec(self, model: str, request: ExamplesRequest) -> Any:
        sig = request.signature_name or self.config.signature_name
        return tfserving_meta.model_spec(self.remote_model(model), self.config.version, sig)

    async def _unary(self, method: Callable[[int], Any], message: Any, ctx: CallContext) -> Any:
        i = self._pick(ctx.endpoint)
        call = method(i)
        metadata = call_metadata(ctx)
        timeout = call_limit(self.name, ctx, self.config.timeout)
        return await self._call(i, lambda: call(message, timeout=timeout, metadata=metadata))

    async def signature_defs(self, model: str) -> tfserving_meta.SignatureDefMap | None:
        """The model's SignatureDefs from ``GetModelMetadata``; None when they cannot be had."""
        req = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=tfserving_meta.model_spec(self.remote_model(model), self.config.version),
            metadata_field=[tfserving_meta.SIGNATURE_DEF],
        )
        try:
            i = self._pick()
            stub = self._predict[i]
            resp = await self._call(i, lambda: stub.GetModelMetadata(req, timeout=self.config.timeout))
            return tfserving_meta.signatures_from_response(resp)
        except (BackendError, CodecError):
            return None

    async def ready(self, model: str) -> bool:
        return await self._available(-1, model, self.config.timeout)

    async def probe(self, endpoint: int, model: str, timeout: float) -> bool:
        """``ModelService/GetModelStatus`` on ``endpoint`` reports a version AVAILABLE. Never raises."""
        return await self._available(endpoint, model, timeout)

    async def _available(self, endpoint: int, model: str, timeout: float) -> bool:
        req = get_model_status_pb2.GetModelStatusRequest(
            model_spec=tfserving_meta.model_spec(self.remote_model(model), self.config.version)
        )
        try:
            i = self._pick(endpoint)
            stub = self._status[i]
            resp = await self._call(i, lambda: stub.GetModelStatus(req, timeout=timeout))
        except (BackendError, grpc.aio.UsageError):
            return False
        return any(v.state == AVAILABLE for v in resp.model_version_status)

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        """V2 metadata of the configured signature (``serving_default`` when none is)."""
        return tfserving_meta.v2_metadata_or_none(await self.signature_defs(model), self.config.signature_name)


def _checked(backend: str, result: T, count: int, request: ExamplesRequest) -> T:
    """A Classify / Regress result with one entry per example, or the backend's failure."""
    try:
        check_count(count, request)
    except CodecError as exc:
        raise BackendFailed(backend, f"bad response: {exc}") from None
    return result

