"""Ray Serve HTTP client: V1-style JSON (``instances`` -> ``predictions``) to a route prefix."""

from __future__ import annotations

import orjson

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendError
from isthmus.backends.http_base import HttpModelBackend
from isthmus.codecs import InferRequest, InferResponse, v1
from isthmus.codecs.convert import request_instances
from isthmus.config.model import RayServeBackendConfig


class RayServeBackend(HttpModelBackend):
    config: RayServeBackendConfig

    def _prefix(self, model: str) -> str:
        return self.config.route_prefix or f"/{self.remote_model(model)}"

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        body = v1.encode_request(request_instances(request))
        data = await self.post(self._prefix(ctx.model), body, ctx)
        return self.decoded(v1.decode_response, data, self.name, self.naming)

    async def ready(self, model: str) -> bool:
        """Ready when Serve's proxy lists the route prefix (``GET /-/routes``)."""
        try:
            status, data = await self.get("/-/routes")
            routes = orjson.loads(data)
        except (BackendError, orjson.JSONDecodeError):
            return False
        return status == 200 and isinstance(routes, dict) and self._prefix(model) in routes
