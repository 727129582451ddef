"""TensorFlow Serving REST client (``/v1/models/{name}[/versions/{v}]:predict``, ``:classify``,
``:regress``, ``/metadata``).

Built against TF Serving's published REST API; there is no TF Serving
binary on the registries this project can use, so the tests run it against
a server implementing that API (see docs/protocols.md).
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendError
from isthmus.backends.http_base import HttpModelBackend
from isthmus.codecs import CodecError, InferRequest, InferResponse, tfserving, tfserving_examples, tfserving_meta
from isthmus.codecs.convert import request_instances, request_tensors
from isthmus.config.model import TFServingBackendConfig
from isthmus.protos.tfserving.tensorflow_serving.apis.classification_pb2 import ClassificationResult
from isthmus.protos.tfserving.tensorflow_serving.apis.regression_pb2 import RegressionResult


class TFServingBackend(HttpModelBackend):
    config: TFServingBackendConfig

    def _model_path(self, model: str) -> str:
        """``/v1/models/{name}``, then ``/versions/{n}`` for a numeric version, ``/labels/{l}`` for any other."""
        path = f"/v1/models/{self.remote_model(model)}"
        version = self.config.version
        if not version:
            return path
        return f"{path}/versions/{version}" if version.isdigit() else f"{path}/labels/{version}"

    def _signature(self, requested: str | None) -> str | None:
        """The app's SignatureDef when it named one, else the configured one."""
        return requested or self.config.signature_name

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        sig = self._signature(request.signature_name)
        if self.config.format == "columnar" and request.inputs is not None:
            body = tfserving.encode_columnar(request_tensors(request, self.naming), sig)
        else:
            body = tfserving.encode_row(request_instances(request), sig)
        data = await self.post(self._model_path(ctx.model) + ":predict", body, ctx)
        return self.decoded(tfserving.decode_response, data, self.name, self.naming)

    async def classify(self, request: tfserving_examples.ExamplesRequest, ctx: CallContext) -> ClassificationResult:
        data = await self._examples(":classify", request, ctx)
        result = self.decoded(tfserving_examples.decode_classification, data, self.name)
        self.decoded(tfserving_examples.check_count, len(result.classifications), request)
        return result

    async def regress(self, request: tfserving_examples.ExamplesRequest, ctx: CallContext) -> RegressionResult:
        data = await self._examples(":regress", request, ctx)
        result = self.decoded(tfserving_examples.decode_regression, data, self.name)
        self.decoded(tfserving_examples.check_count, len(result.regressions), request)
        return result

    async def _examples(self, verb: str, request: tfserving_examples.ExamplesRequest, ctx: CallContext) -> bytes:
        sig = self._signature(request.signature_name)
        body = tfserving_examples.encode_request(tfserving_examples.ExamplesRequest(request.input, sig))
        return await self.post(self._model_path(ctx.model) + verb, body, ctx)

    def probe_path(self, model: str) -> str:
        return self._model_path(model)

    def probe_passed(self, status: int, body: bytes) -> bool:
        """200, and a version of the model is AVAILABLE (TF Serving's model status)."""
        try:
            states = [v.get("state") for v in orjson.loads(body).get("model_version_status", [])]
        except (orjson.JSONDecodeError, AttributeError):
            return False
        return status == 200 and "AVAILABLE" in states

    async def ready(self, model: str) -> bool:
        try:
            status, data = await self.get(self._model_path(model))
        except BackendError:
            return False
        return self.probe_passed(status, data)

    async def signature_defs(self, model: str) -> tfserving_meta.SignatureDefMap | None:
        """The model's SignatureDefs from ``GET .../metadata``; None when it cannot be had."""
        try:
            status, data = await self.get(self._model_path(model) + "/metadata")
            if status != 200:
                return None
            return tfserving_meta.signatures_from_json(orjson.loads(data), f"metadata of backend '{self.name}'")
        except (BackendError, orjson.JSONDecodeError, CodecError):
            return None

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        """V2 metadata of the configured signature (``serving_default`` when none is)."""
        return tfserving_meta.v2_metadata_or_none(await self.signature_defs(model), self.config.signature_name)
