"""The ingress edge: request ids, the backend header, every error as a V2-style JSON body; the
request's telemetry (duration, access log, server span) is :class:`HttpRequestTelemetry`'s."""

from __future__ import annotations

import asyncio
import logging

from isthmus.backends import BackendError
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.endpoints import HANDLERS
from isthmus.gateway.errors import http_status
from isthmus.gateway.headers import BACKEND_HEADER, NO_BACKEND, REQUEST_ID_HEADER, request_id
from isthmus.gateway.http_types import Request, Response, json_error
from isthmus.gateway.request_telemetry import INFERENCE_ROUTES, HttpRequestTelemetry
from isthmus.gateway.routes import MethodNotAllowed, NotFound, UrlTable
from isthmus.telemetry import Telemetry
from isthmus.telemetry.kinds import model_label

__all__ = ["CLIENT_CLOSED", "INFERENCE_ROUTES", "Edge"]

log = logging.getLogger(__name__)

#: The status of a request whose app hung up before the answer (nginx's "client closed request").
CLIENT_CLOSED = 499


class Edge:
    """The ingress's one request handler: request id, URL table, handler, every error as JSON."""

    def __init__(self, dataplane: DataPlane, telemetry: Telemetry | None = None):
        self.dataplane = dataplane
        self._urls = UrlTable()
        self.telemetry = telemetry = telemetry if telemetry is not None else dataplane.telemetry
        self.measure = measure = HttpRequestTelemetry(telemetry)
        self._clock = measure.clock
        self._done = measure.done
        self._failed = measure.failed
        self._tracing = telemetry.tracing
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

    async def _traced(self, request: Request) -> Response:
        """The request in a SERVER span continuing the app's trace (W3C traceparent)."""
        start = self._clock()
        self.in_flight += 1
        try:
            with self.measure.server_span(request) as span:
                response, model, endpoint = await self._handle(request)
                trace_id = self.measure.answered(span, request, response, model, endpoint)
                self._done(request, response, model, start, trace_id)
        except asyncio.CancelledError:
            self._abandoned(request, start)
            raise
        finally:
            self.in_flight -= 1
        return response
