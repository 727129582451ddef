"""Request telemetry of the ingresses, REST and gRPC, beside the ingresses it measures: telemetry
itself is a leaf that knows no gateway, so the error kind and status come from
:mod:`isthmus.gateway.error_table` and reach telemetry as strings.

:class:`HttpRequestTelemetry` is the REST edge's (:class:`isthmus.gateway.middleware.Edge` calls
it): one duration measurement per inference request, the error count by kind, the access log line
and, with tracing on, the SERVER span continuing the app's trace (W3C ``traceparent``).

:meth:`GrpcCallTelemetry.measure` wraps one call's work, before its errors become a status: it
counts the call in flight, records the one duration measurement (``status`` is the gRPC code's
name, ``transport`` ``grpc``), counts errors by kind, writes the access log line and, with tracing
on, runs the call in a SERVER span that continues the app's trace from the request metadata.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping, MutableMapping, NamedTuple, TypeVar

import grpc
from opentelemetry.trace import Span, SpanKind, StatusCode

from isthmus.backends import BackendError
from isthmus.gateway.error_table import INTERNAL, error_kind, grpc_code_of, row_of, status_of
from isthmus.gateway.headers import BACKEND_HEADER, CACHE_HEADER, NO_BACKEND, REQUEST_ID_HEADER
from isthmus.gateway.http_types import Request, Response
from isthmus.telemetry.propagation import TRACEPARENT, trace_id_of
from isthmus.telemetry.telemetry import Telemetry
from isthmus.telemetry.tracing import Tracing

T = TypeVar("T")


class Rpc(NamedTuple):
    """A measured RPC's names: its span's name and attributes, its access-log path."""

    service: str
    method: str
    span_name: str
    path: str


def rpc(service: str, method: str) -> Rpc:
    return Rpc(service, method, f"{service}/{method}", f"/{service}/{method}")


MODEL_INFER = rpc("inference.GRPCInferenceService", "ModelInfer")
NO_CACHE = "-"
#: Codes that are the server's failure (an ERROR span), per the semantic conventions for gRPC servers.
SERVER_ERRORS = frozenset({
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
})  # fmt: skip


#: Endpoints whose requests are measured (``isthmus.request.duration``), with their route template.
INFERENCE_ROUTES = {
    "infer_v2": "/v2/models/{model}/infer",
    "predict_v1": "/v1/models/{model}:predict",
    "classify_tfs": "/v1/models/{model}:classify",
    "regress_tfs": "/v1/models/{model}:regress",
}


class HttpRequestTelemetry:
    """The REST edge's measurement of one request (its handling stays the edge's)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.clock = telemetry.clock
        self._record = telemetry.metrics.request_done
        self._tracer = telemetry.tracer
        self._access = telemetry.access_log

    def failed(self, model: str, backend: str, exc: Exception, status: int) -> None:
        """A failed inference request (rare): counted by kind; a failing backend is warned about."""
        telemetry = self.telemetry
        telemetry.metrics.request_failed(model, backend, error_kind(exc), "http")
        if isinstance(exc, BackendError) and status >= 500:
            telemetry.warnings.warning(("backend", backend), "%s", exc)

    def done(self, request: Request, response: Response, model: str | None, start: float, trace_id: str | None) -> None:
        """The duration measurement (inference requests) and the access log line."""
        elapsed = self.clock() - start
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

    def server_span(self, request: Request) -> Any:
        """The request's SERVER span (a context manager), continuing the app's trace."""
        assert self._tracer is not None
        return self._tracer.start_as_current_span(
            request.method,
            context=Tracing.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": request.path},
        )

    @staticmethod
    def answered(span: Span, request: Request, response: Response, model: str | None, endpoint: str | None) -> str:
        """Sets the span's attributes from the answer; returns its trace id (for the access log)."""
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
        return format(span.get_span_context().trace_id, "032x")


class GrpcCallTelemetry:
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._clock = telemetry.clock
        self._record = telemetry.metrics.request_done
        self._tracer = telemetry.tracer
        self._tracing = telemetry.tracing
        self._access = telemetry.access_log
        self.in_flight = 0  # exported as isthmus.requests.in_flight{transport="grpc"}

    async def measure(
        self,
        model: str,
        headers: MutableMapping[str, str],
        rid: str,
        context: Any,
        call: Callable[[], Awaitable[T]],
        method: Rpc = MODEL_INFER,
    ) -> T:
        """``await call()`` (it returns an object with ``backend`` and ``cache``, or a tuple starting
        with one), measured as ``method``; its exceptions pass through unchanged. ``model`` is the
        label value (:func:`isthmus.telemetry.kinds.model_label`)."""
        start = self._clock()
        self.in_flight += 1
        try:
            if self._tracing is None or self._tracer is None or not self._tracing.sampled(headers):
                return await self._measured(model, headers, rid, context, call, start, None, method)
            with self._tracer.start_as_current_span(
                method.span_name,
                context=Tracing.extract(headers),
                kind=SpanKind.SERVER,
                attributes={"rpc.system": "grpc", "rpc.service": method.service, "rpc.method": method.method},
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                return await self._measured(model, headers, rid, context, call, start, span, method)
        finally:
            self.in_flight -= 1

    async def _measured(
        self,
        model: str,
        headers: Mapping[str, str],
        rid: str,
        context: Any,
        call: Callable[[], Awaitable[T]],
        start: float,
        span: Span | None,
        method: Rpc,
    ) -> T:
        try:
            result = await call()
        except Exception as exc:
            row = row_of(exc)
            code = grpc_code_of(row, exc) if row is not None else grpc.StatusCode.INTERNAL
            backend = exc.backend if isinstance(exc, BackendError) else NO_BACKEND
            telemetry = self.telemetry
            telemetry.metrics.request_failed(model, backend, row.kind if row is not None else INTERNAL, "grpc")
            if isinstance(exc, BackendError) and row is not None and status_of(row, exc) >= 500:
                telemetry.warnings.warning(("backend", backend), "%s", exc)
            self._done(model, backend, code, NO_CACHE, headers, rid, context, start, span, method)
            raise
        except asyncio.CancelledError:  # the client cancelled the call (or its deadline passed)
            self._done(model, NO_BACKEND, grpc.StatusCode.CANCELLED, NO_CACHE, headers, rid, context, start, span, method)
            raise
        answer = result[0] if isinstance(result, tuple) else result
        self._done(model, answer.backend, grpc.StatusCode.OK, answer.cache, headers, rid, context, start, span, method)
        return result

    def _done(
        self,
        model: str,
        backend: str,
        code: grpc.StatusCode,
        cache: str,
        headers: Mapping[str, str],
        rid: str,
        context: Any,
        start: float,
        span: Span | None,
        method: Rpc,
    ) -> None:
        elapsed = self._clock() - start
        self._record(model, backend, code.name, "grpc", cache, elapsed)
        trace_id = None
        if span is not None:
            span.set_attributes({
                "rpc.grpc.status_code": code.value[0], "isthmus.request_id": rid, "isthmus.route": model,
                "isthmus.variant": backend, "isthmus.cache": cache,
            })  # fmt: skip
            if code in SERVER_ERRORS:
                span.set_status(StatusCode.ERROR)
            trace_id = format(span.get_span_context().trace_id, "032x")
        if self._access is not None:
            self._access.request(
                ts=self.telemetry.wall_clock(), request_id=rid,
                trace_id=trace_id if trace_id is not None else trace_id_of(headers.get(TRACEPARENT)),
                transport="grpc", method="POST", path=method.path, route=model, variant=backend, cache=cache,
                status=code.name, latency=elapsed, client=peer_address(context.peer()),
            )  # fmt: skip


def peer_address(peer: str | None) -> str | None:
    """The IP address in a gRPC peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``)."""
    if not peer:
        return None
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return rest or None
