"""A TensorFlow Serving stand-in implementing its gRPC API, from the same protos Isthmus uses.

TF Serving has no server binary on the registries this project can use, so the tfserving-grpc
client is tested against this server: ``PredictionService`` (Predict, Classify, Regress,
GetModelMetadata) and ``ModelService/GetModelStatus``, with errors as TF Serving gives them
(``NOT_FOUND`` for an unknown model or version, ``INVALID_ARGUMENT`` for an unknown signature or
label, a bad tensor or an unknown output). The "model" computes ``x*2+offset`` on every input, in
the input's dtype (``x*3+offset`` with signature ``times_three``); version ``v`` adds
``(v-1)*100`` more, so versions are told apart by their answer. Its SignatureDefs, Classify and
Regress are :mod:`tests.servers.tfserving_model`'s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Mapping

import grpc
import numpy as np

from isthmus.codecs import CodecError
from isthmus.codecs.tensorproto import decode_tensor, encode_tensor
from isthmus.codecs.tensors import Tensor
from isthmus.protos.tfserving.tensorflow.core.framework import types_pb2
from isthmus.protos.tfserving.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tests.servers import tfserving_model as tm

DEFAULT_SIGNATURE = "serving_default"


@dataclass
class Model:
    name: str
    offset: float = 0.0
    versions: tuple[int, ...] = (1,)
    signatures: tuple[str, ...] = (DEFAULT_SIGNATURE, "times_three")
    #: version label -> version
    labels: Mapping[str, int] = field(default_factory=dict)
    #: input alias -> output alias (others keep their name)
    renames: Mapping[str, str] = field(default_factory=dict)
    #: answer with the typed *_val fields instead of tensor_content
    typed_outputs: bool = False
    #: seconds to sleep before answering (deadline tests)
    delay: float = 0.0
    #: answer with an extra output of a type Isthmus refuses (DT_COMPLEX64)
    bad_output: bool = False
    #: answer every Predict with this status (e.g. INTERNAL)
    fail: grpc.StatusCode | None = None
    calls: list[predict_pb2.PredictRequest] = field(default_factory=list)
    metadata: list[dict[str, str | bytes]] = field(default_factory=list)


class TFServingServicer(prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, *models: Model):
        self.models = {m.name: m for m in models}

    async def _version(self, spec, context: grpc.aio.ServicerContext) -> tuple[Model, int]:
        model = self.models.get(spec.name)
        if model is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name})")
        if spec.HasField("version"):
            if spec.version.value not in model.versions:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"Servable not found for request: Specific({spec.name}, {spec.version.value})",
                )
            return model, spec.version.value
        if spec.version_label:
            if spec.version_label not in model.labels:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {spec.version_label}"
                )
            return model, model.labels[spec.version_label]
        return model, max(model.versions)

    async def Predict(self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext):
        model, version = await self._version(request.model_spec, context)
        model.calls.append(request)
        model.metadata.append(dict(context.invocation_metadata() or ()))
        if model.delay:
            await asyncio.sleep(model.delay)
        if model.fail is not None:
            await context.abort(model.fail, "injected failure")
        signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature not in model.signatures:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature name: "{signature}" not found in signature def'
            )
        if not request.inputs:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature: 0!=1")
        offset = model.offset + (version - 1) * 100
        factor = tm.FACTOR.get(signature, 2.0)
        outputs: dict[str, Tensor] = {}
        for name in request.inputs:
            try:
                t = decode_tensor(name, request.inputs[name], "input")
            except CodecError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            if t.data.dtype.kind not in "iuf":
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Expects arg[0] to be float but {t.datatype} is provided for input '{name}'",
                )
            out = (t.data * np.asarray(factor).astype(t.data.dtype) + np.asarray(offset).astype(t.data.dtype)).astype(
                t.data.dtype
            )
            alias = model.renames.get(name, name)
            outputs[alias] = Tensor(alias, t.datatype, out)
        wanted = list(request.output_filter) or list(outputs)
        resp = predict_pb2.PredictResponse()
        resp.model_spec.name = model.name
        resp.model_spec.version.value = version
        resp.model_spec.signature_name = signature
        for alias in wanted:
            if alias not in outputs:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"output tensor alias not found in signature: {alias}"
                )
            encode_tensor(outputs[alias], resp.outputs[alias], typed=model.typed_outputs)
        if model.bad_output:
            resp.outputs["complex"].dtype = types_pb2.DT_COMPLEX64
        return resp

    async def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest, context):
        model, version = await self._version(request.model_spec, context)
        if list(request.metadata_field) != ["signature_def"]:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def is required")
        resp = get_model_metadata_pb2.GetModelMetadataResponse()
        resp.model_spec.name = model.name
        resp.model_spec.version.value = version
        resp.metadata["signature_def"].Pack(tm.signature_def_map())
        return resp

    async def Classify(self, request: classification_pb2.ClassificationRequest, context):
        resp = classification_pb2.ClassificationResponse()
        for x, offset in await self._examples(request, tm.CLASSIFY, resp, context):
            cs = resp.result.classifications.add()
            for label, score in tm.classes(x, offset):
                cs.classes.add(label=label, score=score)
        return resp

    async def Regress(self, request: regression_pb2.RegressionRequest, context):
        resp = regression_pb2.RegressionResponse()
        for x, offset in await self._examples(request, tm.REGRESS, resp, context):
            resp.result.regressions.add(value=tm.regression(x, offset))
        return resp

    async def _examples(self, request, method: str, resp, context) -> list[tuple[float, float]]:
        """(x, offset) per example of a Classify / Regress request, as TF Serving checks them."""
        model, version = await self._version(request.model_spec, context)
        model.calls.append(request)
        model.metadata.append(dict(context.invocation_metadata() or ()))
        try:
            signature = tm.check_signature(request.model_spec.signature_name, method)
        except tm.SignatureError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        resp.model_spec.name = model.name
        resp.model_spec.version.value = version
        resp.model_spec.signature_name = signature
        kind = request.input.WhichOneof("kind")
        if kind is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")
        examples = getattr(request.input, kind).examples
        context_features = request.input.example_list_with_context.context.features.feature if kind == "example_list_with_context" else {}
        out = []
        for example in examples:
            feature = example.features.feature.get("x") or context_features.get("x")
            values = list(feature.float_list.value or feature.int64_list.value) if feature is not None else []
            if len(values) != 1:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "Feature: x (data type: float) is required but could not be found."
                )
            out.append((float(values[0]), model.offset + (version - 1) * 100))
        return out

    async def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context):
        spec = request.model_spec
        model = self.models.get(spec.name)
        if model is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}")
        versions = model.versions
        if spec.HasField("version"):
            if spec.version.value not in versions:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND, f"Could not find version {spec.version.value} of model {spec.name}"
                )
            versions = (spec.version.value,)
        resp = get_model_status_pb2.GetModelStatusResponse()
        for v in versions:
            resp.model_version_status.add(version=v, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE)
        return resp


async def start_server(
    *models: Model, port: int = 0, credentials: grpc.ServerCredentials | None = None
) -> tuple[grpc.aio.Server, int]:
    """Start the stand-in on 127.0.0.1 (port 0: any free one; TLS with ``credentials``); returns the
    server and its port."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    servicer = TFServingServicer(*models)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(servicer, server)
    address = f"127.0.0.1:{port}"
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    return server, port


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description="TF Serving gRPC API stand-in (tests only)")
    p.add_argument("--model", required=True)
    p.add_argument("--offset", type=float, default=0.0)
    p.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    args = p.parse_args()

    async def run() -> None:
        server, port = await start_server(Model(args.model, args.offset), port=args.port)
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await server.wait_for_termination()

    asyncio.run(run())


if __name__ == "__main__":
    main()
