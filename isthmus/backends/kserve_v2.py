"""KServe V2 / Open Inference Protocol REST client (KServe, MLServer, Triton)."""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendError
from isthmus.backends.http_base import HttpModelBackend
from isthmus.backends.http_transport import check_status
from isthmus.codecs import InferRequest, InferResponse, v2, v2_binary
from isthmus.codecs.convert import request_tensors


class KServeV2Backend(HttpModelBackend):
    def _model_path(self, model: str) -> str:
        path = f"/v2/models/{self.remote_model(model)}"
        return f"{path}/versions/{self.config.version}" if self.config.version else path

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        path = self._model_path(ctx.model) + "/infer"
        if self.config.binary_inputs:
            data = await self._post_binary(path, request, ctx)
        else:
            # A V2 JSON request goes out as the very bytes the app sent: no re-encoding.
            body = request.raw_v2
            if body is None:
                body = v2.encode_request(request, request_tensors(request, self.naming))
            data = await self.post(path, body, ctx)
        return self.decoded(v2.decode_response, data, self.name)

    async def _post_binary(self, path: str, request: InferRequest, ctx: CallContext) -> bytes:
        """Inputs as binary tensor data (``binary_inputs: true``: KServe, Triton); the answer is asked
        for in JSON, so it is decoded as any other."""
        body, json_length = v2_binary.encode_request(request, request_tensors(request, self.naming))
        headers = {
            "content-type": v2_binary.CONTENT_TYPE,  # KServe reads a body that is not application/json as binary
            v2_binary.HEADER: str(json_length),
            "x-request-id": ctx.request_id,
            **ctx.headers,
        }
        resp = await self.transport.request("POST", path, body, headers, ctx.endpoint, ctx.timeout)
        check_status(self.name, resp)
        return resp.body

    def probe_path(self, model: str) -> str:
        return "/v2/health/ready"

    async def ready(self, model: str) -> bool:
        try:
            status, _ = await self.get(self._model_path(model) + "/ready")
        except BackendError:
            return False
        return status == 200

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        try:
            status, data = await self.get(self._model_path(model))
            return orjson.loads(data) if status == 200 else None
        except (BackendError, orjson.JSONDecodeError):
            return None
