"""KServe V1 REST client: ``POST /v1/models/{name}:predict`` with ``instances``."""

from __future__ import annotations

import orjson

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendError
from isthmus.backends.http_base import HttpModelBackend
from isthmus.codecs import InferRequest, InferResponse, v1
from isthmus.codecs.convert import request_instances


class KServeV1Backend(HttpModelBackend):
    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        extra = {"parameters": dict(request.parameters)} if request.parameters else None
        body = v1.encode_request(request_instances(request), extra)
        data = await self.post(f"/v1/models/{self.remote_model(ctx.model)}:predict", body, ctx)
        return self.decoded(v1.decode_response, data, self.name, self.naming)

    async def explain(self, body: bytes, ctx: CallContext) -> bytes:
        """``POST /v1/models/{name}:explain`` with the app's body; the answer is the explainer's JSON."""
        return await self.post(f"/v1/models/{self.remote_model(ctx.model)}:explain", body, ctx)

    def probe_path(self, model: str) -> str:
        return f"/v1/models/{model}"

    def probe_passed(self, status: int, body: bytes) -> bool:
        """200, and the model's status does not say ``"ready": false``."""
        try:
            return status == 200 and orjson.loads(body).get("ready", True) is not False
        except (orjson.JSONDecodeError, AttributeError):
            return False

    async def ready(self, model: str) -> bool:
        try:
            status, data = await self.get(self.probe_path(self.remote_model(model)))
        except BackendError:
            return False
        return self.probe_passed(status, data)
