"""TensorFlow Serving REST client (``/v1/models/{name}[/versions/{v}]:predict``).

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
from isthmus.codecs import InferRequest, InferResponse, tfserving
from isthmus.codecs.convert import request_instances, request_tensors
from isthmus.config.model import TFServingBackendConfig


class TFServingBackend(HttpModelBackend):
    config: TFServingBackendConfig

    def _model_path(self, model: str) -> str:
        path = f"/v1/models/{self.remote_model(model)}"
        return f"{path}/versions/{self.config.version}" if self.config.version else path

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        sig = self.config.signature_name
        if self.config.format == "columnar" and request.inputs is not None:
            body = tfserving.encode_columnar(request_tensors(request, self.naming), sig)
        else:
            body = tfserving.encode_row(request_instances(request), sig)
        data = await self.post(self._model_path(ctx.model) + ":predict", body, ctx)
        return self.decoded(tfserving.decode_response, data, self.name, self.naming)

    async def ready(self, model: str) -> bool:
        try:
            status, data = await self.get(self._model_path(model))
            states = [v.get("state") for v in orjson.loads(data).get("model_version_status", [])]
        except (BackendError, orjson.JSONDecodeError, AttributeError):
            return False
        return status == 200 and "AVAILABLE" in states

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        return None
