"""TF Serving's gRPC services on the gRPC listener: ``tensorflow.serving.PredictionService`` (Predict,
Classify, Regress, GetModelMetadata; MultiInference is UNIMPLEMENTED) and
``tensorflow.serving.ModelService/GetModelStatus``, beside the V2 service.

Translated like any other dialect: a Predict request is decoded into tensors
(:mod:`isthmus.codecs.tensorproto`) and goes through the same :class:`DataPlane` (routing, cache,
coalescing, fallback) to any backend kind; the answer's tensors come back as ``TensorProto`` outputs.
Metadata, deadlines, request ids, telemetry and status codes are the V2 ingress's
(:class:`isthmus.gateway.grpc_ingress.InferenceServicer`, which this module uses for them).
``ModelSpec.version`` names a version, ``version_label`` a version or a variant
(:mod:`isthmus.gateway.tfserving_calls`).
"""

from __future__ import annotations

from typing import Any

import grpc

from isthmus.backends import BackendFailed
from isthmus.codecs import CodecError, InferRequest, tfserving_meta
from isthmus.codecs.convert import response_tensors
from isthmus.codecs.names import check_name
from isthmus.codecs.tensorproto import decode_tensor, encode_tensor
from isthmus.codecs.tfserving_examples import ExamplesRequest
from isthmus.gateway import tfserving_calls
from isthmus.gateway.dataplane import Answer
from isthmus.gateway.grpc_ingress import InferenceServicer, metadata_headers
from isthmus.gateway.headers import BACKEND_HEADER, REQUEST_ID_HEADER, request_id
from isthmus.gateway.http_types import Headers
from isthmus.gateway.request_meta import request_meta
from isthmus.gateway.request_telemetry import rpc
from isthmus.protos.tfserving import _pool as tfserving_pool
from isthmus.protos.tfserving.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)


def spec_version(spec: Any) -> tuple[str | None, str | None]:
    """``(version, label)`` of a ModelSpec (either or neither is set)."""
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return str(spec.version.value), None
    if choice == "version_label":
        return None, spec.version_label or None
    return None, None


def _model(spec: Any) -> str:
    if not spec.name:
        raise CodecError("model_spec.name is required")
    return spec.name


PREDICT = rpc("tensorflow.serving.PredictionService", "Predict")


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, v2: InferenceServicer):
        self._v2 = v2  # its guard (status mapping, trailers), telemetry and client identity
        self._dp = v2._dp

    async def Predict(self, request: predict_pb2.PredictRequest, context: Any) -> predict_pb2.PredictResponse:
        work = lambda headers, rid: self._predict(request, headers, rid, context)  # noqa: E731
        return await self._v2.answered(request.model_spec.name, context, work, PREDICT)

    async def _predict(
        self, request: predict_pb2.PredictRequest, headers: Headers, rid: str, context: Any
    ) -> tuple[Answer, predict_pb2.PredictResponse]:
        spec = request.model_spec
        model = _model(spec)
        version, variant = tfserving_calls.resolve(self._dp.route(model), *spec_version(spec))
        if not request.inputs:
            raise CodecError("PredictRequest has no inputs")
        inputs = tuple(
            decode_tensor(check_name(name, "inputs", i), request.inputs[name], "input") for i, name in enumerate(request.inputs)
        )
        decoded = InferRequest(
            inputs=inputs, outputs=tuple(request.output_filter), signature_name=spec.signature_name or None
        )
        meta = self._v2.request_meta(headers, model, rid, context, version, variant)
        answer = await self._v2.within_deadline(self._dp.infer(decoded, meta), meta.deadline)
        reply = predict_pb2.PredictResponse(
            model_spec=tfserving_meta.model_spec(model, answer.version, spec.signature_name or None)
        )
        try:
            for t in response_tensors(answer.response):
                encode_tensor(t, reply.outputs[t.name])
        except CodecError as exc:  # the backend's answer cannot be TensorProtos: its fault
            raise BackendFailed(answer.backend, f"answer cannot be translated: {exc}") from None
        return answer, reply

    async def Classify(
        self, request: classification_pb2.ClassificationRequest, context: Any
    ) -> classification_pb2.ClassificationResponse:
        result, spec = await self._examples("classify", request, context)
        return classification_pb2.ClassificationResponse(model_spec=spec, result=result)

    async def Regress(self, request: regression_pb2.RegressionRequest, context: Any) -> regression_pb2.RegressionResponse:
        result, spec = await self._examples("regress", request, context)
        return regression_pb2.RegressionResponse(model_spec=spec, result=result)

    async def _examples(self, verb: str, request: Any, context: Any) -> tuple[Any, Any]:
        headers = metadata_headers(context.invocation_metadata())
        rid = request_id(headers)
        spec = request.model_spec

        async def call() -> tuple[Any, str]:
            model = _model(spec)
            if request.input.WhichOneof("kind") is None:
                raise CodecError(f"{verb}: input has no examples")
            examples = ExamplesRequest(request.input, spec.signature_name or None)
            version, variant = tfserving_calls.resolve(self._dp.route(model), *spec_version(spec))
            meta = request_meta(headers, model, rid, version=version, variant=variant, deadline=context.time_remaining())
            return await self._v2.within_deadline(tfserving_calls.examples(self._dp, verb, examples, meta), meta.deadline)

        result, backend = await self._v2.guarded(context, call, rid)
        await context.send_initial_metadata(((BACKEND_HEADER, backend), (REQUEST_ID_HEADER, rid)))
        return result, spec

    async def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: Any
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        async def call() -> get_model_metadata_pb2.GetModelMetadataResponse:
            model = _model(request.model_spec)
            unknown = [f for f in request.metadata_field if f != tfserving_meta.SIGNATURE_DEF]
            if unknown or not request.metadata_field:
                raise CodecError(
                    f"metadata_field must be [{tfserving_meta.SIGNATURE_DEF!r}] (the only metadata TF Serving has), "
                    f"got {list(request.metadata_field)}"
                )
            version, label = spec_version(request.model_spec)
            signatures, answered = await tfserving_calls.signature_defs(self._dp, model, version, label)
            return tfserving_meta.metadata_response(model, answered, signatures)

        return await self._v2.guarded(context, call)

    async def MultiInference(self, request: inference_pb2.MultiInferenceRequest, context: Any) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "MultiInference is not supported by Isthmus: call Classify and Regress one by one",
        )


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, v2: InferenceServicer):
        self._v2 = v2
        self._dp = v2._dp

    async def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context: Any
    ) -> get_model_status_pb2.GetModelStatusResponse:
        async def call() -> get_model_status_pb2.GetModelStatusResponse:
            version, label = spec_version(request.model_spec)
            versions = await tfserving_calls.version_status(self._dp, _model(request.model_spec), version, label)
            return tfserving_meta.status_response(versions)

        return await self._v2.guarded(context, call)


#: The services :func:`add_to_server` adds (listed by reflection and health), and their descriptor pool
SERVICES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name  # importing the module registers the service in POOL
    for module, name in ((prediction_service_pb2, "PredictionService"), (model_service_pb2, "ModelService"))
)
POOL = tfserving_pool.POOL


def add_to_server(v2: InferenceServicer, server: grpc.aio.Server) -> None:
    """Serve TF Serving's PredictionService and ModelService on ``server``, beside ``v2``."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(v2), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(v2), server)
