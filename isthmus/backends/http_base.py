"""Common plumbing of the HTTP model-server clients (pool lifecycle, names, headers)."""

from __future__ import annotations

from typing import Any, Mapping

from isthmus.backends.base import CallContext
from isthmus.backends.error_body import LIMIT, body_excerpt, sanitize
from isthmus.backends.errors import BackendFailed
from isthmus.backends.http_transport import JSON_HEADERS, HttpTransport, check_status
from isthmus.codecs import CodecError, InferResponse, TensorNaming
from isthmus.config.model import TensorNamingConfig, _HttpBackend


class HttpModelBackend:
    """Base of the REST clients; subclasses define paths and codecs."""

    def __init__(self, config: _HttpBackend):
        self.name = config.name
        self.config = config
        self.naming = naming_of(config.tensors)
        self.transport = HttpTransport(
            config.name, config.endpoints, config.timeout, config.max_connections, config.max_response_size
        )

    async def start(self) -> None:
        await self.transport.start()

    async def close(self) -> None:
        await self.transport.close()

    def remote_model(self, model: str) -> str:
        return self.config.model or model

    async def post(self, path: str, body: bytes, ctx: CallContext) -> bytes:
        headers = {**JSON_HEADERS, "x-request-id": ctx.request_id, **ctx.headers}
        status, data = await self.transport.request("POST", path, body, headers)
        check_status(self.name, status, data)
        return data

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.transport.request("GET", path)

    def decoded(self, decode: Any, body: bytes, *args: Any) -> InferResponse:
        """Run a response decoder on ``body``; an undecodable answer is the backend's failure (502),
        named with the decoder's reason and an excerpt of the body (:mod:`isthmus.backends.error_body`)."""
        try:
            return decode(body, *args)
        except CodecError as exc:
            raise BackendFailed(
                self.name, f"bad response: {sanitize(str(exc), 2 * LIMIT)}; the body: {body_excerpt(body, error_field=False)}"
            ) from None

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        return None


def naming_of(cfg: TensorNamingConfig) -> TensorNaming:
    return TensorNaming(cfg.input_name, cfg.output_name, cfg.datatype)
