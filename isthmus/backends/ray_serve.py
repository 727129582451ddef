"""Ray Serve HTTP client: JSON to a route prefix, V1-style (``instances`` -> ``predictions``) by
default, or any JSON shape through the backend's ``request`` / ``response`` mappings."""

from __future__ import annotations

import orjson

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendError, BackendFailed
from isthmus.backends.http_base import HttpModelBackend
from isthmus.backends.http_json import JsonDialect
from isthmus.codecs import InferRequest, InferResponse
from isthmus.config.model import RayServeBackendConfig


class RayServeBackend(HttpModelBackend):
    config: RayServeBackendConfig

    def __init__(self, config: RayServeBackendConfig):
        super().__init__(config)
        self.dialect = JsonDialect(config.request, config.response)

    def _prefix(self, model: str) -> str:
        return self.config.route_prefix or f"/{self.remote_model(model)}"

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        body = self.dialect.encode(request)
        try:
            data = await self.post(self._prefix(ctx.model), body, ctx)
        except BackendFailed as exc:
            if exc.upstream_status != 500:
                raise
            # Serve answers a deployment's exception with a bare "Internal Server Error"; it logs the
            # traceback under the x-request-id it was sent (ours)
            raise BackendFailed(
                self.name, f"{exc.detail} (Ray Serve logs the deployment's error under request id {ctx.request_id})",
                500,
            ) from None
        return self.decoded(self.dialect.decode, data, self.name, self.naming)

    def probe_path(self, model: str) -> str:
        return "/-/healthz"

    async def ready(self, model: str) -> bool:
        """Ready when Serve's proxy lists the route prefix (``GET /-/routes``)."""
        try:
            status, data = await self.get("/-/routes")
            routes = orjson.loads(data)
        except (BackendError, orjson.JSONDecodeError):
            return False
        return status == 200 and isinstance(routes, dict) and self._prefix(model) in routes
