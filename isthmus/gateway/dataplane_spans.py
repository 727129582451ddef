"""The data plane's steps in spans (tracing on), all children of the ingress's server span:
``route`` (route, chosen variant, weight, reason), ``cache lookup`` (L1), the backend call (CLIENT,
semantic-convention attributes; it carries the trace to the backend as ``traceparent``) and
``fallback``. The result cache spans its own steps (:mod:`isthmus.cache.spans`).

:func:`trace_steps` wraps the steps of one :class:`DataPlane` when its telemetry has a span
factory; with tracing off nothing is wrapped, and traced or not, a request runs the data plane's
own code in its own order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from isthmus.backends import CallContext
from isthmus.cache.entry import Entry
from isthmus.cache.service import ResultCache
from isthmus.codecs import InferRequest, InferResponse
from isthmus.gateway.state import GatewayState
from isthmus.router import Decision, Route
from isthmus.telemetry.propagation import TRACEPARENT, TRACESTATE
from isthmus.telemetry.steps import StepSpans
from isthmus.telemetry.tracing import backend_span

if TYPE_CHECKING:
    from isthmus.gateway.dataplane import Answer, DataPlane


def trace_steps(dp: DataPlane, spans: StepSpans) -> None:
    decide, call, fallback, peek = dp._decide, dp._call, dp._fallback, dp._peek
    recording = spans.recording

    def traced_decide(route: Route, version: str | None, headers: Mapping[str, str], variant: str | None = None) -> Decision:
        if not recording():
            return decide(route, version, headers, variant)
        with spans.span("route") as span:
            decision = decide(route, version, headers, variant)
            weight = next((v.weight for v in route.variants if v.backend == decision.backend), 0)
            span.set_attributes({
                "isthmus.route": route.model, "isthmus.variant": decision.backend,
                "isthmus.variant.weight": weight, "isthmus.route.reason": decision.reason,
            })  # fmt: skip
            if version is not None:
                span.set_attribute("isthmus.route.version", version)  # an explicit version was asked for
            return decision

    async def traced_call(state: GatewayState, backend: str, request: InferRequest, ctx: CallContext) -> InferResponse:
        if not recording():  # a request not traced (Tracing.sampled): its traceparent goes on as it is
            return await call(state, backend, request, ctx)
        name, kind, attrs = backend_span(state.backend_configs[backend])
        with spans.span(name, kind=kind, attributes=attrs):
            return await call(state, backend, request, _carrying_trace(ctx, spans))

    async def traced_fallback(state: GatewayState, decision: Decision, request: InferRequest, ctx: CallContext) -> Answer:
        if not recording():
            return await fallback(state, decision, request, ctx)
        attrs = {"isthmus.variant": decision.backend, "isthmus.fallback": str(decision.fallback)}
        with spans.span("fallback", attributes=attrs):
            return await fallback(state, decision, request, ctx)

    def traced_peek(cache: ResultCache, key: str) -> Entry | None:
        if not recording():
            return peek(cache, key)
        with spans.span("cache lookup", attributes={"isthmus.cache.tier": "l1"}) as span:
            hit = peek(cache, key)
            span.set_attribute("isthmus.cache.hit", hit is not None)
            return hit

    dp._decide = traced_decide  # type: ignore[method-assign]
    dp._call = traced_call  # type: ignore[method-assign]
    dp._fallback = traced_fallback  # type: ignore[method-assign]
    dp._peek = traced_peek  # type: ignore[method-assign]


def _carrying_trace(ctx: CallContext, spans: StepSpans) -> CallContext:
    """``ctx`` with the current span as the backend's parent (``traceparent``, ``tracestate``)."""
    headers = {k: v for k, v in ctx.headers.items() if k not in (TRACEPARENT, TRACESTATE)}
    return CallContext(ctx.model, ctx.request_id, spans.inject(headers))
