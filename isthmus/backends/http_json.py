"""Free-form JSON over HTTP: the request/response dialect of Ray Serve and ``http-json`` backends,
and the ``http-json`` backend itself (any model that takes and answers JSON at one path).

Without a mapping the dialect is KServe V1's ``{"instances": [...]}`` -> ``{"predictions": [...]}``;
with ``request`` / ``response`` mappings, tensors go to and come from JSON pointers
(:mod:`isthmus.codecs.jsonmap`).
"""

from __future__ import annotations

from isthmus.backends.base import CallContext
from isthmus.backends.errors import BackendError
from isthmus.backends.http_base import HttpModelBackend
from isthmus.codecs import InferRequest, InferResponse, TensorNaming, v1
from isthmus.codecs.convert import request_instances
from isthmus.codecs.jsonmap import compile_request, compile_response
from isthmus.config.model import HttpJsonBackendConfig, RequestMappingConfig, ResponseMappingConfig


class JsonDialect:
    """Encodes requests and decodes answers for one free-form JSON backend."""

    def __init__(self, request: RequestMappingConfig | None, response: ResponseMappingConfig | None):
        self._request = compile_request(request.body, request.inputs) if request is not None else None
        self._response = compile_response(response.outputs) if response is not None else None

    def encode(self, request: InferRequest) -> bytes:
        if self._request is None:
            return v1.encode_request(request_instances(request))
        return self._request.encode(request)

    def decode(self, body: bytes, backend: str, naming: TensorNaming) -> InferResponse:
        if self._response is None:
            return v1.decode_response(body, backend, naming)
        return self._response.decode(body, backend, naming)


class HttpJsonBackend(HttpModelBackend):
    """``POST path`` with the mapped JSON body; ready per ``ready_path`` (or while the server answers)."""

    config: HttpJsonBackendConfig

    def __init__(self, config: HttpJsonBackendConfig):
        super().__init__(config)
        self.dialect = JsonDialect(config.request, config.response)

    def _path(self, model: str) -> str:
        return self.config.path.replace("{model}", self.remote_model(model))

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        data = await self.post(self._path(ctx.model), self.dialect.encode(request), ctx)
        return self.decoded(self.dialect.decode, data, self.name, self.naming)

    def probe_path(self, model: str) -> str:
        """``ready_path``, else ``path`` (``model``: the name on the backend)."""
        return (self.config.ready_path or self.config.path).replace("{model}", model)

    def probe_passed(self, status: int, body: bytes) -> bool:
        """``GET ready_path`` answers 2xx; without one, any HTTP answer below 500 to ``GET path``."""
        return 200 <= status < 300 if self.config.ready_path else status < 500

    async def ready(self, model: str) -> bool:
        try:
            status, data = await self.get(self.probe_path(self.remote_model(model)))
        except BackendError:
            return False
        return self.probe_passed(status, data)
