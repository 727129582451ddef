"""The ingress edge: request ids, the backend header, every error as a V2-style JSON body, and the
request's telemetry (one duration measurement for inference requests, the access log line, and the
server span when tracing is on)."""

from __future__ import annotations

import asyncio
import logging

from opentelemetry.trace import SpanKind, StatusCode

from isthmus.backends import BackendError
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.endpoints import HANDLERS
from isthmus.gateway.error_table import error_kind
from isthmus.gateway.errors import http_status
from isthmus.gateway.headers import BACKEND_HEADER, CACHE_HEADER, NO_BACKEND, REQUEST_ID_HEADER, request_id
from isthmus.gateway.http_types import Request, Response, json_error
from isthmus.gateway.routes import MethodNotAllowed, NotFound, UrlTable
from isthmus.telemetry import Telemetry
from isthmus.telemetry.kinds import model_label
from isthmus.telemetry.propagation import TRACEPARENT, trace_id_of
from isthmus.telemetry.tracing import Tracing

log = logging.getLogger(__name__)

#: Endpoints whose requests are measured (``isthmus.request.duration``), with their route template.
INFERENCE_ROUTES = {
    "infer_v2": "/v2/models/{model}/infer",
    "predict_v1": "/v1/models/{model}:predict",
    "classify_tfs": "/v1/models/{model}:classify",
    "regress_tfs": "/v1/models/{model}:regress",
}
#: The status of a request whose app hung up before the answer (nginx's "client closed request").
CLIENT_CLOSED = 499
NO_CACHE = "-"


class Edge:
    """The ingress's one request handler: request id, URL table, handler, every error as JSON."""

    def __init__(self, dataplane: DataPlane, telemetry: Telemetry | None = None):
        self.dataplane = dataplane
        self._urls = UrlTable()
        self.telemetry = telemetry = telemetry if telemetry is not None else dataplane.telemetry
        self._clock = telemetry.clock
        self._record = telemetry.metrics.request_done
        self._tracer = telemetry.tracer
        self._tracing = telemetry.tracing
        self._access = telemetry.access_log
        self.in_flight = 0  # exported as isthmus.requests.in_flight{transport="http"}

    async def __call__(self, request: Request) -> Response:
        if self._tracing is not None and self._tracing.sampled(request.headers):
            return await self._traced(request)
        start = self._clock()
        self.in_flight += 1
        try:
            response, model, _ = await self._handle(request)
        except asyncio.CancelledError:
            self._abandoned(request, start)
            raise
        finally:
            self.in_flight -= 1
        self._done(request, response, model, start, None)
        return response

    def _abandoned(self, request: Request, start: float) -> None:
        """The app hung up before its answer (the server cancels the request): measured and logged
        as status 499, nginx's "client closed request", with no variant."""
        try:
            match = self._urls.resolve(request.method, request.path)
        except (NotFound, MethodNotAllowed):
            return
        if match.endpoint not in INFERENCE_ROUTES:
            return
        model = model_label(match.model, self.dataplane.routes)
        headers = {BACKEND_HEADER: NO_BACKEND, REQUEST_ID_HEADER: request_id(request.headers)}
        self._done(request, json_error(CLIENT_CLOSED, "client closed the request", headers), model, start, None)

    async def _handle(self, request: Request) -> tuple[Response, str | None, str | None]:
        """``(response, model label or None when not an inference request, endpoint or None)``."""
        rid = request_id(request.headers)
        backend = NO_BACKEND
        model = endpoint = None
        try:
            match = self._urls.resolve(request.method, request.path)
            endpoint = match.endpoint
            if endpoint in INFERENCE_ROUTES:
                model = match.model
            response = await HANDLERS[endpoint](self.dataplane, request, match, rid)
        except NotFound:
            response = json_error(404, f"no such endpoint: {request.method} {request.path}")
        except MethodNotAllowed:
            response = json_error(405, f"method {request.method} not allowed on {request.path}")
        except Exception as exc:
            status = http_status(exc)
            if isinstance(exc, BackendError):
                backend = exc.backend
            if model is not None:
                model = model_label(model, self.dataplane.routes)
            if status is None:
                log.exception("request %s: unexpected error", rid)
                status, message = 500, f"internal error (request id {rid})"
            else:
                message = str(exc)
            if model is not None:
                self._failed(model, backend, exc, status)
            response = json_error(status, message)
        headers = response.headers
        if REQUEST_ID_HEADER not in headers:
            headers[REQUEST_ID_HEADER] = rid
        if BACKEND_HEADER not in headers:
            headers[BACKEND_HEADER] = backend
        return response, model, endpoint

    def _failed(self, model: str, backend: str, exc: Exception, status: int) -> None:
        """A failed inference request (rare): counted by kind; a failing backend is warned about."""
        telemetry = self.telemetry
        telemetry.metrics.request_failed(model, backend, error_kind(exc), "http")
        if isinstance(exc, BackendError) and status >= 500:
            telemetry.warnings.warning(("backend", backend), "%s", exc)

    def _done(self, request: Request, response: Response, model: str | None, start: float, trace_id: str | None) -> None:
        elapsed = self._clock() - start
        headers = response.headers
        if model is not None:
            self._record(
                model, headers[BACKEND_HEADER], str(response.status), "http", headers.get(CACHE_HEADER, NO_CACHE), elapsed
            )
        if self._access is not None:
            if trace_id is None:
                trace_id = trace_id_of(request.headers.get(TRACEPARENT))
            transport = request.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            self._access.request(
                ts=self.telemetry.wall_clock(), request_id=headers[REQUEST_ID_HEADER], trace_id=trace_id,
                transport="http", method=request.method, path=request.path, route=model,
                variant=headers[BACKEND_HEADER], cache=headers.get(CACHE_HEADER, NO_CACHE), status=response.status,
                latency=elapsed, client=peer[0] if peer else None,
            )  # fmt: skip

    async def _traced(self, request: Request) -> Response:
        """The request in a SERVER span continuing the app's trace (W3C traceparent)."""
        assert self._tracer is not None
        start = self._clock()
        self.in_flight += 1
        try:
            with self._tracer.start_as_current_span(
                request.method,
                context=Tracing.extract(request.headers),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": request.method, "url.path": request.path},
            ) as span:
                response, model, endpoint = await self._handle(request)
                headers = response.headers
                status = response.status
                route = INFERENCE_ROUTES.get(endpoint or "")
                if route is not None:
                    span.update_name(f"{request.method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attributes({
                    "http.response.status_code": status, "isthmus.request_id": headers[REQUEST_ID_HEADER],
                    "isthmus.variant": headers[BACKEND_HEADER], "isthmus.cache": headers.get(CACHE_HEADER, NO_CACHE),
                })  # fmt: skip
                if model is not None:
                    span.set_attribute("isthmus.route", model)
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
                trace_id = format(span.get_span_context().trace_id, "032x")
                self._done(request, response, model, start, trace_id)
        except asyncio.CancelledError:
            self._abandoned(request, start)
            raise
        finally:
            self.in_flight -= 1
        return response
