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
            config.name, config.endpoints, config.timeout, config.max_connections, config.max_response_size,
            connect_timeout=config.connect_timeout, max_pending=config.circuit_breakers.max_pending,
        )  # fmt: skip
        self.endpoints = self.transport.endpoints

    async def start(self) -> None:
        await self.transport.start()

    async def close(self) -> None:
        await self.transport.close()

    def remote_model(self, model: str) -> str:
        return self.config.model or model

    async def post(self, path: str, body: bytes, ctx: CallContext) -> bytes:
        headers = {**JSON_HEADERS, "x-request-id": ctx.request_id, **ctx.headers}
        resp = await self.transport.request("POST", path, body, headers, ctx.endpoint, ctx.timeout)
        check_status(self.name, resp)
        return resp.body

    async def get(self, path: str, endpoint: int = -1, timeout: float | None = None) -> tuple[int, bytes]:
        resp = await self.transport.request("GET", path, endpoint=endpoint, timeout=timeout)
        return resp.status, resp.body

    async def probe(self, endpoint: int, model: str, timeout: float) -> bool:
        """One active health check of ``endpoint``: ``GET health_check.path`` answered 2xx when the
        backend's ``health_check`` names a path, else the protocol's own check
        (:meth:`probe_path`, :meth:`probe_passed`). Never raises."""
        remote = self.remote_model(model)
        check = self.config.health_check
        if check is not None and check.path is not None:
            resp = await self.transport.probe(endpoint, check.path.replace("{model}", remote), timeout)
            return resp is not None and 200 <= resp.status < 300
        resp = await self.transport.probe(endpoint, self.probe_path(remote), timeout)
        return resp is not None and self.probe_passed(resp.status, resp.body)

    def probe_path(self, model: str) -> str:
        """The protocol's health check path (``model``: the name on the backend)."""
        raise NotImplementedError

    def probe_passed(self, status: int, body: bytes) -> bool:
        """Whether the answer to :meth:`probe_path` says the endpoint is healthy (default: a 2xx)."""
        return 200 <= status < 300

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
