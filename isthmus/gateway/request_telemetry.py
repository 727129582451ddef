"""Request telemetry of the gRPC ingresses' inference calls (the REST ingress's is in its Edge,
:mod:`isthmus.gateway.middleware`), beside the ingresses it measures: telemetry itself is a leaf
that knows no gateway, so the error kind and status come from :mod:`isthmus.gateway.error_table`.

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
from isthmus.gateway.error_table import INTERNAL, grpc_code_of, row_of, status_of
from isthmus.gateway.headers import NO_BACKEND
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
